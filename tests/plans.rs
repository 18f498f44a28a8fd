//! Every network's plan through every consumer: the Burn module built from it, its footprint,
//! its official keys (export and load back), detection from a state_dict and from our own file,
//! the ONNX graph and `pix2pix info`'s layer table all agree with the plan, for every structure
//! the options can make (at small widths).

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use pix2pix::footprint::Footprint;
use pix2pix::interop::onnx::{OnnxOptions, onnx_model};
use pix2pix::interop::{self, Detected};
use pix2pix::model::plan::{Plan, Step, field_path};
use pix2pix::model::{DiscriminatorArch, ModelOptions, NormKind};

/// Every generator and discriminator structure, each with a variant of the other options.
fn structures() -> Vec<ModelOptions> {
    let generators = [
        "unet_32",
        "unet_64",
        "unet_128",
        "resnet_1blocks",
        "resnet_3blocks",
    ];
    let discriminators = [
        (DiscriminatorArch::Basic, 3),
        (DiscriminatorArch::NLayers, 1),
        (DiscriminatorArch::NLayers, 5),
        (DiscriminatorArch::Pixel, 3),
    ];
    let mut all = Vec::new();
    for (i, net_g) in generators.into_iter().enumerate() {
        for (j, norm) in [NormKind::Batch, NormKind::Instance, NormKind::None]
            .into_iter()
            .enumerate()
        {
            let (net_d, n_layers_d) = discriminators[(i + j) % discriminators.len()];
            all.push(ModelOptions {
                net_g: net_g.parse().unwrap(),
                input_nc: [1, 3][(i + j) % 2],
                output_nc: [3, 1][j % 2],
                ngf: 2 + j,
                ndf: 3,
                norm,
                dropout: (i + j) % 2 == 0,
                net_d,
                n_layers_d,
                ..ModelOptions::default()
            });
        }
    }
    all
}

/// A module's tensors by our path without variant names, with their shapes; and the same with
/// the variant names, as our files name them.
#[derive(Default)]
struct Tensors {
    path: Vec<String>,
    ours: BTreeMap<String, Vec<usize>>,
    named: BTreeMap<String, Vec<usize>>,
}

impl ModuleVisitor for Tensors {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let shape = param.lazy_shape().dims::<D>().to_vec();
        self.ours.insert(field_path(&self.path), shape.clone());
        self.named.insert(self.path.join("."), shape);
    }
}

fn tensors<M: Module>(module: &M) -> Tensors {
    let mut tensors = Tensors::default();
    module.visit(&mut tensors);
    tensors
}

/// The plan's tensors as (our path, shape) and (official key, shape).
fn planned(plan: &Plan) -> [BTreeMap<String, Vec<usize>>; 2] {
    let tensors = plan.tensors();
    [
        tensors
            .iter()
            .map(|t| (t.ours.clone(), t.shape.clone()))
            .collect(),
        tensors
            .iter()
            .map(|t| (t.official.clone(), t.shape.clone()))
            .collect(),
    ]
}

#[test]
fn every_plan_agrees_with_every_consumer() {
    let device = pix2pix::device::cpu().unwrap();
    for options in structures() {
        let what = format!(
            "{} {} {} {} in {} out {}",
            options.net_g,
            options.norm,
            options.net_d,
            options.n_layers_d,
            options.input_nc,
            options.output_nc
        );
        let generator = options.generator(&device);
        let discriminator = options.discriminator(&device);
        for (plan, module_tensors, parameters, dict, is_generator) in [
            (
                options.generator_plan(),
                tensors(&generator),
                pix2pix::model::parameter_count(&generator),
                options.generator_state_dict(&generator),
                true,
            ),
            (
                options.discriminator_plan(),
                tensors(&discriminator),
                pix2pix::model::parameter_count(&discriminator),
                options.discriminator_state_dict(&discriminator),
                false,
            ),
        ] {
            let [ours, official] = planned(&plan);
            // The module: the plan's tensors, by path and shape.
            assert_eq!(module_tensors.ours, ours, "module of {what}");
            // The footprint and the info table count the module's parameters.
            assert_eq!(plan.parameters(), parameters, "{what}");
            let footprint = Footprint::of(&plan, 128, 128);
            assert_eq!(
                footprint.parameters, parameters as f64,
                "footprint of {what}"
            );
            let table: usize = plan.layers().iter().map(|l| l.parameters).sum();
            assert_eq!(table, parameters, "layer table of {what}");
            // The official state_dict: the plan's keys, and detection finds the structure.
            let exported: BTreeMap<String, Vec<usize>> = (dict.iter())
                .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
                .map(|(k, d)| (k.clone(), d.shape().to_vec()))
                .collect();
            assert_eq!(exported, official, "state_dict of {what}");
            let detected = interop::detect(&dict);
            let from_file = interop::detect_burnpack(&module_tensors.named);
            // Our files name tensors by field, where no dropout shows: detection from them
            // is checked on our names alone.
            for (found, naming) in [(detected, 1), (from_file, 0)] {
                let found = match found {
                    Detected::Generator(found) if is_generator => found,
                    Detected::Discriminator(found) if !is_generator => found,
                    other => panic!("{what}: detected {other:?}"),
                };
                let rebuilt = if is_generator {
                    found.generator_plan()
                } else {
                    found.discriminator_plan()
                };
                assert_eq!(
                    planned(&rebuilt)[naming],
                    planned(&plan)[naming],
                    "detected {what}"
                );
            }
            // The plan's output: a patch map for D, the image for G.
            let side = plan.output_side(128);
            assert_eq!(
                side.is_some(),
                is_generator || options.unsuitable_discriminator_side(128).is_none(),
                "{what}"
            );
        }
        // Loading the exported state_dict back gives the same tensors.
        let dict = options.generator_state_dict(&generator);
        let loaded = interop::load_generator_state_dict(
            &options,
            &dict,
            &device,
            std::path::Path::new("g.pth"),
        )
        .unwrap();
        assert_eq!(options.generator_state_dict(&loaded).len(), dict.len());
        // ONNX: the plan's tensors (running statistics in eval mode) and a node per step.
        let onnx = onnx_model(&generator, &options, &OnnxOptions::default()).unwrap();
        let graph = onnx.graph.unwrap();
        let [_, official] = planned(&options.generator_plan());
        let initializers: BTreeMap<String, Vec<usize>> = (graph.initializer.iter())
            .filter(|t| official.contains_key(&t.name))
            .map(|t| (t.name.clone(), t.dims.iter().map(|&d| d as usize).collect()))
            .collect();
        assert_eq!(initializers, official, "ONNX of {what}");
        let plan = options.generator_plan();
        let steps = plan.walk();
        let nodes = (steps.iter())
            .filter(|(_, step)| match step {
                Step::Dropout { .. } => false,
                Step::Norm { kind, .. } => *kind != NormKind::None,
                _ => true,
            })
            .count();
        assert_eq!(graph.node.len(), nodes, "ONNX nodes of {what}");
    }
}

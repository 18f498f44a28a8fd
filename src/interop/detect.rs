//! What network a state_dict (or one of our burnpack files) holds, read from its keys and shapes
//! alone: so that an official `latest_net_G.pth` can be used with no architecture flags.
//!
//! Every structure is tried through its plan (crates/pix2pix-nets/src/model/plan.rs): the plan's
//! first and last convolutions give the widths and channels, and the plan must then name the file's
//! tensors with their shapes. A file no plan names exactly is taken as the closest structure that
//! names most of it, so that loading it lists the keys that differ.

use std::collections::BTreeMap;

use super::StateDict;
use crate::model::plan::{Plan, PlanTensor, Step, field_path};
use crate::model::{DiscriminatorArch, GeneratorArch, ModelOptions, NormKind, UnetConfig};

/// What a file turned out to hold.
#[derive(Clone, Debug, PartialEq)]
pub enum Detected {
    /// A generator, with the options that rebuild it (dropout cannot be seen in a U-Net's keys:
    /// it is assumed on, the pix2pix default).
    Generator(ModelOptions),
    /// A discriminator, with the options that rebuild it.
    Discriminator(ModelOptions),
    /// Neither: the reason names what was found.
    Unknown(String),
}

/// A file's tensors by name, in the naming of the plans' tensors they are compared with.
type Shapes = BTreeMap<String, Vec<usize>>;

/// Which of a plan tensor's names a file uses.
#[derive(Clone, Copy)]
enum Naming {
    Official,
    Ours,
}

impl Naming {
    fn name(self, tensor: &PlanTensor) -> &str {
        match self {
            Naming::Official => &tensor.official,
            Naming::Ours => &tensor.ours,
        }
    }
}

pub fn detect(dict: &StateDict) -> Detected {
    let shapes: Shapes = (dict.iter())
        .filter(|(key, _)| !key.ends_with(".num_batches_tracked"))
        .map(|(key, data)| (key.clone(), data.shape().to_vec()))
        .collect();
    if let Some(found) = closest(&shapes, Naming::Official) {
        return found;
    }
    let sample: Vec<&str> = dict.keys().take(4).map(String::as_str).collect();
    Detected::Unknown(format!(
        "{} tensors with keys like {} match no pix2pix network",
        dict.len(),
        sample.join(", ")
    ))
}

/// What one of our burnpack files holds, from its tensor names (our modules' field paths, e.g.
/// `Unet.blocks.0.down_conv.weight`) and shapes: so that a `.bpk` away from its run folder needs
/// no architecture flags either.
pub fn detect_burnpack(shapes: &BTreeMap<String, Vec<usize>>) -> Detected {
    let ours: Shapes = (shapes.iter())
        .map(|(name, shape)| {
            let parts: Vec<&str> = name.split('.').collect();
            (field_path(&parts), shape.clone())
        })
        .collect();
    if let Some(found) = closest(&ours, Naming::Ours) {
        return found;
    }
    if shapes.keys().any(|k| k.contains(".momentum.moment_")) {
        return Detected::Unknown(
            "it holds an optimizer's state (Adam moments), not a network: give the \
             *_net_G file beside it"
                .into(),
        );
    }
    let sample: Vec<&str> = shapes.keys().take(4).map(String::as_str).collect();
    Detected::Unknown(format!(
        "{} tensors named like {} match no pix2pix network",
        shapes.len(),
        sample.join(", ")
    ))
}

/// The structures a file of `tensors` tensors may hold, generators first, the usual variants
/// of each first; widths and channels are 1, to be read from the file.
fn structures(tensors: usize) -> Vec<(bool, ModelOptions)> {
    // Every layer holds a tensor at least: deeper networks cannot be in the file.
    let most = |limit: usize| limit.min(tensors);
    let norms = [NormKind::Batch, NormKind::Instance, NormKind::None];
    let unit = ModelOptions {
        input_nc: 1,
        output_nc: 1,
        ngf: 1,
        ndf: 1,
        ..ModelOptions::default()
    };
    let mut out = Vec::new();
    for norm in norms {
        for num_downs in UnetConfig::MIN_DOWNS..=most(GeneratorArch::MAX_UNET_DOWNS) {
            let net_g = GeneratorArch::Unet { num_downs };
            out.push((
                true,
                ModelOptions {
                    net_g,
                    norm,
                    ..unit.clone()
                },
            ));
        }
        for dropout in [true, false] {
            for n_blocks in 1..=most(GeneratorArch::MAX_RESNET_BLOCKS) {
                let net_g = GeneratorArch::Resnet { n_blocks };
                out.push((
                    true,
                    ModelOptions {
                        net_g,
                        norm,
                        dropout,
                        ..unit.clone()
                    },
                ));
            }
        }
    }
    for norm in norms {
        let net_d = DiscriminatorArch::Pixel;
        out.push((
            false,
            ModelOptions {
                net_d,
                norm,
                ..unit.clone()
            },
        ));
        for n_layers_d in 1..=most(usize::MAX) {
            let net_d = match n_layers_d {
                3 => DiscriminatorArch::Basic,
                _ => DiscriminatorArch::NLayers,
            };
            out.push((
                false,
                ModelOptions {
                    net_d,
                    n_layers_d,
                    norm,
                    ..unit.clone()
                },
            ));
        }
    }
    out
}

/// The structure whose plan names `shapes` exactly, or else the one that names most of them
/// (more than half of its own tensors); None when none comes close.
fn closest(shapes: &Shapes, naming: Naming) -> Option<Detected> {
    let mut best: Option<(usize, Detected)> = None;
    for (generator, unit) in structures(shapes.len()) {
        let Some(options) = sized(&unit, generator, shapes, naming) else {
            continue;
        };
        let plan = if generator {
            options.generator_plan()
        } else {
            options.discriminator_plan()
        };
        let tensors = plan.tensors();
        let matching = (tensors.iter())
            .filter(|t| shapes.get(naming.name(t)) == Some(&t.shape))
            .count();
        let found = if generator {
            Detected::Generator(options)
        } else {
            Detected::Discriminator(options)
        };
        if matching == tensors.len() && matching == shapes.len() {
            return Some(found);
        }
        if 2 * matching > tensors.len() && best.as_ref().is_none_or(|(most, _)| matching > *most) {
            best = Some((matching, found));
        }
    }
    best.map(|(_, found)| found)
}

/// `unit`'s structure with the widths and channels its plan's first and last convolutions have
/// in the file; None when the file lacks them.
fn sized(
    unit: &ModelOptions,
    generator: bool,
    shapes: &Shapes,
    naming: Naming,
) -> Option<ModelOptions> {
    let plan = if generator {
        unit.generator_plan()
    } else {
        unit.discriminator_plan()
    };
    let weight = |conv: usize| weight_of(&plan, conv, shapes, naming);
    let convs = plan.convs().len();
    // (output, input) channels: the first convolution's are (width, input_nc), the last's
    // output is the network's.
    let [width, input_nc] = weight(0)?;
    let [output_nc, _] = weight(convs - 1)?;
    if generator {
        return Some(ModelOptions {
            ngf: width,
            input_nc,
            output_nc,
            ..unit.clone()
        });
    }
    // D sees A and B; split its channels the usual way (3 + 3, or 1 + 3 / 3 + 1).
    let (a, b) = match input_nc {
        6 => (3, 3),
        4 => (1, 3),
        2 => (1, 1),
        n => (n.saturating_sub(3), 3.min(n)),
    };
    Some(ModelOptions {
        ndf: width,
        input_nc: a,
        output_nc: b,
        ..unit.clone()
    })
}

/// The (output, input) channels of the plan's `index`th convolution's weight in the file.
fn weight_of(plan: &Plan, index: usize, shapes: &Shapes, naming: Naming) -> Option<[usize; 2]> {
    let (official, conv) = (plan.walk().into_iter())
        .filter_map(|(official, step)| match step {
            Step::Conv(conv) => Some((official, conv)),
            _ => None,
        })
        .nth(index)?;
    let name = match naming {
        Naming::Official => format!("{official}.weight"),
        Naming::Ours => format!("{}.weight", conv.field),
    };
    let shape = shapes.get(&name)?;
    if shape.len() != 4 || shape[2..] != [conv.spec.kernel; 2] {
        return None;
    }
    Some(if conv.transposed {
        [shape[1], shape[0]]
    } else {
        [shape[0], shape[1]]
    })
}

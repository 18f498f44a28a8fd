//! The networks' tensors by the official code's state_dict keys (each network's keys come from
//! its plan, [`super::plan`]): read out of a module, and loaded into one.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use super::plan::field_path;
use super::{Generator, ModelOptions, PatchDiscriminator, Plan};

/// Official keys to tensors: f32, or i64 for `num_batches_tracked`.
pub type StateDict = BTreeMap<String, TensorData>;

/// Maps one of our module paths to its official key.
type KeyFn<'a> = &'a dyn Fn(&[String]) -> Option<String>;

/// The official key of each of `plan`'s tensors, by our module path (with or without enum
/// variant names).
fn official_keys(plan: &Plan) -> impl Fn(&[String]) -> Option<String> + use<> {
    let keys = plan.official_keys();
    move |path| keys.get(&field_path(path)).cloned()
}

/// Records the module path (field names) while visiting or mapping.
#[derive(Default)]
struct PathStack(Vec<String>);

impl PathStack {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
}

/// Our module as an official state_dict. Batch norms also get the `num_batches_tracked` buffer
/// PyTorch expects (0: PyTorch only uses it when momentum is None, never in pix2pix).
fn state_dict<M: Module>(module: &M, key_of: KeyFn) -> StateDict {
    struct Collector<'a> {
        path: PathStack,
        key_of: KeyFn<'a>,
        dict: StateDict,
    }
    impl ModuleVisitor for Collector<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let key = (self.key_of)(&self.path.0)
                .unwrap_or_else(|| panic!("no official key for {}", self.path.0.join(".")));
            if let Some(prefix) = key.strip_suffix(".running_var") {
                self.dict.insert(
                    format!("{prefix}.num_batches_tracked"),
                    TensorData::new(vec![0i64], Shape::new([])),
                );
            }
            self.dict
                .insert(key, param.val().into_data().convert::<f32>());
        }
    }
    let mut collector = Collector {
        path: PathStack::default(),
        key_of,
        dict: StateDict::new(),
    };
    module.valid().visit(&mut collector);
    collector.dict
}

/// What did not fit when loading a state_dict into a network.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mismatch {
    /// The network's keys the state_dict lacks.
    pub missing: Vec<String>,
    /// Keys whose tensors have another shape: `key (file [..], expected [..])`.
    pub wrong_shape: Vec<String>,
    /// The state_dict's keys the network does not have (`num_batches_tracked` aside).
    pub unexpected: BTreeSet<String>,
}

impl Mismatch {
    /// Whether the state_dict fitted exactly.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.wrong_shape.is_empty() && self.unexpected.is_empty()
    }
}

/// Loads `dict` into `module` by official key. Every parameter must be found with its shape;
/// what did not fit is returned for the caller to judge.
fn apply_state_dict<M: Module>(module: M, dict: &StateDict, key_of: KeyFn) -> (M, Mismatch) {
    struct Loader<'a> {
        path: PathStack,
        key_of: KeyFn<'a>,
        dict: &'a StateDict,
        used: BTreeSet<String>,
        mismatch: Mismatch,
    }
    impl ModuleMapper for Loader<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(key) = (self.key_of)(&self.path.0) else {
                return param;
            };
            let Some(data) = self.dict.get(&key) else {
                self.mismatch.missing.push(key);
                return param;
            };
            self.used.insert(key.clone());
            let expected = param.lazy_shape().to_vec();
            if data.shape().to_vec() != expected {
                self.mismatch.wrong_shape.push(format!(
                    "{key} (file {:?}, expected {expected:?})",
                    data.shape().to_vec()
                ));
                return param;
            }
            let device = param.lazy_device();
            let id = param.id;
            let tensor = Tensor::<D>::from_data(data.clone().convert::<f32>(), &device);
            param.transform_for_load(tensor, id)
        }
    }
    let mut loader = Loader {
        path: PathStack::default(),
        key_of,
        dict,
        used: BTreeSet::new(),
        mismatch: Mismatch::default(),
    };
    let module = module.map(&mut loader);
    let mut mismatch = loader.mismatch;
    mismatch.unexpected = dict
        .keys()
        .filter(|k| !loader.used.contains(*k) && !k.ends_with(".num_batches_tracked"))
        .cloned()
        .collect();
    (module, mismatch)
}

impl ModelOptions {
    /// G as an official state_dict.
    pub fn generator_state_dict(&self, generator: &Generator) -> StateDict {
        state_dict(generator, &official_keys(&self.generator_plan()))
    }

    /// D as an official state_dict.
    pub fn discriminator_state_dict(&self, d: &PatchDiscriminator) -> StateDict {
        state_dict(d, &official_keys(&self.discriminator_plan()))
    }

    /// Builds G on `device` and loads `dict` into it by official key (`num_batches_tracked`
    /// may be absent): G, and what did not fit.
    pub fn load_generator_state_dict(
        &self,
        dict: &StateDict,
        device: &Device,
    ) -> (Generator, Mismatch) {
        let keys = official_keys(&self.generator_plan());
        apply_state_dict(self.generator(device), dict, &keys)
    }

    /// Builds D on `device` and loads `dict` into it: D, and what did not fit.
    pub fn load_discriminator_state_dict(
        &self,
        dict: &StateDict,
        device: &Device,
    ) -> (PatchDiscriminator, Mismatch) {
        let keys = official_keys(&self.discriminator_plan());
        apply_state_dict(self.discriminator(device), dict, &keys)
    }
}

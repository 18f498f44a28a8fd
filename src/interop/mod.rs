//! Interoperability with the official PyTorch code: its state_dict layout (each network's
//! official keys come from its plan, [`crate::model::plan`]), `.pth` files (pth.rs), architecture
//! detection (detect.rs), safetensors export, ONNX export (onnx/), and its pretrained generators
//! by name (pretrained.rs).

pub mod detect;
pub mod onnx;
pub mod pretrained;
pub mod pth;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::DType;

pub use detect::{Detected, detect, detect_burnpack};
pub use pth::{read_pth, write_pth};

use crate::error::{Error, Result};
use crate::model::plan::field_path;
use crate::model::{Generator, ModelOptions, PatchDiscriminator, Plan};

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

/// What did not fit when loading a state_dict.
#[derive(Debug, Default)]
struct Mismatch {
    missing: Vec<String>,
    wrong_shape: Vec<String>,
}

/// Loads `dict` into `module` by official key. Every parameter must be found with its shape;
/// extra keys are returned for the caller to judge.
fn apply_state_dict<M: Module>(
    module: M,
    dict: &StateDict,
    key_of: KeyFn,
) -> (M, Mismatch, BTreeSet<String>) {
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
    let unexpected = dict
        .keys()
        .filter(|k| !loader.used.contains(*k) && !k.ends_with(".num_batches_tracked"))
        .cloned()
        .collect();
    (module, loader.mismatch, unexpected)
}

/// G as an official state_dict.
pub fn generator_state_dict(generator: &Generator, model: &ModelOptions) -> StateDict {
    state_dict(generator, &official_keys(&model.generator_plan()))
}

/// D as an official state_dict.
pub fn discriminator_state_dict(d: &PatchDiscriminator, model: &ModelOptions) -> StateDict {
    state_dict(d, &official_keys(&model.discriminator_plan()))
}

fn list(keys: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut text = keys
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOWN {
        text.push_str(&format!(" and {} more", keys.len() - SHOWN));
    }
    text
}

fn mismatch_error(
    file: &Path,
    mismatch: &Mismatch,
    unexpected: &BTreeSet<String>,
    dict: &StateDict,
) -> Error {
    let mut parts = Vec::new();
    if !mismatch.missing.is_empty() {
        parts.push(format!("missing keys: {}", list(&mismatch.missing)));
    }
    if !unexpected.is_empty() {
        let unexpected: Vec<String> = unexpected.iter().cloned().collect();
        parts.push(format!("unexpected keys: {}", list(&unexpected)));
    }
    if !mismatch.wrong_shape.is_empty() {
        parts.push(format!("shape mismatches: {}", list(&mismatch.wrong_shape)));
    }
    let fits = match detect(dict) {
        Detected::Generator(model) => Some(Box::new(model)),
        Detected::Discriminator(m) => {
            parts.push(format!(
                "the file holds a discriminator (netD {}, ndf {}, norm {}), not a generator",
                m.net_d, m.ndf, m.norm
            ));
            None
        }
        Detected::Unknown(reason) => {
            parts.push(reason);
            None
        }
    };
    Error::ArchitectureMismatch {
        path: file.to_path_buf(),
        differences: parts.join("; "),
        fits,
    }
}

/// Builds G for `model` on `device` and loads `dict` into it (strictly, but for
/// `num_batches_tracked`, which may be absent).
pub fn load_generator_state_dict(
    model: &ModelOptions,
    dict: &StateDict,
    device: &Device,
    file: &Path,
) -> Result<Generator> {
    let keys = official_keys(&model.generator_plan());
    let (generator, mismatch, unexpected) = apply_state_dict(model.generator(device), dict, &keys);
    if mismatch.missing.is_empty() && mismatch.wrong_shape.is_empty() && unexpected.is_empty() {
        Ok(generator)
    } else {
        Err(mismatch_error(file, &mismatch, &unexpected, dict))
    }
}

/// Builds D for `model` on `device` and loads `dict` into it.
pub fn load_discriminator_state_dict(
    model: &ModelOptions,
    dict: &StateDict,
    device: &Device,
    file: &Path,
) -> Result<PatchDiscriminator> {
    let keys = official_keys(&model.discriminator_plan());
    let (d, mismatch, unexpected) = apply_state_dict(model.discriminator(device), dict, &keys);
    if mismatch.missing.is_empty() && mismatch.wrong_shape.is_empty() && unexpected.is_empty() {
        Ok(d)
    } else {
        Err(mismatch_error(file, &mismatch, &unexpected, dict))
    }
}

/// Reads a safetensors file of f32 (or f64, f16, bf16) and i64 tensors, as [`write_safetensors`]
/// writes them.
pub fn read_safetensors(path: &Path) -> Result<StateDict> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let corrupt = |reason: String| Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason,
    };
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| corrupt(format!("{e} (expected a safetensors file)")))?;
    let mut dict = StateDict::new();
    for (name, view) in file.tensors() {
        let shape = view.shape().to_vec();
        let data = view.data().to_vec();
        let data = match view.dtype() {
            safetensors::Dtype::F32 => TensorData::from_bytes_vec(data, shape, DType::F32),
            safetensors::Dtype::F64 => {
                TensorData::from_bytes_vec(data, shape, DType::F64).convert::<f32>()
            }
            safetensors::Dtype::F16 => {
                TensorData::from_bytes_vec(data, shape, DType::F16).convert::<f32>()
            }
            safetensors::Dtype::BF16 => {
                TensorData::from_bytes_vec(data, shape, DType::BF16).convert::<f32>()
            }
            safetensors::Dtype::I64 => TensorData::from_bytes_vec(data, shape, DType::I64),
            other => {
                return Err(corrupt(format!(
                    "tensor {name} has unsupported element type {other:?}"
                )));
            }
        };
        dict.insert(name, data);
    }
    Ok(dict)
}

/// Writes `dict` as safetensors (the same keys and layouts as the .pth).
pub fn write_safetensors(path: &Path, dict: &StateDict) -> Result<()> {
    let views: Vec<(String, safetensors::tensor::TensorView)> = dict
        .iter()
        .map(|(key, data)| {
            let dtype = match data.dtype() {
                DType::I64 => safetensors::Dtype::I64,
                _ => safetensors::Dtype::F32,
            };
            let view =
                safetensors::tensor::TensorView::new(dtype, data.shape().to_vec(), data.as_bytes())
                    .expect("a tensor's bytes match its shape");
            (key.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, None).expect("safetensors serialisation in memory");
    crate::fsutil::write_atomic(path, &bytes)
}

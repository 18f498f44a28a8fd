//! Interoperability with the official PyTorch code: its state_dict layout ([`crate::model::state`],
//! each network's official keys from its plan), `.pth` files (pth.rs), architecture
//! detection (detect.rs), safetensors export, ONNX export (onnx/), and its pretrained generators
//! by name (pretrained.rs).

pub mod detect;
pub mod onnx;
pub mod pretrained;
pub mod pth;

use std::path::Path;

use burn::prelude::*;
use burn::tensor::DType;

pub use crate::model::state::{Mismatch, StateDict};
pub use detect::{Detected, detect, detect_burnpack};
pub use pth::{read_pth, write_pth};

use crate::error::{Error, Result};
use crate::model::{Generator, ModelOptions, PatchDiscriminator};

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

fn mismatch_error(file: &Path, mismatch: &Mismatch, dict: &StateDict) -> Error {
    let mut parts = Vec::new();
    if !mismatch.missing.is_empty() {
        parts.push(format!("missing keys: {}", list(&mismatch.missing)));
    }
    if !mismatch.unexpected.is_empty() {
        let unexpected: Vec<String> = mismatch.unexpected.iter().cloned().collect();
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
    let (generator, mismatch) = model.load_generator_state_dict(dict, device);
    if mismatch.is_empty() {
        Ok(generator)
    } else {
        Err(mismatch_error(file, &mismatch, dict))
    }
}

/// Builds D for `model` on `device` and loads `dict` into it.
pub fn load_discriminator_state_dict(
    model: &ModelOptions,
    dict: &StateDict,
    device: &Device,
    file: &Path,
) -> Result<PatchDiscriminator> {
    let (d, mismatch) = model.load_discriminator_state_dict(dict, device);
    if mismatch.is_empty() {
        Ok(d)
    } else {
        Err(mismatch_error(file, &mismatch, dict))
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

//! Compact weight files for the browser (`pix2pix export --format web`): a state_dict
//! ([`crate::model::state`]) with each tensor of two or more dimensions stored in f32, f16, bf16
//! or as 8 bits per value (per-tensor affine: `min + step * q`, q from 0 to 255). Tensors of one
//! dimension (biases, the norms' scales and running statistics) are a small share of the bytes
//! and stay f32; `num_batches_tracked` is left out, as loading allows.
//!
//! Layout, little-endian: the magic `P2PW`, a u32 version, a u32 tensor count, then per tensor
//! its key (u32 length, UTF-8), its encoding (u8), its rank (u8) and dimensions (u32 each), for
//! 8 bits its min and step (f32 each), and its values. Read back in order, a file cut short is
//! found at the tensor where it ends.

use burn::prelude::*;
use burn::tensor::{DType, bf16, f16};

use crate::model::state::StateDict;

const MAGIC: &[u8; 4] = b"P2PW";
const VERSION: u32 = 1;
/// More dimensions than any of the networks' tensors has: a file claiming them is corrupt.
const MOST_DIMENSIONS: usize = 8;

/// How the tensors of two or more dimensions are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightFormat {
    F32,
    /// IEEE half precision: half the bytes of f32.
    #[default]
    F16,
    /// bfloat16: half the bytes, f32's range with fewer mantissa bits.
    Bf16,
    /// 8 bits per value, per-tensor min and step: a quarter of the bytes.
    Int8,
}

crate::names::named_values!(WeightFormat, "weight format", {
    F32 => "f32",
    F16 => "f16",
    Bf16 => "bf16",
    Int8 => "int8",
});

impl WeightFormat {
    fn code(self) -> u8 {
        match self {
            WeightFormat::F32 => 0,
            WeightFormat::F16 => 1,
            WeightFormat::Bf16 => 2,
            WeightFormat::Int8 => 3,
        }
    }

    fn of_code(code: u8) -> Option<Self> {
        [Self::F32, Self::F16, Self::Bf16, Self::Int8]
            .into_iter()
            .find(|f| f.code() == code)
    }

    /// Bytes per value.
    fn width(self) -> usize {
        match self {
            WeightFormat::F32 => 4,
            WeightFormat::F16 | WeightFormat::Bf16 => 2,
            WeightFormat::Int8 => 1,
        }
    }
}

/// Why a weight file cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("not a pix2pix web weight file (it does not start with P2PW)")]
    NotWeights,
    #[error("weight file version {0}: this page reads version {VERSION}; export the model again")]
    Version(u32),
    #[error("the weight file is cut short at byte {at} ({what}): download or export it again")]
    Truncated { at: usize, what: String },
    #[error("the weight file is corrupt at byte {at}: {reason}")]
    Corrupt { at: usize, reason: String },
}

/// `dict` in `format`: the file's bytes.
pub fn encode(dict: &StateDict, format: WeightFormat) -> Vec<u8> {
    let tensors: Vec<(&String, &TensorData)> = dict
        .iter()
        .filter(|(_, data)| data.dtype() != DType::I64)
        .collect();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    for (key, data) in tensors {
        let shape = data.shape().to_vec();
        let format = if shape.len() < 2 {
            WeightFormat::F32
        } else {
            format
        };
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.push(format.code());
        out.push(shape.len() as u8);
        for dim in &shape {
            out.extend_from_slice(&(*dim as u32).to_le_bytes());
        }
        let values = data.clone().convert::<f32>();
        match format {
            WeightFormat::F32 => out.extend_from_slice(values.as_bytes()),
            WeightFormat::F16 => out.extend_from_slice(values.convert::<f16>().as_bytes()),
            WeightFormat::Bf16 => out.extend_from_slice(values.convert::<bf16>().as_bytes()),
            WeightFormat::Int8 => {
                let values = values.as_slice::<f32>().expect("converted to f32");
                let (min, step) = quantisation(values);
                out.extend_from_slice(&min.to_le_bytes());
                out.extend_from_slice(&step.to_le_bytes());
                out.extend(values.iter().map(|v| ((v - min) / step).round() as u8));
            }
        }
    }
    out
}

/// The per-tensor min and step of 8-bit values spanning `values` (step 1 for a constant).
fn quantisation(values: &[f32]) -> (f32, f32) {
    let (min, max) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if values.is_empty() || max <= min {
        return (if values.is_empty() { 0.0 } else { min }, 1.0);
    }
    (min, (max - min) / 255.0)
}

/// Reads a weight file back into f32 tensors by key.
pub fn decode(bytes: &[u8]) -> Result<StateDict, WeightsError> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(4, "the header").ok() != Some(MAGIC.as_slice()) {
        return Err(WeightsError::NotWeights);
    }
    let version = reader.u32("the header")?;
    if version != VERSION {
        return Err(WeightsError::Version(version));
    }
    let count = reader.u32("the header")?;
    let mut dict = StateDict::new();
    for index in 0..count {
        let what = format!("tensor {} of {count}", index + 1);
        let length = reader.u32(&what)? as usize;
        let key = std::str::from_utf8(reader.take(length, &what)?)
            .map_err(|_| reader.corrupt(format!("{what}'s name is not UTF-8")))?
            .to_string();
        let what = format!("{key}, {what}");
        let code = reader.take(1, &what)?[0];
        let format = WeightFormat::of_code(code)
            .ok_or_else(|| reader.corrupt(format!("{key} has unknown encoding {code}")))?;
        let rank = reader.take(1, &what)?[0] as usize;
        if rank > MOST_DIMENSIONS {
            return Err(reader.corrupt(format!("{key} has {rank} dimensions")));
        }
        let shape = (0..rank)
            .map(|_| reader.u32(&what).map(|d| d as usize))
            .collect::<Result<Vec<_>, _>>()?;
        let elements = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|n| n.checked_mul(4).is_some())
            .ok_or_else(|| reader.corrupt(format!("{key}'s shape {shape:?} is too large")))?;
        let data = match format {
            WeightFormat::Int8 => {
                let min = reader.f32(&what)?;
                let step = reader.f32(&what)?;
                let values = reader.take(elements, &what)?;
                let values = values.iter().map(|&q| min + step * q as f32).collect();
                TensorData::new::<f32, _>(values, shape)
            }
            _ => {
                let bytes = reader.take(elements * format.width(), &what)?.to_vec();
                let dtype = match format {
                    WeightFormat::F16 => DType::F16,
                    WeightFormat::Bf16 => DType::BF16,
                    _ => DType::F32,
                };
                TensorData::from_bytes_vec(bytes, shape, dtype).convert::<f32>()
            }
        };
        dict.insert(key, data);
    }
    if reader.at != bytes.len() {
        return Err(reader.corrupt(format!(
            "{} bytes follow the last tensor",
            bytes.len() - reader.at
        )));
    }
    Ok(dict)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WeightsError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(WeightsError::Truncated {
                at: self.bytes.len(),
                what: what.to_string(),
            });
        };
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self, what: &str) -> Result<u32, WeightsError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn f32(&mut self, what: &str) -> Result<f32, WeightsError> {
        self.u32(what).map(f32::from_bits)
    }

    fn corrupt(&self, reason: String) -> WeightsError {
        WeightsError::Corrupt {
            at: self.at,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> StateDict {
        let mut dict = StateDict::new();
        let weight: Vec<f32> = (0..24).map(|i| (i as f32 - 11.0) / 7.0).collect();
        dict.insert("w".into(), TensorData::new(weight, [2, 3, 2, 2]));
        dict.insert("b".into(), TensorData::new(vec![0.1f32, -0.2], [2]));
        dict.insert(
            "n.num_batches_tracked".into(),
            TensorData::new(vec![0i64], [0usize; 0]),
        );
        dict
    }

    fn values(dict: &StateDict, key: &str) -> Vec<f32> {
        dict[key].clone().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn each_format_reads_back_within_its_precision() {
        let original = dict();
        for (format, tolerance) in [
            (WeightFormat::F32, 0.0),
            (WeightFormat::F16, 1e-3),
            (WeightFormat::Bf16, 8e-3),
            // Half a step of the 8-bit grid over the values' span, 23/7.
            (WeightFormat::Int8, 23.0 / 7.0 / 255.0 / 2.0 + 1e-6),
        ] {
            let bytes = encode(&original, format);
            let read = decode(&bytes).unwrap();
            assert_eq!(read.len(), 2, "{format}: num_batches_tracked is left out");
            assert_eq!(read["w"].shape().to_vec(), [2, 3, 2, 2]);
            for (a, b) in values(&original, "w").iter().zip(values(&read, "w")) {
                assert!((a - b).abs() <= tolerance, "{format}: {a} read as {b}");
            }
            assert_eq!(values(&read, "b"), [0.1, -0.2], "{format}: biases stay f32");
        }
        let sizes = [WeightFormat::F32, WeightFormat::F16, WeightFormat::Int8]
            .map(|format| encode(&original, format).len());
        assert!(sizes[0] > sizes[1] && sizes[1] > sizes[2], "{sizes:?}");
    }

    #[test]
    fn a_constant_tensor_survives_eight_bits() {
        let mut dict = StateDict::new();
        dict.insert("c".into(), TensorData::new(vec![0.5f32; 4], [2, 2]));
        let read = decode(&encode(&dict, WeightFormat::Int8)).unwrap();
        assert_eq!(values(&read, "c"), [0.5; 4]);
    }

    #[test]
    fn every_cut_and_bad_byte_is_an_error_not_a_panic() {
        let bytes = encode(&dict(), WeightFormat::Int8);
        for cut in 0..bytes.len() {
            let error = decode(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(
                    error,
                    WeightsError::Truncated { .. } | WeightsError::NotWeights
                ),
                "cut at {cut}: {error}"
            );
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0xff;
            let _ = decode(&bad);
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode(&longer), Err(WeightsError::Corrupt { .. })));
        assert_eq!(decode(b"PK\x03\x04rest"), Err(WeightsError::NotWeights));
    }
}

//! ONNX export of a generator (`pix2pix export --format onnx`), written by our own code: the
//! graph is built step by step from the network's plan and the loaded weights (networks.rs) and
//! serialised with prost (proto.rs), so exporting needs no Python and no protoc.
//!
//! The graph has one input `input` and one output `output`, with the batch size, height and
//! width left to run time (height and width must be multiples of the generator's size multiple;
//! the model's doc string says which). Dropout is never in the graph. Batch-norm layers use their
//! running statistics (eval mode, as `translate --eval`), or with [`OnnxOptions::batch_stats`]
//! each image's own statistics with the layer's affine weights: the official test mode without
//! its dropout, exact for batches of one.
//!
//! ```
//! use pix2pix::interop::onnx::{OnnxIo, OnnxOptions, onnx_model};
//! use pix2pix::model::{GeneratorArch, ModelOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = pix2pix::device::cpu()?;
//! let model = ModelOptions {
//!     net_g: GeneratorArch::Unet { num_downs: 5 },
//!     ngf: 8,
//!     ..ModelOptions::default()
//! };
//! let options = OnnxOptions { io: OnnxIo::Uint8, ..OnnxOptions::default() };
//! let onnx = onnx_model(&model.generator(&device), &model, &options)?;
//! let graph = onnx.graph.as_ref().unwrap();
//! assert_eq!((graph.input[0].name.as_str(), graph.output[0].name.as_str()), ("input", "output"));
//! assert!(onnx.doc_string.contains("multiples of 32"));
//! // The file's bytes: `prost::Message::encode_to_vec(&onnx)`, or `onnx_bytes`, which also
//! // checks ONNX's 2 GiB limit.
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "onnx")]
mod graph;
#[cfg(feature = "onnx")]
mod model;
#[cfg(feature = "onnx")]
mod networks;
#[cfg(feature = "onnx")]
pub mod proto;

use std::ops::RangeInclusive;

#[cfg(feature = "onnx")]
pub use model::{onnx_bytes, onnx_model};

use crate::data::Direction;

/// What the graph takes and gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnnxIo {
    /// float32 (N, C, H, W) in [-1, 1], as the network sees them.
    #[default]
    Float,
    /// uint8 (N, H, W, C) images, 0-255: the scaling and layout changes are in the graph.
    Uint8,
}

crate::names::named_values!(OnnxIo, "io", {
    Float => "float",
    Uint8 => "uint8",
});

/// How the generator is exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxOptions {
    /// The `ai.onnx` opset the graph declares (see [`OPSETS`]).
    pub opset: i64,
    pub io: OnnxIo,
    /// Batch norm with each image's statistics (the official test mode) instead of the running
    /// ones.
    pub batch_stats: bool,
    /// The direction the generator was trained in, recorded in the metadata where known.
    pub direction: Option<Direction>,
}

/// Opset 17 (ONNX 1.12, 2022): read by every onnxruntime since 1.12.
pub const DEFAULT_OPSET: i64 = 17;

/// The opsets whose operators compute this graph as the generator does (tested in onnxruntime).
pub const OPSETS: RangeInclusive<i64> = 13..=24;

impl Default for OnnxOptions {
    fn default() -> Self {
        Self {
            opset: DEFAULT_OPSET,
            io: OnnxIo::Float,
            batch_stats: false,
            direction: None,
        }
    }
}

//! Mixed precision (`--precision`): convolutions in bf16 or f16, everything else in f32.
//!
//! As PyTorch's autocast: each convolution casts its input, weight and bias to the low precision
//! and its output back to f32, so weights, optimiser state, normalisation, activations and losses
//! stay f32, and gradients reach the f32 weights through the casts. The speed-up is on GPUs; on
//! the CPU, Flex computes bf16 convolutions through f32.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use serde::{Deserialize, Serialize};

/// The arithmetic of the convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32 (the official code's default).
    #[default]
    F32,
    /// Convolutions in bfloat16.
    Bf16,
    /// Convolutions in float16.
    F16,
}

crate::names::named_values!(Precision, "precision", {
    F32 => "f32",
    Bf16 => "bf16",
    F16 => "f16",
});

impl Precision {
    /// The convolutions' dtype; None for plain f32.
    fn low(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(FloatDType::BF16),
            Precision::F16 => Some(FloatDType::F16),
        }
    }

    pub fn conv2d(self, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        let Some(dtype) = self.low() else {
            #[cfg(feature = "flex")]
            if let Some(y) = super::flex_conv::conv2d(conv, x.clone()) {
                return y;
            }
            return conv.forward(x);
        };
        // The networks' convolutions all pad explicitly (src/model/init.rs).
        let padding = match conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
            PaddingConfig2d::Valid => [(0, 0), (0, 0)],
            PaddingConfig2d::Same => unreachable!("pix2pix's convolutions pad explicitly"),
        };
        let options =
            ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
        conv2d(
            x.cast(dtype),
            conv.weight.val().cast(dtype),
            conv.bias.as_ref().map(|bias| bias.val().cast(dtype)),
            options,
        )
        .cast(FloatDType::F32)
    }

    pub fn conv_transpose2d(self, conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
        let Some(dtype) = self.low() else {
            #[cfg(feature = "flex")]
            if let Some(y) = super::flex_conv::conv_transpose2d(conv, x.clone()) {
                return y;
            }
            return conv.forward(x);
        };
        let options = ConvTransposeOptions::new(
            conv.stride,
            conv.padding,
            conv.padding_out,
            conv.dilation,
            conv.groups,
        );
        conv_transpose2d(
            x.cast(dtype),
            conv.weight.val().cast(dtype),
            conv.bias.as_ref().map(|bias| bias.val().cast(dtype)),
            options,
        )
        .cast(FloatDType::F32)
    }
}

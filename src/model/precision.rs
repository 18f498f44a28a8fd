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
        // The networks' convolutions all pad explicitly (src/model/init.rs).
        let padding = match conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
            PaddingConfig2d::Valid => [(0, 0), (0, 0)],
            PaddingConfig2d::Same => unreachable!("pix2pix's convolutions pad explicitly"),
        };
        let Some(dtype) = self.low() else {
            #[cfg(feature = "flex")]
            {
                let [(top, bottom), (left, right)] = padding;
                let geometry = FlexGeometry {
                    kernel: conv.kernel_size,
                    stride: conv.stride,
                    padding: [top, bottom, left, right],
                    padding_out: [0, 0],
                    dilation: conv.dilation,
                    groups: conv.groups,
                    transposed: false,
                };
                if let Some(y) = flex_conv(x.clone(), &conv.weight, &conv.bias, geometry) {
                    return y;
                }
            }
            return conv.forward(x);
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
            {
                let [p_h, p_w] = conv.padding;
                let geometry = FlexGeometry {
                    kernel: conv.kernel_size,
                    stride: conv.stride,
                    padding: [p_h, p_h, p_w, p_w],
                    padding_out: conv.padding_out,
                    dilation: conv.dilation,
                    groups: conv.groups,
                    transposed: true,
                };
                if let Some(y) = flex_conv(x.clone(), &conv.weight, &conv.bias, geometry) {
                    return y;
                }
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

/// Flex's faster convolutions (src/model/flex_conv.rs) where they apply: a Flex tensor, a
/// square kernel, equal strides, the same padding on all sides, no dilation or groups.
#[cfg(feature = "flex")]
fn flex_conv(
    x: Tensor<4>,
    weight: &burn::module::Param<Tensor<4>>,
    bias: &Option<burn::module::Param<Tensor<1>>>,
    geometry: FlexGeometry,
) -> Option<Tensor<4>> {
    let FlexGeometry {
        kernel,
        stride,
        padding,
        padding_out,
        dilation,
        groups,
        transposed,
    } = geometry;
    let same = |pair: [usize; 2]| pair[0] == pair[1];
    let symmetric = padding.iter().all(|&p| p == padding[0]);
    let applies = x.device().inner() == Device::flex()
        && same(kernel)
        && same(stride)
        && same(padding_out)
        && symmetric
        && dilation == [1, 1]
        && groups == 1;
    if !applies {
        return None;
    }
    let shape = super::flex_conv::ConvShape {
        stride: stride[0],
        padding: padding[0],
        transposed,
        output_padding: padding_out[0],
    };
    let y = super::flex_conv::conv(x, weight.val(), shape);
    Some(match bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            y + bias.val().reshape([1, channels, 1, 1])
        }
        None => y,
    })
}

/// What decides whether [`flex_conv`] applies; padding as (top, bottom, left, right).
#[cfg(feature = "flex")]
struct FlexGeometry {
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 4],
    padding_out: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
    transposed: bool,
}

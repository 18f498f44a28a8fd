//! Weight initialisation as the official `init_weights`: conv weights from the chosen scheme,
//! conv biases zero (batch-norm weights N(1, gain) live in [`super::norm::BatchNorm2d::new`]).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// `--init_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InitType {
    /// N(0, gain): the pix2pix default.
    #[default]
    Normal,
    /// Xavier (Glorot) normal with the given gain.
    Xavier,
    /// Kaiming (He) normal, fan_in, a = 0 (the gain is not used, as in the official code).
    Kaiming,
    /// Orthogonal with the given gain.
    Orthogonal,
}

crate::names::named_values!(InitType, "init type", {
    Normal => "normal",
    Xavier => "xavier",
    Kaiming => "kaiming",
    Orthogonal => "orthogonal",
});

/// `--init_type` and `--init_gain` together.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitOptions {
    pub init_type: InitType,
    pub gain: f64,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            init_type: InitType::Normal,
            gain: 0.02,
        }
    }
}

impl InitOptions {
    fn initializer(&self) -> Initializer {
        match self.init_type {
            InitType::Normal => Initializer::Normal {
                mean: 0.0,
                std: self.gain,
            },
            InitType::Xavier => Initializer::XavierNormal { gain: self.gain },
            InitType::Kaiming => Initializer::KaimingNormal {
                gain: std::f64::consts::SQRT_2,
                fan_out_only: false,
            },
            InitType::Orthogonal => Initializer::Orthogonal { gain: self.gain },
        }
    }

    /// A weight of `shape` with PyTorch's fan computation (dims 1 and 0 times the kernel area).
    fn weight(&self, shape: [usize; 4], device: &Device) -> Param<Tensor<4>> {
        let area = shape[2] * shape[3];
        self.initializer()
            .init_with(shape, Some(shape[1] * area), Some(shape[0] * area), device)
    }
}

/// A square conv (`kernel`, `stride`, symmetric `padding`) initialised per `init`.
pub fn conv2d(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
    bias: bool,
    init: &InitOptions,
    device: &Device,
) -> Conv2d {
    let mut conv = Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_bias(bias)
        .with_initializer(Initializer::Zeros)
        .init(device);
    conv.weight = init.weight([channels[1], channels[0], kernel, kernel], device);
    conv
}

/// A square transposed conv initialised per `init`; weights are (in, out, k, k) as in PyTorch.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    bias: bool,
    init: &InitOptions,
    device: &Device,
) -> ConvTranspose2d {
    let mut conv = ConvTranspose2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding([padding, padding])
        .with_padding_out([output_padding, output_padding])
        .with_bias(bias)
        .with_initializer(Initializer::Zeros)
        .init(device);
    conv.weight = init.weight([channels[0], channels[1], kernel, kernel], device);
    conv
}

//! PatchGAN discriminators: `basic` (70x70, n_layers 3), `n_layers` (any depth) and `pixel` (1x1).
//! They output a map of logits, one per patch; no sigmoid (the loss applies it).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::init::{ConvSpec, InitOptions};
use super::norm::{Norm, NormKind};
use crate::backend::{self, Precision};

/// The side of the logit map of a PatchGAN with `n_layers` strided layers for inputs of `side`
/// pixels; None when a layer gets less than its 4x4 kernel.
pub fn output_side(n_layers: usize, side: usize) -> Option<usize> {
    // Every layer is a 4x4 convolution with padding 1: strided ones, then two unstrided.
    let conv = |side: usize, stride: usize| (side + 2).checked_sub(4).map(|r| r / stride + 1);
    let mut side = side;
    for _ in 0..n_layers {
        side = conv(side, 2)?;
    }
    for _ in 0..2 {
        side = conv(side, 1)?;
    }
    (side > 0).then_some(side)
}

#[derive(Config, Debug)]
pub struct NLayerDiscriminatorConfig {
    /// Channels D sees: input_nc + output_nc when conditional, output_nc otherwise.
    pub input_nc: usize,
    #[config(default = 64)]
    pub ndf: usize,
    #[config(default = 3)]
    pub n_layers: usize,
    #[config(default = "NormKind::Batch")]
    pub norm: NormKind,
}

/// Conv, optional norm, then LeakyReLU(0.2) unless it is the last layer.
#[derive(Module, Debug)]
pub struct DiscriminatorLayer {
    pub conv: Conv2d,
    pub norm: Option<Norm>,
}

/// A PatchGAN: a stack of conv layers ending in one logit channel. `Default` is the empty
/// network, a stand-in while the real one is moved out.
#[derive(Module, Debug, Default)]
pub struct PatchDiscriminator {
    pub layers: Vec<DiscriminatorLayer>,
    #[module(skip)]
    pub precision: Precision,
}

impl NLayerDiscriminatorConfig {
    pub fn init(&self, init: &InitOptions, device: &Device) -> PatchDiscriminator {
        let bias = self.norm.conv_bias();
        let width = |n: usize| self.ndf * (1usize << n.min(3));
        let plain = |conv| DiscriminatorLayer { conv, norm: None };
        let normed = |conv, channels| DiscriminatorLayer {
            conv,
            norm: self.norm.init(channels, init, device),
        };
        let strided = ConvSpec::kernel(4).stride(2).padding(1);
        let unstrided = ConvSpec::kernel(4).padding(1);
        let mut layers = vec![plain(strided.conv2d(
            [self.input_nc, self.ndf],
            init,
            device,
        ))];
        for n in 1..self.n_layers {
            let conv = strided
                .bias(bias)
                .conv2d([width(n - 1), width(n)], init, device);
            layers.push(normed(conv, width(n)));
        }
        let n = self.n_layers;
        let conv = unstrided
            .bias(bias)
            .conv2d([width(n - 1), width(n)], init, device);
        layers.push(normed(conv, width(n)));
        layers.push(plain(unstrided.conv2d([width(n), 1], init, device)));
        PatchDiscriminator {
            layers,
            precision: Precision::default(),
        }
    }
}

impl PatchDiscriminator {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            layer.forward(h, i < last, self.precision)
        })
    }

    pub fn with_precision(self, precision: Precision) -> Self {
        Self { precision, ..self }
    }
}

impl DiscriminatorLayer {
    fn forward(&self, x: Tensor<4>, activate: bool, precision: Precision) -> Tensor<4> {
        let mut h = backend::conv2d(&self.conv, x, precision);
        if let Some(norm) = &self.norm {
            h = norm.forward(h);
        }
        if activate {
            backend::leaky_relu(h, 0.2)
        } else {
            h
        }
    }
}

#[derive(Config, Debug)]
pub struct PixelDiscriminatorConfig {
    pub input_nc: usize,
    #[config(default = 64)]
    pub ndf: usize,
    #[config(default = "NormKind::Batch")]
    pub norm: NormKind,
}

impl PixelDiscriminatorConfig {
    /// The 1x1 PixelGAN: Conv1x1(->ndf), LReLU, Conv1x1(->2ndf), Norm, LReLU, Conv1x1(->1).
    pub fn init(&self, init: &InitOptions, device: &Device) -> PatchDiscriminator {
        let pixel = ConvSpec::kernel(1);
        let bias = self.norm.conv_bias();
        let ndf = self.ndf;
        PatchDiscriminator {
            layers: vec![
                DiscriminatorLayer {
                    conv: pixel.conv2d([self.input_nc, ndf], init, device),
                    norm: None,
                },
                DiscriminatorLayer {
                    conv: pixel.bias(bias).conv2d([ndf, 2 * ndf], init, device),
                    norm: self.norm.init(2 * ndf, init, device),
                },
                DiscriminatorLayer {
                    conv: pixel.bias(bias).conv2d([2 * ndf, 1], init, device),
                    norm: None,
                },
            ],
            precision: Precision::default(),
        }
    }
}

//! PatchGAN discriminators: `basic` (70x70, n_layers 3), `n_layers` (any depth) and `pixel` (1x1).
//! They output a map of logits, one per patch; no sigmoid (the loss applies it).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::init::{InitOptions, conv2d};
use super::leaky_relu;
use super::norm::{Norm, NormKind};
use super::precision::Precision;

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
        let mut layers = vec![plain(conv2d(
            [self.input_nc, self.ndf],
            4,
            2,
            1,
            true,
            init,
            device,
        ))];
        for n in 1..self.n_layers {
            let conv = conv2d([width(n - 1), width(n)], 4, 2, 1, bias, init, device);
            layers.push(normed(conv, width(n)));
        }
        let n = self.n_layers;
        let conv = conv2d([width(n - 1), width(n)], 4, 1, 1, bias, init, device);
        layers.push(normed(conv, width(n)));
        layers.push(plain(conv2d([width(n), 1], 4, 1, 1, true, init, device)));
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
        let mut h = precision.conv2d(&self.conv, x);
        if let Some(norm) = &self.norm {
            h = norm.forward(h);
        }
        if activate { leaky_relu(h, 0.2) } else { h }
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
        let bias = self.norm.conv_bias();
        let ndf = self.ndf;
        PatchDiscriminator {
            layers: vec![
                DiscriminatorLayer {
                    conv: conv2d([self.input_nc, ndf], 1, 1, 0, true, init, device),
                    norm: None,
                },
                DiscriminatorLayer {
                    conv: conv2d([ndf, 2 * ndf], 1, 1, 0, bias, init, device),
                    norm: self.norm.init(2 * ndf, init, device),
                },
                DiscriminatorLayer {
                    conv: conv2d([2 * ndf, 1], 1, 1, 0, bias, init, device),
                    norm: None,
                },
            ],
            precision: Precision::default(),
        }
    }
}

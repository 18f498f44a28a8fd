//! PatchGAN discriminators: `basic` (70x70, n_layers 3), `n_layers` (any depth) and `pixel` (1x1).
//! They output a map of logits, one per patch; no sigmoid (the loss applies it).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::init::{ConvSpec, InitOptions};
use super::norm::{Norm, NormKind};
use super::plan::{Plan, Step};
use crate::backend::{self, Precision};

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
    /// The official `NLayerDiscriminator`: 4x4 convolutions with padding 1, `n_layers` strided
    /// ones widening from ndf to at most 8 ndf, one unstrided, and one to a single logit.
    pub fn plan(&self) -> Plan {
        let bias = self.norm.conv_bias();
        let width = |n: usize| self.ndf.saturating_mul(1 << n.min(3));
        let strided = ConvSpec::kernel(4).stride(2).padding(1);
        let unstrided = ConvSpec::kernel(4).padding(1);
        let n = self.n_layers;
        // (input, output, spec, normalised) of each layer.
        let mut layers = vec![(self.input_nc, self.ndf, strided, false)];
        layers.extend((1..n).map(|i| (width(i - 1), width(i), strided.bias(bias), true)));
        layers.push((width(n - 1), width(n), unstrided.bias(bias), true));
        layers.push((width(n), 1, unstrided, false));
        discriminator_plan("model", self.input_nc, self.norm, layers)
    }

    pub fn init(&self, init: &InitOptions, device: &Device) -> PatchDiscriminator {
        PatchDiscriminator::from_plan(&self.plan(), init, device)
    }
}

/// A PatchGAN's plan: a conv per layer, then its norm if `normalised`, then a LeakyReLU but
/// after the last.
fn discriminator_plan(
    prefix: &'static str,
    input_nc: usize,
    kind: NormKind,
    layers: Vec<(usize, usize, ConvSpec, bool)>,
) -> Plan {
    let last = layers.len() - 1;
    let mut steps = Vec::new();
    for (i, (cin, cout, spec, normalised)) in layers.into_iter().enumerate() {
        steps.push(Step::conv(
            format!("layers.{i}.conv"),
            [cin, cout],
            spec,
            false,
        ));
        if normalised {
            steps.push(Step::Norm {
                field: format!("layers.{i}.norm"),
                channels: cout,
                kind,
            });
        }
        if i < last {
            steps.push(Step::LeakyRelu);
        }
    }
    Plan {
        prefix,
        input_nc,
        steps,
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

    /// Either PatchGAN's layers, one per conv, from its plan.
    pub(super) fn from_plan(plan: &Plan, init: &InitOptions, device: &Device) -> Self {
        let mut built = plan.build(init, device);
        let layers = (0..plan.convs().len())
            .map(|i| DiscriminatorLayer {
                conv: built.conv2d(&format!("layers.{i}.conv")),
                norm: built.norm(&format!("layers.{i}.norm")),
            })
            .collect();
        built.finish();
        Self {
            layers,
            precision: Precision::default(),
        }
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
    /// The official 1x1 `PixelDiscriminator`: Conv1x1(->ndf), LReLU, Conv1x1(->2ndf), Norm,
    /// LReLU, Conv1x1(->1).
    pub fn plan(&self) -> Plan {
        let pixel = ConvSpec::kernel(1);
        let bias = self.norm.conv_bias();
        let wide = self.ndf.saturating_mul(2);
        let layers = vec![
            (self.input_nc, self.ndf, pixel, false),
            (self.ndf, wide, pixel.bias(bias), true),
            (wide, 1, pixel.bias(bias), false),
        ];
        discriminator_plan("net", self.input_nc, self.norm, layers)
    }

    pub fn init(&self, init: &InitOptions, device: &Device) -> PatchDiscriminator {
        PatchDiscriminator::from_plan(&self.plan(), init, device)
    }
}

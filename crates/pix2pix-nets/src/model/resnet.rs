//! The ResNet generator (`resnet_9blocks`, `resnet_6blocks`): Johnson et al.'s encoder, residual
//! blocks at 4*ngf channels, and decoder, exactly as the official `ResnetGenerator`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use super::init::{ConvSpec, InitOptions};
use super::norm::{Dropout, Norm, NormKind};
use super::plan::{Block, Join, Plan, Step};
use crate::backend::{self, Precision};

#[derive(Config, Debug)]
pub struct ResnetConfig {
    pub input_nc: usize,
    pub output_nc: usize,
    pub n_blocks: usize,
    #[config(default = 64)]
    pub ngf: usize,
    #[config(default = "NormKind::Batch")]
    pub norm: NormKind,
    #[config(default = true)]
    pub use_dropout: bool,
}

/// Conv, optional norm, ReLU: the encoder and decoder stages.
#[derive(Module, Debug)]
pub struct ConvStage {
    pub conv: Conv2d,
    pub norm: Option<Norm>,
}

#[derive(Module, Debug)]
pub struct UpStage {
    pub conv: ConvTranspose2d,
    pub norm: Option<Norm>,
}

/// `x + [pad, conv3, norm, relu, (dropout), pad, conv3, norm](x)`, reflection padding.
#[derive(Module, Debug)]
pub struct ResnetBlock {
    pub conv1: Conv2d,
    pub norm1: Option<Norm>,
    pub dropout: Option<Dropout>,
    pub conv2: Conv2d,
    pub norm2: Option<Norm>,
}

#[derive(Module, Debug)]
pub struct Resnet {
    pub stem: ConvStage,
    pub downsampling: Vec<ConvStage>,
    pub blocks: Vec<ResnetBlock>,
    pub upsampling: Vec<UpStage>,
    pub head: Conv2d,
    #[module(skip)]
    pub precision: Precision,
}

/// Stride-2 stages on each side of the residual blocks.
pub(crate) const DOWNSAMPLINGS: usize = 2;

fn normalize(norm: &Option<Norm>, x: Tensor<4>) -> Tensor<4> {
    match norm {
        Some(norm) => norm.forward(x),
        None => x,
    }
}

impl ResnetConfig {
    /// The official `ResnetGenerator`: a reflection-padded 7x7 stem, two stride-2 stages,
    /// `n_blocks` residual blocks at 4 ngf, two transposed stages and a 7x7 head.
    pub fn plan(&self) -> Plan {
        let bias = self.norm.conv_bias();
        let ngf = self.ngf;
        let conv = Step::conv;
        let norm = |field: String, channels| Step::Norm {
            field,
            channels,
            kind: self.norm,
        };
        // The 7x7 and the blocks' 3x3 convolutions pad by reflection beforehand.
        let wide = ConvSpec::kernel(7);
        let resampling = ConvSpec::kernel(3).stride(2).padding(1).bias(bias);
        let mut steps = vec![
            Step::ReflectPad(3),
            conv(
                "stem.conv".into(),
                [self.input_nc, ngf],
                wide.bias(bias),
                false,
            ),
            norm("stem.norm".into(), ngf),
            Step::Relu,
        ];
        for i in 0..DOWNSAMPLINGS {
            let channels = ngf.saturating_mul(1 << i);
            let field = |layer| format!("downsampling.{i}.{layer}");
            steps.extend([
                conv(
                    field("conv"),
                    [channels, channels.saturating_mul(2)],
                    resampling,
                    false,
                ),
                norm(field("norm"), channels.saturating_mul(2)),
                Step::Relu,
            ]);
        }
        let width = ngf.saturating_mul(1 << DOWNSAMPLINGS);
        for b in 0..self.n_blocks {
            let field = |layer| format!("blocks.{b}.{layer}");
            let block = ConvSpec::kernel(3).bias(bias);
            let mut inner = vec![
                Step::ReflectPad(1),
                conv(field("conv1"), [width, width], block, false),
                norm(field("norm1"), width),
                Step::Relu,
            ];
            if self.use_dropout {
                inner.push(Step::Dropout {
                    field: field("dropout"),
                });
            }
            inner.extend([
                Step::ReflectPad(1),
                conv(field("conv2"), [width, width], block, false),
                norm(field("norm2"), width),
            ]);
            steps.push(Step::Block(Block {
                attribute: "conv_block",
                join: Join::Residual,
                steps: inner,
            }));
        }
        for i in 0..DOWNSAMPLINGS {
            let channels = width >> i;
            let field = |layer| format!("upsampling.{i}.{layer}");
            steps.extend([
                conv(
                    field("conv"),
                    [channels, channels / 2],
                    resampling.output_padding(1),
                    true,
                ),
                norm(field("norm"), channels / 2),
                Step::Relu,
            ]);
        }
        steps.extend([
            Step::ReflectPad(3),
            conv("head".into(), [ngf, self.output_nc], wide, false),
            Step::Tanh,
        ]);
        Plan {
            prefix: "model",
            input_nc: self.input_nc,
            steps,
        }
    }

    pub fn init(&self, init: &InitOptions, device: &Device) -> Resnet {
        let plan = self.plan();
        let mut layers = plan.build(init, device);
        let mut stage = |field: String| ConvStage {
            conv: layers.conv2d(&format!("{field}.conv")),
            norm: layers.norm(&format!("{field}.norm")),
        };
        let stem = stage("stem".into());
        let downsampling = (0..DOWNSAMPLINGS)
            .map(|i| stage(format!("downsampling.{i}")))
            .collect();
        let blocks = (0..self.n_blocks)
            .map(|b| ResnetBlock {
                conv1: layers.conv2d(&format!("blocks.{b}.conv1")),
                norm1: layers.norm(&format!("blocks.{b}.norm1")),
                dropout: layers.dropout(&format!("blocks.{b}.dropout")),
                conv2: layers.conv2d(&format!("blocks.{b}.conv2")),
                norm2: layers.norm(&format!("blocks.{b}.norm2")),
            })
            .collect();
        let upsampling = (0..DOWNSAMPLINGS)
            .map(|i| UpStage {
                conv: layers.conv_transpose2d(&format!("upsampling.{i}.conv")),
                norm: layers.norm(&format!("upsampling.{i}.norm")),
            })
            .collect();
        let head = layers.conv2d("head");
        layers.finish();
        Resnet {
            stem,
            downsampling,
            blocks,
            upsampling,
            head,
            precision: Precision::default(),
        }
    }
}

impl ResnetBlock {
    fn forward(&self, x: Tensor<4>, precision: Precision) -> Tensor<4> {
        let mut h = backend::conv2d(&self.conv1, backend::reflect_pad(x.clone(), 1), precision);
        h = relu(normalize(&self.norm1, h));
        if let Some(dropout) = &self.dropout {
            h = dropout.forward(h);
        }
        h = normalize(
            &self.norm2,
            backend::conv2d(&self.conv2, backend::reflect_pad(h, 1), precision),
        );
        x + h
    }
}

impl Resnet {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (stem, precision) = (&self.stem, self.precision);
        let mut h = relu(normalize(
            &stem.norm,
            backend::conv2d(&stem.conv, backend::reflect_pad(x, 3), precision),
        ));
        for stage in &self.downsampling {
            h = relu(normalize(
                &stage.norm,
                backend::conv2d(&stage.conv, h, precision),
            ));
        }
        for block in &self.blocks {
            h = block.forward(h, precision);
        }
        for stage in &self.upsampling {
            h = relu(normalize(
                &stage.norm,
                backend::conv_transpose2d(&stage.conv, h, precision),
            ));
        }
        tanh(backend::conv2d(
            &self.head,
            backend::reflect_pad(h, 3),
            precision,
        ))
    }
}

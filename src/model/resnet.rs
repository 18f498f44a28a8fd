//! The ResNet generator (`resnet_9blocks`, `resnet_6blocks`): Johnson et al.'s encoder, residual
//! blocks at 4*ngf channels, and decoder, exactly as the official `ResnetGenerator`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};
use burn::tensor::ops::PadMode;

use super::init::{InitOptions, conv_transpose2d, conv2d};
use super::norm::{Dropout, Norm, NormKind};
use super::precision::Precision;

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

/// x + [pad, conv3, norm, relu, (dropout), pad, conv3, norm](x), reflection padding.
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

const DOWNSAMPLINGS: usize = 2;

fn normalize(norm: &Option<Norm>, x: Tensor<4>) -> Tensor<4> {
    match norm {
        Some(norm) => norm.forward(x),
        None => x,
    }
}

fn reflect(x: Tensor<4>, pad: usize) -> Tensor<4> {
    x.pad((pad, pad, pad, pad), PadMode::Reflect)
}

impl ResnetConfig {
    pub fn init(&self, init: &InitOptions, device: &Device) -> Resnet {
        let bias = self.norm.conv_bias();
        let ngf = self.ngf;
        let stage = |conv: Conv2d, channels: usize| ConvStage {
            conv,
            norm: self.norm.init(channels, init, device),
        };
        let stem = stage(
            conv2d([self.input_nc, ngf], 7, 1, 0, bias, init, device),
            ngf,
        );
        let downsampling = (0..DOWNSAMPLINGS)
            .map(|i| {
                let channels = ngf << i;
                stage(
                    conv2d([channels, 2 * channels], 3, 2, 1, bias, init, device),
                    2 * channels,
                )
            })
            .collect();
        let width = ngf << DOWNSAMPLINGS;
        let blocks = (0..self.n_blocks)
            .map(|_| ResnetBlock {
                conv1: conv2d([width, width], 3, 1, 0, bias, init, device),
                norm1: self.norm.init(width, init, device),
                dropout: self.use_dropout.then(|| Dropout::new(0.5)),
                conv2: conv2d([width, width], 3, 1, 0, bias, init, device),
                norm2: self.norm.init(width, init, device),
            })
            .collect();
        let upsampling = (0..DOWNSAMPLINGS)
            .map(|i| {
                let channels = width >> i;
                UpStage {
                    conv: conv_transpose2d(
                        [channels, channels / 2],
                        3,
                        2,
                        1,
                        1,
                        bias,
                        init,
                        device,
                    ),
                    norm: self.norm.init(channels / 2, init, device),
                }
            })
            .collect();
        let head = conv2d([ngf, self.output_nc], 7, 1, 0, true, init, device);
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
        let mut h = precision.conv2d(&self.conv1, reflect(x.clone(), 1));
        h = relu(normalize(&self.norm1, h));
        if let Some(dropout) = &self.dropout {
            h = dropout.forward(h);
        }
        h = normalize(&self.norm2, precision.conv2d(&self.conv2, reflect(h, 1)));
        x + h
    }
}

impl Resnet {
    /// Two stride-2 stages: sides must be multiples of 4.
    pub fn size_multiple(&self) -> usize {
        1 << DOWNSAMPLINGS
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (stem, precision) = (&self.stem, self.precision);
        let mut h = relu(normalize(
            &stem.norm,
            precision.conv2d(&stem.conv, reflect(x, 3)),
        ));
        for stage in &self.downsampling {
            h = relu(normalize(&stage.norm, precision.conv2d(&stage.conv, h)));
        }
        for block in &self.blocks {
            h = block.forward(h, precision);
        }
        for stage in &self.upsampling {
            h = relu(normalize(
                &stage.norm,
                precision.conv_transpose2d(&stage.conv, h),
            ));
        }
        tanh(precision.conv2d(&self.head, reflect(h, 3)))
    }
}

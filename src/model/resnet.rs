//! The ResNet generator (`resnet_9blocks`, `resnet_6blocks`): Johnson et al.'s encoder, residual
//! blocks at 4*ngf channels, and decoder, exactly as the official `ResnetGenerator`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use super::init::{ConvSpec, InitOptions};
use super::norm::{Dropout, Norm, NormKind};
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

/// Stride-2 stages on each side of the residual blocks.
pub(crate) const DOWNSAMPLINGS: usize = 2;

fn normalize(norm: &Option<Norm>, x: Tensor<4>) -> Tensor<4> {
    match norm {
        Some(norm) => norm.forward(x),
        None => x,
    }
}

impl ResnetConfig {
    pub fn init(&self, init: &InitOptions, device: &Device) -> Resnet {
        let bias = self.norm.conv_bias();
        let ngf = self.ngf;
        let stage = |conv: Conv2d, channels: usize| ConvStage {
            conv,
            norm: self.norm.init(channels, init, device),
        };
        // The 7x7 and the blocks' 3x3 convolutions pad by reflection beforehand.
        let wide = ConvSpec::kernel(7);
        let resampling = ConvSpec::kernel(3).stride(2).padding(1).bias(bias);
        let block = ConvSpec::kernel(3).bias(bias);
        let stem = stage(
            wide.bias(bias).conv2d([self.input_nc, ngf], init, device),
            ngf,
        );
        let downsampling = (0..DOWNSAMPLINGS)
            .map(|i| {
                let channels = ngf << i;
                stage(
                    resampling.conv2d([channels, 2 * channels], init, device),
                    2 * channels,
                )
            })
            .collect();
        let width = ngf << DOWNSAMPLINGS;
        let blocks = (0..self.n_blocks)
            .map(|_| ResnetBlock {
                conv1: block.conv2d([width, width], init, device),
                norm1: self.norm.init(width, init, device),
                dropout: self.use_dropout.then(|| Dropout::new(0.5)),
                conv2: block.conv2d([width, width], init, device),
                norm2: self.norm.init(width, init, device),
            })
            .collect();
        let upsampling = (0..DOWNSAMPLINGS)
            .map(|i| {
                let channels = width >> i;
                UpStage {
                    conv: resampling.output_padding(1).conv_transpose2d(
                        [channels, channels / 2],
                        init,
                        device,
                    ),
                    norm: self.norm.init(channels / 2, init, device),
                }
            })
            .collect();
        let head = wide.conv2d([ngf, self.output_nc], init, device);
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

//! The U-Net generator (`unet_<N>`): the official nested skip-connection blocks, stored
//! outermost first and run recursively.
//!
//! Block i (0 = outermost) maps `outer` channels down to `inner` and back; every block but the
//! outermost returns `cat([input, up(sub(down(input)))])`, skip first, as the official code does.

use burn::module::Module;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use super::init::{ConvSpec, InitOptions};
use super::norm::{Dropout, Norm, NormKind};
use crate::backend::{self, Precision};

/// Configuration of a U-Net generator with `num_downs` downsamplings (unet_256 has 8).
#[derive(Config, Debug)]
pub struct UnetConfig {
    pub input_nc: usize,
    pub output_nc: usize,
    pub num_downs: usize,
    #[config(default = 64)]
    pub ngf: usize,
    #[config(default = "NormKind::Batch")]
    pub norm: NormKind,
    #[config(default = true)]
    pub use_dropout: bool,
}

/// Every block's down and up convolutions: 4x4, stride 2, padding 1.
const SAMPLING: ConvSpec = ConvSpec::kernel(4).stride(2).padding(1);

/// Where a block sits in the nesting, which decides its layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    Outermost,
    Middle,
    Innermost,
}

/// One skip-connection block.
#[derive(Module, Debug)]
pub struct UnetBlock {
    pub down_conv: Conv2d,
    pub down_norm: Option<Norm>,
    pub up_conv: ConvTranspose2d,
    pub up_norm: Option<Norm>,
    pub dropout: Option<Dropout>,
}

/// `Default` is the empty network (no blocks), a stand-in while the real one is moved out.
#[derive(Module, Debug, Default)]
pub struct Unet {
    /// Outermost first.
    pub blocks: Vec<UnetBlock>,
    #[module(skip)]
    pub precision: Precision,
}

impl UnetConfig {
    /// The smallest num_downs the official structure allows (outermost, three widening blocks,
    /// innermost).
    pub const MIN_DOWNS: usize = 5;

    /// (outer, inner, position, dropout) of each block, outermost first.
    fn layout(&self) -> Vec<(usize, usize, Position, bool)> {
        let ngf = self.ngf;
        let mut blocks = vec![
            (self.output_nc, ngf, Position::Outermost, false),
            (ngf, 2 * ngf, Position::Middle, false),
            (2 * ngf, 4 * ngf, Position::Middle, false),
            (4 * ngf, 8 * ngf, Position::Middle, false),
        ];
        for _ in 0..self.num_downs - Self::MIN_DOWNS {
            blocks.push((8 * ngf, 8 * ngf, Position::Middle, self.use_dropout));
        }
        blocks.push((8 * ngf, 8 * ngf, Position::Innermost, false));
        blocks
    }

    pub fn init(&self, init: &InitOptions, device: &Device) -> Unet {
        assert!(
            self.num_downs >= Self::MIN_DOWNS,
            "a U-Net needs at least {} downsamplings",
            Self::MIN_DOWNS
        );
        let bias = self.norm.conv_bias();
        let blocks = self
            .layout()
            .into_iter()
            .map(|(outer, inner, position, dropout)| {
                let (down_in, down_bias, down_norm) = match position {
                    Position::Outermost => (self.input_nc, bias, None),
                    Position::Middle => (outer, bias, self.norm.init(inner, init, device)),
                    Position::Innermost => (outer, bias, None),
                };
                // The innermost block's up conv sees only its own down output; the others see
                // the concatenation of the skip and the up path below them.
                let up_in = if position == Position::Innermost {
                    inner
                } else {
                    2 * inner
                };
                let (up_bias, up_norm) = match position {
                    Position::Outermost => (true, None),
                    _ => (bias, self.norm.init(outer, init, device)),
                };
                UnetBlock {
                    down_conv: SAMPLING
                        .bias(down_bias)
                        .conv2d([down_in, inner], init, device),
                    down_norm,
                    up_conv: SAMPLING
                        .bias(up_bias)
                        .conv_transpose2d([up_in, outer], init, device),
                    up_norm,
                    dropout: dropout.then(|| Dropout::new(0.5)),
                }
            })
            .collect();
        Unet {
            blocks,
            precision: Precision::default(),
        }
    }
}

impl Unet {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_block(0, x)
    }

    fn forward_block(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        let block = &self.blocks[index];
        let outermost = index == 0;
        let mut h = if outermost {
            x.clone()
        } else {
            backend::leaky_relu(x.clone(), 0.2)
        };
        h = backend::conv2d(&block.down_conv, h, self.precision);
        if let Some(norm) = &block.down_norm {
            h = norm.forward(h);
        }
        if index + 1 < self.blocks.len() {
            h = self.forward_block(index + 1, h);
        }
        h = backend::conv_transpose2d(&block.up_conv, relu(h), self.precision);
        if outermost {
            return tanh(h);
        }
        if let Some(norm) = &block.up_norm {
            h = norm.forward(h);
        }
        if let Some(dropout) = &block.dropout {
            h = dropout.forward(h);
        }
        Tensor::cat(vec![x, h], 1)
    }
}

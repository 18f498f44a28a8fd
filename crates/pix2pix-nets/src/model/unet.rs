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
use super::plan::{Block, Join, Plan, Step};
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

    /// The official `UnetGenerator`: block i (0 = outermost) maps `outer` channels down to
    /// `inner` and back, with the next block between; (outer, inner) widen from (output_nc, ngf)
    /// to 8 ngf.
    pub fn plan(&self) -> Plan {
        let width = |level: usize| self.ngf.saturating_mul(1 << level.min(3));
        let bias = self.norm.conv_bias();
        let norm = |field: String, channels| Step::Norm {
            field,
            channels,
            kind: self.norm,
        };
        let conv = |field, channels, bias, transposed| {
            Step::conv(field, channels, SAMPLING.bias(bias), transposed)
        };
        // Built from the innermost block out: each wraps the one below.
        let depth = self.num_downs.max(1);
        let mut below: Option<Step> = None;
        for level in (0..depth).rev() {
            let field = |layer: &str| format!("blocks.{level}.{layer}");
            let (outermost, innermost) = (level == 0, level + 1 == depth);
            let outer = if outermost {
                self.output_nc
            } else {
                width(level - 1)
            };
            let inner = width(level);
            let down_in = if outermost { self.input_nc } else { outer };
            let mut steps = Vec::new();
            if !outermost {
                steps.push(Step::LeakyRelu);
            }
            steps.push(conv(field("down_conv"), [down_in, inner], bias, false));
            if !outermost && !innermost {
                steps.push(norm(field("down_norm"), inner));
            }
            // The innermost block's up conv sees only its own down output; the others see the
            // concatenation of the skip and the up path below them.
            let up_in = match below.take() {
                Some(block) => {
                    steps.push(block);
                    inner.saturating_mul(2)
                }
                None => inner,
            };
            steps.push(Step::Relu);
            steps.push(conv(
                field("up_conv"),
                [up_in, outer],
                outermost || bias,
                true,
            ));
            if outermost {
                steps.push(Step::Tanh);
                return Plan {
                    prefix: "model.model",
                    input_nc: self.input_nc,
                    steps,
                };
            }
            steps.push(norm(field("up_norm"), outer));
            // The blocks at 8 ngf between the widening ones and the innermost.
            if self.use_dropout && level >= 4 && !innermost {
                steps.push(Step::Dropout {
                    field: field("dropout"),
                });
            }
            below = Some(Step::Block(Block {
                attribute: "model",
                join: Join::Concat,
                steps,
            }));
        }
        unreachable!("the loop returns at the outermost block")
    }

    pub fn init(&self, init: &InitOptions, device: &Device) -> Unet {
        assert!(
            self.num_downs >= Self::MIN_DOWNS,
            "a U-Net needs at least {} downsamplings",
            Self::MIN_DOWNS
        );
        let plan = self.plan();
        let mut layers = plan.build(init, device);
        let blocks = (0..self.num_downs)
            .map(|i| UnetBlock {
                down_conv: layers.conv2d(&format!("blocks.{i}.down_conv")),
                down_norm: layers.norm(&format!("blocks.{i}.down_norm")),
                up_conv: layers.conv_transpose2d(&format!("blocks.{i}.up_conv")),
                up_norm: layers.norm(&format!("blocks.{i}.up_norm")),
                dropout: layers.dropout(&format!("blocks.{i}.dropout")),
            })
            .collect();
        layers.finish();
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

//! Each network described once, as a plan: the steps of its forward pass (convolutions, norms,
//! activations, padding, dropout), nested as the official code nests its `nn.Sequential`s, with
//! the skip connections as blocks joined to their input. Each network's file writes its plan
//! (`UnetConfig::plan`, ...) and its forward pass; everything else follows from the plan: the
//! Burn module's layers ([`Layers`]), the memory footprint, the official state_dict keys and
//! detection from a state_dict (src/interop), the ONNX graph and `pix2pix info`'s table.

use std::collections::BTreeMap;

use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

use super::init::{ConvSpec, InitOptions};
use super::norm::{Dropout, Norm, NormKind};

/// The negative slope of every LeakyReLU in pix2pix's networks.
pub const LEAKY_SLOPE: f64 = 0.2;
/// The probability of every dropout layer in pix2pix's networks.
pub const DROPOUT: f64 = 0.5;

/// One step of a forward pass.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Conv(Conv),
    /// A normalisation of `channels` (the official `Identity` for `--norm none`, which still
    /// takes its place in the Sequential).
    Norm {
        field: String,
        channels: usize,
        kind: NormKind,
    },
    /// LeakyReLU with [`LEAKY_SLOPE`].
    LeakyRelu,
    Relu,
    Tanh,
    /// Dropout with [`DROPOUT`].
    Dropout {
        field: String,
    },
    /// Reflection padding of this many pixels on every side.
    ReflectPad(usize),
    Block(Block),
}

/// A convolution, or a transposed one, from `channels[0]` to `channels[1]` channels.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// Its path in our module, e.g. `blocks.1.down_conv`.
    pub field: String,
    pub channels: [usize; 2],
    pub spec: ConvSpec,
    pub transposed: bool,
}

/// How a block's output meets its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// `cat([x, f(x)], 1)`: the U-Net's skip connection.
    Concat,
    /// `x + f(x)`: the ResNet block.
    Residual,
}

/// A nested module whose Sequential is the official attribute `attribute` (`model` in a U-Net
/// block, `conv_block` in a ResNet block).
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub attribute: &'static str,
    pub join: Join,
    pub steps: Vec<Step>,
}

/// A network: its input channels and steps; `prefix` is the official path of its outermost
/// Sequential (`model.model` for a U-Net, `model` for a ResNet or PatchGAN, `net` for the
/// PixelGAN).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub prefix: &'static str,
    pub input_nc: usize,
    pub steps: Vec<Step>,
}

/// A tensor the network holds: a parameter or a batch norm's running statistic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanTensor {
    /// Its path in our module without enum variant names, e.g. `blocks.1.down_norm.weight`.
    pub ours: String,
    /// Its key in the official state_dict, e.g. `model.model.1.model.2.weight`.
    pub official: String,
    pub shape: Vec<usize>,
    /// Learnable (false for running statistics).
    pub learnable: bool,
}

/// A layer that holds parameters, as `pix2pix info` lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Its path in our module, e.g. `blocks.1.down_conv`.
    pub path: String,
    /// Its official module name, e.g. `model.model.1.model.1`.
    pub official: String,
    /// Its PyTorch type, e.g. `Conv2d` or `BatchNorm2d`.
    pub kind: &'static str,
    /// The shapes of its learnable tensors (weight, then bias).
    pub shapes: Vec<Vec<usize>>,
    /// Learnable parameters, as PyTorch counts them.
    pub parameters: usize,
}

/// Our module paths without the enum variants that have no counterpart in PyTorch (the
/// generator's kind, the norm's): `Unet.blocks.1.down_norm.Batch.weight` is
/// `blocks.1.down_norm.weight`.
pub fn field_path<S: AsRef<str>>(path: &[S]) -> String {
    let parts: Vec<&str> = path
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| !matches!(*p, "Unet" | "Resnet" | "Batch" | "Instance"))
        .collect();
    parts.join(".")
}

/// The elements of a tensor of `shape`, saturating (a typed `--ngf` may not fit an integer).
fn elements(shape: &[usize]) -> usize {
    shape.iter().fold(1, |n, &d| n.saturating_mul(d))
}

impl Conv {
    /// The weight's shape: (out, in, k, k), or (in, out, k, k) when transposed, as in PyTorch.
    pub fn weight_shape(&self) -> [usize; 4] {
        let [cin, cout] = self.channels;
        let k = self.spec.kernel;
        if self.transposed {
            [cin, cout, k, k]
        } else {
            [cout, cin, k, k]
        }
    }

    /// The output side for an input side (None when the kernel does not fit).
    pub fn output_side(&self, side: usize) -> Option<usize> {
        let ConvSpec {
            kernel,
            stride,
            padding,
            output_padding,
            ..
        } = self.spec;
        if self.transposed {
            let grown = side.checked_sub(1)?.checked_mul(stride)? + kernel + output_padding;
            grown.checked_sub(2 * padding).filter(|&s| s > 0)
        } else {
            Some(side.checked_add(2 * padding)?.checked_sub(kernel)? / stride + 1)
        }
    }
}

impl Step {
    /// A convolution (`transposed` false) or transposed convolution at `field`.
    pub fn conv(field: String, channels: [usize; 2], spec: ConvSpec, transposed: bool) -> Self {
        Step::Conv(Conv {
            field,
            channels,
            spec,
            transposed,
        })
    }

    /// The field of a step that is a layer of the module; None for activations, padding and
    /// blocks.
    fn field(&self) -> Option<&str> {
        match self {
            Step::Conv(conv) => Some(&conv.field),
            Step::Norm { field, .. } | Step::Dropout { field } => Some(field),
            _ => None,
        }
    }
}

impl Plan {
    /// Every step with its official name (the Sequential's path and the step's index in it),
    /// blocks before their steps, in forward order.
    pub fn walk(&self) -> Vec<(String, &Step)> {
        fn visit<'a>(prefix: &str, steps: &'a [Step], out: &mut Vec<(String, &'a Step)>) {
            for (index, step) in steps.iter().enumerate() {
                let name = format!("{prefix}.{index}");
                if let Step::Block(block) = step {
                    out.push((name.clone(), step));
                    visit(&format!("{name}.{}", block.attribute), &block.steps, out);
                } else {
                    out.push((name, step));
                }
            }
        }
        let mut out = Vec::new();
        visit(self.prefix, &self.steps, &mut out);
        out
    }

    /// The side of the output for inputs of `side` pixels (square, through every step); None
    /// when a convolution gets less than its kernel.
    pub fn output_side(&self, side: usize) -> Option<usize> {
        fn through(steps: &[Step], mut side: usize) -> Option<usize> {
            for step in steps {
                side = match step {
                    Step::Conv(conv) => conv.output_side(side)?,
                    Step::ReflectPad(pad) => side.checked_add(2 * pad)?,
                    Step::Block(block) => through(&block.steps, side).filter(|&s| s == side)?,
                    _ => side,
                };
            }
            Some(side)
        }
        through(&self.steps, side).filter(|&s| s > 0)
    }

    /// The convolutions, in forward order.
    pub fn convs(&self) -> Vec<&Conv> {
        (self.walk().into_iter())
            .filter_map(|(_, step)| match step {
                Step::Conv(conv) => Some(conv),
                _ => None,
            })
            .collect()
    }

    /// The tensors the network holds, in forward order.
    pub fn tensors(&self) -> Vec<PlanTensor> {
        let mut tensors = Vec::new();
        for (official, step) in self.walk() {
            let mut add = |field: &str, name: &str, shape: Vec<usize>, learnable| {
                tensors.push(PlanTensor {
                    ours: format!("{field}.{name}"),
                    official: format!("{official}.{name}"),
                    shape,
                    learnable,
                })
            };
            match step {
                Step::Conv(conv) => {
                    add(&conv.field, "weight", conv.weight_shape().to_vec(), true);
                    if conv.spec.bias {
                        add(&conv.field, "bias", vec![conv.channels[1]], true);
                    }
                }
                Step::Norm {
                    field,
                    channels,
                    kind: NormKind::Batch,
                } => {
                    add(field, "weight", vec![*channels], true);
                    add(field, "bias", vec![*channels], true);
                    add(field, "running_mean", vec![*channels], false);
                    add(field, "running_var", vec![*channels], false);
                }
                _ => {}
            }
        }
        tensors
    }

    /// Learnable parameters, as PyTorch counts them.
    pub fn parameters(&self) -> usize {
        (self.tensors().iter())
            .filter(|t| t.learnable)
            .map(|t| elements(&t.shape))
            .fold(0, usize::saturating_add)
    }

    /// Our tensor paths (without variant names) to their official keys.
    pub fn official_keys(&self) -> BTreeMap<String, String> {
        (self.tensors().into_iter())
            .map(|t| (t.ours, t.official))
            .collect()
    }

    /// The layers holding parameters, in forward order.
    pub fn layers(&self) -> Vec<Layer> {
        let mut layers: Vec<Layer> = Vec::new();
        let tensors = self.tensors();
        for (official, step) in self.walk() {
            let kind = match step {
                Step::Conv(conv) if conv.transposed => "ConvTranspose2d",
                Step::Conv(_) => "Conv2d",
                Step::Norm {
                    kind: NormKind::Batch,
                    ..
                } => "BatchNorm2d",
                _ => continue,
            };
            let path = step.field().unwrap_or_default().to_string();
            let shapes: Vec<Vec<usize>> = (tensors.iter())
                .filter(|t| t.learnable && t.ours.rsplit_once('.').map(|(f, _)| f) == Some(&path))
                .map(|t| t.shape.clone())
                .collect();
            let parameters = (shapes.iter().map(|s| elements(s))).fold(0, usize::saturating_add);
            layers.push(Layer {
                path,
                official,
                kind,
                shapes,
                parameters,
            });
        }
        layers
    }

    /// The layers of the Burn module, made from this plan as the network's `init` asks for
    /// them by field.
    pub fn build<'a>(&'a self, init: &'a InitOptions, device: &'a Device) -> Layers<'a> {
        let steps = (self.walk().into_iter())
            .filter_map(|(_, step)| Some((step.field()?.to_string(), step)))
            .collect();
        Layers {
            steps,
            init,
            device,
        }
    }
}

/// Builds a network's layers from its plan, by field. Each field is taken once; a field the
/// plan does not have, or one left untaken, is a mismatch between a network's plan and its
/// module, which the tests of every plan catch.
pub struct Layers<'a> {
    steps: BTreeMap<String, &'a Step>,
    init: &'a InitOptions,
    device: &'a Device,
}

impl Layers<'_> {
    fn take(&mut self, field: &str) -> &Step {
        self.steps
            .remove(field)
            .unwrap_or_else(|| panic!("the plan has no layer {field}"))
    }

    fn conv_step(&mut self, field: &str, transposed: bool) -> Conv {
        match self.take(field) {
            Step::Conv(conv) if conv.transposed == transposed => conv.clone(),
            other => panic!("{field} is {other:?} in the plan"),
        }
    }

    pub fn conv2d(&mut self, field: &str) -> Conv2d {
        let conv = self.conv_step(field, false);
        conv.spec.conv2d(conv.channels, self.init, self.device)
    }

    pub fn conv_transpose2d(&mut self, field: &str) -> ConvTranspose2d {
        let conv = self.conv_step(field, true);
        (conv.spec).conv_transpose2d(conv.channels, self.init, self.device)
    }

    /// The norm at `field`: None where the plan has none there, or `--norm none`.
    pub fn norm(&mut self, field: &str) -> Option<Norm> {
        let step = self.steps.remove(field)?;
        let &Step::Norm { channels, kind, .. } = step else {
            panic!("{field} is {step:?} in the plan");
        };
        kind.init(channels, self.init, self.device)
    }

    /// The dropout at `field`, where the plan has one.
    pub fn dropout(&mut self, field: &str) -> Option<Dropout> {
        let step = self.steps.remove(field)?;
        let Step::Dropout { .. } = step else {
            panic!("{field} is {step:?} in the plan");
        };
        Some(Dropout::new(DROPOUT))
    }

    /// Ends the build: every layer of the plan must have been taken.
    pub fn finish(self) {
        assert!(
            self.steps.is_empty(),
            "the module left out {:?} of its plan",
            self.steps.keys().collect::<Vec<_>>()
        );
    }
}

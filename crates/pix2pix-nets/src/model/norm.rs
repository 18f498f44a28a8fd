//! Normalisation and dropout layers with the official pix2pix semantics.
//!
//! Burn's own `BatchNorm` and `Dropout` fall back to inference behaviour whenever the input is not
//! on an autodiff device. pix2pix runs the generator at test time exactly as in training (batch
//! statistics, dropout on; see the paper and the official `test.py`), so these layers decide by
//! their training flag alone: [`Module::valid`] switches them to running statistics and no dropout
//! (the official `--eval`). Running statistics are only updated while training (autodiff device),
//! with PyTorch's unbiased variance so that checkpoints match the official ones.

use burn::module::{Flag, Module, Param, RunningState};
use burn::nn::{InstanceNorm, InstanceNormConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::init::InitOptions;
use crate::backend;

/// Which normalisation layer the networks use (`--norm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// BatchNorm2d with affine parameters and running statistics (the pix2pix default).
    #[default]
    Batch,
    /// InstanceNorm2d without affine parameters or running statistics.
    Instance,
    /// No normalisation.
    None,
}

crate::names::named_values!(NormKind, "norm", {
    Batch => "batch",
    Instance => "instance",
    None => "none",
});

impl NormKind {
    /// The official bias rule: a conv feeding a norm layer has a bias only with instance norm
    /// (`use_bias = norm_layer == nn.InstanceNorm2d`, false for `none` too).
    pub fn conv_bias(self) -> bool {
        self == NormKind::Instance
    }

    /// The layer for `channels` features, or `None` for `--norm none`.
    pub fn init(self, channels: usize, init: &InitOptions, device: &Device) -> Option<Norm> {
        match self {
            NormKind::Batch => Some(Norm::Batch(BatchNorm2d::new(channels, init, device))),
            NormKind::Instance => Some(Norm::Instance(
                InstanceNormConfig::new(channels)
                    .with_affine(false)
                    .init(device),
            )),
            NormKind::None => None,
        }
    }
}

/// A normalisation layer of either kind.
#[derive(Module, Debug)]
pub enum Norm {
    Batch(BatchNorm2d),
    Instance(InstanceNorm),
}

impl Norm {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Norm::Batch(norm) => norm.forward(x),
            Norm::Instance(norm) => norm.forward(x),
        }
    }
}

/// BatchNorm2d as in PyTorch (momentum 0.1, eps 1e-5), parameter names as in its state_dict.
#[derive(Module, Debug)]
pub struct BatchNorm2d {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    pub training: Param<Flag>,
}

/// PyTorch's BatchNorm2d epsilon.
pub const BATCH_NORM_EPS: f64 = 1e-5;
const BATCH_NORM_MOMENTUM: f64 = 0.1;

impl BatchNorm2d {
    /// Weight ~ N(1, gain) and bias 0, as the official `init_weights` does for every init type.
    pub fn new(channels: usize, init: &InitOptions, device: &Device) -> Self {
        Self {
            weight: super::init::normal([channels], 1.0, init.gain, device),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            training: Param::from_bool(true),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if !self.training.is_enabled() {
            // As PyTorch's CPU kernel: the statistics folded into one scale and shift per
            // channel, two passes over the activations instead of four.
            let device = x.device();
            let channels = x.dims()[1];
            let scale = self.weight.val()
                * self
                    .running_var
                    .value()
                    .to_device(&device)
                    .add_scalar(BATCH_NORM_EPS)
                    .sqrt()
                    .recip();
            let shift =
                self.bias.val() - self.running_mean.value().to_device(&device) * scale.clone();
            return x * scale.reshape([1, channels, 1, 1]) + shift.reshape([1, channels, 1, 1]);
        }
        let [batch, _, height, width] = x.dims();
        let device = x.device();
        let result =
            backend::batch_norm_train(x, self.weight.val(), self.bias.val(), BATCH_NORM_EPS);
        if device.is_autodiff() {
            let n = (batch * height * width) as f64;
            let unbiased = if n > 1.0 { n / (n - 1.0) } else { 1.0 };
            let mean = self
                .running_mean
                .value_sync()
                .to_device(&device)
                .mul_scalar(1.0 - BATCH_NORM_MOMENTUM)
                .add(result.mean.detach().mul_scalar(BATCH_NORM_MOMENTUM));
            let var = self
                .running_var
                .value_sync()
                .to_device(&device)
                .mul_scalar(1.0 - BATCH_NORM_MOMENTUM)
                .add(
                    result
                        .variance
                        .detach()
                        .mul_scalar(BATCH_NORM_MOMENTUM * unbiased),
                );
            self.running_mean.update(mean.detach());
            self.running_var.update(var.detach());
        }
        result.output
    }
}

/// Dropout(0.5) of the U-Net middle blocks and the ResNet blocks, active while the training flag
/// is on, whatever the device (pix2pix's test-time noise).
#[derive(Module, Debug)]
pub struct Dropout {
    pub prob: f64,
    pub training: Param<Flag>,
}

impl Dropout {
    pub fn new(prob: f64) -> Self {
        Self {
            prob,
            training: Param::from_bool(true),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if !self.training.is_enabled() || self.prob == 0.0 {
            return x;
        }
        crate::backend::dropout(x, 1.0 - self.prob)
    }
}

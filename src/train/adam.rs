//! Adam with PyTorch's update as a Burn optimiser. Each parameter's step runs through the backend's
//! Adam (crates/pix2pix-nets/src/backend/adam.rs): one fused parallel pass on the CPU backends, in
//! place over the moment buffers, whose results are bit-identical to Burn's `Adam` (tested here),
//! and the same formulas as tensor operations elsewhere. The state is Burn's `AdamState`, so
//! optimiser checkpoints are Burn's.

use burn::optim::{
    Adam as TensorOpAdam, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer,
    Optimizer,
};
use burn::prelude::*;

use crate::backend::{AdamParam, AdamStep, adam_step};

/// Adam without weight decay or AMSGrad, as the official code uses it.
#[derive(Clone)]
pub struct Adam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

impl Adam {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        Self {
            beta_1,
            beta_2,
            epsilon,
        }
    }

    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

impl Optimizer for Adam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let device = tensor.device();
        // A zero moment makes the first step's update equal Burn's separate first-step formula.
        let (time, moment_1, moment_2) = match state {
            Some(AdamState { momentum }) => {
                (momentum.time + 1, momentum.moment_1, momentum.moment_2)
            }
            None => (
                1,
                Tensor::zeros(tensor.shape(), &device),
                Tensor::zeros(tensor.shape(), &device),
            ),
        };
        let step = AdamStep {
            lr: lr as f32,
            time,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
        };
        let state = AdamParam {
            param: tensor,
            moment_1,
            moment_2,
        };
        let after = adam_step(state, grad, step);
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: after.moment_1,
            moment_2: after.moment_2,
            max_moment_2: None,
        };
        (after.param, Some(AdamState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        TensorOpAdam::to_device(state, device)
    }
}

#[cfg(all(test, any(feature = "flex", feature = "tch")))]
mod tests {
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::Distribution;

    use super::*;

    fn weights(conv: &Conv2d) -> Vec<f32> {
        let mut values = conv.weight.val().into_data().try_into_vec::<f32>().unwrap();
        values.extend(
            conv.bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_into_vec::<f32>()
                .unwrap(),
        );
        values
    }

    /// The fused loop and Burn's tensor-op Adam give bit-identical weights over several steps,
    /// the first step (no state yet) included.
    #[test]
    #[cfg(feature = "flex")]
    fn fused_update_equals_burns_adam() {
        fused_update_equals_burns_adam_on(Device::flex().autodiff());
    }

    /// The same on LibTorch's CPU buffers (crates/pix2pix-nets/src/backend/tch/adam.rs).
    #[test]
    #[cfg(feature = "tch")]
    fn fused_update_on_libtorch_equals_burns_adam() {
        #[allow(deprecated)]
        let device = Device::libtorch().autodiff();
        fused_update_equals_burns_adam_on(device);
    }

    fn fused_update_equals_burns_adam_on(device: Device) {
        let conv = Conv2dConfig::new([3, 5], [3, 3]).init(&device);
        let initial = weights(&conv);
        let (mut fused, mut reference) = (conv.clone(), conv);
        let mut fused_optimizer = Adam::new(0.5, 0.999, 1e-8).init();
        let mut reference_optimizer = AdamConfig::new()
            .with_beta_1(0.5)
            .with_beta_2(0.999)
            .with_epsilon(1e-8)
            .init();
        for step in 0..4 {
            let x = Tensor::<4>::random([2, 3, 9, 9], Distribution::Normal(0.0, 1.0), &device);
            let grads = |conv: &Conv2d| {
                let loss = conv.forward(x.clone()).powi_scalar(2).mean();
                GradientsParams::from_grads(loss.backward(), conv)
            };
            let lr = 2e-4 * (step + 1) as f64;
            let fused_grads = grads(&fused);
            fused = fused_optimizer.step(lr, fused, fused_grads);
            let reference_grads = grads(&reference);
            reference = reference_optimizer.step(lr, reference, reference_grads);
            assert_eq!(weights(&fused), weights(&reference), "step {step}");
        }
        assert_ne!(weights(&fused), initial);
    }
}

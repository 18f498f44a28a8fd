//! Adam with PyTorch's update, fused into one parallel pass over each parameter on the CPU.
//!
//! Burn's `Adam` runs about eleven whole-tensor operations per parameter, each writing a fresh
//! buffer. This one computes the same arithmetic, operation for operation in f32 (so results are
//! bit-identical to Burn's `Adam`), in place over the moment buffers; with it a unet_256 training
//! step on Flex (2 cores) went from 2.87 s to 2.06 s (BENCHMARKS.md). Other backends keep Burn's
//! tensor-op version, which runs on the device. The state is Burn's `AdamState`, so optimiser
//! checkpoints are unchanged.

use burn::optim::{
    Adam as TensorOpAdam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate,
    ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

/// Elements per parallel task: large enough to amortise scheduling, small enough to share the
/// biggest unet_256 weights (4M elements) among all cores.
const CHUNK: usize = 1 << 15;

/// Adam without weight decay or AMSGrad, as the official code uses it.
#[derive(Clone)]
pub struct Adam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    tensor_ops: TensorOpAdam,
}

impl Adam {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        let tensor_ops = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .build();
        Self {
            beta_1,
            beta_2,
            epsilon,
            tensor_ops,
        }
    }

    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

fn slice(data: &TensorData) -> &[f32] {
    data.as_slice().expect("an f32 tensor's data is f32")
}

fn slice_mut(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice().expect("an f32 tensor's data is f32")
}

/// One Adam step's constants, for the fused loop.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    lr: f32,
    time: usize,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

impl AdamStep {
    /// The step in place, in the order of Burn's `AdaptiveMomentum::transform`.
    pub fn apply(
        &self,
        param: &mut [f32],
        grad: &[f32],
        moment_1: &mut [f32],
        moment_2: &mut [f32],
    ) {
        let (beta_1, beta_2, lr) = (self.beta_1, self.beta_2, self.lr);
        let (factor_1, factor_2) = (1.0 - beta_1, 1.0 - beta_2);
        let bias_correction2_sqrt = (1.0 - beta_2.powi(self.time as i32)).sqrt();
        let combined_factor = bias_correction2_sqrt / (1.0 - beta_1.powi(self.time as i32));
        let epsilon = self.epsilon * bias_correction2_sqrt;
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(moment_1.par_chunks_mut(CHUNK))
            .zip(moment_2.par_chunks_mut(CHUNK))
            .for_each(|(((param, grad), moment_1), moment_2)| {
                for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(moment_1).zip(moment_2) {
                    *m = *m * beta_1 + g * factor_1;
                    *v = *v * beta_2 + (g * g) * factor_2;
                    let step = (*m * combined_factor) / (v.sqrt() + epsilon);
                    *p -= step * lr;
                }
            });
    }
}

/// Where the fused loop runs: on Flex's buffers through TensorData (Flex keeps its data in this
/// process), on LibTorch's CPU buffers in place (src/train/adam_tch.rs), or nowhere.
enum Fused {
    #[cfg(feature = "flex")]
    Flex,
    #[cfg(feature = "tch")]
    LibTorch,
    No,
}

impl Fused {
    fn of<const D: usize>(tensor: &Tensor<D>) -> Self {
        if tensor.dtype() != burn::tensor::DType::F32 {
            return Fused::No;
        }
        #[cfg(feature = "flex")]
        if crate::device::is_flex(&tensor.device()) {
            return Fused::Flex;
        }
        #[cfg(feature = "tch")]
        if crate::device::is_libtorch_cpu(&tensor.device()) {
            return Fused::LibTorch;
        }
        Fused::No
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
        let fused = Fused::of(&tensor);
        if matches!(fused, Fused::No) {
            return self.tensor_ops.step(lr, tensor, grad, state);
        }
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
        let (param, moment_1, moment_2) = match fused {
            #[cfg(feature = "tch")]
            Fused::LibTorch => super::adam_tch::step(tensor, grad, moment_1, moment_2, step),
            _ => {
                let (mut param, grad) = (tensor.into_data(), grad.into_data());
                let (mut moment_1, mut moment_2) = (moment_1.into_data(), moment_2.into_data());
                step.apply(
                    slice_mut(&mut param),
                    slice(&grad),
                    slice_mut(&mut moment_1),
                    slice_mut(&mut moment_2),
                );
                let tensor = |data| Tensor::from_data(data, &device);
                (tensor(param), tensor(moment_1), tensor(moment_2))
            }
        };
        let momentum = AdaptiveMomentumState {
            time,
            moment_1,
            moment_2,
            max_moment_2: None,
        };
        (param, Some(AdamState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        TensorOpAdam::to_device(state, device)
    }
}

#[cfg(all(test, any(feature = "flex", feature = "tch")))]
mod tests {
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::optim::GradientsParams;
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

    /// The same on LibTorch's CPU buffers (src/train/adam_tch.rs).
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

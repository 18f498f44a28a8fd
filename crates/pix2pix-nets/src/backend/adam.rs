//! Adam's update of one parameter (PyTorch's arithmetic, in Burn's `AdaptiveMomentum` order): one
//! fused parallel loop over buffers in this process, and the same formulas as tensor operations
//! for the backends whose buffers live elsewhere.

use burn::prelude::*;
use rayon::prelude::*;

/// Elements per parallel task: large enough to amortise scheduling, small enough to share the
/// biggest unet_256 weights (4M elements) among all cores.
const CHUNK: usize = 1 << 15;

/// One Adam step's constants.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    pub lr: f32,
    /// The step's number, from 1.
    pub time: usize,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
}

/// The constants of the update `param -= lr * (m * combined) / (sqrt(v) + epsilon)`.
struct Factors {
    combined: f32,
    epsilon: f32,
}

impl AdamStep {
    fn factors(&self) -> Factors {
        let bias_correction2_sqrt = (1.0 - self.beta_2.powi(self.time as i32)).sqrt();
        Factors {
            combined: bias_correction2_sqrt / (1.0 - self.beta_1.powi(self.time as i32)),
            epsilon: self.epsilon * bias_correction2_sqrt,
        }
    }

    /// The step in place on host buffers of equal length.
    pub fn apply(
        &self,
        param: &mut [f32],
        grad: &[f32],
        moment_1: &mut [f32],
        moment_2: &mut [f32],
    ) {
        let (beta_1, beta_2, lr) = (self.beta_1, self.beta_2, self.lr);
        let (factor_1, factor_2) = (1.0 - beta_1, 1.0 - beta_2);
        let Factors { combined, epsilon } = self.factors();
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(moment_1.par_chunks_mut(CHUNK))
            .zip(moment_2.par_chunks_mut(CHUNK))
            .for_each(|(((param, grad), moment_1), moment_2)| {
                for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(moment_1).zip(moment_2) {
                    *m = *m * beta_1 + g * factor_1;
                    *v = *v * beta_2 + (g * g) * factor_2;
                    let step = (*m * combined) / (v.sqrt() + epsilon);
                    *p -= step * lr;
                }
            });
    }
}

/// A parameter with Adam's two moments for it: what a step updates.
#[derive(Clone, Debug)]
pub struct AdamParam<const D: usize> {
    pub param: Tensor<D>,
    pub moment_1: Tensor<D>,
    pub moment_2: Tensor<D>,
}

/// The step through host copies of f32 tensors whose backend keeps its data in this process
/// (Flex): `into_data` takes the buffers without copying.
#[cfg(feature = "flex")]
pub(crate) fn on_host<const D: usize>(
    state: AdamParam<D>,
    grad: Tensor<D>,
    step: AdamStep,
) -> AdamParam<D> {
    fn values(data: &TensorData) -> &[f32] {
        data.as_slice().expect("f32 data")
    }
    fn values_mut(data: &mut TensorData) -> &mut [f32] {
        data.as_mut_slice().expect("f32 data")
    }
    let device = state.param.device();
    let mut param = state.param.into_data();
    let mut moment_1 = state.moment_1.into_data();
    let mut moment_2 = state.moment_2.into_data();
    step.apply(
        values_mut(&mut param),
        values(&grad.into_data()),
        values_mut(&mut moment_1),
        values_mut(&mut moment_2),
    );
    let tensor = |data| Tensor::from_data(data, &device);
    AdamParam {
        param: tensor(param),
        moment_1: tensor(moment_1),
        moment_2: tensor(moment_2),
    }
}

/// The same step as tensor operations, on any backend.
pub(crate) fn with_tensor_ops<const D: usize>(
    state: AdamParam<D>,
    grad: Tensor<D>,
    step: AdamStep,
) -> AdamParam<D> {
    let (beta_1, beta_2) = (step.beta_1, step.beta_2);
    let Factors { combined, epsilon } = step.factors();
    // On wgpu (CubeCL with fusion) the update of a 4-D parameter with a dimension of size 1
    // (PatchGAN's last convolution, [1, 64, 4, 4]) read its gradient out of order when computed
    // in the parameter's shape, within the optimiser's pass over every parameter; as flat
    // vectors it is right (BENCHMARKS.md, 2026-12-05).
    let shape = state.param.shape();
    let flat = |t: Tensor<D>| t.reshape([shape.num_elements()]);
    let grad = flat(grad);
    let moment_1 = flat(state.moment_1)
        .mul_scalar(beta_1)
        .add(grad.clone().mul_scalar(1.0 - beta_1));
    let moment_2 = flat(state.moment_2)
        .mul_scalar(beta_2)
        .add(grad.clone().mul(grad).mul_scalar(1.0 - beta_2));
    let update = moment_1
        .clone()
        .mul_scalar(combined)
        .div(moment_2.clone().sqrt().add_scalar(epsilon));
    let back = |t: Tensor<1>| t.reshape(shape.clone());
    AdamParam {
        param: back(flat(state.param).sub(update.mul_scalar(step.lr))),
        moment_1: back(moment_1),
        moment_2: back(moment_2),
    }
}

//! Training-mode BatchNorm on Flex as a Burn backend extension: three passes over the
//! activations each way.
//!
//! Burn's default `batch_norm_train` (Flex has no kernel of its own) computes the statistics by
//! swapping the batch and channel dims into a copy, twice, and normalises and differentiates in
//! about ten more whole-tensor passes. Here the forward is a mean, a centred variance and the
//! output; the backward two per-channel sums and the input gradient, each pass parallel over
//! channels or planes.

use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::module::BatchNormTrainOutput;
use burn::tensor::{DType, Tensor};
use burn_autodiff::Autodiff;
use burn_autodiff::NodeId;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::flex_tensor::{f32_tensor, is_f32};

#[backend_extension(Flex, Autodiff)]
pub trait FusedBatchNorm: Backend {
    /// BatchNorm of x [batch, channels, height, width] with its own statistics:
    /// (output, mean, biased variance), the last two per channel.
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// The gradients for x, gamma and beta, given the statistics the forward returned.
    fn fused_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// x [batch, channels, plane] as the planes of each channel.
struct Planes<'a> {
    values: &'a [f32],
    channels: usize,
    plane: usize,
}

impl<'a> Planes<'a> {
    fn of(tensor: &'a FlexTensor) -> Self {
        let shape = tensor.layout().shape();
        Self {
            values: tensor.storage(),
            channels: shape[1],
            plane: shape.num_elements() / (shape[0] * shape[1]),
        }
    }

    /// Values per channel.
    fn count(&self) -> usize {
        self.values.len() / self.channels
    }

    fn of_channel(&self, channel: usize) -> impl Iterator<Item = &'a [f32]> + use<'a> {
        let (plane, stride) = (self.plane, self.channels * self.plane);
        self.values[channel * plane..]
            .chunks(stride)
            .map(move |chunk| &chunk[..plane])
    }

    /// Σ f(channel, value, other) over each channel's values, in f64 (`other` holds values at
    /// the same positions).
    fn channel_sums(&self, other: &[f32], f: impl Fn(usize, f32, f32) -> f64 + Sync) -> Vec<f64> {
        (0..self.channels)
            .into_par_iter()
            .map(|channel| {
                let others = Planes {
                    values: other,
                    ..*self
                };
                self.of_channel(channel)
                    .zip(others.of_channel(channel))
                    .map(|(values, others)| lane_sum(values, others, |v, w| f(channel, v, w)))
                    .sum()
            })
            .collect()
    }

    /// A tensor of x's shape with `f(channel, value, other)` at each position.
    fn map(&self, other: &[f32], f: impl Fn(usize, f32, f32) -> f32 + Sync) -> Vec<f32> {
        let mut output = vec![0f32; self.values.len()];
        output
            .par_chunks_mut(self.plane)
            .zip(self.values.par_chunks(self.plane))
            .zip(other.par_chunks(self.plane))
            .enumerate()
            .for_each(|(index, ((output, values), others))| {
                let channel = index % self.channels;
                for ((o, &v), &w) in output.iter_mut().zip(values).zip(others) {
                    *o = f(channel, v, w);
                }
            });
        output
    }
}

/// Σ f(a, b) in eight independent f64 lanes, so that the sum vectorises.
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f64) -> f64 {
    const LANES: usize = 8;
    let mut lanes = [0f64; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (a, b) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            lanes[lane] += f(a[lane], b[lane]);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

fn channel_tensor(values: impl Iterator<Item = f64>) -> FlexTensor {
    let values: Vec<f32> = values.map(|v| v as f32).collect();
    let channels = values.len();
    f32_tensor(values, [channels])
}

fn inverse_std(variance: f64, epsilon: f64) -> f64 {
    1.0 / (variance + epsilon).sqrt()
}

impl FusedBatchNorm for Flex {
    fn fused_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        if !is_f32(&[&x, &gamma, &beta]) {
            let result = <Flex as ModuleOps<Flex>>::batch_norm_train(x, gamma, beta, epsilon);
            return (result.output, result.mean, result.variance);
        }
        let (x, gamma, beta) = (
            x.to_contiguous(),
            gamma.to_contiguous(),
            beta.to_contiguous(),
        );
        let planes = Planes::of(&x);
        let count = planes.count() as f64;
        let sums = planes.channel_sums(planes.values, |_, v, _| v as f64);
        let mean: Vec<f64> = sums.iter().map(|sum| sum / count).collect();
        // Centred, as the two-pass variance: no cancellation when the mean is large.
        let variance: Vec<f64> = planes
            .channel_sums(planes.values, |c, v, _| (v as f64 - mean[c]).powi(2))
            .iter()
            .map(|sum| sum / count)
            .collect();
        let (gamma, beta): (&[f32], &[f32]) = (gamma.storage(), beta.storage());
        // Centred before scaling: with a tiny variance, x * scale + shift would cancel digits.
        let coefficients: Vec<[f32; 3]> = (0..planes.channels)
            .map(|c| {
                let scale = gamma[c] as f64 * inverse_std(variance[c], epsilon);
                [mean[c] as f32, scale as f32, beta[c]]
            })
            .collect();
        let output = planes.map(planes.values, |c, v, _| {
            let [mean, scale, shift] = coefficients[c];
            (v - mean) * scale + shift
        });
        (
            f32_tensor(output, x.layout().shape().clone()),
            channel_tensor(mean.into_iter()),
            channel_tensor(variance.into_iter()),
        )
    }

    fn fused_batch_norm_train_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        output_grad: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        if !is_f32(&[&x, &gamma, &mean, &variance, &output_grad]) {
            let result = <Flex as ModuleOps<Flex>>::batch_norm_train_backward(
                x,
                gamma,
                mean,
                variance,
                epsilon,
                output_grad,
            );
            return (result.x_grad, result.gamma_grad, result.beta_grad);
        }
        let (x, output_grad) = (x.to_contiguous(), output_grad.to_contiguous());
        let (gamma, mean, variance) = (
            gamma.to_contiguous(),
            mean.to_contiguous(),
            variance.to_contiguous(),
        );
        let (gamma, mean, variance): (&[f32], &[f32], &[f32]) =
            (gamma.storage(), mean.storage(), variance.storage());
        let planes = Planes::of(&x);
        let grads: &[f32] = output_grad.storage();
        let count = planes.count() as f64;
        let inv_std: Vec<f64> = variance
            .iter()
            .map(|&v| inverse_std(v as f64, epsilon))
            .collect();
        let beta_grad = planes.channel_sums(grads, |_, _, g| g as f64);
        // Σ g * (x - mean) per channel; times inv_std it is gamma's gradient.
        let centred_grad =
            planes.channel_sums(grads, |c, v, g| (v as f64 - mean[c] as f64) * g as f64);
        // x_grad = gamma * inv_std * (g - mean(g) - (x - mean) * inv_std² * mean(g * (x - mean)))
        let coefficients: Vec<[f32; 4]> = (0..planes.channels)
            .map(|c| {
                let scale = gamma[c] as f64 * inv_std[c];
                let slope = inv_std[c] * inv_std[c] * centred_grad[c] / count;
                [
                    scale as f32,
                    (beta_grad[c] / count) as f32,
                    slope as f32,
                    mean[c],
                ]
            })
            .collect();
        let x_grad = planes.map(grads, |c, v, g| {
            let [scale, mean_grad, slope, mean] = coefficients[c];
            scale * (g - mean_grad - (v - mean) * slope)
        });
        let gamma_grad = centred_grad.iter().zip(&inv_std).map(|(s, i)| s * i);
        (
            f32_tensor(x_grad, x.layout().shape().clone()),
            channel_tensor(gamma_grad),
            channel_tensor(beta_grad.into_iter()),
        )
    }
}

impl<B: Backend + FusedBatchNorm, C: CheckpointStrategy> FusedBatchNorm for Autodiff<B, C> {
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct BatchNormBackward;

        impl<B: Backend + FusedBatchNorm> Backward<B, 3> for BatchNormBackward {
            // x and gamma are checkpointed; the statistics come along as the forward made them.
            type State = (
                NodeId,
                NodeId,
                B::FloatTensorPrimitive,
                B::FloatTensorPrimitive,
                f64,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, gamma_state, mean, variance, epsilon) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let gamma =
                    checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma_state);
                let (x_grad, gamma_grad, beta_grad) =
                    B::fused_batch_norm_train_backward(x, gamma, mean, variance, grad, epsilon);
                for (node, grad) in [
                    (node_x, x_grad),
                    (node_gamma, gamma_grad),
                    (node_beta, beta_grad),
                ] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        let prepared = BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        match prepared {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let (output, mean, variance) = B::fused_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                let state = (
                    x_state,
                    gamma_state,
                    mean.clone(),
                    variance.clone(),
                    epsilon,
                );
                (
                    prep.finish(state, output),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (output, mean, variance) = B::fused_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                (
                    prep.finish(output),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
        }
    }

    /// Gradients are constants: they are not differentiated again.
    fn fused_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (x_grad, gamma_grad, beta_grad) = B::fused_batch_norm_train_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            mean.into_primitive(),
            variance.into_primitive(),
            output_grad.into_primitive(),
            epsilon,
        );
        (
            Self::from_inner(x_grad),
            Self::from_inner(gamma_grad),
            Self::from_inner(beta_grad),
        )
    }
}

/// Training-mode BatchNorm of a 4-D tensor: the fused path on Flex f32 tensors, Burn's elsewhere.
pub fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> BatchNormTrainOutput<4> {
    if !crate::device::is_flex(&x.device()) || x.dtype() != DType::F32 {
        return burn::tensor::module::batch_norm_train(x, gamma, beta, epsilon);
    }
    let (output, mean, variance) = <Dispatch as FusedBatchNorm>::fused_batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    BatchNormTrainOutput {
        output: Tensor::from_dispatch(output),
        mean: Tensor::from_dispatch(mean).detach(),
        variance: Tensor::from_dispatch(variance).detach(),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    /// BatchNorm and its gradients in f64: (output, mean, variance, x grad, gamma grad, beta grad).
    #[allow(clippy::type_complexity)]
    fn reference(
        x: &[f32],
        grad: &[f32],
        gamma: &[f32],
        beta: &[f32],
        [batch, channels, height, width]: [usize; 4],
        epsilon: f64,
    ) -> [Vec<f64>; 6] {
        let plane = height * width;
        let count = (batch * plane) as f64;
        let index = |n: usize, c: usize, i: usize| (n * channels + c) * plane + i;
        let positions =
            |c: usize| (0..batch).flat_map(move |n| (0..plane).map(move |i| index(n, c, i)));
        let mut results: [Vec<f64>; 6] = Default::default();
        results[0] = vec![0.0; x.len()];
        results[3] = vec![0.0; x.len()];
        for c in 0..channels {
            let mean = positions(c).map(|j| x[j] as f64).sum::<f64>() / count;
            let variance = positions(c)
                .map(|j| (x[j] as f64 - mean).powi(2))
                .sum::<f64>()
                / count;
            let inv_std = 1.0 / (variance + epsilon).sqrt();
            let normalized = |j: usize| (x[j] as f64 - mean) * inv_std;
            let beta_grad: f64 = positions(c).map(|j| grad[j] as f64).sum();
            let gamma_grad: f64 = positions(c).map(|j| grad[j] as f64 * normalized(j)).sum();
            for j in positions(c) {
                results[0][j] = normalized(j) * gamma[c] as f64 + beta[c] as f64;
                results[3][j] = gamma[c] as f64
                    * inv_std
                    * (grad[j] as f64 - beta_grad / count - normalized(j) * gamma_grad / count);
            }
            results[1].push(mean);
            results[2].push(variance);
            results[4].push(gamma_grad);
            results[5].push(beta_grad);
        }
        results
    }

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_into_vec::<f32>().unwrap()
    }

    /// Output, statistics and the three gradients match an f64 evaluation of the formulas, for a
    /// mean far from 0 (where a one-pass variance would lose digits) and single-value planes.
    /// The inputs come from fixed seeds: with few values per channel the variance can come out
    /// tiny, and f32 rounding of x - mean then shows in the gradient whatever the kernel.
    #[test]
    fn matches_an_f64_reference_and_its_gradients() {
        use rand::{Rng, SeedableRng};
        let device = Device::flex().autodiff();
        for (seed, shape) in [[2, 3, 7, 5], [1, 4, 1, 1], [3, 2, 1, 1], [4, 8, 3, 3]]
            .into_iter()
            .enumerate()
        {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64);
            let mut tensor = |dims: Vec<usize>, mean: f32, std: f32| {
                let count = dims.iter().product();
                let values: Vec<f32> = (0..count)
                    .map(|_| mean + std * rng.sample::<f32, _>(rand_distr::StandardNormal))
                    .collect();
                burn::tensor::TensorData::new(values, dims)
            };
            let channels = shape[1];
            let x =
                Tensor::<4>::from_data(tensor(shape.to_vec(), 30.0, 2.0), &device).require_grad();
            let gamma =
                Tensor::<1>::from_data(tensor(vec![channels], 1.0, 0.5), &device).require_grad();
            let beta =
                Tensor::<1>::from_data(tensor(vec![channels], 0.0, 0.5), &device).require_grad();
            let output_grad = Tensor::<4>::from_data(tensor(shape.to_vec(), 0.0, 2.0), &device);
            let expected = reference(
                &values(x.clone().inner()),
                &values(output_grad.clone().inner()),
                &values(gamma.clone().inner()),
                &values(beta.clone().inner()),
                shape,
                1e-5,
            );
            let ours = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
            let grads = (ours.output.clone() * output_grad).sum().backward();
            let actual = [
                values(ours.output.inner()),
                values(ours.mean.inner()),
                values(ours.variance.inner()),
                values(x.grad(&grads).unwrap()),
                values(gamma.grad(&grads).unwrap()),
                values(beta.grad(&grads).unwrap()),
            ];
            let names = [
                "output",
                "mean",
                "variance",
                "x grad",
                "gamma grad",
                "beta grad",
            ];
            for ((name, actual), expected) in names.iter().zip(actual).zip(&expected) {
                // f32 results: within a few units of f32 rounding of the tensor's scale.
                let scale = expected.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (a, e) in actual.iter().zip(expected) {
                    assert!(
                        (*a as f64 - e).abs() <= 1e-5 * scale,
                        "{shape:?} {name}: {a} vs {e}"
                    );
                }
            }
        }
    }
}

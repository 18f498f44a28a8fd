//! The training-mode BatchNorm kernels on Flex's f32 buffers: the forward is a mean, a centred
//! variance and the output; the backward two per-channel sums and the input gradient, each pass
//! parallel over channels or planes.

use burn::backend::Flex;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::FusedBatchNorm;
use crate::backend::flex::{f32_tensor, storage};

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
            values: storage(tensor),
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
        let (gamma, beta) = (storage(&gamma), storage(&beta));
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
        let (x, output_grad) = (x.to_contiguous(), output_grad.to_contiguous());
        let (gamma, mean, variance) = (
            gamma.to_contiguous(),
            mean.to_contiguous(),
            variance.to_contiguous(),
        );
        let (gamma, mean, variance) = (storage(&gamma), storage(&mean), storage(&variance));
        let planes = Planes::of(&x);
        let grads = storage(&output_grad);
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

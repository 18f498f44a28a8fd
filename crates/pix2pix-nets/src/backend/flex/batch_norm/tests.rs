//! The kernels against an f64 evaluation of BatchNorm's formulas.

use burn::tensor::{Device, Tensor};

use super::batch_norm_train;

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
        let x = Tensor::<4>::from_data(tensor(shape.to_vec(), 30.0, 2.0), &device).require_grad();
        let gamma =
            Tensor::<1>::from_data(tensor(vec![channels], 1.0, 0.5), &device).require_grad();
        let beta = Tensor::<1>::from_data(tensor(vec![channels], 0.0, 0.5), &device).require_grad();
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

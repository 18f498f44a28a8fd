//! The pix2pix objective: the GAN loss in its three official modes, the L1 term, and the WGAN-GP
//! gradient penalty.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// `--gan_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GanMode {
    /// Binary cross-entropy on logits (the pix2pix paper).
    #[default]
    Vanilla,
    /// Least squares towards 1 (real) and 0 (fake).
    Lsgan,
    /// Wasserstein: -mean for real, +mean for fake; D also gets a gradient penalty.
    Wgangp,
}

crate::names::named_values!(GanMode, "gan mode", {
    Vanilla => "vanilla",
    Lsgan => "lsgan",
    Wgangp => "wgangp",
});

impl GanMode {
    /// The loss of D's logits `prediction` against the label real (`target_is_real`) or fake.
    pub fn loss(self, prediction: Tensor<4>, target_is_real: bool) -> Tensor<1> {
        let target = if target_is_real { 1.0 } else { 0.0 };
        match self {
            GanMode::Vanilla => bce_with_logits(prediction, target),
            GanMode::Lsgan => prediction.sub_scalar(target).square().mean(),
            GanMode::Wgangp if target_is_real => prediction.mean().neg(),
            GanMode::Wgangp => prediction.mean(),
        }
    }
}

/// Mean binary cross-entropy of logits against a constant label, in the stable form
/// max(x, 0) - x t + log(1 + exp(-|x|)) that PyTorch's BCEWithLogitsLoss uses.
pub fn bce_with_logits(logits: Tensor<4>, target: f64) -> Tensor<1> {
    let softplus_neg_abs = logits.clone().abs().neg().exp().log1p();
    (relu(logits.clone()) - logits.mul_scalar(target) + softplus_neg_abs).mean()
}

/// Mean absolute difference (PyTorch's L1Loss).
pub fn l1(prediction: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    (prediction - target).abs().mean()
}

/// The official gradient penalty's weight (lambda_gp).
pub const GRADIENT_PENALTY_WEIGHT: f64 = 10.0;

/// Step of the central difference in [`gradient_penalty`], in image units ([-1, 1] range).
const PENALTY_STEP: f64 = 1e-2;

/// WGAN-GP's penalty lambda * mean((||grad_x D(x)|| - 1)^2) at random interpolates x of `real`
/// and `fake` (D inputs, one mixing weight per sample), as the official `cal_gradient_penalty`.
///
/// Burn differentiates only to first order, so the penalty cannot be differentiated through the
/// input gradient itself. It is computed exactly to second order instead: with g the (detached)
/// input gradient and u = g / ||g||, the directional derivative of D along u equals ||g||, and its
/// derivative with respect to D's weights equals that of ||g|| (u fixed at its value is exact to
/// first order). The directional derivative is taken by a central difference, error O(step^2).
pub fn gradient_penalty(
    discriminator: impl Fn(Tensor<4>) -> Tensor<4>,
    real: Tensor<4>,
    fake: Tensor<4>,
) -> Tensor<1> {
    let [batch, channels, height, width] = real.dims();
    let device = real.device();
    let alpha = Tensor::<4>::random([batch, 1, 1, 1], Distribution::Default, &device);
    let interpolates =
        (real.detach() * alpha.clone() + fake.detach() * alpha.neg().add_scalar(1.0)).detach();

    let probe = interpolates.clone().require_grad();
    let grads = per_sample_sum(discriminator(probe.clone()))
        .sum()
        .backward();
    let gradient = probe
        .grad(&grads)
        .expect("the D input is tracked")
        .reshape([batch, channels * height * width]);
    let norm = gradient
        .clone()
        .square()
        .sum_dim(1)
        .sqrt()
        .add_scalar(1e-16);
    let direction =
        Tensor::<4>::from_inner((gradient / norm).reshape([batch, channels, height, width]))
            .to_device(&device)
            .mul_scalar(PENALTY_STEP);

    let ahead = per_sample_sum(discriminator(interpolates.clone() + direction.clone()));
    let behind = per_sample_sum(discriminator(interpolates - direction));
    let slope = (ahead - behind).div_scalar(2.0 * PENALTY_STEP);
    slope
        .sub_scalar(1.0)
        .square()
        .mean()
        .mul_scalar(GRADIENT_PENALTY_WEIGHT)
}

fn per_sample_sum(output: Tensor<4>) -> Tensor<1> {
    let [batch, ..] = output.dims();
    output
        .reshape([batch as i64, -1])
        .sum_dim(1)
        .reshape([batch])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::conv::Conv2dConfig;

    fn logits(values: [f32; 4]) -> Tensor<4> {
        Tensor::<1>::from_floats(values, &crate::device::cpu().unwrap()).reshape([1, 1, 2, 2])
    }

    fn value(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    #[test]
    fn vanilla_is_binary_cross_entropy_on_logits() {
        let xs = [-2.0f32, 0.0, 0.5, 30.0];
        let expected = |t: f64| {
            xs.iter()
                // -(t ln p + (1 - t) ln(1 - p)) with p = sigmoid(x) is ln(1 + e^x) - t x.
                .map(|&x| (1.0 + (x as f64).exp()).ln() - t * x as f64)
                .sum::<f64>()
                / 4.0
        };
        assert!((value(GanMode::Vanilla.loss(logits(xs), true)) - expected(1.0)).abs() < 1e-5);
        assert!((value(GanMode::Vanilla.loss(logits(xs), false)) - expected(0.0)).abs() < 1e-5);
        // No overflow for large logits.
        assert!(value(GanMode::Vanilla.loss(logits([1e4, -1e4, 0.0, 0.0]), true)).is_finite());
    }

    #[test]
    fn lsgan_and_wgan_losses() {
        let xs = [0.0f32, 1.0, 2.0, 3.0];
        assert!(
            (value(GanMode::Lsgan.loss(logits(xs), true)) - (1.0 + 0.0 + 1.0 + 4.0) / 4.0).abs()
                < 1e-6
        );
        assert!((value(GanMode::Lsgan.loss(logits(xs), false)) - 14.0 / 4.0).abs() < 1e-6);
        assert!((value(GanMode::Wgangp.loss(logits(xs), true)) + 1.5).abs() < 1e-6);
        assert!((value(GanMode::Wgangp.loss(logits(xs), false)) - 1.5).abs() < 1e-6);
    }

    #[test]
    fn gradient_penalty_matches_the_analytic_value_and_trains_d() {
        // For a linear D (one conv, no padding), grad_x sum(D(x)) is the same for every x and its
        // norm is known: each input pixel collects the kernel weights of the windows covering it.
        let device = crate::device::cpu().unwrap().autodiff();
        let conv = Conv2dConfig::new([1, 1], [2, 2])
            .with_bias(false)
            .init(&device);
        let w = Tensor::<1>::from_floats([0.5, -1.0, 2.0, 0.25], &device).reshape([1, 1, 2, 2]);
        let conv = burn::nn::conv::Conv2d {
            weight: burn::module::Param::from_tensor(w),
            ..conv
        };
        // Input 1x1x3x3: the gradient at (i, j) is the sum of the weights at (i - a, j - b).
        let k = [[0.5, -1.0], [2.0, 0.25]];
        let mut squared = 0.0f64;
        for i in 0..3i32 {
            for j in 0..3i32 {
                let mut g = 0.0;
                for a in 0..2i32 {
                    for b in 0..2i32 {
                        let (oi, oj) = (i - a, j - b);
                        if (0..2).contains(&oi) && (0..2).contains(&oj) {
                            g += k[a as usize][b as usize];
                        }
                    }
                }
                squared += g * g;
            }
        }
        let expected = GRADIENT_PENALTY_WEIGHT * (squared.sqrt() - 1.0).powi(2);
        let real = Tensor::<4>::random([2, 1, 3, 3], Distribution::Default, &device);
        let fake = Tensor::<4>::random([2, 1, 3, 3], Distribution::Default, &device);
        let penalty = gradient_penalty(|x| conv.forward(x), real, fake);
        let grads = penalty.clone().backward();
        let got = penalty.into_scalar::<f32>() as f64;
        assert!(
            (got - expected).abs() < 1e-3 * expected,
            "{got} vs {expected}"
        );
        // The penalty reaches D's weights: d/dw of 10 (||g|| - 1)^2 is non-zero here.
        let weight_grad = conv
            .weight
            .grad(&grads)
            .expect("the weights get a gradient");
        let norm = weight_grad.abs().sum().into_scalar::<f32>();
        assert!(norm > 0.0);
        assert!(conv.valid().weight.val().dims() == [1, 1, 2, 2]);
    }
}

//! One pix2pix optimisation step in the official order: G forward; D update on the detached fake
//! (loss x0.5); G update against the updated D with D's weights frozen.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::TrainOptions;
use crate::loss::{GanMode, gradient_penalty, l1};
use crate::model::unet::Unet;
use crate::model::{Generator, ModelOptions, PatchDiscriminator};

/// The losses the official code logs, for one step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct StepLosses {
    pub G_GAN: f64,
    pub G_L1: f64,
    pub D_real: f64,
    pub D_fake: f64,
}

impl StepLosses {
    pub fn is_finite(&self) -> bool {
        [self.G_GAN, self.G_L1, self.D_real, self.D_fake]
            .iter()
            .all(|v| v.is_finite())
    }
}

/// Per-image means of step losses over a span of steps (an epoch, or between log lines).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossMeter {
    sum: StepLosses,
    images: usize,
}

impl LossMeter {
    /// Adds a step's losses, weighted by its batch size.
    pub fn add(&mut self, losses: &StepLosses, images: usize) {
        let w = images as f64;
        self.sum.G_GAN += losses.G_GAN * w;
        self.sum.G_L1 += losses.G_L1 * w;
        self.sum.D_real += losses.D_real * w;
        self.sum.D_fake += losses.D_fake * w;
        self.images += images;
    }

    /// The means so far, and a fresh start; None if nothing was added.
    pub fn take_mean(&mut self) -> Option<StepLosses> {
        let meter = std::mem::take(self);
        (meter.images > 0).then(|| {
            let n = meter.images as f64;
            StepLosses {
                G_GAN: meter.sum.G_GAN / n,
                G_L1: meter.sum.G_L1 / n,
                D_real: meter.sum.D_real / n,
                D_fake: meter.sum.D_fake / n,
            }
        })
    }
}

impl std::fmt::Display for StepLosses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "G_GAN {:.3} G_L1 {:.3} D_real {:.3} D_fake {:.3}",
            self.G_GAN, self.G_L1, self.D_real, self.D_fake
        )
    }
}

/// The adversarial half of the model: D, its optimiser and the loss settings.
pub struct Adversary {
    pub discriminator: PatchDiscriminator,
    pub optimizer: ModuleOptimizer,
    pub gan_mode: GanMode,
    pub conditional: bool,
}

/// G and D with their optimisers: what a training step updates.
pub struct Pix2Pix {
    pub generator: Generator,
    pub optimizer: ModuleOptimizer,
    /// None when training with L1 alone.
    pub adversary: Option<Adversary>,
    pub lambda_l1: f64,
}

/// Adam as the official code sets it up (betas (beta1, 0.999), PyTorch's epsilon 1e-8).
pub fn adam(beta1: f64) -> ModuleOptimizer {
    super::adam::Adam::new(beta1 as f32, 0.999, 1e-8).init()
}

impl Pix2Pix {
    /// Fresh networks on `device` (an autodiff device), initialised per the options.
    pub fn new(model: &ModelOptions, train: &TrainOptions, device: &Device) -> Self {
        let generator = model.generator(device).with_precision(train.precision);
        let adversary = train.use_gan.then(|| Adversary {
            discriminator: model.discriminator(device).with_precision(train.precision),
            optimizer: adam(train.beta1),
            gan_mode: train.gan_mode,
            conditional: model.conditional_d,
        });
        Self {
            generator,
            optimizer: adam(train.beta1),
            adversary,
            lambda_l1: train.lambda_l1,
        }
    }

    /// One step on a batch; returns the losses and G's output.
    pub fn step(
        &mut self,
        real_a: Tensor<4>,
        real_b: Tensor<4>,
        lr: f64,
    ) -> (StepLosses, Tensor<4>) {
        let fake_b = self.generator.forward(real_a.clone());
        let mut losses = StepLosses::default();

        let g_gan = match &mut self.adversary {
            Some(adversary) => {
                let d_input = |b: Tensor<4>| adversary_input(adversary.conditional, &real_a, b);
                let fake_detached = fake_b.clone().detach();
                let d = &adversary.discriminator;
                let loss_fake = adversary
                    .gan_mode
                    .loss(d.forward(d_input(fake_detached.clone())), false);
                let loss_real = adversary
                    .gan_mode
                    .loss(d.forward(d_input(real_b.clone())), true);
                losses.D_fake = scalar(&loss_fake);
                losses.D_real = scalar(&loss_real);
                let mut loss_d = (loss_fake + loss_real).mul_scalar(0.5);
                if adversary.gan_mode == GanMode::Wgangp {
                    loss_d = loss_d
                        + gradient_penalty(
                            |x| d.forward(x),
                            d_input(real_b.clone()),
                            d_input(fake_detached),
                        );
                }
                let grads = GradientsParams::from_grads(loss_d.backward(), d);
                // Each network is moved (not cloned) into its optimiser, an empty one standing
                // in meanwhile: parameters held once are updated in place instead of copied.
                let discriminator = std::mem::take(&mut adversary.discriminator);
                adversary.discriminator = adversary.optimizer.step(lr, discriminator, grads);

                let frozen = adversary.discriminator.clone().no_grad();
                let loss = adversary
                    .gan_mode
                    .loss(frozen.forward(d_input(fake_b.clone())), true);
                losses.G_GAN = scalar(&loss);
                Some(loss)
            }
            None => None,
        };

        let loss_l1 = l1(fake_b.clone(), real_b).mul_scalar(self.lambda_l1);
        losses.G_L1 = scalar(&loss_l1);
        let loss_g = match g_gan {
            Some(g_gan) => g_gan + loss_l1,
            None => loss_l1,
        };
        let grads = GradientsParams::from_grads(loss_g.backward(), &self.generator);
        let generator = std::mem::replace(&mut self.generator, Generator::Unet(Unet::default()));
        self.generator = self.optimizer.step(lr, generator, grads);
        (losses, fake_b.detach())
    }
}

/// What D sees: concat(A, B) for the conditional GAN, B alone otherwise.
pub fn adversary_input(conditional: bool, real_a: &Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    if conditional {
        Tensor::cat(vec![real_a.clone(), b], 1)
    } else {
        b
    }
}

fn scalar(loss: &Tensor<1>) -> f64 {
    loss.clone().into_scalar::<f32>() as f64
}

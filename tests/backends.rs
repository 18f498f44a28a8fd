//! The CubeCL path against Flex: G and D forward and one full training step on `--device wgpu`
//! (in CI: Mesa's software Vulkan driver, lavapipe) give Flex's numbers within 1e-4. These are the
//! kernels the CUDA backend compiles too. Built with `--features wgpu`; runs where PIX2PIX_WGPU
//! is set (a Vulkan driver is there), skips elsewhere, and fails in CI without it.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use pix2pix::device::DeviceChoice;
use pix2pix::loss::l1;
use pix2pix::model::{Generator, GeneratorArch, ModelOptions, PatchDiscriminator};
use pix2pix::train::step::{adam, adversary_input};
use pix2pix::train::{Pix2Pix, StepLosses, TrainOptions};

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn assert_close(what: &str, ours: &[f32], flex: &[f32], tolerance: f32) {
    assert_eq!(ours.len(), flex.len(), "{what}");
    let diff = ours
        .iter()
        .zip(flex)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    eprintln!("{what}: max abs diff {diff:e}");
    assert!(diff <= tolerance, "{what}: max abs diff {diff:e}");
}

/// unet_32 and the basic PatchGAN, ngf/ndf 8, without dropout (its masks are drawn per device).
fn options() -> ModelOptions {
    ModelOptions {
        net_g: GeneratorArch::Unet { num_downs: 5 },
        ngf: 8,
        ndf: 8,
        dropout: false,
        ..ModelOptions::default()
    }
}

/// `module` (made on Flex) with its weights moved onto `into`, a fresh module on another device.
fn copied<M: Module>(module: &M, into: M) -> M {
    into.try_load_record(module.clone().into_record())
        .expect("the same architecture")
}

/// Flex and wgpu, the networks made on Flex and a batch of two A and B images, all drawn from
/// `seed`: what each test compares on both devices.
struct Fixture {
    _serial: std::sync::MutexGuard<'static, ()>,
    flex: Device,
    wgpu: Device,
    model: ModelOptions,
    a: Tensor<4>,
    b: Tensor<4>,
    g: Generator,
    d: PatchDiscriminator,
}

/// The fixture, or None where no Vulkan driver is named (the test skips, or fails under CI).
fn fixture(seed: u64) -> Option<Fixture> {
    common::requirement(
        "PIX2PIX_WGPU",
        "a Vulkan driver for wgpu (Mesa's lavapipe: apt-get install mesa-vulkan-drivers)",
    )?;
    let flex = pix2pix::device::cpu().unwrap();
    let wgpu = DeviceChoice::Wgpu.device().unwrap();
    let model = options();
    // The device's generator is shared by the tests' threads: a test draws only while it holds
    // the fixture, so that its seed gives it the same numbers on every run.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    flex.seed(seed);
    let batch = || Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &flex);
    let (a, b) = (batch(), batch());
    let (g, d) = (model.generator(&flex), model.discriminator(&flex));
    Some(Fixture {
        _serial: serial,
        flex,
        wgpu,
        model,
        a,
        b,
        g,
        d,
    })
}

fn losses(losses: StepLosses) -> Vec<f32> {
    [losses.G_GAN, losses.G_L1, losses.D_real, losses.D_fake]
        .map(|v| v as f32)
        .to_vec()
}

#[test]
fn wgpu_matches_flex_forward_and_in_a_training_step() {
    let Some(Fixture {
        flex,
        wgpu,
        model,
        a,
        b,
        g,
        d,
        _serial,
        ..
    }) = fixture(3)
    else {
        return;
    };
    let on_wgpu = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &wgpu);

    // Forward, as at test time (batch statistics) and in eval mode.
    let g_wgpu = copied(&g, model.generator(&wgpu));
    let d_wgpu = copied(&d, model.discriminator(&wgpu));
    let ab = Tensor::cat(vec![a.clone(), b.clone()], 1);
    assert_close(
        "G forward",
        &values(g_wgpu.forward(on_wgpu(&a))),
        &values(g.forward(a.clone())),
        1e-4,
    );
    assert_close(
        "G forward, eval",
        &values(g_wgpu.valid().forward(on_wgpu(&a))),
        &values(g.valid().forward(a.clone())),
        1e-4,
    );
    assert_close(
        "D forward",
        &values(d_wgpu.forward(on_wgpu(&ab))),
        &values(d.forward(ab)),
        1e-4,
    );

    // One full step (G forward, D update, G update) from the same weights, then the next
    // step's losses, which see both updated networks.
    let train = TrainOptions::default();
    let mut steps = [flex.clone(), wgpu.clone()].map(|device| {
        let device = device.autodiff();
        let mut step = Pix2Pix::new(&model, &train, &device);
        step.generator = copied(&g, model.generator(&device));
        let adversary = step.adversary.as_mut().unwrap();
        adversary.discriminator = copied(&d, model.discriminator(&device));
        step
    });
    let batch = |device: &Device| {
        let device = device.clone().autodiff();
        (
            Tensor::<4>::from_data(a.to_data(), &device),
            Tensor::<4>::from_data(b.to_data(), &device),
        )
    };
    let mut run = |index: usize, device: &Device| {
        let (a, b) = batch(device);
        let (losses, fake) = steps[index].step(a, b, 2e-4);
        (losses, values(fake))
    };
    let (flex_losses, flex_fake) = run(0, &flex);
    let (wgpu_losses, wgpu_fake) = run(1, &wgpu);
    assert_close("step: G output", &wgpu_fake, &flex_fake, 1e-4);
    assert_close(
        "step: losses",
        &losses(wgpu_losses),
        &losses(flex_losses),
        1e-4,
    );
    let (flex_losses, _) = run(0, &flex);
    let (wgpu_losses, _) = run(1, &wgpu);
    assert_close(
        "next step: losses",
        &losses(wgpu_losses),
        &losses(flex_losses),
        1e-4,
    );
}

/// Every float parameter of a module, in visiting order, or its gradient in `grads`.
struct Parameters<'a> {
    grads: Option<&'a GradientsParams>,
    values: Vec<Vec<f32>>,
}

impl ModuleVisitor for Parameters<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // A parameter the loss does not reach has no gradient: an empty entry keeps the order.
        let tensor = match self.grads {
            Some(grads) => grads.get::<D>(param.id),
            None => Some(param.val()),
        };
        self.values.push(tensor.map(values).unwrap_or_default());
    }
}

fn parameters<M: Module>(module: &M, grads: Option<&GradientsParams>) -> Vec<Vec<f32>> {
    let mut visitor = Parameters {
        grads,
        values: Vec::new(),
    };
    module.visit(&mut visitor);
    visitor.values
}

/// What one training step computes, part by part, on one device.
#[derive(Default)]
struct StepParts {
    fake: Vec<f32>,
    d_fake_logits: Vec<f32>,
    d_real_logits: Vec<f32>,
    losses: Vec<f32>,
    d_grads: Vec<Vec<f32>>,
    d_updated: Vec<Vec<f32>>,
    g_gan_logits: Vec<f32>,
    g_grads: Vec<Vec<f32>>,
    g_updated: Vec<Vec<f32>>,
}

/// The parts of `Pix2Pix::step` (src/train/step.rs), one by one, so that the first part where
/// two devices part ways shows.
fn step_parts(step: Pix2Pix, a: Tensor<4>, b: Tensor<4>, lr: f64) -> StepParts {
    let Pix2Pix {
        generator,
        mut optimizer,
        adversary,
        lambda_l1,
    } = step;
    let mut adversary = adversary.expect("a GAN");
    let mut parts = StepParts::default();
    let fake = generator.forward(a.clone());
    parts.fake = values(fake.clone());
    let input = |b: Tensor<4>| adversary_input(adversary.conditional, &a, b);
    let d = &adversary.discriminator;
    let fake_logits = d.forward(input(fake.clone().detach()));
    let real_logits = d.forward(input(b.clone()));
    parts.d_fake_logits = values(fake_logits.clone());
    parts.d_real_logits = values(real_logits.clone());
    let loss_fake = adversary.gan_mode.loss(fake_logits, false);
    let loss_real = adversary.gan_mode.loss(real_logits, true);
    let loss_d = (loss_fake.clone() + loss_real.clone()).mul_scalar(0.5);
    let grads = GradientsParams::from_grads(loss_d.backward(), d);
    parts.d_grads = parameters(d, Some(&grads));
    let updated = adversary
        .optimizer
        .step(lr, adversary.discriminator.clone(), grads);
    parts.d_updated = parameters(&updated, None);
    let frozen = updated.no_grad();
    let g_logits = frozen.forward(input(fake.clone()));
    parts.g_gan_logits = values(g_logits.clone());
    let g_gan = adversary.gan_mode.loss(g_logits, true);
    let loss_l1 = l1(fake, b).mul_scalar(lambda_l1);
    parts.losses = [&g_gan, &loss_l1, &loss_real, &loss_fake]
        .map(|loss| loss.clone().into_scalar::<f32>())
        .to_vec();
    let grads = GradientsParams::from_grads((g_gan + loss_l1).backward(), &generator);
    parts.g_grads = parameters(&generator, Some(&grads));
    parts.g_updated = parameters(&optimizer.step(lr, generator, grads), None);
    parts
}

/// The largest difference over lists of tensors, with the index of the tensor that has it.
fn largest(ours: &[Vec<f32>], flex: &[Vec<f32>]) -> (f32, usize) {
    ours.iter()
        .zip(flex)
        .enumerate()
        .map(|(index, (a, b))| {
            // One device with a gradient where the other has none is as far apart as can be.
            let diff = if a.len() != b.len() {
                f32::INFINITY
            } else {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f32::max)
            };
            (diff, index)
        })
        .fold(
            (0.0, 0),
            |best, next| if next.0 > best.0 { next } else { best },
        )
}

/// The training step taken apart: G's output, D's logits on real and fake pairs, the four losses,
/// D's gradients, D after Adam, the updated D's logits for G, G's gradients and G after Adam,
/// each compared with Flex; every part is printed before any is asserted, so that one run on a
/// slow driver traces the mismatch to its first part.
#[test]
fn wgpu_matches_flex_in_each_part_of_a_training_step() {
    let Some(Fixture {
        flex,
        wgpu,
        model,
        a,
        b,
        g,
        d,
        _serial,
        ..
    }) = fixture(5)
    else {
        return;
    };
    let train = TrainOptions::default();
    let [flex_parts, wgpu_parts] = [flex.clone(), wgpu.clone()].map(|device| {
        let device = device.autodiff();
        let mut step = Pix2Pix::new(&model, &train, &device);
        step.generator = copied(&g, model.generator(&device));
        step.optimizer = adam(train.beta1);
        let adversary = step.adversary.as_mut().unwrap();
        adversary.discriminator = copied(&d, model.discriminator(&device));
        let on = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &device);
        step_parts(step, on(&a), on(&b), 2e-4)
    });
    let mut failures = Vec::new();
    let mut check = |what: &str, diff: f32, tolerance: f32| {
        eprintln!("{what}: max abs diff {diff:e}");
        if diff > tolerance {
            failures.push(format!("{what}: {diff:e}"));
        }
    };
    let one = |ours: &[f32], flex: &[f32]| largest(&[ours.to_vec()], &[flex.to_vec()]).0;
    check("G output", one(&wgpu_parts.fake, &flex_parts.fake), 1e-4);
    check(
        "D logits, fake pair",
        one(&wgpu_parts.d_fake_logits, &flex_parts.d_fake_logits),
        1e-4,
    );
    check(
        "D logits, real pair",
        one(&wgpu_parts.d_real_logits, &flex_parts.d_real_logits),
        1e-4,
    );
    for (index, name) in ["G_GAN", "G_L1", "D_real", "D_fake"].iter().enumerate() {
        let (ours, theirs) = (wgpu_parts.losses[index], flex_parts.losses[index]);
        check(
            &format!("loss {name} ({ours} against {theirs})"),
            (ours - theirs).abs() / theirs.abs().max(1e-6),
            1e-4,
        );
    }
    let missing = |grads: &[Vec<f32>]| grads.iter().filter(|g| g.is_empty()).count();
    eprintln!(
        "parameters without a gradient (D, G): flex {:?}, wgpu {:?}",
        (missing(&flex_parts.d_grads), missing(&flex_parts.g_grads)),
        (missing(&wgpu_parts.d_grads), missing(&wgpu_parts.g_grads))
    );
    // Adam's first step moves each weight by about lr against its gradient's sign, however small
    // the gradient: where one is near zero, two right answers may differ by up to 2 lr (4e-4).
    for (what, ours, theirs, tolerance) in [
        (
            "D gradients",
            &wgpu_parts.d_grads,
            &flex_parts.d_grads,
            1e-4,
        ),
        (
            "D after Adam",
            &wgpu_parts.d_updated,
            &flex_parts.d_updated,
            5e-4,
        ),
        (
            "G gradients",
            &wgpu_parts.g_grads,
            &flex_parts.g_grads,
            1e-4,
        ),
        (
            "G after Adam",
            &wgpu_parts.g_updated,
            &flex_parts.g_updated,
            5e-4,
        ),
    ] {
        let (diff, index) = largest(ours, theirs);
        check(
            &format!("{what} (largest in parameter {index})"),
            diff,
            tolerance,
        );
    }
    check(
        "updated D's logits for G",
        one(&wgpu_parts.g_gan_logits, &flex_parts.g_gan_logits),
        1e-4,
    );
    assert!(failures.is_empty(), "{}", failures.join("; "));
}

/// Mixed precision on wgpu, as GPU users will train: one step with `--precision f16` and `bf16`
/// against the same step in f32, on the same device and weights. Printed, not asserted beyond
/// finite losses and the bound the CPU test uses for outputs (0.05): what the driver supports and
/// how far the losses move is what BENCHMARKS.md records. A precision the driver lacks is refused
/// by `Precision::check`, as training refuses it.
#[test]
fn wgpu_mixed_precision_steps_against_f32() {
    let Some(Fixture {
        wgpu,
        model,
        a,
        b,
        g,
        d,
        _serial,
        ..
    }) = fixture(7)
    else {
        return;
    };
    let step_at = |precision: pix2pix::Precision| {
        let device = wgpu.clone().autodiff();
        let train = TrainOptions {
            precision,
            ..TrainOptions::default()
        };
        let mut step = Pix2Pix::new(&model, &train, &device);
        step.generator = copied(&g, model.generator(&device)).with_precision(precision);
        let adversary = step.adversary.as_mut().unwrap();
        adversary.discriminator =
            copied(&d, model.discriminator(&device)).with_precision(precision);
        let on = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &device);
        let (losses, fake) = step.step(on(&a), on(&b), 2e-4);
        (self::losses(losses), values(fake))
    };
    let (reference, reference_fake) = step_at(pix2pix::Precision::F32);
    for precision in [pix2pix::Precision::F16, pix2pix::Precision::Bf16] {
        // Training refuses a precision the driver lacks (its kernels would fail on CubeCL's
        // threads while the step went on with wrong numbers).
        if let Err(error) = precision.check(&wgpu) {
            eprintln!("{precision}: {error}");
            continue;
        }
        let (losses, fake) = step_at(precision);
        let relative: Vec<String> = losses
            .iter()
            .zip(&reference)
            .map(|(x, y)| format!("{:.2e}", (x - y).abs() / y.abs().max(1e-6)))
            .collect();
        let output = largest(&[fake], &[reference_fake.clone()]).0;
        eprintln!(
            "{precision} against f32 on wgpu: G output max abs diff {output:e}; losses \
             (G_GAN, G_L1, D_real, D_fake) {losses:?} against {reference:?}, relative {relative:?}"
        );
        assert!(
            losses.iter().all(|l| l.is_finite()),
            "{precision}: {losses:?}"
        );
        assert!(output < 0.05, "{precision}: G output {output:e}");
    }
}

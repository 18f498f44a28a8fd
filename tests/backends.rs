//! The CubeCL path against Flex: G and D forward and one full training step on `--device wgpu`
//! (in CI: Mesa's software Vulkan driver, lavapipe) give Flex's numbers within 1e-4. These are the
//! kernels the CUDA backend compiles too. Built with `--features wgpu`; runs where PIX2PIX_WGPU
//! is set (a Vulkan driver is there), skips elsewhere, and fails in CI without it.

mod common;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use pix2pix::device::DeviceChoice;
use pix2pix::model::{GeneratorArch, ModelOptions};
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

fn losses(losses: StepLosses) -> Vec<f32> {
    [losses.G_GAN, losses.G_L1, losses.D_real, losses.D_fake]
        .map(|v| v as f32)
        .to_vec()
}

#[test]
fn wgpu_matches_flex_forward_and_in_a_training_step() {
    if common::requirement(
        "PIX2PIX_WGPU",
        "a Vulkan driver for wgpu (Mesa's lavapipe: apt-get install mesa-vulkan-drivers)",
    )
    .is_none()
    {
        return;
    }
    let flex = pix2pix::device::cpu().unwrap();
    let wgpu = DeviceChoice::Wgpu.device().unwrap();
    let model = options();
    flex.seed(3);
    let a = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &flex);
    let b = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &flex);
    let on_wgpu = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &wgpu);

    // Forward, as at test time (batch statistics) and in eval mode.
    let g = model.generator(&flex);
    let g_wgpu = copied(&g, model.generator(&wgpu));
    let d = model.discriminator(&flex);
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

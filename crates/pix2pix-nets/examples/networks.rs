//! Every official network from its plan: the layers with their official module names, the
//! parameter counts and the memory a forward pass keeps; then a small U-Net translating a random
//! image on the CPU.
//!
//! `cargo run --release -p pix2pix-nets --example networks`

use burn::prelude::*;
use burn::tensor::Distribution;
use pix2pix_nets::footprint::Footprint;
use pix2pix_nets::model::{DiscriminatorArch, GeneratorArch, ModelOptions};

fn main() -> Result<(), pix2pix_nets::Error> {
    let official = [
        ("unet_256", DiscriminatorArch::Basic),
        ("unet_128", DiscriminatorArch::Basic),
        ("resnet_9blocks", DiscriminatorArch::Basic),
        ("resnet_6blocks", DiscriminatorArch::Pixel),
    ];
    for (net_g, net_d) in official {
        let options = ModelOptions {
            net_g: net_g
                .parse()
                .map_err(|reason| pix2pix_nets::Error::InvalidOption {
                    option: "netG",
                    reason,
                })?,
            net_d,
            ..ModelOptions::default()
        };
        options.validate()?;
        for (what, plan) in [
            (format!("netG {net_g}"), options.generator_plan()),
            (format!("netD {net_d}"), options.discriminator_plan()),
        ] {
            let footprint = Footprint::of(&plan, 256, 256);
            println!(
                "{what}: {} layers with parameters, {} parameters, {:.0} MB of feature maps \
                 per 256x256 image",
                plan.layers().len(),
                plan.parameters(),
                footprint.feature_maps * 4.0 / 1e6
            );
            for layer in plan.layers().iter().take(3) {
                println!(
                    "  {:<20} {:<16} {:?} (official {})",
                    layer.path, layer.kind, layer.shapes, layer.official
                );
            }
        }
    }

    let device = Device::flex();
    let options = ModelOptions {
        net_g: GeneratorArch::Unet { num_downs: 6 },
        ngf: 16,
        ..ModelOptions::default()
    };
    options.validate()?;
    let generator = options.generator(&device);
    let image = Tensor::<4>::random([1, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &device);
    let fake = generator.forward(image);
    let values = fake.into_data().try_to_vec::<f32>().unwrap_or_default();
    let inside = values.iter().all(|v| (-1.0..=1.0).contains(v));
    println!(
        "netG {} translated a 64x64 image: {} values, all in [-1, 1]: {inside}",
        options.net_g,
        values.len()
    );
    Ok(())
}

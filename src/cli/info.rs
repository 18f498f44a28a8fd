//! `pix2pix info`: the networks' layers and parameter counts for some options.

use anyhow::Result;
use clap::Args;
use pix2pix::memory::{self, human_bytes};
use pix2pix::model::ModelOptions;
use pix2pix::model::plan::Layer;

use super::args::{DeviceArgs, ModelArgs};

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: InfoArgs) -> Result<()> {
    // The tables come from the networks' plans: nothing is built, but the device named is
    // still checked.
    args.device.device()?;
    let options = args.model.resolve(&ModelOptions::default());
    options.validate()?;
    let (generator, discriminator) = (options.generator_plan(), options.discriminator_plan());
    let side = 256usize.next_multiple_of(options.net_g.size_multiple());
    println!(
        "Generator {} (ngf {}, norm {}, dropout {}): {}x{side}x{side} -> {}x{side}x{side}",
        options.net_g,
        options.ngf,
        options.norm,
        options.dropout,
        options.input_nc,
        options.output_nc,
    );
    print_table(&generator.layers());
    let output = match discriminator.output_side(side) {
        Some(patches) => format!("1x{patches}x{patches} logits"),
        None => "no patch left at this size".into(),
    };
    println!(
        "\nDiscriminator {} (ndf {}): {}x{side}x{side} -> {output}",
        options.net_d,
        options.ndf,
        options.discriminator_input_nc(),
    );
    print_table(&discriminator.layers());
    println!();
    println!(
        "Generator parameters:     {:>12}",
        thousands(generator.parameters())
    );
    println!(
        "Discriminator parameters: {:>12}",
        thousands(discriminator.parameters())
    );
    println!(
        "Input sides must be multiples of {}",
        options.net_g.size_multiple()
    );
    println!(
        "Memory, estimated: {} to train on one {side}x{side} pair, {} to translate one image",
        human_bytes(memory::training_bytes(&options, 1, side, side)),
        human_bytes(memory::inference_bytes(&options, 1, side, side)),
    );
    Ok(())
}

/// A row per layer: its path, type, parameter shapes, count and official module name.
fn print_table(layers: &[Layer]) {
    let shapes = |layer: &Layer| {
        let shapes: Vec<String> = layer
            .shapes
            .iter()
            .map(|shape| {
                let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
                dims.join("x")
            })
            .collect();
        shapes.join(", ")
    };
    let path_width = layers
        .iter()
        .map(|l| l.path.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let kind_width = layers
        .iter()
        .map(|l| l.kind.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let shape_width = layers
        .iter()
        .map(|l| shapes(l).len())
        .max()
        .unwrap_or(0)
        .max(6);
    println!(
        "  {:path_width$}  {:kind_width$}  {:shape_width$}  {:>12}  official",
        "layer", "type", "shapes", "parameters"
    );
    for layer in layers {
        println!(
            "  {:path_width$}  {:kind_width$}  {:shape_width$}  {:>12}  {}",
            layer.path,
            layer.kind,
            shapes(layer),
            thousands(layer.parameters),
            layer.official
        );
    }
}

/// `n` with a comma between groups of three digits.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

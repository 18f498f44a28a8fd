//! `pix2pix info`: the networks' layers and parameter counts for some options.

use anyhow::Result;
use burn::prelude::*;
use clap::Args;
use pix2pix::memory::{self, human_bytes};
use pix2pix::model::{ModelOptions, parameter_count};

use super::args::ModelArgs;

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: InfoArgs, device: &Device) -> Result<()> {
    let options = args.model.resolve(&ModelOptions::default());
    options.validate()?;
    let what = || format!("building netG {} and netD {}", options.net_g, options.net_d);
    memory::ensure_fits(memory::weights_bytes(&options), what, device)?;
    let generator = options.generator(device);
    let discriminator = options.discriminator(device);
    println!(
        "Generator {} ({} -> {} channels, ngf {}, norm {}, dropout {}):",
        options.net_g,
        options.input_nc,
        options.output_nc,
        options.ngf,
        options.norm,
        options.dropout
    );
    println!("{generator}");
    println!(
        "Discriminator {} ({} input channels, ndf {}):",
        options.net_d,
        options.discriminator_input_nc(),
        options.ndf
    );
    println!("{discriminator}");
    println!(
        "Generator parameters:     {:>12}",
        thousands(parameter_count(&generator))
    );
    println!(
        "Discriminator parameters: {:>12}",
        thousands(parameter_count(&discriminator))
    );
    println!(
        "Input sides must be multiples of {}",
        options.net_g.size_multiple()
    );
    let side = 256usize.next_multiple_of(options.net_g.size_multiple());
    println!(
        "Memory, estimated: {} to train on one {side}x{side} pair, {} to translate one image",
        human_bytes(memory::training_bytes(&options, 1, side, side)),
        human_bytes(memory::inference_bytes(&options, 1, side, side)),
    );
    Ok(())
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

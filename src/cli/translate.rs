//! `pix2pix translate`: a generator over image files or folders of any size, no B side.

use std::path::PathBuf;

use anyhow::Result;
use burn::prelude::*;
use clap::Args;
use pix2pix::infer::translate_files;

use super::args::GeneratorArgs;
use super::progress::Bars;

#[derive(Args, Debug)]
pub struct TranslateArgs {
    /// Image files or folders of images
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Folder for the translated images (<stem>.png)
    #[arg(long, short)]
    output: PathBuf,
    #[command(flatten)]
    generator: GeneratorArgs,
}

pub fn run(args: TranslateArgs, device: &Device) -> Result<()> {
    let loaded = args.generator.load(device)?;
    device.seed(args.generator.seed());
    let written = translate_files(
        &loaded,
        &args.inputs,
        &args.output,
        device,
        &Bars::default(),
    )?;
    println!(
        "translated {} images into {}",
        written.len(),
        args.output.display()
    );
    Ok(())
}

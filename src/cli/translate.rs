//! `pix2pix translate`: a generator over image files or folders of any size, no B side.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pix2pix::infer::{Existing, translate_files};

use super::args::{DeviceArgs, GeneratorArgs};
use super::progress::Bars;

#[derive(Args, Debug)]
pub struct TranslateArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Image files or folders of images
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Folder for the translated images (<stem>.png)
    #[arg(long, short)]
    output: PathBuf,
    #[command(flatten)]
    generator: GeneratorArgs,
    /// Replace existing output files
    #[arg(long, conflicts_with = "skip_existing")]
    force: bool,
    /// Keep existing output files and translate the rest (continues an interrupted folder)
    #[arg(long = "skip-existing", visible_alias = "skip_existing")]
    skip_existing: bool,
}

pub fn run(args: TranslateArgs) -> Result<()> {
    let device = &args.device.device()?;
    let loaded = args.generator.load(device)?;
    device.seed(args.generator.seed());
    let existing = match (args.force, args.skip_existing) {
        (true, _) => Existing::Replace,
        (_, true) => Existing::Skip,
        _ => Existing::Refuse,
    };
    let written = translate_files(
        &loaded,
        &args.inputs,
        &args.output,
        existing,
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

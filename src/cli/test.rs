//! `pix2pix test`: a generator over `<dataroot>/<phase>`, with the results page and metrics.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use pix2pix::data::DataOptions;
use pix2pix::infer::{TestOptions, check_direction, test};

use super::args::{DataArgs, DeviceArgs, GeneratorArgs};

#[derive(Args, Debug)]
pub struct TestArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    generator: GeneratorArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Where results pages go [default: results]
    #[arg(long = "results-dir", visible_alias = "results_dir")]
    results_dir: Option<PathBuf>,
    /// How many test images to run (0: all) [default: 50]
    #[arg(long = "num-test", visible_alias = "num_test")]
    num_test: Option<usize>,
}

pub fn run(args: TestArgs) -> Result<()> {
    let device = &args.device.device()?;
    let loaded = args.generator.load(device)?;
    // A run's own data options (direction, channels, sizes) are the base; test reads its phase.
    // A downloaded pretrained model brings the direction it was trained in.
    let direction = check_direction(
        &args.generator.source.source(),
        &loaded,
        args.data.direction,
    )?;
    let base = match &loaded.run {
        Some(run) => run.data.clone(),
        None => DataOptions::default(),
    };
    let data = args.data.resolve(&DataOptions {
        phase: "test".into(),
        direction,
        ..base
    });
    if data.dataroot.as_os_str().is_empty() {
        bail!("--dataroot is required: the folder holding <phase>/ with A|B images");
    }
    let defaults = TestOptions::default();
    let (name, _) = args.generator.source.run.locate();
    let options = TestOptions {
        name,
        epoch: args.generator.source.run.epoch(),
        results_dir: args.results_dir.unwrap_or(defaults.results_dir),
        data,
        num_test: args.num_test.unwrap_or(defaults.num_test),
        eval: args.generator.eval,
        seed: args.generator.seed(),
    };
    println!("{}", test(&options, &loaded, device)?);
    Ok(())
}

//! `pix2pix bench`: medians of generator inference, a training step and the data pipeline.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pix2pix::Precision;
use pix2pix::bench::{BenchOptions, bench};

use super::args::{DeviceArgs, ModelArgs, override_fields};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Image side [default: 256]
    #[arg(long = "crop-size", visible_alias = "crop_size")]
    crop_size: Option<usize>,
    /// Images per call [default: 1]
    #[arg(long = "batch-size", visible_alias = "batch_size")]
    batch_size: Option<usize>,
    /// Convolutions in f32 (default), bf16 or f16
    #[arg(long)]
    precision: Option<Precision>,
    /// Calls left out of the median (the first call is reported on its own) [default: 2]
    #[arg(long)]
    warmup: Option<usize>,
    /// Timed calls (the median is reported) [default: 5]
    #[arg(long)]
    repeats: Option<usize>,
    /// A folder of images (e.g. JPEG photos) to time decoding and augmentation on
    #[arg(long)]
    data: Option<PathBuf>,
    /// Threads for the data timing [default: 4]
    #[arg(long = "num-threads", visible_alias = "num_threads")]
    num_threads: Option<usize>,
    /// Also time each kind of convolution call over --repeats more training steps and list
    /// them, longest first (the CPU's own kernels only)
    #[arg(long)]
    profile: bool,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let device = &args.device.device()?;
    let mut options = BenchOptions::default();
    options.model = args.model.resolve(&options.model);
    override_fields!(
        options,
        args,
        crop_size,
        batch_size,
        precision,
        warmup,
        repeats,
        num_threads
    );
    options.data = args.data;
    options.profile = args.profile;
    options.validate(device)?;
    // The timings take a while: say what runs (on stderr, apart from --json's object).
    eprintln!(
        "timing netG {} and netD {} on {}x{} batches of {}, {}: {} warm-up and {} timed calls \
         of inference, then of a training step{}{}...",
        options.model.net_g,
        options.model.net_d,
        options.crop_size,
        options.crop_size,
        options.batch_size,
        options.precision,
        options.warmup,
        options.repeats,
        if options.profile {
            ", then the convolutions of as many more steps"
        } else {
            ""
        },
        if options.data.is_some() {
            ", then the data pipeline"
        } else {
            ""
        }
    );
    let report = bench(&options, device)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

//! `pix2pix data ...`: the dataset tools.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use pix2pix::data::Preprocess;
use pix2pix::data::tools::check::{CheckOptions, check};
use pix2pix::data::tools::colorization::{ColorizationOptions, colorization};
use pix2pix::data::tools::combine::{CombineOptions, combine};
use pix2pix::data::tools::download::{DATASET_MAX_BYTES, DownloadOptions, download};
use pix2pix::data::tools::edges::{EdgesOptions, edges};
use pix2pix::data::tools::split::{SplitOptions, split};
use pix2pix::model::{DiscriminatorArch, GeneratorArch};

use super::args::{FetchArgs, override_fields};
use super::progress::Bars;

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Pair A and B images by file name into A|B files (per train/val/test subfolder if any)
    Combine(CombineArgs),
    /// Edge maps of photos (Canny, thinning, small components removed) as edges|photo pairs
    Edges(EdgesArgs),
    /// gray|colour pairs of photos (then train with --input_nc 1 --output_nc 3)
    Colorization(ColorizationArgs),
    /// Copy one folder of A|B images into train/val/test folders, reproducibly
    Split(SplitArgs),
    /// Report on a dataset folder; exits non-zero when training on it would fail
    Check(CheckArgs),
    /// Download a standard dataset: facades, maps, edges2shoes, edges2handbags, night2day
    Download(DownloadArgs),
}

#[derive(Args, Debug)]
pub struct CombineArgs {
    /// Folder of the A images (the left halves), with train/val/test subfolders or not
    #[arg(long)]
    a: PathBuf,
    /// Folder of the B images (the right halves), named as their A images
    #[arg(long)]
    b: PathBuf,
    /// New folder for the A|B pairs
    #[arg(long)]
    out: PathBuf,
    /// Resize both sides to N x N (pairs of different sizes are skipped without it)
    #[arg(long, value_name = "N")]
    resize: Option<u32>,
    /// Replace an output folder that this same command made before
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
pub struct EdgesArgs {
    /// Folder of photos (the B side)
    #[arg(long)]
    photos: PathBuf,
    /// New folder for the edges|photo pairs
    #[arg(long)]
    out: PathBuf,
    /// Side of the square outputs [default: 256]
    #[arg(long)]
    size: Option<u32>,
    /// Canny's low hysteresis threshold (gradient magnitude) [default: 30]
    #[arg(long)]
    low: Option<f32>,
    /// Canny's high hysteresis threshold (gradient magnitude) [default: 90]
    #[arg(long)]
    high: Option<f32>,
    /// Remove edge components smaller than this many pixels [default: 5]
    #[arg(long = "min-component")]
    min_component: Option<usize>,
    /// Replace an output folder that this same command made before
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
pub struct ColorizationArgs {
    /// Folder of colour photos (the B side)
    #[arg(long)]
    photos: PathBuf,
    /// New folder for the gray|colour pairs
    #[arg(long)]
    out: PathBuf,
    /// Side of the square outputs (default: keep each photo's size)
    #[arg(long)]
    size: Option<u32>,
    /// Replace an output folder that this same command made before
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
pub struct SplitArgs {
    /// Folder of A|B images
    #[arg(long = "in")]
    input: PathBuf,
    /// New folder for train/, val/ and test/
    #[arg(long)]
    out: PathBuf,
    /// Fraction of the images for val [default: 0.1]
    #[arg(long)]
    val: Option<f64>,
    /// Fraction of the images for test [default: 0.1]
    #[arg(long)]
    test: Option<f64>,
    /// Seed of the shuffle [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// Replace an output folder that this same command made before
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Dataset folder: the one holding train/ (and val/, test/)
    dir: PathBuf,
    /// The generator to train [default: unet_256]
    #[arg(long = "net-g", visible_alias = "netG", value_name = "ARCH")]
    net_g: Option<GeneratorArch>,
    /// The discriminator to train: basic (default), n_layers, pixel
    #[arg(long = "net-d", visible_alias = "netD", value_name = "ARCH")]
    net_d: Option<DiscriminatorArch>,
    /// Layers of the n_layers discriminator [default: 3]
    #[arg(long = "n-layers-d", visible_alias = "n_layers_D")]
    n_layers_d: Option<usize>,
    /// The preprocessing to train with [default: resize_and_crop]
    #[arg(long)]
    preprocess: Option<Preprocess>,
    /// Resize images to this size [default: 286]
    #[arg(long = "load-size", visible_alias = "load_size")]
    load_size: Option<usize>,
    /// Then crop to this size [default: 256]
    #[arg(long = "crop-size", visible_alias = "crop_size")]
    crop_size: Option<usize>,
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// facades, maps, edges2shoes, edges2handbags, night2day (or cityscapes, which needs its own download)
    name: String,
    /// Folder that receives <name>/ [default: datasets]
    #[arg(long)]
    to: Option<PathBuf>,
    /// Server folder holding <name>.tar.gz [default: the official server]
    #[arg(long = "base-url")]
    base_url: Option<String>,
    /// Replace a dataset folder that an earlier `data download` made
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    fetch: FetchArgs,
}

impl DataCommand {
    /// The command's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            DataCommand::Combine(_) => "data combine",
            DataCommand::Edges(_) => "data edges",
            DataCommand::Colorization(_) => "data colorization",
            DataCommand::Split(_) => "data split",
            DataCommand::Check(_) => "data check",
            DataCommand::Download(_) => "data download",
        }
    }
}

pub fn run(command: DataCommand) -> Result<()> {
    let bars = Bars::default();
    match command {
        DataCommand::Combine(args) => {
            let options = CombineOptions {
                resize: args.resize,
                force: args.force,
                ..CombineOptions::new(args.a, args.b, args.out)
            };
            let report = combine(&options, &bars)?;
            for (name, side) in report.unpaired.iter().take(20) {
                eprintln!("unpaired: {name} (only in {side})");
            }
            for m in report.size_mismatches.iter().take(20) {
                eprintln!(
                    "skipped {}: A is {}x{}, B is {}x{} (use --resize)",
                    m.name, m.a.0, m.a.1, m.b.0, m.b.1
                );
            }
            println!("{report}");
        }
        DataCommand::Edges(args) => {
            let mut options = EdgesOptions::new(&args.photos, &args.out);
            override_fields!(options, args, size, low, high, min_component);
            options.force = args.force;
            println!("{}", edges(&options, &bars)?);
        }
        DataCommand::Colorization(args) => {
            let options = ColorizationOptions {
                size: args.size,
                force: args.force,
                ..ColorizationOptions::new(args.photos, args.out)
            };
            println!(
                "{}; train with --input_nc 1 --output_nc 3",
                colorization(&options, &bars)?
            );
        }
        DataCommand::Split(args) => {
            let mut options = SplitOptions::new(&args.input, &args.out);
            override_fields!(options, args, val, test, seed);
            options.force = args.force;
            println!("{}", split(&options, &bars)?);
        }
        DataCommand::Check(args) => {
            let mut options = CheckOptions::new(&args.dir);
            override_fields!(options, args, preprocess, load_size, crop_size);
            let model = &mut options.model;
            override_fields!(model, args, net_g, net_d, n_layers_d);
            model.validate()?;
            let report = check(&options, &bars)?;
            println!("{report}");
            if !report.problems.is_empty() {
                let count = report.problems.len();
                let noun = if count == 1 { "problem" } else { "problems" };
                bail!("{count} {noun} would make training fail");
            }
        }
        DataCommand::Download(args) => {
            let mut options = DownloadOptions::new(&args.name);
            override_fields!(options, args, to, base_url);
            options.force = args.force;
            options.limits = args.fetch.limits(DATASET_MAX_BYTES);
            println!("dataset in {}", download(&options, &bars)?.display());
        }
    }
    Ok(())
}

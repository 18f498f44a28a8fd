//! `pix2pix data ...`: the dataset tools.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Subcommand;
use pix2pix::data::Preprocess;
use pix2pix::data::tools::check::{CheckOptions, check};
use pix2pix::data::tools::colorization::{ColorizationOptions, colorization};
use pix2pix::data::tools::combine::{CombineOptions, combine};
use pix2pix::data::tools::download::{DownloadOptions, OFFICIAL_BASE_URL, download};
use pix2pix::data::tools::edges::{EdgesOptions, edges};
use pix2pix::data::tools::split::{SplitOptions, split};
use pix2pix::model::GeneratorArch;

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Pair A and B images by file name into A|B files (per train/val/test subfolder if any)
    Combine {
        #[arg(long)]
        a: PathBuf,
        #[arg(long)]
        b: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Resize both sides to N x N (pairs of different sizes are skipped without it)
        #[arg(long, value_name = "N")]
        resize: Option<u32>,
        /// Replace an existing output folder
        #[arg(long)]
        force: bool,
    },
    /// Edge maps of photos (Canny, thinning, small components removed) as edges|photo pairs
    Edges {
        #[arg(long)]
        photos: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Side of the square outputs
        #[arg(long, default_value_t = 256)]
        size: u32,
        /// Canny's low hysteresis threshold (gradient magnitude)
        #[arg(long, default_value_t = 30.0)]
        low: f32,
        /// Canny's high hysteresis threshold (gradient magnitude)
        #[arg(long, default_value_t = 90.0)]
        high: f32,
        /// Remove edge components smaller than this many pixels
        #[arg(long = "min-component", default_value_t = 5)]
        min_component: usize,
        #[arg(long)]
        force: bool,
    },
    /// gray|colour pairs of photos (then train with --input_nc 1 --output_nc 3)
    Colorization {
        #[arg(long)]
        photos: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Side of the square outputs (default: keep each photo's size)
        #[arg(long)]
        size: Option<u32>,
        #[arg(long)]
        force: bool,
    },
    /// Copy one folder of A|B images into train/val/test folders, reproducibly
    Split {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Fraction of the images for val
        #[arg(long, default_value_t = 0.1)]
        val: f64,
        /// Fraction of the images for test
        #[arg(long, default_value_t = 0.1)]
        test: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        force: bool,
    },
    /// Report on a dataset folder; exits non-zero when training on it would fail
    Check {
        dir: PathBuf,
        #[arg(long = "net-g", visible_alias = "netG", default_value = "unet_256")]
        net_g: GeneratorArch,
        #[arg(long, default_value = "resize_and_crop")]
        preprocess: Preprocess,
        #[arg(long = "load-size", visible_alias = "load_size", default_value_t = 286)]
        load_size: usize,
        #[arg(long = "crop-size", visible_alias = "crop_size", default_value_t = 256)]
        crop_size: usize,
    },
    /// Download a standard dataset: facades, maps, edges2shoes, edges2handbags, night2day
    Download {
        name: String,
        /// Folder that receives <name>/
        #[arg(long, default_value = "datasets")]
        to: PathBuf,
        /// Server folder holding <name>.tar.gz
        #[arg(long = "base-url", default_value = OFFICIAL_BASE_URL)]
        base_url: String,
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Combine {
            a,
            b,
            out,
            resize,
            force,
        } => {
            let report = combine(&CombineOptions {
                a,
                b,
                out,
                resize,
                force,
            })?;
            for (name, side) in report.unpaired.iter().take(20) {
                eprintln!("unpaired: {name} (only in {side})");
            }
            for m in report.size_mismatches.iter().take(20) {
                eprintln!(
                    "skipped {}: A is {}x{}, B is {}x{} (use --resize)",
                    m.name, m.a.0, m.a.1, m.b.0, m.b.1
                );
            }
            println!(
                "wrote {} pairs to {} ({} unpaired names, {} size mismatches)",
                report.written,
                report.out.display(),
                report.unpaired.len(),
                report.size_mismatches.len()
            );
        }
        DataCommand::Edges {
            photos,
            out,
            size,
            low,
            high,
            min_component,
            force,
        } => {
            let (count, out) = edges(&EdgesOptions {
                photos,
                out,
                size,
                low,
                high,
                min_component,
                force,
            })?;
            println!("wrote {count} edges|photo pairs to {}", out.display());
        }
        DataCommand::Colorization {
            photos,
            out,
            size,
            force,
        } => {
            let (count, out) = colorization(&ColorizationOptions {
                photos,
                out,
                size,
                force,
            })?;
            println!(
                "wrote {count} gray|colour pairs to {}; train with --input_nc 1 --output_nc 3",
                out.display()
            );
        }
        DataCommand::Split {
            input,
            out,
            val,
            test,
            seed,
            force,
        } => {
            let ([train, val, test], out) = split(&SplitOptions {
                input,
                out,
                val,
                test,
                seed,
                force,
            })?;
            println!("{}: train {train}, val {val}, test {test}", out.display());
        }
        DataCommand::Check {
            dir,
            net_g,
            preprocess,
            load_size,
            crop_size,
        } => {
            let report = check(&CheckOptions {
                dir,
                net_g,
                preprocess,
                load_size,
                crop_size,
            })?;
            for phase in &report.phases {
                let sizes: Vec<String> = phase
                    .sizes
                    .iter()
                    .map(|((w, h), n)| format!("{w}x{h} ({n})"))
                    .collect();
                println!(
                    "{}: {} images, sizes {}",
                    phase.name,
                    phase.count,
                    sizes.join(", ")
                );
            }
            for warning in &report.warnings {
                println!("warning: {warning}");
            }
            for problem in &report.problems {
                println!("problem: {problem}");
            }
            if !report.problems.is_empty() {
                bail!(
                    "{} problems would make training fail",
                    report.problems.len()
                );
            }
            println!("ok: ready for training");
        }
        DataCommand::Download {
            name,
            to,
            base_url,
            force,
        } => {
            let folder = download(&DownloadOptions {
                name,
                to,
                base_url,
                force,
            })?;
            println!("dataset in {}", folder.display());
        }
    }
    Ok(())
}

//! `pix2pix demo`: the whole workflow on a procedural dataset.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pix2pix::demo::{DEMO_NAME, DemoOptions, run as run_demo};

use super::args::{DeviceArgs, override_fields};
use super::progress::TrainReport;

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Folder for the demo's dataset, checkpoints and results [default: pix2pix-demo]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Epochs at the initial learning rate; as many decay afterwards [default: 8]
    #[arg(long)]
    epochs: Option<usize>,
    /// Side of the images (a power of two from 32 to 1024) [default: 64]
    #[arg(long)]
    size: Option<u32>,
    /// Training pairs to generate (at most 100000) [default: 200]
    #[arg(long = "train-images", visible_alias = "train_images")]
    train_images: Option<usize>,
    /// Seed of the dataset and of training [default: 0]
    #[arg(long)]
    seed: Option<u64>,
}

pub fn run(args: DemoArgs) -> Result<()> {
    let device = &args.device.device()?;
    let mut options = DemoOptions::default();
    override_fields!(options, args, dir, size, train_images, seed);
    if let Some(epochs) = args.epochs {
        (options.n_epochs, options.n_epochs_decay) = (epochs, epochs);
    }
    options.validate()?;
    let size = options.size;
    let stop = super::train::stop_flag()?;
    eprintln!(
        "pix2pix demo: {} procedural label -> rendering pairs of {size}x{size}, \
         a unet_{size} trained for {} epochs on CPU",
        options.train_images,
        options.n_epochs + options.n_epochs_decay
    );
    let summary = run_demo(&options, device, &stop, &mut TrainReport::new())?;
    if summary.train.interrupted {
        println!(
            "stopped; resume with: pix2pix train --continue_train --name {DEMO_NAME} \
             --checkpoints_dir {} --dataroot {}",
            options.dir.join("checkpoints").display(),
            summary.dataroot.display()
        );
        return Ok(());
    }
    if let Some(test) = summary.test {
        println!("{test}");
    }
    Ok(())
}

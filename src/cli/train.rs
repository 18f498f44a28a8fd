//! `pix2pix train`: a new run from the library's defaults and the flags given, or
//! (`--continue_train`) the saved run with the flags given applied over it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use pix2pix::Precision;
use pix2pix::checkpoint::Checkpoints;
use pix2pix::data::DataOptions;
use pix2pix::loss::GanMode;
use pix2pix::model::ModelOptions;
use pix2pix::train::{LrPolicy, RunOptions, TrainOptions, train};

use super::args::{DataArgs, DeviceArgs, ModelArgs, RunArgs, override_fields};
use super::progress::TrainReport;

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Resume from the checkpoint chosen by --epoch (default latest)
    #[arg(long = "continue-train", visible_alias = "continue_train")]
    continue_train: bool,
}

/// The schedule and objective of training.
#[derive(Args, Debug, Clone)]
struct ScheduleArgs {
    /// Epochs at the initial learning rate [default: 100]
    #[arg(long = "n-epochs", visible_alias = "n_epochs")]
    n_epochs: Option<usize>,
    /// Epochs of linear decay to zero [default: 100]
    #[arg(long = "n-epochs-decay", visible_alias = "n_epochs_decay")]
    n_epochs_decay: Option<usize>,
    /// Number of the first epoch, when starting from a copied checkpoint [default: 1]
    #[arg(long = "epoch-count", visible_alias = "epoch_count")]
    epoch_count: Option<usize>,
    /// Initial learning rate of Adam [default: 0.0002]
    #[arg(long)]
    lr: Option<f64>,
    /// Adam's beta1 [default: 0.5]
    #[arg(long)]
    beta1: Option<f64>,
    /// linear (default), step, plateau or cosine
    #[arg(long = "lr-policy", visible_alias = "lr_policy")]
    lr_policy: Option<LrPolicy>,
    /// Epochs between x0.1 decays with --lr_policy step [default: 50]
    #[arg(long = "lr-decay-iters", visible_alias = "lr_decay_iters")]
    lr_decay_iters: Option<usize>,
    /// vanilla (BCE, default), lsgan, wgangp
    #[arg(long = "gan-mode", visible_alias = "gan_mode")]
    gan_mode: Option<GanMode>,
    /// Weight of the L1 term (0: the paper's "cGAN only") [default: 100]
    #[arg(long = "lambda-l1", visible_alias = "lambda_L1")]
    lambda_l1: Option<f64>,
    /// Train G with L1 alone, no discriminator (the paper's "L1 only")
    #[arg(long = "no-gan", visible_alias = "no_gan")]
    no_gan: bool,
    /// Images per step [default: 1]
    #[arg(long = "batch-size", visible_alias = "batch_size")]
    batch_size: Option<usize>,
    /// Seed of initialisation, shuffling, augmentation and dropout [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// Save a numbered checkpoint every this many epochs [default: 5]
    #[arg(long = "save-epoch-freq", visible_alias = "save_epoch_freq")]
    save_epoch_freq: Option<usize>,
    /// Also save latest every this many images (0: only at epoch ends) [default: 5000]
    #[arg(long = "save-latest-freq", visible_alias = "save_latest_freq")]
    save_latest_freq: Option<usize>,
    /// Refresh the training page (web/index.html) every this many images [default: 400]
    #[arg(long = "display-freq", visible_alias = "display_freq")]
    display_freq: Option<usize>,
    /// Log losses to loss_log.jsonl every this many images [default: 100]
    #[arg(long = "print-freq", visible_alias = "print_freq")]
    print_freq: Option<usize>,
    /// Convolutions in f32 (default), bf16 or f16; weights, norms and losses stay f32
    #[arg(long)]
    precision: Option<Precision>,
}

impl ScheduleArgs {
    /// `base` with every given flag applied.
    fn resolve(&self, base: &TrainOptions) -> TrainOptions {
        let mut t = base.clone();
        override_fields!(
            t,
            self,
            n_epochs,
            n_epochs_decay,
            epoch_count,
            lr,
            beta1,
            lr_policy,
            lr_decay_iters,
            gan_mode,
            lambda_l1,
            batch_size,
            seed,
            save_epoch_freq,
            save_latest_freq,
            display_freq,
            print_freq,
            precision
        );
        if self.no_gan {
            t.use_gan = false;
        }
        t
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    let device = &args.device.device()?;
    let (name, checkpoints_dir) = args.run.locate();
    let run_dir = args.run.run_dir();
    let checkpoints = Checkpoints::new(&run_dir);
    let options = if args.continue_train {
        let saved: RunOptions = checkpoints.load_options().with_context(|| {
            format!(
                "--continue_train: no resumable run in {} (check --name and --checkpoints_dir)",
                run_dir.display()
            )
        })?;
        let resumed = RunOptions {
            model: args.model.resolve(&saved.model),
            data: args.data.resolve(&saved.data),
            train: TrainOptions {
                name,
                checkpoints_dir,
                ..args.schedule.resolve(&saved.train)
            },
        };
        for change in saved.resume_changes(&resumed).context("--continue_train")? {
            println!("{}: {} -> {}", change.option, change.saved, change.given);
        }
        resumed
    } else {
        let data = args.data.resolve(&DataOptions::default());
        if data.dataroot.as_os_str().is_empty() {
            bail!("--dataroot is required: the folder holding <phase>/ with A|B images");
        }
        RunOptions {
            model: args.model.resolve(&ModelOptions::default()),
            data,
            train: TrainOptions {
                name,
                checkpoints_dir,
                ..args.schedule.resolve(&TrainOptions::default())
            },
        }
    };
    let stop = stop_flag()?;
    let resume = args.continue_train.then(|| args.run.epoch());
    let summary = train(
        &options,
        device,
        resume.as_deref(),
        &stop,
        &mut TrainReport::new(),
    )?;
    if !summary.skipped.is_empty() {
        eprintln!("skipped {} unreadable images:", summary.skipped.len());
        for (path, reason) in summary.skipped.iter().take(10) {
            eprintln!("  {}: {reason}", path.display());
        }
    }
    println!("{summary}");
    if summary.interrupted {
        println!("resume with the same command plus --continue_train");
    }
    Ok(())
}

/// A flag set by Ctrl-C, SIGTERM or SIGHUP, polled by the training loop after each step; a
/// second signal exits at once (the last complete checkpoint stays current).
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler = stop.clone();
    ctrlc::set_handler(move || {
        if handler.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond stop signal: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\nstop signal: finishing the current step and saving a resumable checkpoint...");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(stop)
}

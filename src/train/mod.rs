//! The training loop of `pix2pix train`: epochs over the aligned dataset with the official
//! schedule, checkpoints (resumable with --continue_train), the loss log, the training web page,
//! and a clean stop on Ctrl-C.

pub mod adam;
#[cfg(feature = "tch")]
mod adam_tch;
pub mod checkpoint;
pub mod scheduler;
pub mod step;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

pub use checkpoint::{Checkpoints, TrainState};
pub use scheduler::{LrPolicy, PlateauState, Scheduler};
pub use step::{LossMeter, Pix2Pix, StepLosses};

use crate::data::image::{from_chw, save_png};
use crate::data::{AlignedDataset, BatchLoader};
use crate::error::{Error, Result};
use crate::fsutil::create_dir;
use crate::options::RunOptions;
use crate::report::{Section, write_page};
use crate::seed::derive_seed;

/// The label of the checkpoint that is always the newest.
pub const LATEST: &str = "latest";

/// How a training run ended.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    /// Where training stands now (the next epoch and position to train).
    pub state: TrainState,
    /// Mean losses of the last completed epoch, if any.
    pub last_epoch_losses: Option<StepLosses>,
    /// True when a stop request ended the run early; `latest` then resumes it.
    pub interrupted: bool,
    /// Files skipped as unreadable (--skip_bad).
    pub skipped: Vec<(PathBuf, String)>,
}

#[derive(Serialize)]
struct LossLogLine<'a> {
    epoch: usize,
    epoch_iter: usize,
    total_iters: usize,
    lr: f64,
    #[serde(flatten)]
    losses: &'a StepLosses,
}

/// Trains per `options` on `device` (made autodiff here). `resume` names the checkpoint label to
/// continue from (--continue_train with --epoch). `stop` is polled after every step: when set,
/// the run saves a resumable `latest` checkpoint and returns with `interrupted`.
pub fn train(
    options: &RunOptions,
    device: &Device,
    resume: Option<&str>,
    stop: &AtomicBool,
) -> Result<TrainSummary> {
    options.validate()?;
    let train = &options.train;
    let run_dir = train.run_dir();
    create_dir(&run_dir, "--checkpoints_dir")?;
    let checkpoints = Checkpoints::new(&run_dir);

    let dataset = AlignedDataset::open(
        &options.data,
        options.model.input_nc,
        options.model.output_nc,
    )?;
    let loader = BatchLoader::new(
        dataset,
        options.model.input_nc,
        options.model.output_nc,
        train.batch_size,
        true,
        train.seed,
        options.data.num_threads,
        options.data.skip_bad,
    );

    let device = device.clone().autodiff();
    device.seed(derive_seed(train.seed, &[b'i' as u64]));
    let mut model = Pix2Pix::new(&options.model, train, &device);
    let mut state = TrainState {
        epoch: train.epoch_count,
        ..TrainState::default()
    };
    if let Some(label) = resume {
        state = checkpoints.load_state(label)?;
        model.generator = checkpoints.load_network(label, "G", model.generator)?;
        model.optimizer = checkpoints.load_optimizer(label, "G", model.optimizer)?;
        if let Some(adversary) = model.adversary.as_mut() {
            adversary.discriminator =
                checkpoints.load_network(label, "D", adversary.discriminator.clone())?;
            adversary.optimizer =
                checkpoints.load_optimizer(label, "D", adversary.optimizer.clone())?;
        }
    }
    options.save(&run_dir)?;

    let scheduler = Scheduler {
        policy: train.lr_policy,
        n_epochs: train.n_epochs,
        n_epochs_decay: train.n_epochs_decay,
        epoch_count: train.epoch_count,
        lr_decay_iters: train.lr_decay_iters,
    };
    let web = run_dir.join("web");
    let mut summary = TrainSummary {
        run_dir: run_dir.clone(),
        state: state.clone(),
        last_epoch_losses: None,
        interrupted: false,
        skipped: Vec::new(),
    };
    let dataset_len = loader.dataset().len();

    while state.epoch <= train.last_epoch() {
        let epoch = state.epoch;
        let lr = train.lr * scheduler.factor(epoch, &state.plateau);
        let bar = epoch_bar(epoch, train.last_epoch(), dataset_len, state.position);
        let mut batches = loader.epoch(epoch, state.position);
        let mut epoch_meter = LossMeter::default();
        let mut log_meter = LossMeter::default();
        let started = Instant::now();

        for batch in batches.by_ref() {
            let batch = batch?;
            let n = batch.len();
            let (real_a, real_b) = batch.tensors(&device);
            device.seed(derive_seed(
                train.seed,
                &[b'd' as u64, state.total_iters as u64],
            ));
            let (losses, fake_b) = model.step(real_a, real_b, lr);
            if !losses.is_finite() {
                bar.abandon();
                return Err(Error::NonFiniteLoss {
                    epoch,
                    iteration: state.position,
                    losses: losses.to_string(),
                });
            }
            let before = state.total_iters;
            state.position += n;
            state.total_iters += n;
            epoch_meter.add(&losses, n);
            log_meter.add(&losses, n);
            bar.set_position(state.position as u64);
            bar.set_message(losses.to_string());

            let crossed = |freq: usize| freq > 0 && before / freq != state.total_iters / freq;
            if crossed(train.print_freq) {
                append_loss_log(&run_dir, &state, lr, &mut log_meter)?;
            }
            if crossed(train.display_freq) {
                let visuals = [
                    batch.input_image(0),
                    first_image(fake_b),
                    batch.target_image(0),
                ];
                save_visuals(&web, &train.name, epoch, visuals)?;
            }
            if stop.load(Ordering::SeqCst) {
                save_checkpoint(&checkpoints, LATEST, &model, &state)?;
                bar.abandon_with_message("stopped; saved a resumable checkpoint");
                summary.interrupted = true;
                summary.state = state;
                summary.skipped = batches.report().skipped.clone();
                return Ok(summary);
            }
            if crossed(train.save_latest_freq) {
                save_checkpoint(&checkpoints, LATEST, &model, &state)?;
            }
        }
        summary
            .skipped
            .extend(batches.report().skipped.iter().cloned());

        let means = epoch_meter.take_mean();
        if let Some(means) = &means {
            scheduler.observe(means.G_GAN + means.G_L1, &mut state.plateau);
        }
        append_loss_log(&run_dir, &state, lr, &mut log_meter)?;
        state.epoch += 1;
        state.position = 0;
        save_checkpoint(&checkpoints, LATEST, &model, &state)?;
        if train.save_epoch_freq > 0 && epoch.is_multiple_of(train.save_epoch_freq) {
            save_checkpoint(&checkpoints, &epoch.to_string(), &model, &state)?;
        }
        bar.finish_with_message(format!(
            "{} | lr {lr:.2e} | {:.1}s",
            means.map(|m| m.to_string()).unwrap_or_default(),
            started.elapsed().as_secs_f64()
        ));
        summary.last_epoch_losses = means;
    }
    summary.state = state;
    Ok(summary)
}

fn epoch_bar(epoch: usize, last: usize, len: usize, position: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:25}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{last}"));
    bar.set_position(position as u64);
    bar.reset_eta();
    bar
}

/// Saves G, D, both optimisers, then the state (last, so that a state file means a complete
/// checkpoint).
fn save_checkpoint(
    checkpoints: &Checkpoints,
    label: &str,
    model: &Pix2Pix,
    state: &TrainState,
) -> Result<()> {
    checkpoints.save_network(label, "G", &model.generator)?;
    checkpoints.save_optimizer(label, "G", &model.optimizer)?;
    if let Some(adversary) = &model.adversary {
        checkpoints.save_network(label, "D", &adversary.discriminator)?;
        checkpoints.save_optimizer(label, "D", &adversary.optimizer)?;
    }
    checkpoints.save_state(label, state)
}

/// Appends the mean losses since the last line to `loss_log.jsonl` (nothing if no step ran).
fn append_loss_log(
    run_dir: &Path,
    state: &TrainState,
    lr: f64,
    meter: &mut LossMeter,
) -> Result<()> {
    let Some(losses) = meter.take_mean() else {
        return Ok(());
    };
    let line = LossLogLine {
        epoch: state.epoch,
        epoch_iter: state.position,
        total_iters: state.total_iters,
        lr,
        losses: &losses,
    };
    let path = run_dir.join("loss_log.jsonl");
    let mut json = serde_json::to_string(&line).expect("losses serialise to JSON");
    json.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(json.as_bytes()))
        .map_err(|source| Error::Unwritable {
            path,
            option: "--checkpoints_dir",
            source,
        })
}

const VISUAL_NAMES: [&str; 3] = ["real_A", "fake_B", "real_B"];

/// Saves the first sample's (real_A, fake_B, real_B) as `web/images/epoch<NNN>_<name>.png` and
/// rewrites `web/index.html` with every epoch saved so far, newest first.
fn save_visuals(web: &Path, name: &str, epoch: usize, visuals: [image::RgbImage; 3]) -> Result<()> {
    let images = web.join("images");
    for (image, visual) in visuals.into_iter().zip(VISUAL_NAMES) {
        save_png(
            &image,
            &images.join(format!("epoch{epoch:03}_{visual}.png")),
            "--checkpoints_dir",
        )?;
    }
    let mut epochs: Vec<usize> = std::fs::read_dir(&images)
        .map(|entries| {
            entries
                .filter_map(|e| {
                    let file = e.ok()?.file_name().into_string().ok()?;
                    file.strip_prefix("epoch")?
                        .strip_suffix("_real_A.png")?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    let sections: Vec<Section> = epochs
        .into_iter()
        .map(|e| Section {
            heading: format!("epoch [{e}]"),
            note: None,
            images: VISUAL_NAMES
                .iter()
                .map(|v| (format!("images/epoch{e:03}_{v}.png"), v.to_string()))
                .collect(),
        })
        .collect();
    write_page(
        &web.join("index.html"),
        &format!("Experiment name = {name}"),
        &sections,
        256,
        Some(30),
        "--checkpoints_dir",
    )
}

/// The first image of a batch, as 8-bit RGB.
pub fn first_image(tensor: Tensor<4>) -> image::RgbImage {
    let [_, channels, height, width] = tensor.dims();
    let first = tensor.slice(s![0..1]).into_data();
    let values = first.try_to_vec::<f32>().expect("network outputs are f32");
    from_chw(&values, channels, height, width)
}

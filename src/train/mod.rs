//! The training loop of `pix2pix train`: epochs over the aligned dataset with the official
//! schedule, checkpoints (resumable), the loss log, the training web page, progress reported to a
//! [`TrainObserver`], and a clean stop when asked.

pub mod adam;
mod chart;
mod options;
pub mod scheduler;
pub mod step;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use chart::loss_chart_svg;
pub use options::{RunOptions, TrainOptions};
pub use scheduler::{LrPolicy, PlateauState, Scheduler};
pub use step::{LossMeter, Pix2Pix, StepLosses};

use crate::checkpoint::{Checkpoints, LATEST, LOSS_LOG};
use crate::data::image::{first_image, save_png};
use crate::data::{AlignedDataset, BatchLoader, LoaderOptions};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::memory;
use crate::report::{Page, Section, write_page};
use crate::seed::Stream;

/// Where training stands; with the seed, it also fixes every later random draw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The epoch in progress (1-based).
    pub epoch: usize,
    /// Samples of that epoch already trained on.
    pub position: usize,
    /// Samples trained on since the start of the run.
    pub total_iters: usize,
    pub plateau: PlateauState,
    /// The losses since the last loss log line, and since the epoch began: a resume continues
    /// both means, so that its log and its plateau decisions are an uninterrupted run's.
    #[serde(default)]
    pub log_meter: LossMeter,
    #[serde(default)]
    pub epoch_meter: LossMeter,
}

/// What a training run reports as it goes.
#[derive(Clone, Debug)]
pub enum TrainEvent<'a> {
    /// An epoch starts, or resumes `position` samples in.
    EpochStarted {
        epoch: usize,
        last_epoch: usize,
        samples: usize,
        position: usize,
    },
    /// A step ended at `position` samples into the epoch.
    Step {
        position: usize,
        losses: &'a StepLosses,
    },
    /// A line was appended to `loss_log.jsonl` (every `print_freq` images and at the end of
    /// each epoch), with the seconds per image since the previous line spent in steps
    /// (`compute`) and waiting for batches (`data`), as the official log prints them.
    Logged {
        line: &'a LossLogLine,
        compute: f64,
        data: f64,
    },
    /// An epoch ended; `means` are its mean losses (None when no step ran).
    EpochFinished {
        epoch: usize,
        last_epoch: usize,
        means: Option<&'a StepLosses>,
        lr: f64,
        elapsed: Duration,
    },
    /// A stop request ended the run after a resumable checkpoint was saved.
    Stopped,
}

/// Receives a run's [`TrainEvent`]s; any `FnMut(&TrainEvent)` is one.
pub trait TrainObserver {
    fn observe(&mut self, event: &TrainEvent);
}

impl<F: FnMut(&TrainEvent)> TrainObserver for F {
    fn observe(&mut self, event: &TrainEvent) {
        self(event)
    }
}

/// How a training run ended.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    /// Where training stands now (the next epoch and position to train).
    pub state: TrainState,
    /// True when a stop request ended the run early; `latest` then resumes it.
    pub interrupted: bool,
    /// Files skipped as unreadable (--skip_bad).
    pub skipped: Vec<(PathBuf, String)>,
}

impl std::fmt::Display for TrainSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.interrupted {
            write!(
                f,
                "stopped at epoch {}, image {}; checkpoint latest in {} resumes it",
                self.state.epoch,
                self.state.position,
                self.run_dir.display()
            )
        } else {
            write!(
                f,
                "trained to epoch {}; checkpoints in {}",
                self.state.epoch.saturating_sub(1),
                self.run_dir.display()
            )
        }
    }
}

/// One line of `loss_log.jsonl`: the mean losses since the previous line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossLogLine {
    pub epoch: usize,
    pub epoch_iter: usize,
    pub total_iters: usize,
    pub lr: f64,
    #[serde(flatten)]
    pub losses: StepLosses,
}

/// The lines of a run's `loss_log.jsonl` (none when there is no log yet). A line a kill cut
/// short, or one being appended while this reads, is left out.
pub fn read_loss_log(run_dir: &Path) -> Result<Vec<LossLogLine>> {
    let path = run_dir.join(LOSS_LOG);
    match std::fs::read_to_string(&path) {
        Ok(log) => Ok(log
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(Error::io(&path, source)),
    }
}

/// Trains per `options` on `device` (made autodiff here). `resume` names the checkpoint label to
/// continue from (`latest` or an epoch number). `stop` is polled after every step: when set, the
/// run saves a resumable `latest` checkpoint and returns with `interrupted`. Progress goes to
/// `observer`.
pub fn train(
    options: &RunOptions,
    device: &Device,
    resume: Option<&str>,
    stop: &AtomicBool,
    observer: &mut dyn TrainObserver,
) -> Result<TrainSummary> {
    options.validate()?;
    options.train.precision.check(device)?;
    let train = &options.train;
    let run_dir = train.run_dir();
    let checkpoints = Checkpoints::new(&run_dir);
    let _lock = checkpoints.lock()?;
    checkpoints.recover()?;
    if resume.is_none() && checkpoints.has_state(LATEST) {
        return Err(Error::RunExists { path: run_dir });
    }

    let dataset = AlignedDataset::open(
        &options.data,
        options.model.input_nc,
        options.model.output_nc,
    )?;
    if train.batch_size > dataset.len() {
        return Err(Error::InvalidOption {
            option: "batch_size",
            reason: format!(
                "{} is more than the {} training pairs in {}",
                train.batch_size,
                dataset.len(),
                options.data.dataroot.join(&options.data.phase).display()
            ),
        });
    }
    ensure_training_fits(options, &dataset, device)?;
    let loader = BatchLoader::new(
        dataset,
        LoaderOptions {
            batch_size: train.batch_size,
            shuffle: true,
            seed: train.seed,
            threads: options.data.num_threads,
            skip_bad: options.data.skip_bad,
        },
    );

    let device = device.clone().autodiff();
    device.seed(Stream::Init.seed(train.seed, &[]));
    let mut model = Pix2Pix::new(&options.model, train, &device);
    let mut state = TrainState {
        epoch: train.epoch_count,
        ..TrainState::default()
    };
    // A run stopped before its first save resumes from its start.
    let resume = resume.filter(|&label| label != LATEST || checkpoints.has_state(LATEST));
    if let Some(label) = resume {
        state = checkpoints.load_state(label)?;
        check_state(&checkpoints, label, &state, loader.dataset().len())?;
        model.generator = checkpoints.load_network(label, "G", model.generator)?;
        model.optimizer =
            checkpoints.load_optimizer(label, "G", model.optimizer, &model.generator)?;
        if let Some(adversary) = model.adversary.as_mut() {
            adversary.discriminator =
                checkpoints.load_network(label, "D", adversary.discriminator.clone())?;
            adversary.optimizer = checkpoints.load_optimizer(
                label,
                "D",
                adversary.optimizer.clone(),
                &adversary.discriminator,
            )?;
        }
    }
    // Saved as an absolute path: a resume from another folder finds the data.
    let mut saved = options.clone();
    if let Ok(dataroot) = std::path::absolute(&options.data.dataroot) {
        saved.data.dataroot = dataroot;
    }
    checkpoints.save_options(&saved)?;
    cut_loss_log(&run_dir, state.total_iters)?;

    let scheduler = Scheduler {
        policy: train.lr_policy,
        n_epochs: train.n_epochs,
        n_epochs_decay: train.n_epochs_decay,
        epoch_count: train.epoch_count,
        lr_decay_iters: train.lr_decay_iters,
    };
    let mut summary = TrainSummary {
        run_dir: run_dir.clone(),
        state: state.clone(),
        interrupted: false,
        skipped: Vec::new(),
    };
    let dataset_len = loader.dataset().len();

    while state.epoch <= train.last_epoch() {
        let epoch = state.epoch;
        let lr = train.lr * scheduler.factor(epoch, &state.plateau);
        observer.observe(&TrainEvent::EpochStarted {
            epoch,
            last_epoch: train.last_epoch(),
            samples: dataset_len,
            position: state.position,
        });
        let mut batches = loader.epoch(epoch, state.position);
        let started = Instant::now();
        let mut timer = LogTimer::default();
        let mut waiting = Instant::now();

        for batch in batches.by_ref() {
            let batch = batch?;
            timer.data += waiting.elapsed();
            let computing = Instant::now();
            if let Some(reason) =
                (options.model).unsuitable_image(batch.width, batch.height, train.use_gan)
            {
                return Err(Error::UnsuitableImage {
                    path: batch.paths[0].clone(),
                    width: batch.width,
                    height: batch.height,
                    reason,
                });
            }
            let n = batch.len();
            let (real_a, real_b) = batch.tensors(&device);
            device.seed(Stream::Dropout.seed(train.seed, &[state.total_iters as u64]));
            let (losses, fake_b) = model.step(real_a, real_b, lr);
            if !losses.is_finite() {
                return Err(Error::NonFiniteLoss {
                    epoch,
                    iteration: state.position,
                    losses: losses.to_string(),
                });
            }
            timer.compute += computing.elapsed();
            timer.images += n;
            let before = state.total_iters;
            state.position += n;
            state.total_iters += n;
            state.epoch_meter.add(&losses, n);
            state.log_meter.add(&losses, n);
            observer.observe(&TrainEvent::Step {
                position: state.position,
                losses: &losses,
            });

            let after = state.total_iters;
            let crossed = |freq: usize| freq > 0 && before / freq != after / freq;
            if crossed(train.print_freq) {
                log_losses(&run_dir, &mut state, lr, &mut timer, observer)?;
            }
            if crossed(train.display_freq) {
                let visuals = [
                    batch.input_image(0),
                    first_image(fake_b),
                    batch.target_image(0),
                ];
                save_visuals(&run_dir, &train.name, epoch, visuals)?;
            }
            if stop.load(Ordering::SeqCst) {
                save_checkpoint(&checkpoints, &[LATEST], &model, &state)?;
                observer.observe(&TrainEvent::Stopped);
                summary.interrupted = true;
                summary.state = state;
                summary.skipped = batches.report().skipped.clone();
                return Ok(summary);
            }
            if crossed(train.save_latest_freq) {
                save_checkpoint(&checkpoints, &[LATEST], &model, &state)?;
            }
            waiting = Instant::now();
        }
        summary
            .skipped
            .extend(batches.report().skipped.iter().cloned());

        let means = state.epoch_meter.take_mean();
        if let Some(means) = &means {
            scheduler.observe(means.G_GAN + means.G_L1, &mut state.plateau);
        }
        log_losses(&run_dir, &mut state, lr, &mut timer, observer)?;
        state.epoch += 1;
        state.position = 0;
        let numbered = epoch.to_string();
        let labels: &[&str] =
            if train.save_epoch_freq > 0 && epoch.is_multiple_of(train.save_epoch_freq) {
                &[numbered.as_str(), LATEST]
            } else {
                &[LATEST]
            };
        save_checkpoint(&checkpoints, labels, &model, &state)?;
        observer.observe(&TrainEvent::EpochFinished {
            epoch,
            last_epoch: train.last_epoch(),
            means: means.as_ref(),
            lr,
            elapsed: started.elapsed(),
        });
    }
    summary.state = state;
    Ok(summary)
}

/// Refuses a run whose networks and batch will not fit in memory, before they are built. The
/// images are crop_size square when preprocessing crops; otherwise the first pair says.
fn ensure_training_fits(
    options: &RunOptions,
    dataset: &AlignedDataset,
    device: &Device,
) -> Result<()> {
    let (width, height) = if options.data.preprocess.crops_to_crop_size() {
        (options.data.crop_size, options.data.crop_size)
    } else {
        match dataset.get(0, 0) {
            Ok(sample) => (sample.width, sample.height),
            // The loader reports (or skips) the file in its turn.
            Err(_) => return Ok(()),
        }
    };
    let batch = options.train.batch_size;
    let model = &options.model;
    let bytes = memory::training_bytes(model, batch, height, width);
    let what = || {
        format!(
            "training netG {} (ngf {}) and netD {} (ndf {}) on batches of {batch} images of \
             {width}x{height}",
            model.net_g, model.ngf, model.net_d, model.ndf
        )
    };
    memory::ensure_fits(bytes, what, device)
}

/// Saves G, D, both optimisers and the state under each label, as one unit (see
/// [`Checkpoints::begin_save`]).
fn save_checkpoint(
    checkpoints: &Checkpoints,
    labels: &[&str],
    model: &Pix2Pix,
    state: &TrainState,
) -> Result<()> {
    let mut save = checkpoints.begin_save();
    for label in labels {
        save.network(label, "G", &model.generator)?;
        save.optimizer(label, "G", &model.optimizer)?;
        if let Some(adversary) = &model.adversary {
            save.network(label, "D", &adversary.discriminator)?;
            save.optimizer(label, "D", &adversary.optimizer)?;
        }
        save.state(label, state)?;
    }
    save.commit()
}

/// Rejects a state that cannot belong to this run: a position past the end of its epoch.
fn check_state(
    checkpoints: &Checkpoints,
    label: &str,
    state: &TrainState,
    dataset_len: usize,
) -> Result<()> {
    let reason = if state.epoch == 0 {
        "epoch 0: epochs count from 1".to_string()
    } else if state.position > dataset_len {
        format!(
            "position {} is past the end of an epoch of {dataset_len} images",
            state.position
        )
    } else if state.total_iters < state.position {
        format!(
            "{} iterations in all but {} in this epoch",
            state.total_iters, state.position
        )
    } else {
        return Ok(());
    };
    Err(Error::CorruptCheckpoint {
        path: checkpoints.state_file(label),
        reason,
    })
}

/// Drops the lines of `loss_log.jsonl` past `total_iters` (a resumed run logs them again) and a
/// line that a kill cut short.
fn cut_loss_log(run_dir: &Path, total_iters: usize) -> Result<()> {
    let path = run_dir.join(LOSS_LOG);
    let log = match std::fs::read_to_string(&path) {
        Ok(log) => log,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::io(&path, source)),
    };
    let logged = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("total_iters")?.as_u64())
    };
    let kept: String = log
        .split_inclusive('\n')
        .filter(|line| logged(line).is_some_and(|iters| iters <= total_iters as u64))
        .collect();
    if kept.len() < log.len() {
        write_atomic(&path, kept.as_bytes())?;
    }
    Ok(())
}

/// Time spent since the last loss log line, for [`TrainEvent::Logged`].
#[derive(Default)]
struct LogTimer {
    images: usize,
    compute: Duration,
    data: Duration,
}

/// Appends the mean losses since the last line to `loss_log.jsonl` and reports the line with
/// the time per image since then (nothing if no step ran).
fn log_losses(
    run_dir: &Path,
    state: &mut TrainState,
    lr: f64,
    timer: &mut LogTimer,
    observer: &mut dyn TrainObserver,
) -> Result<()> {
    let Some(losses) = state.log_meter.take_mean() else {
        return Ok(());
    };
    let line = LossLogLine {
        epoch: state.epoch,
        epoch_iter: state.position,
        total_iters: state.total_iters,
        lr,
        losses,
    };
    let path = run_dir.join(LOSS_LOG);
    let mut json = serde_json::to_string(&line).expect("losses serialise to JSON");
    json.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(json.as_bytes()))
        .map_err(|source| Error::unwritable(&path, source))?;
    let LogTimer {
        images,
        compute,
        data,
    } = std::mem::take(timer);
    let per_image = |time: Duration| time.as_secs_f64() / images.max(1) as f64;
    observer.observe(&TrainEvent::Logged {
        line: &line,
        compute: per_image(compute),
        data: per_image(data),
    });
    Ok(())
}

const VISUAL_NAMES: [&str; 3] = ["real_A", "fake_B", "real_B"];

/// Saves the first sample's (real_A, fake_B, real_B) as `web/images/epoch<NNN>_<name>.png` and
/// rewrites `web/index.html` with the loss curves and every epoch saved so far, newest first.
fn save_visuals(
    run_dir: &Path,
    name: &str,
    epoch: usize,
    visuals: [image::RgbImage; 3],
) -> Result<()> {
    let web = run_dir.join("web");
    let images = web.join("images");
    for (image, visual) in visuals.into_iter().zip(VISUAL_NAMES) {
        save_png(
            &image,
            &images.join(format!("epoch{epoch:03}_{visual}.png")),
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
    let page = Page {
        title: format!("Experiment name = {name}"),
        sections: &sections,
        image_width: 256,
        refresh: Some(30),
        chart: Some(loss_chart_svg(&read_loss_log(run_dir)?)),
    };
    write_page(&web.join("index.html"), &page)
}

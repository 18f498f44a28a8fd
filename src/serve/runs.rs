//! The training dashboard's data: for each run folder under the checkpoints folder, where it
//! stands (epoch, training or not, time left), its loss chart (from loss_log.jsonl, re-read on
//! every request, so it follows a run while it trains and when a resumed run cuts the log back)
//! and its latest sample images (web/images).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;

use crate::checkpoint::{Checkpoints, LATEST, LOSS_LOG, OPTIONS_FILE};
use crate::train::loss_chart_svg;
use crate::train::{LossLogLine, RunOptions, TrainState, read_loss_log};

/// How many epochs of samples the dashboard shows, newest first.
const SAMPLE_EPOCHS: usize = 3;

/// The run folders a server shows.
#[derive(Debug)]
pub struct Runs {
    checkpoints_dir: PathBuf,
    /// Only these runs, when the server was given names.
    only: Vec<String>,
    /// For each run seen training: when, and how many images it had trained then (its speed
    /// for the time left).
    seen: Mutex<HashMap<String, (Instant, usize)>>,
}

#[derive(Debug, Serialize)]
pub struct RunPage {
    pub name: String,
    /// The chart as SVG markup.
    pub chart: String,
    /// Log lines drawn.
    pub points: usize,
    pub samples: Vec<Samples>,
    /// Where training stands, when the run's options can be read.
    pub progress: Option<Progress>,
}

/// Where a run's training stands.
#[derive(Debug, Serialize)]
pub struct Progress {
    pub state: RunState,
    /// The epoch in progress (the last one when finished), of `last_epoch`.
    pub epoch: usize,
    pub last_epoch: usize,
    /// Images of that epoch trained, of `epoch_images` (known once an epoch has ended).
    pub position: usize,
    pub epoch_images: Option<usize>,
    /// Estimated from the speed seen while the server watched it train.
    pub seconds_left: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// A process is training it now.
    Training,
    /// Not training, and epochs are left: `--continue_train` resumes it.
    Stopped,
    /// Every epoch of its schedule is trained.
    Finished,
}

/// One epoch's sample images: (caption, file name).
#[derive(Debug, Serialize)]
pub struct Samples {
    pub epoch: usize,
    pub images: Vec<(String, String)>,
}

impl Runs {
    pub fn new(checkpoints_dir: &Path, only: &[String]) -> Self {
        Self {
            checkpoints_dir: checkpoints_dir.to_path_buf(),
            only: only.to_vec(),
            seen: Mutex::default(),
        }
    }

    /// The runs, by name: folders with a loss log or saved options.
    pub fn names(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.checkpoints_dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name().into_string().ok()?;
                let dir = entry.path();
                let is_run = dir.join(LOSS_LOG).is_file() || dir.join(OPTIONS_FILE).is_file();
                (is_run && (self.only.is_empty() || self.only.contains(&name))).then_some(name)
            })
            .collect();
        names.sort();
        names
    }

    /// The folder of the run `name`, when it is one of [`Runs::names`].
    fn dir(&self, name: &str) -> Option<PathBuf> {
        self.names()
            .iter()
            .any(|n| n == name)
            .then(|| self.checkpoints_dir.join(name))
    }

    pub fn page(&self, name: &str) -> Option<RunPage> {
        let dir = self.dir(name)?;
        let lines = read_loss_log(&dir).unwrap_or_default();
        let files = sample_files(&dir);
        let mut epochs: Vec<usize> = files.iter().map(|(epoch, _, _)| *epoch).collect();
        epochs.sort_unstable_by(|a, b| b.cmp(a));
        epochs.dedup();
        let samples = epochs
            .into_iter()
            .take(SAMPLE_EPOCHS)
            .map(|epoch| Samples {
                epoch,
                images: files
                    .iter()
                    .filter(|(e, _, _)| *e == epoch)
                    .map(|(_, caption, file)| (caption.clone(), file.clone()))
                    .collect(),
            })
            .collect();
        Some(RunPage {
            name: name.to_string(),
            chart: loss_chart_svg(&lines),
            points: lines.len(),
            samples,
            progress: self.progress(name, &dir, &lines),
        })
    }

    /// Where the run in `dir` stands: its schedule from train_opt.json, its position from the
    /// newest of its saved state and its loss log, and whether a process holds it.
    fn progress(&self, name: &str, dir: &Path, lines: &[LossLogLine]) -> Option<Progress> {
        let checkpoints = Checkpoints::new(dir);
        let options: RunOptions = checkpoints.load_options().ok()?;
        let last_epoch = options.train.last_epoch();
        let saved: Option<TrainState> = checkpoints.load_state(LATEST).ok();
        let (mut epoch, mut position, total) = saved
            .as_ref()
            .map_or((options.train.epoch_count, 0, 0), |s| {
                (s.epoch, s.position, s.total_iters)
            });
        if let Some(line) = lines.last().filter(|line| line.total_iters > total) {
            (epoch, position) = (line.epoch, line.epoch_iter);
        }
        let total = total.max(lines.last().map_or(0, |line| line.total_iters));
        // An epoch's last line is logged at its end, with the epoch's size as its position.
        let epoch_images = lines
            .iter()
            .filter(|line| line.epoch < epoch)
            .map(|line| line.epoch_iter)
            .max();
        if epoch_images == Some(position) {
            (epoch, position) = (epoch + 1, 0);
        }
        let training = checkpoints.in_training();
        let state = if training {
            RunState::Training
        } else if epoch > last_epoch {
            RunState::Finished
        } else {
            RunState::Stopped
        };
        let seconds_left = self.speed(name, training, total).and_then(|per_second| {
            let size = epoch_images?;
            let left = (last_epoch + 1).saturating_sub(epoch) * size - position.min(size);
            Some(left as f64 / per_second)
        });
        Some(Progress {
            state,
            epoch: epoch.min(last_epoch),
            last_epoch,
            position,
            epoch_images,
            seconds_left,
        })
    }

    /// Images a second the run `name` has trained since the server first saw it training at
    /// `total` images (none until it has moved on).
    fn speed(&self, name: &str, training: bool, total: usize) -> Option<f64> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if !training {
            seen.remove(name);
            return None;
        }
        let (since, first) = *seen
            .entry(name.to_string())
            .and_modify(|(at, first)| {
                if total < *first {
                    (*at, *first) = (Instant::now(), total);
                }
            })
            .or_insert((Instant::now(), total));
        let seconds = since.elapsed().as_secs_f64();
        (total > first && seconds > 0.0).then(|| (total - first) as f64 / seconds)
    }

    /// The bytes of sample image `file` of run `name`, when the folder lists it as a regular
    /// file (a symbolic link, to anywhere, is not served).
    pub fn sample(&self, name: &str, file: &str) -> Option<Vec<u8>> {
        let dir = self.dir(name)?;
        let (_, _, file) = sample_files(&dir).into_iter().find(|(_, _, f)| f == file)?;
        read_no_links(&dir.join("web/images").join(file))
    }
}

/// The bytes of the regular file at `path`, refusing a symbolic link as the file itself or
/// as its folder (opened without following a link, so that nothing is swapped in between).
fn read_no_links(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let folder = path.parent()?;
    if !std::fs::symlink_metadata(folder).ok()?.is_dir() {
        return None;
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut file = options.open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// The sample images training wrote (`epoch<NNN>_<visual>.png`): (epoch, visual, file name),
/// in visual order real_A, fake_B, real_B.
fn sample_files(run_dir: &Path) -> Vec<(usize, String, String)> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("web/images")) else {
        return Vec::new();
    };
    let mut files: Vec<(usize, String, String)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            // The entry's own type: a link is not a sample.
            if !entry.file_type().ok()?.is_file() {
                return None;
            }
            let file = entry.file_name().into_string().ok()?;
            let (epoch, visual) = file
                .strip_prefix("epoch")?
                .strip_suffix(".png")?
                .split_once('_')?;
            let epoch = epoch.parse().ok()?;
            ["real_A", "fake_B", "real_B"]
                .contains(&visual)
                .then(|| (epoch, visual.to_string(), file.clone()))
        })
        .collect();
    let order = |visual: &str| {
        ["real_A", "fake_B", "real_B"]
            .iter()
            .position(|v| *v == visual)
    };
    files.sort_by_key(|(epoch, visual, _)| (*epoch, order(visual)));
    files
}

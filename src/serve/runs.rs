//! The training dashboard's data: for each run folder under the checkpoints folder, its loss
//! chart (from loss_log.jsonl, re-read on every request, so it follows a run while it trains and
//! when a resumed run cuts the log back) and its latest sample images (web/images).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkpoint::{LOSS_LOG, OPTIONS_FILE};
use crate::report::loss_chart_svg;
use crate::train::read_loss_log;

/// How many epochs of samples the dashboard shows, newest first.
const SAMPLE_EPOCHS: usize = 3;

/// The run folders a server shows.
#[derive(Debug)]
pub struct Runs {
    checkpoints_dir: PathBuf,
    /// Only these runs, when the server was given names.
    only: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RunPage {
    pub name: String,
    /// The chart as SVG markup.
    pub chart: String,
    /// Log lines drawn.
    pub points: usize,
    pub samples: Vec<Samples>,
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
        })
    }

    /// The bytes of sample image `file` of run `name`, when the folder lists it.
    pub fn sample(&self, name: &str, file: &str) -> Option<Vec<u8>> {
        let dir = self.dir(name)?;
        sample_files(&dir)
            .iter()
            .find(|(_, _, f)| f == file)
            .and_then(|(_, _, f)| std::fs::read(dir.join("web/images").join(f)).ok())
    }
}

/// The sample images training wrote (`epoch<NNN>_<visual>.png`): (epoch, visual, file name),
/// in visual order real_A, fake_B, real_B.
fn sample_files(run_dir: &Path) -> Vec<(usize, String, String)> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("web/images")) else {
        return Vec::new();
    };
    let mut files: Vec<(usize, String, String)> = entries
        .filter_map(|entry| {
            let file = entry.ok()?.file_name().into_string().ok()?;
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

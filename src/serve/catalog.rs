//! The models a server offers: the runs under a checkpoints folder (ours and the official
//! layout, `<name>_pretrained` included) and single generator files. Requests name a model and
//! an epoch; both are looked up here, in what was found on disk, and never joined into a path.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use image::imageops::FilterType;

use super::palette::{LABELS_FILE, Palette, inputs};
use crate::checkpoint::{LATEST, OPTIONS_FILE, SavedRun, WEIGHTS_EXTENSION};
use crate::data::Direction;
use crate::data::image::encode_png;
use crate::error::{Error, Result};
use crate::infer::ModelOverrides;
use crate::infer::{GeneratorSource, LoadedGenerator, describe_generator};
use crate::interop::pretrained::{SIDECAR, read_record};
use crate::model::{GeneratorArch, ModelOptions};

/// The largest canvas offered for a generator file without a run (deep U-Nets still take any
/// multiple of their size).
const LARGEST_CANVAS: usize = 1024;

/// One model the server offers.
#[derive(Debug, Serialize)]
pub struct ServedModel {
    pub name: String,
    #[serde(rename = "netG")]
    pub net_g: GeneratorArch,
    pub ngf: usize,
    pub norm: String,
    pub input_nc: usize,
    pub output_nc: usize,
    /// Image sides are padded to a multiple of this.
    pub size_multiple: usize,
    /// The side of the images it was trained on (the canvas size).
    pub size: usize,
    pub direction: Option<Direction>,
    pub palette: Palette,
    /// The checkpoints that can be asked for, the default first (`latest`, then epochs
    /// newest first); a generator file has none.
    pub epochs: Vec<String>,
    /// Whether [`ServedModel::example`] holds an input to open the page with.
    #[serde(rename = "example")]
    pub has_example: bool,
    /// An input of the run's own data at the canvas size, as PNG.
    #[serde(skip)]
    pub example: Option<Vec<u8>>,
    #[serde(skip)]
    origin: Origin,
    #[serde(skip)]
    pub options: ModelOptions,
}

#[derive(Debug)]
enum Origin {
    Run(PathBuf),
    File(PathBuf),
}

impl ServedModel {
    /// The weights of `epoch` (the default checkpoint without one) and its label; `None` when
    /// the model has no such checkpoint.
    pub fn source(&self, epoch: Option<&str>) -> Option<(String, GeneratorSource)> {
        match &self.origin {
            Origin::File(path) => epoch
                .is_none()
                .then(|| (String::new(), GeneratorSource::File(path.clone()))),
            Origin::Run(dir) => {
                let label = match epoch {
                    Some(wanted) => self.epochs.iter().find(|e| *e == wanted)?,
                    None => self.epochs.first()?,
                };
                Some((
                    label.clone(),
                    GeneratorSource::Run {
                        dir: dir.clone(),
                        epoch: label.clone(),
                    },
                ))
            }
        }
    }

    /// The run folder, for a model that is a run.
    pub fn run_dir(&self) -> Option<&Path> {
        match &self.origin {
            Origin::Run(dir) => Some(dir),
            Origin::File(_) => None,
        }
    }
}

/// Every model served, by name: the generator files given, and the runs under the
/// checkpoints folder, looked for again when a request needs them (at most every
/// [`RESCAN`]), so that a run started after the server, a new epoch or a deleted run shows
/// without a restart. A run is described again only when its files changed.
#[derive(Debug)]
pub struct Catalog {
    checkpoints_dir: PathBuf,
    /// Only these runs; every run when empty (unless files are given).
    names: Vec<String>,
    scans_runs: bool,
    files: Vec<Arc<ServedModel>>,
    state: Mutex<Scan>,
}

/// How long a scan of the checkpoints folder stays current.
pub const RESCAN: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct Scan {
    at: Option<Instant>,
    /// Each run folder found, with what its description was made from.
    runs: Vec<Found>,
    /// The files and the runs that could be described, by name.
    models: Vec<Arc<ServedModel>>,
}

#[derive(Debug)]
struct Found {
    name: String,
    signature: Signature,
    described: std::result::Result<Arc<ServedModel>, String>,
}

/// What a run's description depends on: its checkpoint labels and when the files read for it
/// were written.
type Signature = (Vec<String>, Vec<Option<SystemTime>>);

/// A model that was found but could not be offered.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub name: String,
    pub error: String,
}

impl Catalog {
    /// The runs under `checkpoints_dir` that `names` lists (all of them, as they come and go,
    /// when it is empty and no `files` are given) and the generator `files`, each named after
    /// its file's stem. A missing checkpoints folder (where runs are looked for), a named run
    /// that is missing or a file that cannot be served is an error here; a run that cannot be
    /// served is skipped (see [`Catalog::skipped`]).
    pub fn discover(
        checkpoints_dir: &Path,
        names: &[String],
        files: &[PathBuf],
    ) -> Result<Catalog> {
        let mut served: Vec<Arc<ServedModel>> = Vec::new();
        for file in files {
            let model = describe_file(file)?;
            if served.iter().any(|m| m.name == model.name) {
                return Err(duplicate(&model.name));
            }
            served.push(Arc::new(model));
        }
        let scans_runs = !names.is_empty() || files.is_empty();
        // A folder that is not there is a typo more often than a run to come: an empty one is
        // served, and training fills it.
        if scans_runs {
            crate::fsutil::require_dir(checkpoints_dir)?;
        }
        let runs = list_runs(checkpoints_dir);
        for name in names {
            let Some((dir, epochs)) = runs
                .iter()
                .find(|(dir, _)| dir.file_name() == Some(name.as_ref()))
            else {
                return Err(Error::MissingCheckpoint {
                    path: checkpoints_dir.join(name),
                });
            };
            describe_run(name, dir, epochs.clone())?;
            if served.iter().any(|m| m.name == *name) {
                return Err(duplicate(name));
            }
        }
        let catalog = Catalog {
            checkpoints_dir: checkpoints_dir.to_path_buf(),
            names: names.to_vec(),
            scans_runs,
            files: served,
            state: Mutex::default(),
        };
        drop(catalog.current());
        Ok(catalog)
    }

    /// The models served now, by name.
    pub fn models(&self) -> Vec<Arc<ServedModel>> {
        self.current().models.clone()
    }

    pub fn get(&self, name: &str) -> Option<Arc<ServedModel>> {
        self.current()
            .models
            .iter()
            .find(|m| m.name == name)
            .cloned()
    }

    /// The runs found that cannot be served, and why.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.current()
            .runs
            .iter()
            .filter_map(|found| {
                let error = found.described.as_ref().err()?;
                Some(Skipped {
                    name: found.name.clone(),
                    error: error.clone(),
                })
            })
            .collect()
    }

    /// The scan, made again when it is older than [`RESCAN`].
    fn current(&self) -> MutexGuard<'_, Scan> {
        let mut scan = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if scan.at.is_some_and(|at| at.elapsed() < RESCAN) {
            return scan;
        }
        let dirs = if self.scans_runs {
            list_runs(&self.checkpoints_dir)
        } else {
            Vec::new()
        };
        let mut previous = std::mem::take(&mut scan.runs);
        for (dir, epochs) in dirs {
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !self.names.is_empty() && !self.names.contains(&name) {
                continue;
            }
            let signature = signature(&dir, epochs);
            let kept = previous
                .iter()
                .position(|found| found.name == name && found.signature == signature);
            let found = match kept {
                Some(index) => previous.swap_remove(index),
                None => {
                    let described = if self.files.iter().any(|m| m.name == name) {
                        Err(duplicate(&name).to_string())
                    } else {
                        describe_run(&name, &dir, signature.0.clone())
                            .map(Arc::new)
                            .map_err(|e| e.to_string())
                    };
                    Found {
                        name,
                        signature,
                        described,
                    }
                }
            };
            scan.runs.push(found);
        }
        let mut models: Vec<Arc<ServedModel>> = self.files.clone();
        models.extend(scan.runs.iter().filter_map(|f| f.described.clone().ok()));
        models.sort_by(|a, b| a.name.cmp(&b.name));
        scan.models = models;
        scan.at = Some(Instant::now());
        scan
    }
}

fn duplicate(name: &str) -> Error {
    Error::InvalidOption {
        option: "checkpoint",
        reason: format!("two models would be named '{name}': rename one of the files"),
    }
}

/// What [`describe_run`] reads in `dir`, whose checkpoint labels are `epochs`, for
/// [`Catalog::current`] to tell a changed run.
fn signature(dir: &Path, epochs: Vec<String>) -> Signature {
    let first = epochs.first().map(String::as_str).unwrap_or(LATEST);
    let written = [
        OPTIONS_FILE.to_string(),
        SIDECAR.to_string(),
        LABELS_FILE.to_string(),
        format!("{first}_net_G.{WEIGHTS_EXTENSION}"),
        format!("{first}_net_G.pth"),
    ]
    .iter()
    .map(|file| dir.join(file).metadata().and_then(|m| m.modified()).ok())
    .collect();
    (epochs, written)
}

/// The folders directly under `checkpoints_dir` that hold a generator checkpoint, by name,
/// with their checkpoint labels ([`epochs`]).
fn list_runs(checkpoints_dir: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir(checkpoints_dir) else {
        return Vec::new();
    };
    let mut runs: Vec<(PathBuf, Vec<String>)> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.is_dir())
        .map(|dir| {
            let epochs = epochs(&dir);
            (dir, epochs)
        })
        .filter(|(_, epochs)| !epochs.is_empty())
        .collect();
    runs.sort();
    runs
}

/// The checkpoint labels of a run folder's generators (`<label>_net_G.bpk` or `.pth`):
/// `latest` first, then epochs newest first.
fn epochs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut numbered: Vec<u64> = Vec::new();
    let mut latest = false;
    for entry in entries.filter_map(|e| e.ok()) {
        let file = entry.file_name();
        let Some(label) = file.to_str().and_then(|f| {
            f.strip_suffix(&format!("_net_G.{WEIGHTS_EXTENSION}"))
                .or_else(|| f.strip_suffix("_net_G.pth"))
        }) else {
            continue;
        };
        if label == LATEST {
            latest = true;
        } else if let Ok(epoch) = label.parse::<u64>()
            && epoch.to_string() == label
        {
            numbered.push(epoch);
        }
    }
    numbered.sort_unstable_by(|a, b| b.cmp(a));
    numbered.dedup();
    latest
        .then(|| LATEST.to_string())
        .into_iter()
        .chain(numbered.iter().map(u64::to_string))
        .collect()
}

/// The run in `dir`, whose checkpoint labels are `epochs`.
fn describe_run(name: &str, dir: &Path, epochs: Vec<String>) -> Result<ServedModel> {
    let source = GeneratorSource::Run {
        dir: dir.to_path_buf(),
        epoch: epochs.first().cloned().unwrap_or_else(|| LATEST.into()),
    };
    let (options, run) = describe_generator(&source, &ModelOverrides::default())?;
    run_model(name, dir, epochs, options, run.as_ref())
}

/// The run in `dir`, whose checkpoint labels are `epochs`, built with `options`, and its saved
/// options `run` where it has them (none: a folder in the official layout).
fn run_model(
    name: &str,
    dir: &Path,
    epochs: Vec<String>,
    options: ModelOptions,
    run: Option<&SavedRun>,
) -> Result<ServedModel> {
    let (size, direction, palette, example) = match run {
        Some(run) => {
            let palette = Palette::of_run(run, dir)?;
            let example = example(run, &palette);
            (
                run.data.crop_size,
                Some(run.data.direction),
                palette,
                example,
            )
        }
        None => {
            let record = read_record(dir);
            // The official facades model takes label maps (its B side).
            let facades = record
                .as_ref()
                .map_or(name.starts_with("facades_label2photo"), |r| {
                    r.dataset == "facades" && r.direction == Direction::BtoA
                });
            let palette = if facades {
                Palette::facades()
            } else {
                Palette::Free
            };
            let direction = record.map(|record| record.direction);
            (natural_size(&options), direction, palette, None)
        }
    };
    let mut model = served(
        name.to_string(),
        options,
        size,
        direction,
        palette,
        epochs,
        Origin::Run(dir.to_path_buf()),
    );
    model.has_example = example.is_some();
    model.example = example;
    Ok(model)
}

/// An input of `run`'s own data for the page to open with: the first of its test phase (else
/// of the phase it trained on), scaled to the canvas, as PNG. Label and edge maps are scaled
/// without blending, so that they keep their colours.
fn example(run: &SavedRun, palette: &Palette) -> Option<Vec<u8>> {
    let input = inputs(run, "test", 1)
        .into_iter()
        .chain(inputs(run, &run.data.phase, 1))
        .next()?;
    let side = u32::try_from(run.data.crop_size).ok()?;
    let filter = match palette {
        Palette::Free => FilterType::CatmullRom,
        Palette::Labels { .. } | Palette::Edges => FilterType::Nearest,
    };
    Some(encode_png(&image::imageops::resize(
        &input, side, side, filter,
    )))
}

fn describe_file(file: &Path) -> Result<ServedModel> {
    let (options, _) = describe_generator(
        &GeneratorSource::File(file.to_path_buf()),
        &ModelOverrides::default(),
    )?;
    Ok(file_model(file, options))
}

/// A generator file built with `options`, named after the file.
fn file_model(file: &Path, options: ModelOptions) -> ServedModel {
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    served(
        name,
        options.clone(),
        natural_size(&options),
        None,
        Palette::Free,
        Vec::new(),
        Origin::File(file.to_path_buf()),
    )
}

/// The model `loaded` from `source`, as the page lists it: a run (its one checkpoint `epoch`)
/// with its palette, direction and an example input of its data; a file with the options it
/// was loaded with, which may carry options given for it.
pub fn describe(source: &GeneratorSource, loaded: &LoadedGenerator) -> Result<ServedModel> {
    let options = loaded.model.clone();
    match source {
        GeneratorSource::Run { dir, epoch } => {
            let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            let name = absolute
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into());
            run_model(
                &name,
                dir,
                vec![epoch.clone()],
                options,
                loaded.run.as_ref(),
            )
        }
        GeneratorSource::File(file) => Ok(file_model(file, options)),
    }
}

fn served(
    name: String,
    options: ModelOptions,
    size: usize,
    direction: Option<Direction>,
    palette: Palette,
    epochs: Vec<String>,
    origin: Origin,
) -> ServedModel {
    ServedModel {
        name,
        net_g: options.net_g,
        ngf: options.ngf,
        norm: options.norm.to_string(),
        input_nc: options.input_nc,
        output_nc: options.output_nc,
        size_multiple: options.net_g.size_multiple(),
        size,
        direction,
        palette,
        epochs,
        has_example: false,
        example: None,
        origin,
        options,
    }
}

/// The image side a generator is made for when no run says: a U-Net's size, 256 for a ResNet
/// (pix2pix's and CycleGAN's crops).
fn natural_size(options: &ModelOptions) -> usize {
    match options.net_g {
        GeneratorArch::Unet { .. } => options.net_g.size_multiple().min(LARGEST_CANVAS),
        GeneratorArch::Resnet { .. } => 256,
    }
}

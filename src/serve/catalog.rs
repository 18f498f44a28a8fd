//! The models a server offers: the runs under a checkpoints folder (ours and the official
//! layout, `<name>_pretrained` included) and single generator files. Requests name a model and
//! an epoch; both are looked up here, in what was found on disk, and never joined into a path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::palette::Palette;
use crate::checkpoint::{LATEST, WEIGHTS_EXTENSION};
use crate::data::Direction;
use crate::error::{Error, Result};
use crate::infer::{GeneratorSource, describe_generator};
use crate::interop::pretrained::read_record;
use crate::model::{GeneratorArch, ModelOptions, ModelOverrides};

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

/// Every model served, by name.
#[derive(Debug, Default)]
pub struct Catalog {
    models: Vec<Arc<ServedModel>>,
}

/// A model that was found but could not be offered.
#[derive(Debug)]
pub struct Skipped {
    pub name: String,
    pub error: Error,
}

impl Catalog {
    /// The runs under `checkpoints_dir` that `names` lists (all of them when it is empty and
    /// no `files` are given) and the generator `files`, each named after its file's stem. A
    /// named run or a file that cannot be served is an error; an unnamed run that cannot is
    /// skipped and reported.
    pub fn discover(
        checkpoints_dir: &Path,
        names: &[String],
        files: &[PathBuf],
    ) -> Result<(Catalog, Vec<Skipped>)> {
        let mut catalog = Catalog::default();
        let mut skipped = Vec::new();
        let runs = list_runs(checkpoints_dir);
        for name in names {
            let Some(dir) = runs
                .iter()
                .find(|dir| dir.file_name() == Some(name.as_ref()))
            else {
                return Err(Error::MissingCheckpoint {
                    path: checkpoints_dir.join(name),
                });
            };
            catalog.add(describe_run(name, dir)?)?;
        }
        if names.is_empty() && files.is_empty() {
            for dir in &runs {
                let name = dir.file_name().unwrap_or_default().to_string_lossy();
                match describe_run(&name, dir) {
                    Ok(model) => catalog.add(model)?,
                    Err(error) => skipped.push(Skipped {
                        name: name.into_owned(),
                        error,
                    }),
                }
            }
        }
        for file in files {
            catalog.add(describe_file(file)?)?;
        }
        Ok((catalog, skipped))
    }

    fn add(&mut self, model: ServedModel) -> Result<()> {
        if self.get(&model.name).is_some() {
            return Err(Error::InvalidOption {
                option: "checkpoint",
                reason: format!(
                    "two models would be named '{}': rename one of the files",
                    model.name
                ),
            });
        }
        self.models.push(Arc::new(model));
        self.models.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Arc<ServedModel>> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn models(&self) -> &[Arc<ServedModel>] {
        &self.models
    }
}

/// The folders directly under `checkpoints_dir` that hold a generator checkpoint, by name.
fn list_runs(checkpoints_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(checkpoints_dir) else {
        return Vec::new();
    };
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.is_dir() && !epochs(dir).is_empty())
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

fn describe_run(name: &str, dir: &Path) -> Result<ServedModel> {
    let epochs = epochs(dir);
    let source = GeneratorSource::Run {
        dir: dir.to_path_buf(),
        epoch: epochs.first().cloned().unwrap_or_else(|| LATEST.into()),
    };
    let (options, run) = describe_generator(&source, &ModelOverrides::default())?;
    let (size, direction, palette) = match &run {
        Some(run) => (
            run.data.crop_size,
            Some(run.data.direction),
            Palette::of_run(run),
        ),
        None => (
            natural_size(&options),
            read_record(dir).map(|record| record.direction),
            Palette::Free,
        ),
    };
    Ok(served(
        name.to_string(),
        options,
        size,
        direction,
        palette,
        epochs,
        Origin::Run(dir.to_path_buf()),
    ))
}

fn describe_file(file: &Path) -> Result<ServedModel> {
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (options, _) = describe_generator(
        &GeneratorSource::File(file.to_path_buf()),
        &ModelOverrides::default(),
    )?;
    Ok(served(
        name,
        options.clone(),
        natural_size(&options),
        None,
        Palette::Free,
        Vec::new(),
        Origin::File(file.to_path_buf()),
    ))
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

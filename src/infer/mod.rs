//! Using a trained generator: loading it from a run folder or file, `test` (results page and
//! metrics over a dataset phase) and `translate` (single images of any size).

pub mod test;
pub mod translate;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;

use crate::error::{Error, Result};
use crate::interop::{self, Detected};
use crate::model::{Generator, GeneratorArch, ModelOptions, NormKind};
use crate::options::{OPTIONS_FILE, RunOptions};
use crate::train::Checkpoints;
use crate::train::checkpoint::WEIGHTS_EXTENSION;

pub use test::{TestOptions, TestSummary, test};
pub use translate::{translate_files, translate_image};

/// Where the generator weights come from.
#[derive(Clone, Debug)]
pub enum GeneratorSource {
    /// `<checkpoints_dir>/<name>/<epoch>_net_G.bpk` (--name, --epoch).
    Run { dir: PathBuf, epoch: String },
    /// A weights file given with --checkpoint.
    File(PathBuf),
}

/// Architecture flags given on the command line; `None` means "as the checkpoint says".
#[derive(Clone, Debug, Default)]
pub struct ModelOverrides {
    pub net_g: Option<GeneratorArch>,
    pub ngf: Option<usize>,
    pub input_nc: Option<usize>,
    pub output_nc: Option<usize>,
    pub norm: Option<NormKind>,
    pub dropout: Option<bool>,
}

impl ModelOverrides {
    /// `base` with every given flag applied.
    pub fn apply(&self, base: &ModelOptions) -> ModelOptions {
        let mut model = base.clone();
        model.net_g = self.net_g.unwrap_or(model.net_g);
        model.ngf = self.ngf.unwrap_or(model.ngf);
        model.input_nc = self.input_nc.unwrap_or(model.input_nc);
        model.output_nc = self.output_nc.unwrap_or(model.output_nc);
        model.norm = self.norm.unwrap_or(model.norm);
        model.dropout = self.dropout.unwrap_or(model.dropout);
        model
    }

    /// The given flags that contradict `saved`, as "--flag: checkpoint X, given Y".
    pub fn conflicts(&self, saved: &ModelOptions) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |flag: &str, saved: String, given: Option<String>| {
            if let Some(given) = given
                && given != saved
            {
                out.push(format!("{flag} (checkpoint: {saved}, given: {given})"));
            }
        };
        check(
            "--netG",
            saved.net_g.to_string(),
            self.net_g.map(|v| v.to_string()),
        );
        check(
            "--ngf",
            saved.ngf.to_string(),
            self.ngf.map(|v| v.to_string()),
        );
        check(
            "--input_nc",
            saved.input_nc.to_string(),
            self.input_nc.map(|v| v.to_string()),
        );
        check(
            "--output_nc",
            saved.output_nc.to_string(),
            self.output_nc.map(|v| v.to_string()),
        );
        check(
            "--norm",
            saved.norm.to_string(),
            self.norm.map(|v| v.to_string()),
        );
        check(
            "--no_dropout",
            (!saved.dropout).to_string(),
            self.dropout.map(|v| (!v).to_string()),
        );
        out
    }
}

/// A generator ready to run, with the options that built it.
#[derive(Debug)]
pub struct LoadedGenerator {
    pub generator: Generator,
    pub model: ModelOptions,
    pub weights: PathBuf,
    /// The run's saved options, when the weights came with them.
    pub run: Option<RunOptions>,
}

/// Whether `path` is a PyTorch checkpoint (by extension).
pub fn is_pytorch_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pth") | Some("pt")
    )
}

/// The weights file a source names: for a run, our `<epoch>_net_G.bpk`, or the official
/// `<epoch>_net_G.pth` when that is what the folder holds.
fn weights_file(source: &GeneratorSource) -> Result<PathBuf> {
    let path = match source {
        GeneratorSource::File(path) => path.clone(),
        GeneratorSource::Run { dir, epoch } => {
            let ours = Checkpoints::new(dir).network_file(epoch, "G");
            let official = dir.join(format!("{epoch}_net_G.pth"));
            if !ours.is_file() && official.is_file() {
                official
            } else {
                ours
            }
        }
    };
    if !path.is_file() {
        return Err(Error::MissingCheckpoint {
            path,
            hint: format!(
                "check --name, --checkpoints_dir and --epoch, or give a *_net_G.{WEIGHTS_EXTENSION} \
                 or official *_net_G.pth file with --checkpoint"
            ),
        });
    }
    Ok(path)
}

/// Loads G on `device`. `eval` switches to running statistics and no dropout (official --eval);
/// otherwise G runs as in training, as pix2pix does at test time.
pub fn load_generator(
    source: &GeneratorSource,
    overrides: &ModelOverrides,
    eval: bool,
    device: &Device,
) -> Result<LoadedGenerator> {
    let weights = weights_file(source)?;
    let loaded = if is_pytorch_file(&weights) {
        load_official_generator(&weights, overrides, device)?
    } else {
        load_own_generator(&weights, overrides, device)?
    };
    let generator = if eval {
        loaded.generator.valid()
    } else {
        loaded.generator
    };
    Ok(LoadedGenerator {
        generator,
        ..loaded
    })
}

/// An official state_dict: the architecture comes from its keys and shapes, with any given
/// flag applied on top (a flag that does not fit the file is reported with the keys).
fn load_official_generator(
    weights: &Path,
    overrides: &ModelOverrides,
    device: &Device,
) -> Result<LoadedGenerator> {
    let dict = interop::read_pth(weights)?;
    let base = match interop::detect(&dict) {
        Detected::Generator(model) => model,
        Detected::Discriminator(model) => {
            return Err(Error::CorruptCheckpoint {
                path: weights.to_path_buf(),
                reason: format!(
                    "it holds a discriminator (--netD {}), not a generator: give the \
                     *_net_G.pth file",
                    model.net_d
                ),
            });
        }
        Detected::Unknown(reason) => {
            return Err(Error::CorruptCheckpoint {
                path: weights.to_path_buf(),
                reason: format!("not a pix2pix generator: {reason}"),
            });
        }
    };
    let model = overrides.apply(&base);
    let generator = interop::load_generator_state_dict(&model, &dict, device, weights)?;
    Ok(LoadedGenerator {
        generator,
        model,
        weights: weights.to_path_buf(),
        run: None,
    })
}

/// Our burnpack weights, with the run's options when train_opt.json is beside them.
fn load_own_generator(
    weights: &Path,
    overrides: &ModelOverrides,
    device: &Device,
) -> Result<LoadedGenerator> {
    let weights = weights.to_path_buf();
    let dir = weights.parent().unwrap_or(Path::new("."));
    let run = dir
        .join(OPTIONS_FILE)
        .is_file()
        .then(|| RunOptions::load(dir))
        .transpose()?;
    let model = match &run {
        Some(run) => {
            let conflicts = overrides.conflicts(&run.model);
            if !conflicts.is_empty() {
                return Err(Error::ArchitectureMismatch {
                    path: weights,
                    differences: conflicts.join(", "),
                });
            }
            run.model.clone()
        }
        None => overrides.apply(&ModelOptions::default()),
    };
    let generator = model.generator(device);
    let file_name = weights
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let label = file_name
        .strip_suffix(&format!("_net_G.{WEIGHTS_EXTENSION}"))
        .ok_or_else(|| Error::CorruptCheckpoint {
            path: weights.clone(),
            reason: format!("expected a file named <epoch>_net_G.{WEIGHTS_EXTENSION}"),
        })?;
    let generator = Checkpoints::new(dir)
        .load_network(label, "G", generator)
        .map_err(|error| match (error, &run) {
            (Error::ArchitectureMismatch { path, differences }, None) => {
                Error::ArchitectureMismatch {
                    path,
                    differences: format!(
                        "{differences}; without {OPTIONS_FILE} beside it, pass the --netG, --ngf, \
                         --norm, --input_nc and --output_nc it was trained with"
                    ),
                }
            }
            (error, _) => error,
        })?;
    Ok(LoadedGenerator {
        generator,
        model,
        weights,
        run,
    })
}

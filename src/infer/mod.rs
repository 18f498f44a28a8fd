//! Using a trained generator: loading it from a run folder or file, `test` (results page and
//! metrics over a dataset phase) and `translate` (single images of any size).

pub mod test;
pub mod translate;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;

use crate::error::{Error, Result};
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

/// Loads G on `device`. `eval` switches to running statistics and no dropout (official --eval);
/// otherwise G runs as in training, as pix2pix does at test time.
pub fn load_generator(
    source: &GeneratorSource,
    overrides: &ModelOverrides,
    eval: bool,
    device: &Device,
) -> Result<LoadedGenerator> {
    let weights = match source {
        GeneratorSource::Run { dir, epoch } => Checkpoints::new(dir).network_file(epoch, "G"),
        GeneratorSource::File(path) => path.clone(),
    };
    if !weights.is_file() {
        return Err(Error::MissingCheckpoint {
            path: weights,
            hint: format!(
                "check --name, --checkpoints_dir and --epoch, or give a *_net_G.{WEIGHTS_EXTENSION} \
                 file with --checkpoint"
            ),
        });
    }
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
    let generator = if eval { generator.valid() } else { generator };
    Ok(LoadedGenerator {
        generator,
        model,
        weights,
        run,
    })
}

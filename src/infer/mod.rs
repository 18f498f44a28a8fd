//! Using a trained generator: loading it from a run folder or a weights file, `test` (results
//! page and metrics over a dataset phase) and `translate` (single images of any size).
//!
//! ```
//! use pix2pix::infer::{GeneratorSource, load_generator, translate_image};
//! use pix2pix::infer::ModelOverrides;
//! use pix2pix::model::{GeneratorArch, ModelOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let file = dir.path().join("edges2shoes_net_G.bpk");
//! let device = pix2pix::device::cpu()?;
//! # let model = ModelOptions { net_g: GeneratorArch::Unet { num_downs: 5 }, ngf: 8, ..ModelOptions::default() };
//! # pix2pix::checkpoint::save_module(&file, &model.generator(&device))?;
//! // An official .pth, one of our .bpk checkpoints, or a .safetensors export. A .bpk away from
//! // its run folder's train_opt.json needs its architecture given.
//! let overrides = ModelOverrides {
//!     net_g: Some("unet_32".parse()?),
//!     ngf: Some(8),
//!     ..ModelOverrides::default()
//! };
//! let loaded = load_generator(&GeneratorSource::File(file), &overrides, true, &device)?;
//! let sketch = image::DynamicImage::new_rgb8(50, 40);
//! let photo = translate_image(&loaded, &sketch, &device)?;
//! assert_eq!(photo.dimensions(), (50, 40));
//! # Ok(())
//! # }
//! ```

pub mod export;
mod overrides;
pub mod test;
pub mod translate;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;

use crate::checkpoint::{self, Checkpoints, SavedRun, WEIGHTS_EXTENSION};
use crate::data::Direction;
use crate::error::{Error, OptionChange, Result};
use crate::interop::pretrained::read_record;
use crate::interop::{self, Detected, StateDict};
use crate::memory;
use crate::model::{Generator, ModelOptions, non_finite_tensors};

pub use overrides::ModelOverrides;
pub use test::{TestOptions, TestSummary, test};
pub use translate::{
    Existing, batch_independent, translate_batch, translate_files, translate_image,
};

/// Where the generator weights come from.
#[derive(Clone, Debug)]
pub enum GeneratorSource {
    /// A run folder: our `<dir>/<epoch>_net_G.bpk`, or the official `<epoch>_net_G.pth` when
    /// that is what the folder holds.
    Run { dir: PathBuf, epoch: String },
    /// A generator file: an official `.pth` (or `.pt`), our `.bpk`, or a `.safetensors` export.
    File(PathBuf),
}

/// A generator ready to run, with the options that built it.
#[derive(Debug)]
pub struct LoadedGenerator {
    pub generator: Generator,
    pub model: ModelOptions,
    /// The run's saved options, when the weights came with them.
    pub run: Option<SavedRun>,
    /// Tensors holding NaN or infinite values (see [`non_finite_tensors`]): G loads, but its
    /// images will be blank or garbage.
    pub non_finite: Vec<String>,
    /// Whether G runs as in training (batch statistics, dropout), the official test mode,
    /// rather than in eval mode.
    pub generator_trains: bool,
}

/// Refuses an image of `width` x `height` (as G will see it) that G cannot take or that will not
/// fit in memory, naming `path`.
pub(crate) fn ensure_translatable(
    loaded: &LoadedGenerator,
    batch: usize,
    (width, height): (usize, usize),
    path: &Path,
    device: &Device,
) -> Result<()> {
    let model = &loaded.model;
    if let Some(reason) = model.unsuitable_image(width, height, false) {
        return Err(Error::UnsuitableImage {
            path: path.to_path_buf(),
            width,
            height,
            reason,
        });
    }
    let bytes = memory::inference_bytes(model, batch, height, width);
    let what = || {
        format!(
            "translating {} ({width}x{height}) with netG {} (ngf {})",
            path.display(),
            model.net_g,
            model.ngf
        )
    };
    memory::ensure_fits(bytes, what, device)
}

/// The generator file formats, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// PyTorch's `torch.save` of a state_dict (official keys).
    Pytorch,
    /// A safetensors file with the official keys (what `export` writes).
    Safetensors,
    /// Burn's burnpack with our module's names (our checkpoints).
    Burnpack,
}

impl Format {
    fn of(path: &Path) -> Result<Self> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match extension.to_ascii_lowercase().as_str() {
            "pth" | "pt" => Ok(Format::Pytorch),
            "safetensors" => Ok(Format::Safetensors),
            WEIGHTS_EXTENSION => Ok(Format::Burnpack),
            _ => Err(Error::CorruptCheckpoint {
                path: path.to_path_buf(),
                reason: format!(
                    "not a generator file: expected .pth or .pt (PyTorch), .safetensors or \
                     .{WEIGHTS_EXTENSION} (ours)"
                ),
            }),
        }
    }
}

/// The weights file a source names (an error when there is none).
pub fn weights_file(source: &GeneratorSource) -> Result<PathBuf> {
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
        return Err(Error::MissingCheckpoint { path });
    }
    Ok(path)
}

/// The direction G was trained in, where its source says: the run's saved options, or the
/// record of a downloaded pretrained model in the run folder.
pub fn trained_direction(source: &GeneratorSource, loaded: &LoadedGenerator) -> Option<Direction> {
    if let Some(run) = &loaded.run {
        return Some(run.data.direction);
    }
    match source {
        GeneratorSource::Run { dir, .. } => read_record(dir).map(|record| record.direction),
        GeneratorSource::File(_) => None,
    }
}

/// The direction to run G in: `given`, which must agree with the direction G was trained in
/// where its source says ([`trained_direction`]); else that one; else AtoB.
pub fn check_direction(
    source: &GeneratorSource,
    loaded: &LoadedGenerator,
    given: Option<Direction>,
) -> Result<Direction> {
    match (trained_direction(source, loaded), given) {
        (Some(trained), Some(given)) if trained != given => Err(Error::OptionConflict {
            path: weights_file(source)?,
            conflicts: vec![OptionChange {
                option: "direction",
                saved: trained.to_string(),
                given: given.to_string(),
            }],
        }),
        (trained, given) => Ok(given.or(trained).unwrap_or_default()),
    }
}

/// Loads G on `device`. `eval` switches to running statistics and no dropout (official
/// `--eval`); otherwise G runs as in training, as pix2pix does at test time.
pub fn load_generator(
    source: &GeneratorSource,
    overrides: &ModelOverrides,
    eval: bool,
    device: &Device,
) -> Result<LoadedGenerator> {
    let weights = weights_file(source)?;
    let loaded = match Format::of(&weights)? {
        Format::Pytorch => {
            load_state_dict(&weights, interop::read_pth(&weights)?, overrides, device)?
        }
        Format::Safetensors => load_state_dict(
            &weights,
            interop::read_safetensors(&weights)?,
            overrides,
            device,
        )?,
        Format::Burnpack => load_burnpack(&weights, overrides, device)?,
    };
    let generator = if eval {
        loaded.generator.valid()
    } else {
        loaded.generator
    };
    Ok(LoadedGenerator {
        non_finite: non_finite_tensors(&generator),
        generator,
        generator_trains: !eval,
        ..loaded
    })
}

/// A state_dict with the official keys: the architecture comes from its keys and shapes, with
/// any given option applied on top (an option that does not fit the file is reported with the
/// keys).
fn load_state_dict(
    weights: &Path,
    dict: StateDict,
    overrides: &ModelOverrides,
    device: &Device,
) -> Result<LoadedGenerator> {
    let model = generator_options(weights, interop::detect(&dict), overrides)?;
    let generator = interop::load_generator_state_dict(&model, &dict, device, weights)?;
    Ok(LoadedGenerator {
        generator,
        model,
        run: None,
        non_finite: Vec::new(),
        generator_trains: true,
    })
}

/// The options that build the generator a file was detected to hold, with `overrides` on top;
/// an error that says what the file holds otherwise.
fn generator_options(
    weights: &Path,
    detected: Detected,
    overrides: &ModelOverrides,
) -> Result<ModelOptions> {
    match detected {
        Detected::Generator(model) => Ok(overrides.apply(&model)),
        Detected::Discriminator(model) => Err(Error::NotAGenerator {
            path: weights.to_path_buf(),
            holds: format!("a discriminator (netD {}, ndf {})", model.net_d, model.ndf),
        }),
        Detected::Unknown(reason) => Err(Error::CorruptCheckpoint {
            path: weights.to_path_buf(),
            reason: format!("not a pix2pix generator: {reason}"),
        }),
    }
}

/// What a generator source holds, without building it: the options that build it (with
/// `overrides` on top, as [`load_generator`] applies them) and the run's saved options when the
/// weights came with them. Reads the file's tensor shapes, not its network.
pub fn describe_generator(
    source: &GeneratorSource,
    overrides: &ModelOverrides,
) -> Result<(ModelOptions, Option<SavedRun>)> {
    let weights = weights_file(source)?;
    let dict = match Format::of(&weights)? {
        Format::Pytorch => interop::read_pth(&weights)?,
        Format::Safetensors => interop::read_safetensors(&weights)?,
        Format::Burnpack => return burnpack_options(&weights, overrides),
    };
    Ok((
        generator_options(&weights, interop::detect(&dict), overrides)?,
        None,
    ))
}

/// The options of our burnpack weights: the run's when train_opt.json is beside them; without
/// it, the architecture read from the file's tensors, with the given options applied.
fn burnpack_options(
    weights: &Path,
    overrides: &ModelOverrides,
) -> Result<(ModelOptions, Option<SavedRun>)> {
    let folder = Checkpoints::new(weights.parent().unwrap_or(Path::new(".")));
    let run: Option<SavedRun> = folder
        .has_options()
        .then(|| folder.load_options())
        .transpose()?;
    // What the file holds is read first: a D or optimizer file is named as such.
    let shapes = checkpoint::tensor_shapes(weights)?;
    let detected = generator_options(weights, interop::detect_burnpack(&shapes), overrides)?;
    let model = match &run {
        Some(run) => {
            let conflicts = overrides.conflicts(&run.model);
            if !conflicts.is_empty() {
                return Err(Error::OptionConflict {
                    path: weights.to_path_buf(),
                    conflicts,
                });
            }
            run.model.clone()
        }
        None => detected,
    };
    Ok((model, run))
}

/// Our burnpack weights, built with [`burnpack_options`].
fn load_burnpack(
    weights: &Path,
    overrides: &ModelOverrides,
    device: &Device,
) -> Result<LoadedGenerator> {
    let (model, run) = burnpack_options(weights, overrides)?;
    let generator = checkpoint::load_module(weights, model.generator(device))?;
    Ok(LoadedGenerator {
        generator,
        model,
        run,
        non_finite: Vec::new(),
        generator_trains: true,
    })
}

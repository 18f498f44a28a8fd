//! The library's errors. Each names the file, folder, option or key involved; options are named
//! as the official code names them (`crop_size`, `netG`). What to type instead is the command
//! line's to say (the binary adds its flags as hints).

use std::fmt;
use std::path::PathBuf;

use crate::model::ModelOptions;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("folder {path} does not exist")]
    MissingDataFolder { path: PathBuf },

    #[error("folder {path} holds no .png, .jpg, .jpeg, .webp or .bmp images")]
    EmptyDataFolder { path: PathBuf },

    #[error("no images in the given files and folders")]
    NoInputImages,

    #[error("cannot read image {path}: {reason}")]
    BadImage { path: PathBuf, reason: String },

    #[error(
        "{path}: each half is {width}x{height} after preprocessing, smaller than crop_size {crop_size}"
    )]
    ImageTooSmall {
        path: PathBuf,
        width: u32,
        height: u32,
        crop_size: u32,
    },

    /// An image whose size after preprocessing the networks cannot take.
    #[error("{path} is {width}x{height} after preprocessing: {reason}")]
    UnsuitableImage {
        path: PathBuf,
        width: usize,
        height: usize,
        reason: String,
    },

    #[error(
        "device {device} needs the `{feature}` backend, which this build lacks: rebuild with `cargo build --release --features {feature}` (built in: {compiled})"
    )]
    BackendNotCompiled {
        device: String,
        feature: &'static str,
        compiled: String,
    },

    #[error("device {device}: {reason}")]
    DeviceUnavailable { device: String, reason: String },

    /// An option's value that cannot work; `option` is its official name (e.g. `crop_size`).
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },

    #[error(
        "{path} was made with other options: {}",
        OptionChange::list(conflicts)
    )]
    OptionConflict {
        path: PathBuf,
        conflicts: Vec<OptionChange>,
    },

    #[error("cannot write {path}: {source}")]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A network and batch or image too large for the memory left (src/memory.rs).
    #[error("{what} needs about {needed} of memory; {available} is left under the {limit}")]
    OutOfMemory {
        what: String,
        needed: String,
        available: String,
        limit: crate::memory::MemoryLimit,
    },

    /// A readable network file that holds another network.
    #[error("{path} holds {holds}, not a generator")]
    NotAGenerator { path: PathBuf, holds: String },

    /// The server could not start (`pix2pix serve`).
    #[error("cannot serve: {reason}")]
    Serve { reason: String },

    #[error("no checkpoint {path}")]
    MissingCheckpoint { path: PathBuf },

    /// A run's own names for its label colours (`labels.json`) that cannot be read.
    #[error(
        "cannot read the label names in {path}: {reason} (expected {{\"#rrggbb\": \"name\", ...}})"
    )]
    BadLabels { path: PathBuf, reason: String },

    #[error("checkpoint {path} is unreadable or corrupt: {reason}")]
    CorruptCheckpoint { path: PathBuf, reason: String },

    /// A weights file that does not fit the network built for it. `fits`: the options of the
    /// generator the file holds, when that could be read from it.
    #[error(
        "checkpoint {path} does not fit the network: {differences}{}",
        Fits(fits)
    )]
    ArchitectureMismatch {
        path: PathBuf,
        differences: String,
        fits: Option<Box<ModelOptions>>,
    },

    #[error("{path} already exists (nothing was written)")]
    OutputExists { path: PathBuf },

    #[error("{path} is a training run's own file: nothing else writes over it")]
    RunFile { path: PathBuf },

    /// A path that is not the kind of thing the command reads or writes there. `writing`: it
    /// was to be written, and was left as it is.
    #[error(
        "{path} is {found}, not {expected}{}",
        if *writing { ": nothing is written over it" } else { "" }
    )]
    WrongKind {
        path: PathBuf,
        found: &'static str,
        expected: &'static str,
        writing: bool,
    },

    /// An output folder that `--force` may not replace: no `mark` file in it names `made_by`.
    #[error(
        "{path} was not made by `pix2pix {made_by}` (no {mark} in it names that command): nothing was replaced"
    )]
    NotOurOutput {
        path: PathBuf,
        made_by: String,
        mark: &'static str,
    },

    #[error("{path} already holds a training run (nothing was overwritten)")]
    RunExists { path: PathBuf },

    #[error("{path} is in use by another training process{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    RunInUse { path: PathBuf, pid: Option<u32> },

    #[error(
        "the output {output} and the input {input} overlap: choose an output outside the input"
    )]
    OutputInsideInput { output: PathBuf, input: PathBuf },

    #[error("{first} and {second} would both be written to {path}")]
    SameOutput {
        path: PathBuf,
        first: PathBuf,
        second: PathBuf,
    },

    #[error("unknown dataset '{name}': use one of {known}")]
    UnknownDataset { name: String, known: String },

    #[error("unknown pretrained model '{name}': use one of {known}")]
    UnknownPretrained { name: String, known: String },

    #[error(
        "{name} is not redistributed: download gtFine and leftImg8bit from cityscapes-dataset.com, then pair the photos (A) with the colour labels (B)"
    )]
    NotRedistributed { name: String },

    #[error("cannot download {url}: {reason}")]
    Download { url: String, reason: String },

    #[error("cannot download {url}: it has {size} bytes or more, over the limit of {limit}")]
    TooLarge { url: String, size: u64, limit: u64 },

    #[error("{path} has {free} bytes free, and {needed} are needed (nothing was written)")]
    NoSpace {
        path: PathBuf,
        needed: u64,
        free: u64,
    },

    #[error(
        "the losses became NaN or infinite at epoch {epoch}, iteration {iteration} ({losses}); training stopped and the last checkpoint was kept"
    )]
    NonFiniteLoss {
        epoch: usize,
        iteration: usize,
        losses: String,
    },
}

impl Error {
    /// An error reading `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// An error writing `path`.
    pub fn unwritable(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Unwritable {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The networks crate's refusals are this crate's [`Error::InvalidOption`].
impl From<pix2pix_nets::Error> for Error {
    fn from(error: pix2pix_nets::Error) -> Self {
        match error {
            pix2pix_nets::Error::InvalidOption { option, reason } => {
                Error::InvalidOption { option, reason }
            }
        }
    }
}

/// An option given for a checkpoint that was made with another value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionChange {
    /// The official name, e.g. `netG`.
    pub option: &'static str,
    pub saved: String,
    pub given: String,
}

impl OptionChange {
    fn list(conflicts: &[OptionChange]) -> String {
        let items: Vec<String> = conflicts.iter().map(|c| c.to_string()).collect();
        items.join(", ")
    }
}

impl fmt::Display for OptionChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (checkpoint: {}, given: {})",
            self.option, self.saved, self.given
        )
    }
}

/// "; it holds a generator with ..." for [`Error::ArchitectureMismatch`].
struct Fits<'a>(&'a Option<Box<ModelOptions>>);

impl fmt::Display for Fits<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(
                f,
                "; the file holds a generator with netG {}, ngf {}, norm {}, input_nc {}, \
                 output_nc {}{}",
                m.net_g,
                m.ngf,
                m.norm,
                m.input_nc,
                m.output_nc,
                if m.dropout { "" } else { ", no dropout" }
            ),
            None => Ok(()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

//! The library's errors. Each names the file, folder or option involved and what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "dataset folder {path} does not exist: check --dataroot and --phase (expected <dataroot>/<phase>/ with A|B images)"
    )]
    MissingDataFolder { path: PathBuf },

    #[error(
        "dataset folder {path} holds no .png, .jpg, .jpeg, .webp or .bmp images: put the A|B side-by-side images there"
    )]
    EmptyDataFolder { path: PathBuf },

    #[error(
        "cannot read image {path}: {reason} (fix or remove the file; training can skip such files with --skip_bad)"
    )]
    BadImage { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    ImageTooSmall { path: PathBuf, reason: String },

    #[error(
        "--device {device} needs the `{feature}` backend, which this binary was built without: rebuild with `cargo build --release --features {feature}` (built in: {compiled})"
    )]
    BackendNotCompiled {
        device: String,
        feature: &'static str,
        compiled: String,
    },

    #[error("--device {device}: {reason}")]
    DeviceUnavailable { device: String, reason: String },

    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },

    #[error(
        "cannot write {path}: {source} (check that the folder is writable, or choose another with {option})"
    )]
    Unwritable {
        path: PathBuf,
        option: &'static str,
        source: std::io::Error,
    },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("no checkpoint {path}: {hint}")]
    MissingCheckpoint { path: PathBuf, hint: String },

    #[error("checkpoint {path} is unreadable or corrupt: {reason}")]
    CorruptCheckpoint { path: PathBuf, reason: String },

    #[error(
        "checkpoint {path} was written for other options: {differences}. Drop these flags (our checkpoints carry their options) or pass the values shown"
    )]
    ArchitectureMismatch { path: PathBuf, differences: String },

    #[error("{path} already exists: pass --force to replace it (nothing was written)")]
    OutputExists { path: PathBuf },

    #[error(
        "the output {output} and the input {input} overlap: choose an output folder outside the input"
    )]
    OutputInsideInput { output: PathBuf, input: PathBuf },

    #[error("cannot download {url}: {reason}")]
    Download { url: String, reason: String },

    #[error(
        "the losses became NaN or infinite at epoch {epoch}, iteration {iteration} ({losses}); training stopped and the last checkpoint was kept. Lower --lr or check the data"
    )]
    NonFiniteLoss {
        epoch: usize,
        iteration: usize,
        losses: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

//! A run folder, `<checkpoints_dir>/<name>/`, as training writes it and `test`, `translate` and
//! `export` read it: `<label>_net_G.bpk` and `<label>_net_D.bpk` (Burn's burnpack), the
//! optimisers' moments in `<label>_optim_G.bpk` / `_optim_D.bpk`, `<label>_state.json` (where
//! training stands) and `train_opt.json` (the options the run was started with). The label is
//! `latest` or an epoch number, as in the official code. Every file is written atomically.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::data::DataOptions;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::model::ModelOptions;

/// The label of the checkpoint that is always the newest.
pub const LATEST: &str = "latest";

/// Extension of Burn's native weight files.
pub const WEIGHTS_EXTENSION: &str = "bpk";

/// The file name of a run's options.
pub const OPTIONS_FILE: &str = "train_opt.json";

/// What inference reads of a run's `train_opt.json`: the networks and the data they were
/// trained on (training writes the schedule beside them).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct SavedRun {
    pub model: ModelOptions,
    pub data: DataOptions,
}

/// The files of one run folder.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/<label>_<part>`, e.g. `latest_net_G.bpk`.
    fn file(&self, label: &str, part: &str) -> PathBuf {
        self.dir.join(format!("{label}_{part}"))
    }

    /// `<label>_net_<network>.bpk`; `network` is `G` or `D`.
    pub fn network_file(&self, label: &str, network: &str) -> PathBuf {
        self.file(label, &format!("net_{network}.{WEIGHTS_EXTENSION}"))
    }

    fn optimizer_file(&self, label: &str, network: &str) -> PathBuf {
        self.file(label, &format!("optim_{network}.{WEIGHTS_EXTENSION}"))
    }

    fn state_file(&self, label: &str) -> PathBuf {
        self.file(label, "state.json")
    }

    pub fn save_network<M: Module>(&self, label: &str, network: &str, module: &M) -> Result<()> {
        save_module(&self.network_file(label, network), module)
    }

    pub fn load_network<M: Module>(&self, label: &str, network: &str, module: M) -> Result<M> {
        load_module(&self.network_file(label, network), module)
    }

    pub fn save_optimizer(
        &self,
        label: &str,
        network: &str,
        optimizer: &ModuleOptimizer,
    ) -> Result<()> {
        let path = self.optimizer_file(label, network);
        let bytes = optimizer.into_bytes().map_err(|e| corrupt(&path, e))?;
        write_atomic(&path, &bytes)
    }

    pub fn load_optimizer(
        &self,
        label: &str,
        network: &str,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer> {
        let path = self.optimizer_file(label, network);
        let record = OptimizerRecord::from_bytes(read(&path)?).map_err(|e| corrupt(&path, e))?;
        Ok(optimizer.load_record(record))
    }

    /// Writes `<label>_state.json`.
    pub fn save_state<S: Serialize>(&self, label: &str, state: &S) -> Result<()> {
        save_json(&self.state_file(label), state)
    }

    /// Whether checkpoint `label` was saved (its state file is written last).
    pub fn has_state(&self, label: &str) -> bool {
        self.state_file(label).is_file()
    }

    pub fn load_state<S: DeserializeOwned>(&self, label: &str) -> Result<S> {
        load_json(&self.state_file(label))
    }

    /// Writes `train_opt.json`.
    pub fn save_options<T: Serialize>(&self, options: &T) -> Result<()> {
        save_json(&self.dir.join(OPTIONS_FILE), options)
    }

    /// Reads `train_opt.json` as `T` (the run's whole options, or a part such as [`SavedRun`]).
    pub fn load_options<T: DeserializeOwned>(&self) -> Result<T> {
        load_json(&self.dir.join(OPTIONS_FILE))
    }

    /// Whether the folder holds `train_opt.json`.
    pub fn has_options(&self) -> bool {
        self.dir.join(OPTIONS_FILE).is_file()
    }
}

/// Writes a module as burnpack weights.
pub fn save_module<M: Module>(path: &Path, module: &M) -> Result<()> {
    // valid() folds pending batch-norm running-statistic updates into the saved values.
    let bytes = module
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| corrupt(path, e))?;
    write_atomic(path, &bytes)
}

/// Loads burnpack weights into `module`, which must have the file's parameters and shapes.
pub fn load_module<M: Module>(path: &Path, module: M) -> Result<M> {
    let record = ModuleRecord::from_bytes(read(path)?).map_err(|e| corrupt(path, e))?;
    module
        .try_load_record(record)
        .map_err(|e| Error::ArchitectureMismatch {
            path: path.to_path_buf(),
            differences: e.to_string(),
            fits: None,
        })
}

fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).expect("options and states serialise to JSON");
    write_atomic(path, &json)
}

fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    serde_json::from_slice(&read(path)?).map_err(|e| corrupt(path, e))
}

fn read(path: &Path) -> Result<Bytes> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Bytes::from_bytes_vec(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::MissingCheckpoint {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(Error::io(path, source)),
    }
}

fn corrupt(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

//! Checkpoints in `<checkpoints_dir>/<name>/`: `<label>_net_G.bpk` and `<label>_net_D.bpk`
//! (Burn's burnpack), the optimizers' moments in `<label>_optim_G.bpk` / `_optim_D.bpk`, and
//! `<label>_state.json` (epoch, position, iteration, scheduler state). The label is `latest` or
//! an epoch number, as in the official code. Every file is written atomically, and the state file
//! last: a checkpoint whose state file exists is complete.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use super::scheduler::PlateauState;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// Where training stands; with the seed, it also fixes every later random draw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The epoch in progress (1-based).
    pub epoch: usize,
    /// Samples of that epoch already trained on.
    pub position: usize,
    /// Samples trained on since the start of the run.
    pub total_iters: usize,
    pub plateau: PlateauState,
}

/// Extension of Burn's native weight files.
pub const WEIGHTS_EXTENSION: &str = "bpk";

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
    pub fn file(&self, label: &str, part: &str) -> PathBuf {
        self.dir.join(format!("{label}_{part}"))
    }

    pub fn network_file(&self, label: &str, network: &str) -> PathBuf {
        self.file(label, &format!("net_{network}.{WEIGHTS_EXTENSION}"))
    }

    pub fn save_network<M: Module>(&self, label: &str, network: &str, module: &M) -> Result<()> {
        let path = self.network_file(label, network);
        // valid() folds pending batch-norm running-statistic updates into the saved values.
        let bytes = module
            .valid()
            .into_record()
            .into_bytes()
            .map_err(|e| corrupt(&path, e))?;
        write_atomic(&path, &bytes, "--checkpoints_dir")
    }

    pub fn load_network<M: Module>(&self, label: &str, network: &str, module: M) -> Result<M> {
        let path = self.network_file(label, network);
        let record = ModuleRecord::from_bytes(read(&path)?).map_err(|e| corrupt(&path, e))?;
        module
            .try_load_record(record)
            .map_err(|e| Error::ArchitectureMismatch {
                path,
                differences: e.to_string(),
            })
    }

    pub fn save_optimizer(
        &self,
        label: &str,
        network: &str,
        optimizer: &ModuleOptimizer,
    ) -> Result<()> {
        let path = self.file(label, &format!("optim_{network}.{WEIGHTS_EXTENSION}"));
        let bytes = optimizer.into_bytes().map_err(|e| corrupt(&path, e))?;
        write_atomic(&path, &bytes, "--checkpoints_dir")
    }

    pub fn load_optimizer(
        &self,
        label: &str,
        network: &str,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer> {
        let path = self.file(label, &format!("optim_{network}.{WEIGHTS_EXTENSION}"));
        let record = OptimizerRecord::from_bytes(read(&path)?).map_err(|e| corrupt(&path, e))?;
        Ok(optimizer.load_record(record))
    }

    fn state_file(&self, label: &str) -> PathBuf {
        self.file(label, "state.json")
    }

    pub fn save_state(&self, label: &str, state: &TrainState) -> Result<()> {
        let json = serde_json::to_vec_pretty(state).expect("the state serialises to JSON");
        write_atomic(&self.state_file(label), &json, "--checkpoints_dir")
    }

    pub fn load_state(&self, label: &str) -> Result<TrainState> {
        let path = self.state_file(label);
        serde_json::from_slice(&read(&path)?).map_err(|e| corrupt(&path, e))
    }
}

fn read(path: &Path) -> Result<Bytes> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Bytes::from_bytes_vec(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::MissingCheckpoint {
            path: path.to_path_buf(),
            hint: "check --name, --checkpoints_dir and --epoch (the label of a saved checkpoint, \
                   e.g. latest or an epoch number)"
                .into(),
        }),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn corrupt(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

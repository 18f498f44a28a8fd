//! A run folder, `<checkpoints_dir>/<name>/`, as training writes it and `test`, `translate` and
//! `export` read it: `<label>_net_G.bpk` and `<label>_net_D.bpk` (Burn's burnpack), the
//! optimisers' moments in `<label>_optim_G.bpk` / `_optim_D.bpk`, `<label>_state.json` (where
//! training stands) and `train_opt.json` (the options the run was started with). The label is
//! `latest` or an epoch number, as in the official code.
//!
//! A save is one unit: its files are staged under `*.staged` names, then one atomic write of
//! `checkpoint_commit.json` switches to them all and the renames follow (finished by
//! [`Checkpoints::recover`] if a kill interrupts them). Whatever moment a process dies, the folder
//! holds the previous save or the new one complete, never a mix, at the official file names.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::prelude::Tensor;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::data::DataOptions;
use crate::error::{Error, Result};
use crate::fsutil::{
    create_dir, fault_point, rename_synced, sibling, sync_dir, write_atomic, write_synced,
};
use crate::model::ModelOptions;

/// The label of the checkpoint that is always the newest.
pub const LATEST: &str = "latest";

/// Extension of Burn's native weight files.
pub const WEIGHTS_EXTENSION: &str = "bpk";

/// The file name of a run's options.
pub const OPTIONS_FILE: &str = "train_opt.json";

/// Takes `file`'s exclusive lock, trying again for a moment while it is held: a reader of
/// [`Checkpoints::in_training`] holds it for microseconds, a training process for good.
fn try_lock_briefly(file: &std::fs::File) -> std::result::Result<(), std::fs::TryLockError> {
    for _ in 0..20 {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            done => return done,
        }
    }
    file.try_lock()
}

/// The file name of a run's loss log (a JSON object per line).
pub const LOSS_LOG: &str = "loss_log.jsonl";

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

    pub(crate) fn state_file(&self, label: &str) -> PathBuf {
        self.file(label, "state.json")
    }

    pub fn load_network<M: Module>(&self, label: &str, network: &str, module: M) -> Result<M> {
        load_module(&self.network_file(label, network), module)
    }

    /// Loads `network`'s optimizer state, refusing one whose moments are not for `module`'s
    /// parameters (D's file in G's place, another run's file): Burn would drop such state
    /// silently and restart Adam.
    pub fn load_optimizer<M: Module>(
        &self,
        label: &str,
        network: &str,
        optimizer: ModuleOptimizer,
        module: &M,
    ) -> Result<ModuleOptimizer> {
        let path = self.optimizer_file(label, network);
        let bytes = read(&path)?;
        let parameters = parameter_shapes(module);
        for (name, (id, shape)) in burnpack_tensors(&path)? {
            let expected = id.and_then(|id| parameters.get(&id));
            if expected != Some(&shape) {
                return Err(corrupt(
                    &path,
                    format!(
                        "its state {name} {shape:?} is for no parameter of {network}: is it \
                         another network's optimizer file (e.g. D's in G's place)?"
                    ),
                ));
            }
        }
        let record = OptimizerRecord::from_bytes(bytes).map_err(|e| corrupt(&path, e))?;
        Ok(optimizer.load_record(record))
    }

    /// Takes the run folder for one training process (creating the folder). The lock is the
    /// operating system's, on `train.lock`: it ends with the process however that dies, so a lock
    /// file left by a dead process is simply taken over.
    pub fn lock(&self) -> Result<RunLock> {
        create_dir(&self.dir)?;
        let path = self.dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| Error::unwritable(&path, source))?;
        match try_lock_briefly(&file) {
            Ok(()) => {
                // The holder's pid, for the message a second process gets.
                let pid = std::process::id().to_string();
                file.set_len(0)
                    .and_then(|()| (&file).write_all(pid.as_bytes()))
                    .map_err(|source| Error::unwritable(&path, source))?;
                Ok(RunLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::RunInUse {
                path: self.dir.clone(),
                pid: std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|pid| pid.trim().parse().ok()),
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::unwritable(&path, source)),
        }
    }

    /// Whether a training process holds the run folder now ([`Checkpoints::lock`]).
    pub fn in_training(&self) -> bool {
        let Ok(file) = std::fs::File::open(self.dir.join(LOCK_FILE)) else {
            return false;
        };
        // The shared lock taken when nobody trains is let go at once (the file is closed).
        matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    }

    /// Starts a save: its files are staged beside their final names until [`Save::commit`].
    pub fn begin_save(&self) -> Save<'_> {
        Save {
            checkpoints: self,
            renames: Vec::new(),
        }
    }

    /// Brings the folder to its last committed save: finishes the switch of a save whose commit
    /// was written (a kill or power cut during the renames), and removes what a save or write
    /// that never committed left behind (staged and temporary files). Idempotent; training calls
    /// it before it reads anything.
    pub fn recover(&self) -> Result<()> {
        let commit_path = self.dir.join(COMMIT_FILE);
        if commit_path.is_file() {
            let commit: Commit = load_json(&commit_path)?;
            self.roll_forward(&commit)?;
            remove(&commit_path)?;
        }
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(Error::io(&self.dir, source)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_some_and(is_leftover) && entry.path().is_file() {
                remove(&entry.path())?;
            }
        }
        sync_dir(&self.dir)
    }

    /// Renames each staged file of `commit` that is still there to its final name.
    fn roll_forward(&self, commit: &Commit) -> Result<()> {
        for (staged, current) in &commit.renames {
            let staged = self.entry(staged)?;
            if staged.is_file() {
                rename_synced(&staged, &self.entry(current)?)?;
                fault_point();
            }
        }
        Ok(())
    }

    /// `<dir>/<name>` for a file name read from a commit (never a path elsewhere).
    fn entry(&self, name: &str) -> Result<PathBuf> {
        if Path::new(name).file_name() != Some(std::ffi::OsStr::new(name)) {
            return Err(corrupt(
                &self.dir.join(COMMIT_FILE),
                format!("{name:?} is not a file name"),
            ));
        }
        Ok(self.dir.join(name))
    }

    /// Whether checkpoint `label` was saved.
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

/// The files of one save (networks, optimisers, states, for one label or several), staged beside
/// their final names and made current together by [`Save::commit`]. Dropped uncommitted, it
/// removes what it staged, and the previous save stays current.
pub struct Save<'a> {
    checkpoints: &'a Checkpoints,
    /// (staged, final) paths.
    renames: Vec<(PathBuf, PathBuf)>,
}

impl Save<'_> {
    /// Stages `<label>_net_<network>.bpk`.
    pub fn network<M: Module>(&mut self, label: &str, network: &str, module: &M) -> Result<()> {
        let path = self.checkpoints.network_file(label, network);
        let bytes = module_bytes(&path, module)?;
        self.stage(path, &bytes)
    }

    /// Stages `<label>_optim_<network>.bpk`.
    pub fn optimizer(
        &mut self,
        label: &str,
        network: &str,
        optimizer: &ModuleOptimizer,
    ) -> Result<()> {
        let path = self.checkpoints.optimizer_file(label, network);
        let bytes = optimizer.into_bytes().map_err(|e| corrupt(&path, e))?;
        self.stage(path, &bytes)
    }

    /// Stages `<label>_state.json`.
    pub fn state<S: Serialize>(&mut self, label: &str, state: &S) -> Result<()> {
        let path = self.checkpoints.state_file(label);
        self.stage(path, &json_bytes(state))
    }

    fn stage(&mut self, path: PathBuf, bytes: &[u8]) -> Result<()> {
        let staged = sibling(&path, STAGED_SUFFIX);
        write_synced(&staged, bytes)?;
        self.renames.push((staged, path));
        fault_point();
        Ok(())
    }

    /// Makes every staged file current at once. The switch is the atomic write of the commit
    /// file naming the renames: before it the previous save is current, after it this one is,
    /// and [`Checkpoints::recover`] finishes renames that a kill interrupted.
    pub fn commit(mut self) -> Result<()> {
        let dir = self.checkpoints.dir.clone();
        sync_dir(&dir)?;
        fault_point();
        let name = |path: &Path| -> String {
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into()
        };
        let commit = Commit {
            renames: self
                .renames
                .iter()
                .map(|(staged, current)| (name(staged), name(current)))
                .collect(),
        };
        let commit_path = dir.join(COMMIT_FILE);
        let pending = sibling(&commit_path, STAGED_SUFFIX);
        write_synced(&pending, &json_bytes(&commit))?;
        fault_point();
        rename_synced(&pending, &commit_path)?;
        fault_point();
        self.renames.clear();
        self.checkpoints.roll_forward(&commit)?;
        remove(&commit_path)?;
        sync_dir(&dir)?;
        fault_point();
        Ok(())
    }
}

impl Drop for Save<'_> {
    fn drop(&mut self) {
        for (staged, _) in &self.renames {
            let _ = std::fs::remove_file(staged);
        }
    }
}

/// A run folder held by this process (see [`Checkpoints::lock`]); released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// The file that keeps a second trainer out of a run folder.
const LOCK_FILE: &str = "train.lock";

/// The switch of a save: which staged files become which checkpoint files (names in the run
/// folder).
#[derive(Serialize, serde::Deserialize)]
struct Commit {
    renames: Vec<(String, String)>,
}

/// The file whose atomic appearance makes a save current.
const COMMIT_FILE: &str = "checkpoint_commit.json";

/// Appended to a file's name while it is staged.
const STAGED_SUFFIX: &str = ".staged";

/// A staged file of a save that never committed, or a temporary file of [`write_atomic`].
fn is_leftover(name: &str) -> bool {
    name.ends_with(STAGED_SUFFIX)
        || name
            .rsplit_once(".tmp")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::unwritable(path, e)),
        _ => Ok(()),
    }
}

/// Whether `path` is a file that training keeps in a run folder (weights, optimiser moments,
/// states, options, log, lock, commit) in a folder that holds a run: files that nothing but
/// training may write.
pub fn is_run_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let in_run = path.with_file_name(OPTIONS_FILE).is_file();
    in_run
        && (name.ends_with(&format!(".{WEIGHTS_EXTENSION}"))
            || name.ends_with("_state.json")
            || [OPTIONS_FILE, COMMIT_FILE, LOCK_FILE, LOSS_LOG].contains(&name))
}

/// Writes a module as burnpack weights (atomically).
pub fn save_module<M: Module>(path: &Path, module: &M) -> Result<()> {
    write_atomic(path, &module_bytes(path, module)?)
}

fn module_bytes<M: Module>(path: &Path, module: &M) -> Result<Bytes> {
    // valid() folds pending batch-norm running-statistic updates into the saved values.
    module
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| corrupt(path, e))
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
    write_atomic(path, &json_bytes(value))
}

fn json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("options, states and commits serialise to JSON")
}

fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    serde_json::from_slice(&read(path)?).map_err(|e| corrupt(path, e))
}

/// Each tensor of a burnpack file by name: its parameter id (if any) and shape.
type TensorIndex = BTreeMap<String, (Option<u64>, Vec<usize>)>;

/// The name, parameter id and shape of each tensor in a burnpack file (its data is not read).
fn burnpack_tensors(path: &Path) -> Result<TensorIndex> {
    if !path.is_file() {
        return Err(Error::MissingCheckpoint {
            path: path.to_path_buf(),
        });
    }
    let reader = burn_pack::Reader::from_file(path).map_err(|e| corrupt(path, e))?;
    let mut tensors = BTreeMap::new();
    for tensor in reader.into_tensors().map_err(|e| corrupt(path, e))? {
        let (name, _, shape, id, _) = tensor.into_parts().map_err(|e| corrupt(path, e))?;
        tensors.insert(name, (id, shape.to_vec()));
    }
    Ok(tensors)
}

/// The shape of each tensor in a burnpack file, by name (what `interop::detect_burnpack` reads).
pub fn tensor_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>> {
    let tensors = burnpack_tensors(path)?;
    Ok(tensors
        .into_iter()
        .map(|(name, (_, shape))| (name, shape))
        .collect())
}

/// Each float parameter's id and shape.
fn parameter_shapes<M: Module>(module: &M) -> HashMap<u64, Vec<usize>> {
    struct Shapes(HashMap<u64, Vec<usize>>);
    impl ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.insert(param.id.val(), param.lazy_shape().to_vec());
        }
    }
    let mut shapes = Shapes(HashMap::new());
    module.visit(&mut shapes);
    shapes.0
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

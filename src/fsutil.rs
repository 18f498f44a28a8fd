//! Atomic file writing: a crash or kill never leaves a half-written checkpoint, image or page, and
//! nothing is ever written over a device file, a FIFO or a folder. Whole output folders (the data
//! tools', `test`'s results) are written aside and switched into place as a unit ([`Staging`]).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path` and syncs
/// the folder. Refuses a `path` that exists and is not a regular file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = sibling(path, &format!(".tmp{}", std::process::id()));
    write_synced(&tmp, bytes)?;
    rename_synced(&tmp, path)
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `bytes` to a new file `path` (replacing a regular file there) and syncs it to disk.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    refuse_special(path)?;
    if let Some(dir) = parent(path) {
        create_dir(dir)?;
    }
    let result = (|| {
        let mut file = std::fs::File::create(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result.map_err(|source| Error::unwritable(path, source))
}

/// Renames `from` over `to`, then syncs the folder so that the rename survives a power cut.
pub(crate) fn rename_synced(from: &Path, to: &Path) -> Result<()> {
    let renamed = refuse_special(to)
        .and_then(|()| std::fs::rename(from, to).map_err(|source| Error::unwritable(to, source)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(from);
    }
    renamed?;
    sync_dir(parent(to).unwrap_or(Path::new(".")))
}

/// Syncs a folder's entries (new, renamed and removed files) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::unwritable(dir, source))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::unwritable(dir, source))
}

fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|d| !d.as_os_str().is_empty())
}

/// An error for an existing `path` that is not a regular file (device, FIFO, socket, folder):
/// replacing it would destroy something that is not ours.
fn refuse_special(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(Error::NotARegularFile {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

/// An output folder being written: files go to `.<name>.partial-<pid>` beside it until
/// [`Staging::finish`] switches it into place; dropped unfinished, it is removed. Leftovers of
/// processes that died (a SIGKILL runs no destructor) are removed by the next writer.
pub struct Staging {
    target: PathBuf,
    staging: PathBuf,
    replace: bool,
}

impl Staging {
    /// Checks that `target` may be written (absent, or `replace`) and is not inside any of
    /// `inputs` nor holds one, then creates the staging folder.
    pub fn new(target: &Path, inputs: &[&Path], replace: bool) -> Result<Self> {
        if target.exists() && !replace {
            return Err(Error::OutputExists {
                path: target.to_path_buf(),
            });
        }
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        for input in inputs {
            // Either way round is refused: writing into the input, or replacing a folder that
            // holds the input.
            let (out, inp) = (absolute(target), absolute(input));
            if out.starts_with(&inp) || inp.starts_with(&out) {
                return Err(Error::OutputInsideInput {
                    output: target.to_path_buf(),
                    input: input.to_path_buf(),
                });
            }
        }
        remove_dead_leftovers(target);
        let staging = leftover(target, "partial", std::process::id());
        let _ = std::fs::remove_dir_all(&staging);
        create_dir(&staging)?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            replace,
        })
    }

    /// Where to write: a path inside the staging folder.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.staging.join(relative)
    }

    /// Switches the staging folder into place. An old output is moved aside first and removed
    /// only once the new one is in place.
    pub fn finish(self) -> Result<PathBuf> {
        let old = leftover(&self.target, "replaced", std::process::id());
        let replacing = self.replace && self.target.exists();
        if replacing {
            std::fs::rename(&self.target, &old).map_err(|e| Error::unwritable(&self.target, e))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.target) {
            if replacing {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(Error::unwritable(&self.target, e));
        }
        sync_dir(parent(&self.target).unwrap_or(Path::new(".")))?;
        if replacing {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Unfinished (an error): remove what was written.
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

/// `.<name>.<kind>-<pid>` beside `target`.
fn leftover(target: &Path, kind: &str, pid: u32) -> PathBuf {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    target.with_file_name(format!(".{name}.{kind}-{pid}"))
}

/// Removes staging and replaced folders of `target` left by processes no longer running
/// (Linux's /proc tells; elsewhere they are left).
fn remove_dead_leftovers(target: &Path) {
    let alive =
        |pid: u32| !cfg!(target_os = "linux") || Path::new(&format!("/proc/{pid}")).exists();
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let Ok(entries) = std::fs::read_dir(parent(target).unwrap_or(Path::new("."))) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = ["partial", "replaced"].iter().find_map(|kind| {
            let rest = file.strip_prefix(&format!(".{name}.{kind}-"))?;
            rest.parse::<u32>().ok()
        });
        if let Some(pid) = pid
            && !alive(pid)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A test-only fault point: with `PIX2PIX_FAULT_AFTER=k` in the environment, the process aborts
/// right after its k-th checkpoint file operation, as a SIGKILL or power cut would stop it
/// (tests/crash.rs walks k over every step of a save).
pub(crate) fn fault_point() {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let limit = LIMIT.get_or_init(|| {
        std::env::var("PIX2PIX_FAULT_AFTER")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(limit) = *limit
        && COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == limit
    {
        std::process::abort();
    }
}

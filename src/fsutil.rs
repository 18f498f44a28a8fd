//! Atomic file writing: a crash or kill never leaves a half-written checkpoint, image or page, and
//! nothing is ever written over a device file, a FIFO or a folder.

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

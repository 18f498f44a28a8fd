//! Atomic file writing: a crash or kill never leaves a half-written checkpoint, image or page, and
//! nothing is ever written over a device file, a FIFO, a symbolic link or a folder. Whole output
//! folders (the data tools', `test`'s results) are written aside and switched into place as a unit
//! ([`Staging`]), and replace only a folder that the same command made.

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
    if let Some(dir) = parent(path) {
        create_dir(dir)?;
    }
    let mut file = open_for_writing(path, false)?;
    let result = file.write_all(bytes).and_then(|()| file.sync_all());
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

/// Creates `dir` and its parents. Where one of them exists and is not a folder, the error
/// names it and what it is.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| {
        not_a_folder_on_the_way(dir, true).unwrap_or_else(|| Error::unwritable(dir, source))
    })
}

/// The error for the first of `dir` and its parents that exists and is not a folder.
fn not_a_folder_on_the_way(dir: &Path, writing: bool) -> Option<Error> {
    dir.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find_map(|a| {
            let meta = std::fs::metadata(a).ok()?;
            (!meta.is_dir()).then(|| Error::WrongKind {
                path: a.to_path_buf(),
                found: kind_of(&meta),
                expected: "a folder",
                writing,
            })
        })
}

/// What `meta` describes, in words ("a FIFO", "a folder").
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else {
        "a regular file"
    }
}

/// An error unless `dir` is a folder (following links, as readers do): absent is
/// [`Error::MissingDataFolder`], a file where a folder was expected names what it is.
pub fn require_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(
        not_a_folder_on_the_way(dir, false).unwrap_or_else(|| Error::MissingDataFolder {
            path: dir.to_path_buf(),
        }),
    )
}

/// The folder of `path`, where it names one (not for a bare file name).
pub(crate) fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|d| !d.as_os_str().is_empty())
}

/// An error for an existing `path` that is not a regular file (device, FIFO, socket, folder,
/// symbolic link): replacing it would destroy something that is not ours, or write elsewhere.
pub(crate) fn refuse_special(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_file() => Err(Error::WrongKind {
            path: path.to_path_buf(),
            found: kind_of(&meta),
            expected: "a regular file",
            writing: true,
        }),
        _ => Ok(()),
    }
}

/// Opens `path` for writing without following a symbolic link there (the file is created if
/// absent); refuses anything but a regular file.
pub(crate) fn open_for_writing(path: &Path, append: bool) -> Result<std::fs::File> {
    refuse_special(path)?;
    let mut options = std::fs::OpenOptions::new();
    options
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append);
    // Non-blocking: a FIFO swapped in after the check above fails to open instead of waiting.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = options
        .open(path)
        .map_err(|source| Error::unwritable(path, source))?;
    // Whatever else was swapped in is opened, and never written.
    match file.metadata() {
        Ok(meta) if meta.is_file() => Ok(file),
        Ok(meta) => Err(Error::WrongKind {
            path: path.to_path_buf(),
            found: kind_of(&meta),
            expected: "a regular file",
            writing: true,
        }),
        Err(source) => Err(Error::unwritable(path, source)),
    }
}

/// Bytes free for an unprivileged writer on the file system that holds `dir` (None where
/// unknown).
#[cfg(feature = "download")]
pub fn available_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is NUL-terminated and `stats` is written by statvfs before it is read.
        let stats = unsafe {
            if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
                return None;
            }
            stats.assume_init()
        };
        #[allow(clippy::unnecessary_cast)]
        Some((stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// The file inside every output folder that says which command made it: `--force` replaces only
/// a folder whose mark names the same command (or an empty one), never a user's own folder.
pub const OUTPUT_MARK: &str = ".pix2pix-output";

/// The command that makes an output folder, and the names such a folder held before folders
/// carried a mark: a folder of only those names is taken as that command's.
#[derive(Clone, Copy, Debug)]
pub struct Maker {
    /// As the mark and the messages name it, e.g. "data combine".
    pub command: &'static str,
    pub unmarked: &'static [&'static str],
}

impl Maker {
    /// A command whose folders are recognised by their mark alone.
    pub const fn new(command: &'static str) -> Self {
        Self {
            command,
            unmarked: &[],
        }
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
    /// Checks that `target` may be written (absent, or with `replace` a folder that `made_by`
    /// made before, or an empty one) and is not inside any of `inputs` nor holds one, then
    /// creates the staging folder.
    pub fn new(target: &Path, inputs: &[&Path], replace: bool, made_by: Maker) -> Result<Self> {
        Self::check(target, replace, made_by)?;
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
        let staged = Self {
            target: target.to_path_buf(),
            staging,
            replace,
        };
        write_synced(
            &staged.path(OUTPUT_MARK),
            format!("{}\n", made_by.command).as_bytes(),
        )?;
        Ok(staged)
    }

    /// What [`Staging::new`] checks of `target`, for callers that check before long work.
    pub fn check(target: &Path, replace: bool, made_by: Maker) -> Result<()> {
        match std::fs::symlink_metadata(target) {
            Err(_) => Ok(()),
            Ok(meta) if !meta.is_dir() => Err(Error::WrongKind {
                path: target.to_path_buf(),
                found: kind_of(&meta),
                expected: "a folder",
                writing: true,
            }),
            Ok(_) if !replace => Err(Error::OutputExists {
                path: target.to_path_buf(),
            }),
            Ok(_) => ensure_made_by(target, made_by),
        }
    }

    /// Where to write: a path inside the staging folder.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.staging.join(relative)
    }

    /// Switches the staging folder into place. An old output is moved aside first and removed
    /// only once the new one is in place.
    pub fn finish(self) -> Result<PathBuf> {
        let old = leftover(&self.target, "replaced", std::process::id());
        let replacing = self.replace && std::fs::symlink_metadata(&self.target).is_ok();
        if replacing {
            std::fs::rename(&self.target, &old).map_err(|e| Error::unwritable(&self.target, e))?;
            // Whatever was swapped in since `new` checked it goes back untouched.
            let moved = std::fs::symlink_metadata(&old).map_err(|e| Error::unwritable(&old, e))?;
            if !moved.is_dir() {
                let _ = std::fs::rename(&old, &self.target);
                return Err(Error::WrongKind {
                    path: self.target.clone(),
                    found: kind_of(&moved),
                    expected: "a folder",
                    writing: true,
                });
            }
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

/// An error unless the folder `target` is `made_by`'s: its [`OUTPUT_MARK`] names the command,
/// or it holds only the names of an unmarked one (none: an empty folder).
fn ensure_made_by(target: &Path, made_by: Maker) -> Result<()> {
    let mark = std::fs::read_to_string(target.join(OUTPUT_MARK)).unwrap_or_default();
    let unmarked = std::fs::read_dir(target).is_ok_and(|entries| {
        entries.flatten().all(|entry| {
            let name = entry.file_name();
            made_by.unmarked.iter().any(|known| name == *known)
        })
    });
    if mark.trim() == made_by.command || unmarked {
        return Ok(());
    }
    Err(Error::NotOurOutput {
        path: target.to_path_buf(),
        made_by: made_by.command.to_string(),
        mark: OUTPUT_MARK,
    })
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

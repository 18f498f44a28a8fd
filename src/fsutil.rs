//! Atomic file writing: a crash or kill never leaves a half-written checkpoint, image or page.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`.
/// `option` names the flag that chose the folder, for the error message.
pub fn write_atomic(path: &Path, bytes: &[u8], option: &'static str) -> Result<()> {
    let unwritable = |source| Error::Unwritable {
        path: path.to_path_buf(),
        option,
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(unwritable)?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(unwritable)
}

/// Creates `dir` (and parents), with an error naming the option that chose it.
pub fn create_dir(dir: &Path, option: &'static str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Unwritable {
        path: dir.to_path_buf(),
        option,
        source,
    })
}

//! `data download`: the standard pix2pix datasets from the official server, with progress,
//! resumption of a partial download (HTTP Range), a check that the archive is complete, and
//! extraction into the official layout (`<to>/<name>/{train,val,test}`).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::Staging;
use crate::error::{Error, Result};
use crate::progress::{Progress, Unit};

/// The official server's folder of archives (`<name>.tar.gz`).
pub const OFFICIAL_BASE_URL: &str = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets";

/// Datasets the official server holds.
pub const DATASETS: [&str; 5] = [
    "facades",
    "maps",
    "edges2shoes",
    "edges2handbags",
    "night2day",
];

pub struct DownloadOptions {
    pub name: String,
    /// Folder that receives `<name>/` (and the archive while downloading).
    pub to: PathBuf,
    pub base_url: String,
    /// Replace an existing dataset folder.
    pub force: bool,
}

impl DownloadOptions {
    /// From the official server into `datasets/`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            to: PathBuf::from("datasets"),
            base_url: OFFICIAL_BASE_URL.into(),
            force: false,
        }
    }
}

fn failure(url: &str, reason: impl ToString) -> Error {
    Error::Download {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

/// Downloads, verifies and extracts; returns the dataset folder.
pub fn download(options: &DownloadOptions, progress: &dyn Progress) -> Result<PathBuf> {
    let name = options.name.as_str();
    if name == "cityscapes" {
        return Err(Error::NotRedistributed { name: name.into() });
    }
    if !DATASETS.contains(&name) {
        return Err(Error::UnknownDataset {
            name: name.into(),
            known: DATASETS.join(", "),
        });
    }
    let target = options.to.join(name);
    // Checked before any byte is fetched; Staging checks again when extracting.
    if target.exists() && !options.force {
        return Err(Error::OutputExists { path: target });
    }
    crate::fsutil::create_dir(&options.to)?;
    let url = format!("{}/{name}.tar.gz", options.base_url.trim_end_matches('/'));
    let archive = options.to.join(format!("{name}.tar.gz.part"));
    fetch(&url, &archive, progress)?;
    if let Err(reason) = verify(&archive) {
        let _ = std::fs::remove_file(&archive);
        return Err(failure(
            &url,
            format!(
                "the archive is incomplete or corrupt ({reason}); it was removed, run the command again"
            ),
        ));
    }
    let staging = Staging::new(&target, &[], options.force)?;
    extract(&archive, &staging.path(""), &url)?;
    // The official archives hold one folder named after the dataset.
    let inner = staging.path(name);
    if inner.is_dir() {
        let flat = staging.path(".flat");
        std::fs::rename(&inner, &flat).map_err(|e| Error::io(&inner, e))?;
        for entry in std::fs::read_dir(&flat).map_err(|e| Error::io(&flat, e))? {
            let entry = entry.map_err(|e| Error::io(&flat, e))?;
            let dest = staging.path(entry.file_name());
            std::fs::rename(entry.path(), &dest).map_err(|e| Error::io(&dest, e))?;
        }
        std::fs::remove_dir(&flat).map_err(|e| Error::io(&flat, e))?;
    }
    let folder = staging.finish()?;
    let _ = std::fs::remove_file(&archive);
    Ok(folder)
}

/// Fetches `url` into `part`, continuing from its current length when the server allows it. A
/// transfer that ends before the length the server announced is an error, and `part` keeps
/// what came for the next try.
pub(crate) fn fetch(url: &str, part: &Path, progress: &dyn Progress) -> Result<()> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = ureq::get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(response) => response,
        // Nothing left past what `part` holds: an earlier run received it all.
        Err(ureq::Error::StatusCode(416)) if have > 0 => return Ok(()),
        Err(error) => return Err(failure(url, error)),
    };
    let resumed = response.status() == 206;
    let remaining: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .map_err(|e| Error::io(part, e))?;
    let start = if resumed { have } else { 0 };
    progress.start(
        "download",
        Unit::Bytes,
        start + remaining.unwrap_or(0),
        start,
    );
    let mut reader = response.into_body().into_reader();
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    let ended = loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(error) => break Some(error.to_string()),
        };
        file.write_all(&buffer[..n])
            .map_err(|e| Error::io(part, e))?;
        received += n as u64;
        progress.advance(n as u64);
    };
    file.sync_all().map_err(|e| Error::io(part, e))?;
    progress.finish();
    let short = remaining.is_some_and(|length| received < length);
    if ended.is_some() || short {
        let expected = remaining.map_or("?".to_string(), |r| (start + r).to_string());
        return Err(failure(
            url,
            format!(
                "the transfer stopped after {} of {expected} bytes ({}); run the command \
                 again to continue it",
                start + received,
                ended.unwrap_or_else(|| "the connection closed".into())
            ),
        ));
    }
    Ok(())
}

/// Reads the whole gzip stream and every tar entry: a truncated or corrupt archive fails here.
fn verify(archive: &Path) -> std::result::Result<(), String> {
    let file = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut entries = 0;
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| e.to_string())?;
        entries += 1;
    }
    if entries == 0 {
        return Err("no files in it".into());
    }
    Ok(())
}

fn extract(archive: &Path, into: &Path, url: &str) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .map_err(|e| failure(url, format!("cannot extract the archive: {e}")))
}

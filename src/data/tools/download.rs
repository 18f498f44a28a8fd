//! `data download`: the standard pix2pix datasets from the official server, with progress,
//! resumption of a partial download (HTTP Range), a check that the archive is complete, and
//! extraction into the official layout (`<to>/<name>/{train,val,test}`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Staging;
use crate::error::{Error, Result};
use crate::fsutil::Maker;
use crate::progress::{Progress, Unit};

/// The official server's folder of archives (`<name>.tar.gz`).
pub const OFFICIAL_BASE_URL: &str = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets";

/// The command named in the dataset folder's output mark.
const MADE_BY: Maker = Maker::new("data download");

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
    pub limits: FetchLimits,
}

impl DownloadOptions {
    /// From the official server into `datasets/`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            to: PathBuf::from("datasets"),
            base_url: OFFICIAL_BASE_URL.into(),
            force: false,
            limits: FetchLimits::new(DATASET_MAX_BYTES),
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
    Staging::check(&target, options.force, MADE_BY)?;
    crate::fsutil::create_dir(&options.to)?;
    let url = format!("{}/{name}.tar.gz", options.base_url.trim_end_matches('/'));
    let archive = options.to.join(format!("{name}.tar.gz.part"));
    fetch(&url, &archive, &options.limits, progress)?;
    if let Err(reason) = verify(&archive) {
        let _ = std::fs::remove_file(&archive);
        return Err(failure(
            &url,
            format!(
                "the archive is incomplete or corrupt ({reason}); it was removed, run the command again"
            ),
        ));
    }
    // The images are stored compressed in the archive: unpacked, they take about as much again.
    let size = std::fs::metadata(&archive).map_or(0, |m| m.len());
    if let Some(free) = crate::fsutil::available_space(&options.to)
        && size > free
    {
        return Err(Error::NoSpace {
            path: options.to.clone(),
            needed: size,
            free,
        });
    }
    let staging = Staging::new(&target, &[], options.force, MADE_BY)?;
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

/// How long a download may stall and how large it may grow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FetchLimits {
    /// The longest wait to connect, for the answer, and for each read of the body.
    pub timeout: Duration,
    /// The most bytes the whole file may have.
    pub max_bytes: u64,
}

impl FetchLimits {
    /// A minute's silence ends a transfer; `max_bytes` is far above the largest file expected.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_bytes,
        }
    }

    /// An error for a limit of zero.
    pub fn validate(&self) -> Result<()> {
        if self.timeout.is_zero() {
            return Err(Error::InvalidOption {
                option: "timeout",
                reason: "must be at least 1 second".into(),
            });
        }
        if self.max_bytes == 0 {
            return Err(Error::InvalidOption {
                option: "max_size",
                reason: "must be at least 1 byte".into(),
            });
        }
        Ok(())
    }
}

/// The largest official dataset archive (edges2handbags) is about 8.6 GB.
pub const DATASET_MAX_BYTES: u64 = 32_000_000_000;

/// Fetches `url` into `part`, continuing from its current length when the server allows it. A
/// transfer that stalls or ends before the length the server announced is an error, and `part`
/// keeps what came for the next try. Nothing is written through a link at `part`, past
/// `limits.max_bytes`, or past the length the server declared; a declared length larger than the
/// free space is refused before a byte is written.
pub(crate) fn fetch(
    url: &str,
    part: &Path,
    limits: &FetchLimits,
    progress: &dyn Progress,
) -> Result<()> {
    limits.validate()?;
    crate::fsutil::refuse_special(part)?;
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > limits.max_bytes {
        let _ = std::fs::remove_file(part);
        return Err(Error::TooLarge {
            url: url.into(),
            size: have,
            limit: limits.max_bytes,
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_resolve(Some(limits.timeout))
        .timeout_connect(Some(limits.timeout))
        .timeout_send_request(Some(limits.timeout))
        .timeout_recv_response(Some(limits.timeout))
        .timeout_per_read(Some(limits.timeout))
        // Followed here, where a redirect to another scheme (file:) is refused by name.
        .max_redirects(0)
        .build()
        .into();
    let mut address = url.to_string();
    let mut redirects = 0;
    let response = loop {
        let mut request = agent.get(&address);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::StatusCode(416)) if have > 0 => {
                // Nothing left past what `part` holds: an earlier run received it all (what it
                // holds is checked by the caller).
                return Ok(());
            }
            Err(error) => return Err(failure(url, describe(&error, limits))),
        };
        if !response.status().is_redirection() {
            break response;
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(failure(url, format!("more than {MAX_REDIRECTS} redirects")));
        }
        address = redirect_target(&address, location).ok_or_else(|| {
            failure(
                url,
                format!("the server redirects to {location:?}, which is not an http(s) address"),
            )
        })?;
    };
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let remaining: Option<u64> = header("content-length").and_then(|v| v.trim().parse().ok());
    let resumed = response.status() == 206;
    if resumed {
        let range = header("content-range").unwrap_or_default();
        let fits = parse_content_range(&range).is_some_and(|(first, length)| {
            first == have && remaining.is_none_or(|remaining| remaining == length)
        });
        if !fits {
            return Err(failure(
                url,
                format!(
                    "the server answered bytes {have}- with \"Content-Range: {range}\", not the \
                     bytes asked for; remove {} to start again",
                    part.display()
                ),
            ));
        }
    }
    let start = if resumed { have } else { 0 };
    if let Some(remaining) = remaining {
        let total = start.saturating_add(remaining);
        if total > limits.max_bytes {
            return Err(Error::TooLarge {
                url: url.into(),
                size: total,
                limit: limits.max_bytes,
            });
        }
        let folder = crate::fsutil::parent(part).unwrap_or(Path::new("."));
        let rewritten = if resumed { 0 } else { have };
        if let Some(free) = crate::fsutil::available_space(folder)
            && remaining > free.saturating_add(rewritten)
        {
            return Err(Error::NoSpace {
                path: folder.to_path_buf(),
                needed: remaining,
                free,
            });
        }
    }
    let mut file = crate::fsutil::open_for_writing(part, resumed)?;
    progress.start(
        "download",
        Unit::Bytes,
        start.saturating_add(remaining.unwrap_or(0)),
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
        received += n as u64;
        if start + received > limits.max_bytes {
            progress.finish();
            drop(file);
            let _ = std::fs::remove_file(part);
            return Err(Error::TooLarge {
                url: url.into(),
                size: start + received,
                limit: limits.max_bytes,
            });
        }
        file.write_all(&buffer[..n])
            .map_err(|e| Error::unwritable(part, e))?;
        progress.advance(n as u64);
    };
    file.sync_all().map_err(|e| Error::unwritable(part, e))?;
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

/// The first byte and the length of a `Content-Range: bytes FIRST-LAST/TOTAL` header.
fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let range = value.trim().strip_prefix("bytes ")?;
    let (span, _total) = range.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let (first, last): (u64, u64) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    Some((first, last.checked_sub(first)?.checked_add(1)?))
}

/// Redirects followed before a download gives up.
const MAX_REDIRECTS: u32 = 10;

/// Where a redirect from `from` to `location` leads, when that is an http(s) address.
fn redirect_target(from: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let has_scheme = location.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let (scheme, rest) = from.split_once("://")?;
    let target = if has_scheme {
        location.to_string()
    } else if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        let authority = rest.split('/').next()?;
        format!("{scheme}://{authority}{location}")
    } else if location.is_empty() {
        return None;
    } else {
        let folder = from.rsplit_once('/').map_or(from, |(folder, _)| folder);
        format!("{folder}/{location}")
    };
    let lower = target.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then_some(target)
}

/// What went wrong, in the terms of the user's limits where one was reached.
fn describe(error: &ureq::Error, limits: &FetchLimits) -> String {
    match error {
        ureq::Error::Timeout(_) => format!(
            "no answer for {} s (the server or the network is stalled)",
            limits.timeout.as_secs()
        ),
        ureq::Error::BadUri(uri) => format!("a bad address {uri}"),
        other => other.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_like_a_browser_and_only_to_http() {
        let from = "http://host:8000/models/x.pth";
        for (location, expected) in [
            ("https://mirror/y.pth", Some("https://mirror/y.pth")),
            ("//mirror/y.pth", Some("http://mirror/y.pth")),
            ("/other/y.pth", Some("http://host:8000/other/y.pth")),
            ("y.pth", Some("http://host:8000/models/y.pth")),
            ("file:///etc/passwd", None),
            ("ftp://mirror/y.pth", None),
            ("", None),
        ] {
            assert_eq!(
                redirect_target(from, location).as_deref(),
                expected,
                "{location}"
            );
        }
    }

    #[test]
    fn content_ranges_give_first_byte_and_length() {
        assert_eq!(parse_content_range("bytes 4-9/10"), Some((4, 6)));
        assert_eq!(parse_content_range("bytes 4-9/*"), Some((4, 6)));
        assert_eq!(parse_content_range("bytes 9-4/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}

//! Fetching a pretrained generator (the `download` feature).

use std::path::PathBuf;

use super::{PretrainedRecord, SIDECAR, lookup};
use crate::data::tools::download::{FetchLimits, fetch};
use crate::error::{Error, Result};
use crate::fsutil::{create_dir, refuse_special, rename_synced, write_atomic};
use crate::interop::{Detected, detect, read_pth};
use crate::progress::Progress;

/// What [`download_pretrained`] fetches, and where to.
#[derive(Clone, Debug)]
pub struct PretrainedDownload {
    pub name: String,
    pub checkpoints_dir: PathBuf,
    pub base_url: String,
    /// Replace a generator already downloaded.
    pub force: bool,
    pub limits: FetchLimits,
}

/// The official generators are 200-220 MB; a unet_256 with ngf 256 would be about 870 MB.
pub const PRETRAINED_MAX_BYTES: u64 = 2_000_000_000;

/// Fetches a pretrained generator (continuing a partial download), checks that it holds a
/// pix2pix generator, and moves it into place with its sidecar; returns the run folder.
pub fn download_pretrained(
    options: &PretrainedDownload,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let model = lookup(&options.name)?;
    let dir = options
        .checkpoints_dir
        .join(format!("{}_pretrained", model.name));
    let target = dir.join("latest_net_G.pth");
    let part = dir.join("latest_net_G.pth.part");
    let sidecar = dir.join(SIDECAR);
    for path in [&target, &part, &sidecar] {
        refuse_special(path)?;
    }
    if target.exists() && !options.force {
        return Err(Error::OutputExists { path: target });
    }
    create_dir(&dir)?;
    let url = format!(
        "{}/{}.pth",
        options.base_url.trim_end_matches('/'),
        model.name
    );
    // A failure leaves no empty run folder behind (a partial file stays, to be continued).
    let keep_nothing_empty = |error: Error| {
        let _ = std::fs::remove_dir(&dir);
        error
    };
    fetch(&url, &part, &options.limits, progress).map_err(keep_nothing_empty)?;
    let holds = match read_pth(&part).map(|dict| detect(&dict)) {
        Ok(Detected::Generator(_)) => None,
        Ok(Detected::Discriminator(_)) => Some("a discriminator, not a generator".to_string()),
        Ok(Detected::Unknown(reason)) => Some(format!("not a pix2pix generator: {reason}")),
        Err(error) => Some(format!("not a readable PyTorch file: {error}")),
    };
    if let Some(reason) = holds {
        let _ = std::fs::remove_file(&part);
        return Err(keep_nothing_empty(Error::Download {
            url,
            reason: format!("{reason}; the file was removed"),
        }));
    }
    let record = PretrainedRecord {
        name: model.name.into(),
        dataset: model.dataset.into(),
        direction: model.direction,
        source: url,
    };
    let json = serde_json::to_string_pretty(&record).expect("the record serialises");
    // The sidecar first: a generator is never in place without its direction. A failed install
    // takes a new one away again (one already there describes the same model).
    let had_sidecar = sidecar.exists();
    write_atomic(&sidecar, json.as_bytes())?;
    if let Err(error) = rename_synced(&part, &target) {
        if !had_sidecar {
            let _ = std::fs::remove_file(&sidecar);
        }
        return Err(keep_nothing_empty(error));
    }
    Ok(dir)
}

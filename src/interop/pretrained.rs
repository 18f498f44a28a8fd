//! The official pretrained pix2pix generators by name, fetched as the official
//! `download_pix2pix_model.sh` does: `<base>/<name>.pth` into
//! `<checkpoints_dir>/<name>_pretrained/latest_net_G.pth`, where `test`, `translate` and `serve`
//! find them like any run. A sidecar file, `pretrained.json`, says which model it is and the
//! direction it was trained in, which `test` applies when none is given.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::Direction;
use crate::data::tools::download::{FetchLimits, fetch};
use crate::error::{Error, Result};
use crate::fsutil::{create_dir, refuse_special, rename_synced, write_atomic};
use crate::interop::{Detected, detect, read_pth};
use crate::progress::Progress;

/// The official folder of pretrained generators (the one the official script uses).
pub const OFFICIAL_MODELS_URL: &str = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch";

/// The sidecar file beside a downloaded generator.
pub const SIDECAR: &str = "pretrained.json";

/// One official pretrained generator (all are unet_256 with batch norm, 256x256 inputs).
#[derive(Clone, Copy, Debug)]
pub struct PretrainedModel {
    pub name: &'static str,
    /// The official dataset it was trained on, and the direction within it.
    pub dataset: &'static str,
    pub direction: Direction,
    /// What its input looks like, and what it makes.
    pub input: &'static str,
    pub output: &'static str,
}

/// The official models, with the directions of the official documentation.
pub const PRETRAINED: [PretrainedModel; 5] = [
    PretrainedModel {
        name: "edges2shoes",
        dataset: "edges2shoes",
        direction: Direction::AtoB,
        input: "black edges of a shoe on white",
        output: "a photo of the shoe",
    },
    PretrainedModel {
        name: "sat2map",
        dataset: "maps",
        direction: Direction::AtoB,
        input: "an aerial photo",
        output: "a Google Maps rendering",
    },
    PretrainedModel {
        name: "map2sat",
        dataset: "maps",
        direction: Direction::BtoA,
        input: "a Google Maps rendering",
        output: "an aerial photo",
    },
    PretrainedModel {
        name: "facades_label2photo",
        dataset: "facades",
        direction: Direction::BtoA,
        input: "a facade label map in the CMP Facades colours",
        output: "a photo of the facade",
    },
    PretrainedModel {
        name: "day2night",
        dataset: "night2day",
        direction: Direction::BtoA,
        input: "a daytime photo of an outdoor scene",
        output: "the scene at night",
    },
];

/// The model called `name`.
pub fn lookup(name: &str) -> Result<&'static PretrainedModel> {
    PRETRAINED
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::UnknownPretrained {
            name: name.into(),
            known: PRETRAINED.map(|m| m.name).join(", "),
        })
}

/// What the sidecar records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainedRecord {
    pub name: String,
    pub dataset: String,
    pub direction: Direction,
    /// The URL it was fetched from.
    pub source: String,
}

/// The record of a run folder that holds a downloaded pretrained model.
pub fn read_record(run_dir: &Path) -> Option<PretrainedRecord> {
    let text = std::fs::read_to_string(run_dir.join(SIDECAR)).ok()?;
    serde_json::from_str(&text).ok()
}

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

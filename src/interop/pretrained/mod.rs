//! The official pretrained pix2pix generators by name, fetched as the official
//! `download_pix2pix_model.sh` does: `<base>/<name>.pth` into
//! `<checkpoints_dir>/<name>_pretrained/latest_net_G.pth`, where `test`, `translate` and `serve`
//! find them like any run. A sidecar file, `pretrained.json`, says which model it is and the
//! direction it was trained in, which `test` applies when none is given.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::Direction;
use crate::error::{Error, Result};

#[cfg(feature = "download")]
mod download;
#[cfg(feature = "download")]
pub use download::{PRETRAINED_MAX_BYTES, PretrainedDownload, download_pretrained};

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

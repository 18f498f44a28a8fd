//! Paired data: the official aligned dataset (A|B side by side), its preprocessing, image
//! conversions, a prefetching loader, and the procedural dataset of the demo.

pub mod aligned;
pub mod image;
pub mod loader;
pub mod synthetic;
pub mod tools;
pub mod transform;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use aligned::AlignedDataset;
pub use loader::{Batch, BatchLoader, LoaderOptions};
pub use transform::Preprocess;

/// `--direction`: which half of each file is the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Direction {
    #[default]
    AtoB,
    BtoA,
}

crate::names::named_values!(Direction, "direction", {
    AtoB => "AtoB",
    BtoA => "BtoA",
});

/// Where the data is and how it is prepared (the official dataset options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataOptions {
    pub dataroot: PathBuf,
    pub phase: String,
    pub direction: Direction,
    pub preprocess: Preprocess,
    pub load_size: usize,
    pub crop_size: usize,
    /// Random horizontal flips (off with --no_flip).
    pub flip: bool,
    pub max_dataset_size: Option<usize>,
    /// Decoding and augmentation threads.
    pub num_threads: usize,
    /// Skip unreadable images with a warning instead of stopping.
    pub skip_bad: bool,
}

/// The largest image side resized to (`--load_size`, `--crop_size`, the data tools' sizes): a
/// 16384 x 16384 RGB image is 805 MB.
pub const MAX_SIDE: u32 = 16384;

/// Checks a side given by an option: from 1 to [`MAX_SIDE`] pixels, or none.
pub fn check_side(option: &'static str, size: Option<impl Into<u64>>) -> Result<()> {
    match size.map(Into::into) {
        Some(0) => Err(Error::InvalidOption {
            option,
            reason: "must be at least 1 pixel".into(),
        }),
        Some(s) if s > u64::from(MAX_SIDE) => Err(Error::InvalidOption {
            option,
            reason: format!("{s} is above the largest side supported, {MAX_SIDE}"),
        }),
        _ => Ok(()),
    }
}

impl DataOptions {
    /// Refuses sizes and counts no data set can be read with, before anything is allocated.
    pub fn validate(&self) -> Result<()> {
        check_side("crop_size", Some(self.crop_size as u64))?;
        check_side("load_size", Some(self.load_size as u64))?;
        if self.max_dataset_size == Some(0) {
            return Err(Error::InvalidOption {
                option: "max_dataset_size",
                reason: "must be at least 1 (leave it out to use every image)".into(),
            });
        }
        if self.num_threads > aligned::MAX_THREADS {
            return Err(Error::InvalidOption {
                option: "num_threads",
                reason: format!("{} is more than {}", self.num_threads, aligned::MAX_THREADS),
            });
        }
        Ok(())
    }
}

impl Default for DataOptions {
    fn default() -> Self {
        Self {
            dataroot: PathBuf::new(),
            phase: "train".into(),
            direction: Direction::AtoB,
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 286,
            crop_size: 256,
            flip: true,
            max_dataset_size: None,
            num_threads: 4,
            skip_bad: false,
        }
    }
}

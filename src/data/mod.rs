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

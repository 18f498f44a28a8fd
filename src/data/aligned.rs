//! The official aligned dataset: `<dataroot>/<phase>/` holds images with A on the left half and
//! B on the right half.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::image::{list_images, load_rgb, split_pair, to_chw};
use super::transform::Transform;
use super::{DataOptions, Direction};
use crate::error::{Error, Result};

/// One prepared pair: input and target as CHW floats in [-1, 1].
#[derive(Clone, Debug)]
pub struct Sample {
    pub input: Vec<f32>,
    pub target: Vec<f32>,
    pub height: usize,
    pub width: usize,
    pub path: PathBuf,
}

#[derive(Clone, Debug)]
pub struct AlignedDataset {
    files: Vec<PathBuf>,
    direction: Direction,
    transform: Transform,
    input_nc: usize,
    output_nc: usize,
}

/// The most loading threads: far more than any machine's cores, and few enough to start.
pub const MAX_THREADS: usize = 1024;

impl AlignedDataset {
    /// Lists `<dataroot>/<phase>/`. `train` decides whether crops and flips are random
    /// (at test time load_size = crop_size and nothing is flipped, as the official test does).
    pub fn open(options: &DataOptions, input_nc: usize, output_nc: usize) -> Result<Self> {
        options.validate()?;
        let dir = options.dataroot.join(&options.phase);
        crate::fsutil::require_dir(&dir)?;
        let mut files = list_images(&dir)?;
        if let Some(max) = options.max_dataset_size {
            files.truncate(max);
        }
        if files.is_empty() {
            return Err(Error::EmptyDataFolder { path: dir });
        }
        Ok(Self {
            files,
            direction: options.direction,
            transform: Transform {
                preprocess: options.preprocess,
                load_size: options.load_size as u32,
                crop_size: options.crop_size as u32,
                flip: options.flip,
            },
            input_nc,
            output_nc,
        })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Channels of the input side.
    pub fn input_nc(&self) -> usize {
        self.input_nc
    }

    /// Channels of the target side.
    pub fn output_nc(&self) -> usize {
        self.output_nc
    }

    pub fn path(&self, index: usize) -> &Path {
        &self.files[index]
    }

    /// Loads and prepares pair `index`, with the random draw taken from `seed`.
    pub fn get(&self, index: usize, seed: u64) -> Result<Sample> {
        let path = &self.files[index];
        let pair = load_rgb(path)?;
        if pair.width() < 2 {
            return Err(Error::BadImage {
                path: path.clone(),
                reason: "too narrow to hold an A|B pair".into(),
            });
        }
        let (a, b) = split_pair(&pair);
        let (input, target) = match self.direction {
            Direction::AtoB => (a, b),
            Direction::BtoA => (b, a),
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let params = self.transform.draw(input.width(), input.height(), &mut rng);
        let input = self.transform.apply(&input, params);
        let target = self.transform.apply(&target, params);
        let crop = self.transform.crop_size;
        if self.transform.crops() && (input.width() < crop || input.height() < crop) {
            return Err(Error::ImageTooSmall {
                path: path.clone(),
                width: input.width(),
                height: input.height(),
                crop_size: crop,
            });
        }
        if target.dimensions() != input.dimensions() {
            return Err(Error::BadImage {
                path: path.clone(),
                reason: format!(
                    "its halves differ in size after preprocessing ({:?} and {:?})",
                    input.dimensions(),
                    target.dimensions()
                ),
            });
        }
        Ok(Sample {
            height: input.height() as usize,
            width: input.width() as usize,
            input: to_chw(&input, self.input_nc),
            target: to_chw(&target, self.output_nc),
            path: path.clone(),
        })
    }
}

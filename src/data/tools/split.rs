//! `data split`: train/val/test folders from one folder of A|B images, reproducibly (a seeded
//! shuffle of the sorted file list). Files are copied; the input is left as it is.

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{Maker, Staging, for_each_with_progress, input_images};
use crate::error::{Error, Result};
use crate::progress::Progress;

pub struct SplitOptions {
    pub input: PathBuf,
    pub out: PathBuf,
    /// Fractions of the images for val and test; the rest is train.
    pub val: f64,
    pub test: f64,
    pub seed: u64,
    /// Replace an existing output folder.
    pub force: bool,
}

impl SplitOptions {
    /// A tenth each for val and test, seed 0.
    pub fn new(input: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            input: input.into(),
            out: out.into(),
            val: 0.1,
            test: 0.1,
            seed: 0,
            force: false,
        }
    }
}

/// Where a split went, with the images per phase.
#[derive(Clone, Debug)]
pub struct SplitReport {
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub out: PathBuf,
}

impl std::fmt::Display for SplitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: train {}, val {}, test {}",
            self.out.display(),
            self.train,
            self.val,
            self.test
        )
    }
}

/// Copies the images into train/, val/ and test/ folders.
pub fn split(options: &SplitOptions, progress: &dyn Progress) -> Result<SplitReport> {
    for (option, value) in [("val", options.val), ("test", options.test)] {
        if !(0.0..1.0).contains(&value) {
            return Err(Error::InvalidOption {
                option,
                reason: format!("{value} is not a fraction in [0, 1)"),
            });
        }
    }
    if options.val + options.test >= 1.0 {
        return Err(Error::InvalidOption {
            option: "val",
            reason: format!(
                "val {} and test {} leave nothing for train",
                options.val, options.test
            ),
        });
    }
    let mut files = input_images(&options.input)?;
    files.shuffle(&mut StdRng::seed_from_u64(options.seed));
    let n = files.len();
    let n_test = (n as f64 * options.test).round() as usize;
    let n_val = ((n as f64 * options.val).round() as usize).min(n - n_test);
    let n_train = n - n_test - n_val;
    let staging = Staging::new(
        &options.out,
        &[&options.input],
        options.force,
        Maker::new("data split"),
    )?;
    let jobs: Vec<(PathBuf, &str)> = files
        .into_iter()
        .enumerate()
        .map(|(i, file)| {
            let phase = if i < n_train {
                "train"
            } else if i < n_train + n_val {
                "val"
            } else {
                "test"
            };
            (file, phase)
        })
        .collect();
    for phase in ["train", "val", "test"] {
        crate::fsutil::create_dir(&staging.path(phase))?;
    }
    for_each_with_progress(&jobs, "split", progress, |(file, phase)| {
        let target = staging
            .path(phase)
            .join(file.file_name().unwrap_or_default());
        std::fs::copy(file, &target)
            .map(|_| ())
            .map_err(|e| Error::io(&target, e))
    })?;
    Ok(SplitReport {
        train: n_train,
        val: n_val,
        test: n_test,
        out: staging.finish()?,
    })
}

//! `pix2pix demo`: the whole workflow on a procedural dataset, with no download: make
//! labels -> rendering pairs, train a small U-Net on CPU, test it, and return the results page.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use burn::prelude::*;

use crate::checkpoint::LATEST;
use crate::data::synthetic::write_split;
use crate::data::{DataOptions, Preprocess};
use crate::error::{Error, Result};
use crate::infer::ModelOverrides;
use crate::infer::{GeneratorSource, TestOptions, TestSummary, load_generator, test};
use crate::model::{GeneratorArch, ModelOptions};
use crate::train::{RunOptions, TrainObserver, TrainOptions, TrainSummary, train};

#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Holds datasets/, checkpoints/ and results/.
    pub dir: PathBuf,
    /// Side of each half image (a power of two >= 32).
    pub size: u32,
    pub train_images: usize,
    pub test_images: usize,
    pub n_epochs: usize,
    pub n_epochs_decay: usize,
    pub ngf: usize,
    pub batch_size: usize,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("pix2pix-demo"),
            size: 64,
            train_images: 200,
            test_images: 20,
            n_epochs: 8,
            n_epochs_decay: 8,
            ngf: 32,
            batch_size: 4,
            seed: 0,
        }
    }
}

pub struct DemoSummary {
    pub dataroot: PathBuf,
    pub train: TrainSummary,
    pub test: Option<TestSummary>,
}

pub const DEMO_NAME: &str = "shapes_demo";

/// The largest demo images and the most training pairs: beyond them the dataset alone takes
/// minutes to write and gigabytes of disk.
const MAX_SIZE: u32 = 1024;
const MAX_IMAGES: usize = 100_000;

impl DemoOptions {
    /// Refuses sizes and counts the demo cannot make a dataset of, before anything is written.
    pub fn validate(&self) -> Result<()> {
        let invalid = |option, reason: String| Err(Error::InvalidOption { option, reason });
        if !self.size.is_power_of_two() || !(32..=MAX_SIZE).contains(&self.size) {
            return invalid(
                "size",
                format!(
                    "{} is not a power of two from 32 to {MAX_SIZE} (e.g. 64)",
                    self.size
                ),
            );
        }
        for (option, count) in [
            ("train_images", self.train_images),
            ("test_images", self.test_images),
        ] {
            if !(1..=MAX_IMAGES).contains(&count) {
                return invalid(option, format!("{count} is not from 1 to {MAX_IMAGES}"));
            }
        }
        Ok(())
    }

    /// The options of the demo's training run: the official defaults scaled to small images.
    pub fn run_options(&self) -> RunOptions {
        let dataroot = self.dir.join("datasets").join("shapes");
        RunOptions {
            model: ModelOptions {
                net_g: GeneratorArch::Unet {
                    num_downs: self.size.trailing_zeros() as usize,
                },
                ngf: self.ngf,
                ndf: self.ngf,
                ..ModelOptions::default()
            },
            data: DataOptions {
                dataroot,
                load_size: (self.size as usize * 286).div_ceil(256),
                crop_size: self.size as usize,
                preprocess: Preprocess::ResizeAndCrop,
                ..DataOptions::default()
            },
            train: TrainOptions {
                name: DEMO_NAME.into(),
                checkpoints_dir: self.dir.join("checkpoints"),
                n_epochs: self.n_epochs,
                n_epochs_decay: self.n_epochs_decay,
                seed: self.seed,
                // A batch of no more pairs than there are.
                batch_size: self.batch_size.min(self.train_images).max(1),
                display_freq: self.train_images,
                print_freq: 50,
                ..TrainOptions::default()
            },
        }
    }
}

/// Writes the dataset (train and test splits) unless it is already there.
pub fn prepare_dataset(options: &DemoOptions) -> Result<PathBuf> {
    options.validate()?;
    let dataroot = options.run_options().data.dataroot;
    for (phase, count, seed) in [
        ("train", options.train_images, options.seed),
        ("test", options.test_images, options.seed.wrapping_add(1)),
    ] {
        let dir = dataroot.join(phase);
        let present = crate::data::image::list_images(&dir).map_or(0, |f| f.len());
        if present != count {
            write_split(&dir, count, options.size, seed)?;
        }
    }
    Ok(dataroot)
}

/// Runs the demo. A stop request ends training early with a resumable checkpoint and skips test.
pub fn run(
    options: &DemoOptions,
    device: &Device,
    stop: &AtomicBool,
    observer: &mut dyn TrainObserver,
) -> Result<DemoSummary> {
    let dataroot = prepare_dataset(options)?;
    let run = options.run_options();
    let trained = train(&run, device, None, stop, observer)?;
    if trained.interrupted {
        return Ok(DemoSummary {
            dataroot,
            train: trained,
            test: None,
        });
    }
    let loaded = load_generator(
        &GeneratorSource::Run {
            dir: run.train.run_dir(),
            epoch: LATEST.into(),
        },
        &ModelOverrides::default(),
        false,
        device,
    )?;
    let summary = test(
        &TestOptions {
            name: run.train.name.clone(),
            epoch: LATEST.into(),
            results_dir: options.dir.join("results"),
            data: DataOptions {
                phase: "test".into(),
                ..run.data.clone()
            },
            num_test: 0,
            eval: false,
            seed: options.seed,
        },
        &loaded,
        device,
    )?;
    Ok(DemoSummary {
        dataroot,
        train: trained,
        test: Some(summary),
    })
}

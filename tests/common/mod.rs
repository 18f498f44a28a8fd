//! Helpers shared by the integration tests: tiny procedural datasets and options.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use pix2pix::data::synthetic::write_split;
use pix2pix::data::{DataOptions, Preprocess};
use pix2pix::model::{GeneratorArch, ModelOptions};
use pix2pix::options::{RunOptions, TrainOptions};

/// A dataroot with `train` and `test` phases of `size` x `size` label | rendering pairs.
pub fn dataset(root: &Path, size: u32, train: usize, test: usize) -> PathBuf {
    let dataroot = root.join("shapes");
    write_split(&dataroot.join("train"), train, size, 1).unwrap();
    write_split(&dataroot.join("test"), test, size, 2).unwrap();
    dataroot
}

/// unet_32, ngf/ndf 8, 32x32 crops without resizing: small enough for many steps in a test.
pub fn tiny_options(root: &Path, dataroot: &Path, name: &str) -> RunOptions {
    RunOptions {
        model: ModelOptions {
            net_g: GeneratorArch::Unet { num_downs: 5 },
            ngf: 8,
            ndf: 8,
            ..ModelOptions::default()
        },
        data: DataOptions {
            dataroot: dataroot.to_path_buf(),
            load_size: 32,
            crop_size: 32,
            preprocess: Preprocess::ResizeAndCrop,
            num_threads: 2,
            ..DataOptions::default()
        },
        train: TrainOptions {
            name: name.into(),
            checkpoints_dir: root.join("checkpoints"),
            n_epochs: 1,
            n_epochs_decay: 0,
            display_freq: 16,
            print_freq: 8,
            save_latest_freq: 0,
            ..TrainOptions::default()
        },
    }
}

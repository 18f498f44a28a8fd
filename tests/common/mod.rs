//! Helpers shared by the integration tests: tiny procedural datasets and options.
#![allow(dead_code)]

#[cfg(feature = "serve")]
pub mod browser;
#[cfg(feature = "serve")]
pub mod server;

use std::path::{Path, PathBuf};

use pix2pix::data::synthetic::write_split;
use pix2pix::data::{DataOptions, Preprocess};
use pix2pix::model::{GeneratorArch, ModelOptions};
use pix2pix::train::{RunOptions, TrainOptions};

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

/// A file of tests/fixtures/parity (written by PyTorch, scripts/reference/generate.py).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name)
}

/// Runs the real binary in `cwd`.
pub fn pix2pix(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pix2pix"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success, showing both streams otherwise.
pub fn ok(output: std::process::Output) -> std::process::Output {
    assert!(
        output.status.success(),
        "failed:\nstdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    output
}

/// Asserts a clean failure (no panic) whose output holds every needle; returns that output.
pub fn fails_with(output: std::process::Output, needles: &[&str]) -> String {
    assert!(
        !output.status.success(),
        "should fail; stdout: {}",
        stdout(&output)
    );
    let all = format!("{}{}", stdout(&output), stderr(&output));
    for needle in needles {
        assert!(all.contains(needle), "output lacks {needle:?}: {all}");
    }
    assert!(
        !all.contains("panicked"),
        "a panic instead of an error: {all}"
    );
    all
}

/// Official spellings of the flags, on a tiny network.
pub const TINY: &[&str] = &[
    "--netG",
    "unet_32",
    "--ngf",
    "8",
    "--ndf",
    "8",
    "--load_size",
    "32",
    "--crop_size",
    "32",
];

/// Trains the tiny network on `<dir>/shapes` for two epochs, with `extra` flags last (they win).
pub fn train_tiny(dir: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--dataroot",
        "shapes",
        "--name",
        name,
        "--n_epochs",
        "1",
        "--n_epochs_decay",
        "1",
        "--batch_size",
        "2",
        "--display_freq",
        "4",
    ];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    pix2pix(&args, dir)
}

/// Whether a check that needs `what` (named by the environment variable `variable`) can run:
/// the variable's value when set; otherwise the check is skipped locally with a one-line
/// message, and fails where the environment variable CI is set (a skipped check must never
/// pass CI).
pub fn requirement(variable: &str, what: &str) -> Option<String> {
    if let Ok(value) = std::env::var(variable) {
        return Some(value);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {variable} is not: this check needs {what}"
    );
    eprintln!("skipped: {variable} is not set (this check needs {what})");
    None
}

//! The options of a training run, saved as `train_opt.json` beside the checkpoints so that
//! `test` and `translate` rebuild the same networks without architecture options.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::LrPolicy;
use crate::backend::Precision;
use crate::data::DataOptions;
use crate::error::{Error, Result};
use crate::loss::GanMode;
use crate::model::ModelOptions;

/// Training schedule, objective and bookkeeping (the official train options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub name: String,
    pub checkpoints_dir: PathBuf,
    pub n_epochs: usize,
    pub n_epochs_decay: usize,
    /// The first epoch's number (official --epoch_count).
    pub epoch_count: usize,
    pub lr: f64,
    pub beta1: f64,
    pub lr_policy: LrPolicy,
    pub lr_decay_iters: usize,
    pub gan_mode: GanMode,
    pub lambda_l1: f64,
    /// The adversarial term; false trains G with L1 alone (the paper's "L1" ablation).
    pub use_gan: bool,
    pub batch_size: usize,
    pub seed: u64,
    pub save_epoch_freq: usize,
    /// Also save `latest` every this many iterations (samples); 0 = only at epoch ends.
    pub save_latest_freq: usize,
    /// Refresh the training web page every this many iterations (samples).
    pub display_freq: usize,
    /// Append the losses to loss_log.jsonl every this many iterations (samples).
    pub print_freq: usize,
    /// The convolutions' arithmetic (mixed precision); absent in older runs' files: f32.
    #[serde(default)]
    pub precision: Precision,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            name: "experiment_name".into(),
            checkpoints_dir: "checkpoints".into(),
            n_epochs: 100,
            n_epochs_decay: 100,
            epoch_count: 1,
            lr: 2e-4,
            beta1: 0.5,
            lr_policy: LrPolicy::Linear,
            lr_decay_iters: 50,
            gan_mode: GanMode::Vanilla,
            lambda_l1: 100.0,
            use_gan: true,
            batch_size: 1,
            seed: 0,
            save_epoch_freq: 5,
            save_latest_freq: 5000,
            display_freq: 400,
            print_freq: 100,
            precision: Precision::default(),
        }
    }
}

impl TrainOptions {
    /// `<checkpoints_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.checkpoints_dir.join(&self.name)
    }

    pub fn last_epoch(&self) -> usize {
        self.n_epochs + self.n_epochs_decay
    }
}

/// Everything a training run was started with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    pub model: ModelOptions,
    pub data: DataOptions,
    pub train: TrainOptions,
}

impl RunOptions {
    /// Checks combinations that would fail later, with the option to change.
    pub fn validate(&self) -> Result<()> {
        let invalid = |option, reason: String| Err(Error::InvalidOption { option, reason });
        let m = &self.model;
        for (option, value) in [("input_nc", m.input_nc), ("output_nc", m.output_nc)] {
            if value != 1 && value != 3 {
                return invalid(option, format!("{value} channels: images have 1 or 3"));
            }
        }
        for (option, value) in [
            ("ngf", m.ngf),
            ("ndf", m.ndf),
            ("batch_size", self.train.batch_size),
            ("crop_size", self.data.crop_size),
            ("load_size", self.data.load_size),
        ] {
            if value == 0 {
                return invalid(option, "must be at least 1".into());
            }
        }
        if m.n_layers_d == 0 {
            return invalid("n_layers_D", "must be at least 1".into());
        }
        if self.data.preprocess.crops_to_crop_size()
            && let Some(reason) = m.net_g.unsuitable_side(self.data.crop_size)
        {
            return invalid("crop_size", reason);
        }
        if self.data.load_size < self.data.crop_size
            && self.data.preprocess == crate::data::Preprocess::ResizeAndCrop
        {
            return invalid(
                "load_size",
                format!(
                    "{} is smaller than crop_size {}: load_size must be at least crop_size",
                    self.data.load_size, self.data.crop_size
                ),
            );
        }
        if !(self.train.lr > 0.0 && self.train.lr.is_finite()) {
            return invalid("lr", "must be a positive number".into());
        }
        Ok(())
    }
}

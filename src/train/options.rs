//! The options of a training run, saved as `train_opt.json` beside the checkpoints so that
//! `test` and `translate` rebuild the same networks without architecture options.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::LrPolicy;
use crate::backend::Precision;
use crate::data::DataOptions;
use crate::error::{Error, OptionChange, Result};
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
        m.validate()?;
        self.data.validate()?;
        let t = &self.train;
        for (option, value) in [("batch_size", t.batch_size), ("epoch_count", t.epoch_count)] {
            if value == 0 {
                return invalid(option, "must be at least 1".into());
            }
        }
        match t.n_epochs.checked_add(t.n_epochs_decay) {
            None => return invalid("n_epochs", "n_epochs + n_epochs_decay is too large".into()),
            Some(0) => {
                return invalid(
                    "n_epochs",
                    "with n_epochs_decay 0 there is no epoch to train".into(),
                );
            }
            Some(_) => {}
        }
        if t.epoch_count > t.last_epoch() {
            return invalid(
                "epoch_count",
                format!(
                    "{} is past the schedule's last epoch, n_epochs + n_epochs_decay = {}: \
                     nothing would be trained",
                    t.epoch_count,
                    t.last_epoch()
                ),
            );
        }
        if !(t.lambda_l1.is_finite() && t.lambda_l1 >= 0.0) {
            return invalid("lambda_L1", "must be a number of 0 or more".into());
        }
        if !(0.0..1.0).contains(&t.beta1) {
            return invalid("beta1", format!("{} is not in [0, 1)", t.beta1));
        }
        if self.data.preprocess.crops_to_crop_size() {
            let side = self.data.crop_size;
            let discriminator = || {
                self.train
                    .use_gan
                    .then(|| m.unsuitable_discriminator_side(side))
                    .flatten()
            };
            if let Some(reason) = m.net_g.unsuitable_side(side).or_else(discriminator) {
                return invalid("crop_size", reason);
            }
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

impl RunOptions {
    /// Every option by its official name, with its value as the flag reads it (`no_dropout`
    /// false where dropout is on; "none" for an absent value): the command line's help states
    /// the defaults' values, and a test holds it to these.
    pub fn official_values(&self) -> Vec<(&'static str, String)> {
        flatten(self)
            .into_iter()
            .map(|(key, value)| {
                let (option, negated, _) = describe(&key);
                (option, shown(Some(&value), negated))
            })
            .collect()
    }

    /// What resuming this saved run as `resumed` (its options with the given flags applied)
    /// changes: the schedule, logging and resource options that may change, or
    /// [`Error::OptionConflict`] naming every option whose new value would change what the run
    /// computes (the networks, the data and its augmentation, the objective, the seed).
    pub fn resume_changes(&self, resumed: &RunOptions) -> Result<Vec<OptionChange>> {
        let (saved, given) = (flatten(self), flatten(resumed));
        let mut changes = Vec::new();
        let mut conflicts = Vec::new();
        for (key, value) in &given {
            let before = saved.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            if before == Some(value) {
                continue;
            }
            let (option, negated, on_resume) = describe(key);
            let change = OptionChange {
                option,
                saved: shown(before, negated),
                given: shown(Some(value), negated),
            };
            match on_resume {
                OnResume::Fixed => conflicts.push(change),
                OnResume::Free => changes.push(change),
                OnResume::Located => {}
                OnResume::Folder => {
                    let folder = |v: Option<&Value>| {
                        std::fs::canonicalize(v.and_then(Value::as_str).unwrap_or_default())
                    };
                    match (folder(before), folder(Some(value))) {
                        (Ok(saved), Ok(given)) if saved == given => {}
                        // The data moved: where it is now is the user's to say.
                        (Err(_), _) => changes.push(change),
                        _ => conflicts.push(change),
                    }
                }
            }
        }
        if conflicts.is_empty() {
            Ok(changes)
        } else {
            Err(Error::OptionConflict {
                path: resumed.train.run_dir(),
                conflicts,
            })
        }
    }
}

/// How an option of a saved run may change when the run resumes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum OnResume {
    /// It changes what the run computes: another value is an error.
    Fixed,
    /// Schedule, logging and resources: it may change.
    Free,
    /// Where the run is: taken from where it was found.
    Located,
    /// A folder of data: the same folder however it is spelled; another one only where the saved
    /// one is gone.
    Folder,
}

/// train_opt.json's keys, the official option each is, whether that option is the negation of
/// the key (`dropout` is set by `--no_dropout`), and how it may change on resume.
const OPTIONS: &[(&str, &str, bool, OnResume)] = {
    use OnResume::{Fixed, Folder, Free, Located};
    &[
        ("model.input_nc", "input_nc", false, Fixed),
        ("model.output_nc", "output_nc", false, Fixed),
        ("model.ngf", "ngf", false, Fixed),
        ("model.ndf", "ndf", false, Fixed),
        ("model.net_g", "netG", false, Fixed),
        ("model.net_d", "netD", false, Fixed),
        ("model.n_layers_d", "n_layers_D", false, Fixed),
        ("model.norm", "norm", false, Fixed),
        ("model.dropout", "no_dropout", true, Fixed),
        ("model.init.init_type", "init_type", false, Fixed),
        ("model.init.gain", "init_gain", false, Fixed),
        ("model.conditional_d", "unconditional", true, Fixed),
        ("data.dataroot", "dataroot", false, Folder),
        ("data.phase", "phase", false, Fixed),
        ("data.direction", "direction", false, Fixed),
        ("data.preprocess", "preprocess", false, Fixed),
        ("data.load_size", "load_size", false, Fixed),
        ("data.crop_size", "crop_size", false, Fixed),
        ("data.flip", "no_flip", true, Fixed),
        ("data.max_dataset_size", "max_dataset_size", false, Fixed),
        ("data.num_threads", "num_threads", false, Free),
        ("data.skip_bad", "skip_bad", false, Free),
        ("train.name", "name", false, Located),
        ("train.checkpoints_dir", "checkpoints_dir", false, Located),
        ("train.n_epochs", "n_epochs", false, Free),
        ("train.n_epochs_decay", "n_epochs_decay", false, Free),
        ("train.epoch_count", "epoch_count", false, Free),
        ("train.lr", "lr", false, Free),
        ("train.beta1", "beta1", false, Fixed),
        ("train.lr_policy", "lr_policy", false, Free),
        ("train.lr_decay_iters", "lr_decay_iters", false, Free),
        ("train.gan_mode", "gan_mode", false, Fixed),
        ("train.lambda_l1", "lambda_L1", false, Fixed),
        ("train.use_gan", "no_gan", true, Fixed),
        ("train.batch_size", "batch_size", false, Fixed),
        ("train.seed", "seed", false, Fixed),
        ("train.save_epoch_freq", "save_epoch_freq", false, Free),
        ("train.save_latest_freq", "save_latest_freq", false, Free),
        ("train.display_freq", "display_freq", false, Free),
        ("train.print_freq", "print_freq", false, Free),
        ("train.precision", "precision", false, Free),
    ]
};

/// A saved value as the user would type it (a negated option's bool flipped).
fn shown(value: Option<&Value>, negated: bool) -> String {
    match value {
        None | Some(Value::Null) => "none".to_string(),
        Some(Value::Bool(b)) => (b ^ negated).to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The official name of train_opt.json's `key`, whether it is negated, and how it may change.
/// Every key is in [`OPTIONS`] (a test checks it); an unknown one is held fixed.
fn describe(key: &str) -> (&'static str, bool, OnResume) {
    OPTIONS
        .iter()
        .find(|(k, ..)| *k == key)
        .map(|&(_, option, negated, on_resume)| (option, negated, on_resume))
        .unwrap_or(("an option unknown to this version", false, OnResume::Fixed))
}

/// The options as (dotted key, value) pairs, e.g. ("model.init.gain", 0.02).
fn flatten(options: &RunOptions) -> Vec<(String, Value)> {
    fn walk(prefix: String, value: Value, into: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(fields) => {
                for (key, value) in fields {
                    let key = if prefix.is_empty() {
                        key
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(key, value, into);
                }
            }
            leaf => into.push((prefix, leaf)),
        }
    }
    let mut pairs = Vec::new();
    let value = serde_json::to_value(options).expect("options serialise to JSON");
    walk(String::new(), value, &mut pairs);
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_saved_option_has_an_official_name_and_a_rule() {
        for (key, _) in flatten(&RunOptions::default()) {
            assert!(OPTIONS.iter().any(|(k, ..)| *k == key), "{key}");
        }
    }

    #[test]
    fn a_data_folder_is_compared_as_a_folder_not_as_a_spelling() {
        let root = tempfile::tempdir().unwrap();
        let (data, other) = (root.path().join("data"), root.path().join("other"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let with = |dataroot: PathBuf| {
            let mut options = RunOptions::default();
            options.data.dataroot = dataroot;
            options
        };
        let saved = with(data.clone());
        let same = with(root.path().join("other/../data"));
        assert_eq!(saved.resume_changes(&same).unwrap().len(), 0);
        assert!(saved.resume_changes(&with(other.clone())).is_err());
        // Moved: the saved folder is gone, the new one is taken and shown.
        let gone = with(root.path().join("moved-away"));
        let changes = gone.resume_changes(&with(other)).unwrap();
        assert_eq!(changes[0].option, "dataroot");
    }

    #[test]
    fn resuming_shows_schedule_changes_and_refuses_what_changes_the_run() {
        let saved = RunOptions::default();
        let mut resumed = saved.clone();
        resumed.train.n_epochs = 20;
        resumed.train.name = "moved".into();
        let changes = saved.resume_changes(&resumed).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (
                changes[0].option,
                changes[0].saved.as_str(),
                changes[0].given.as_str()
            ),
            ("n_epochs", "100", "20")
        );

        resumed.train.seed = 7;
        resumed.data.flip = false;
        let Err(Error::OptionConflict { conflicts, .. }) = saved.resume_changes(&resumed) else {
            panic!("a new seed and --no_flip change the run");
        };
        let shown: Vec<String> = conflicts.iter().map(|c| c.to_string()).collect();
        assert!(
            shown.contains(&"seed (checkpoint: 0, given: 7)".to_string()),
            "{shown:?}"
        );
        assert!(
            shown.contains(&"no_flip (checkpoint: false, given: true)".to_string()),
            "{shown:?}"
        );
    }
}

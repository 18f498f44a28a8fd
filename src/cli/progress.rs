//! Progress bars (indicatif) for the library's progress reports: one bar per job, and one per
//! training epoch.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use pix2pix::progress::{Progress, Unit};
use pix2pix::train::{TrainEvent, TrainObserver};

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the template is valid")
        .progress_chars("=> ")
}

/// A bar per job, cleared when the job ends.
#[derive(Default)]
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn current(&self) -> Option<ProgressBar> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, unit: Unit, total: u64, done: u64) {
        let template = match unit {
            Unit::Items => "{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}",
            Unit::Bytes => "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        };
        let bar = ProgressBar::new(total).with_style(style(template));
        bar.set_prefix(label.to_string());
        bar.set_position(done);
        bar.reset_eta();
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    fn advance(&self, amount: u64) {
        if let Some(bar) = self.current() {
            bar.inc(amount);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current() {
            bar.finish_and_clear();
        }
    }
}

/// A bar per epoch, left on screen with the epoch's mean losses.
#[derive(Default)]
pub struct EpochBars {
    bar: Option<ProgressBar>,
}

impl TrainObserver for EpochBars {
    fn observe(&mut self, event: &TrainEvent) {
        match *event {
            TrainEvent::EpochStarted {
                epoch,
                last_epoch,
                samples,
                position,
            } => {
                let bar = ProgressBar::new(samples as u64);
                bar.set_style(style(
                    "epoch {prefix} [{bar:25}] {pos}/{len} {per_sec} ETA {eta} {msg}",
                ));
                bar.set_prefix(format!("{epoch}/{last_epoch}"));
                bar.set_position(position as u64);
                bar.reset_eta();
                self.bar = Some(bar);
            }
            TrainEvent::Step { position, losses } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(position as u64);
                    bar.set_message(losses.to_string());
                }
            }
            TrainEvent::EpochFinished {
                means, lr, elapsed, ..
            } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_with_message(format!(
                        "{} | lr {lr:.2e} | {:.1}s",
                        means.map(|m| m.to_string()).unwrap_or_default(),
                        elapsed.as_secs_f64()
                    ));
                }
            }
            TrainEvent::Stopped => {
                if let Some(bar) = self.bar.take() {
                    bar.abandon_with_message("stopped; saved a resumable checkpoint");
                }
            }
        }
    }
}

impl Drop for EpochBars {
    /// A run that ended in an error leaves its bar as it was.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

//! Progress for the library's reports: a bar per job (indicatif), and for training a bar per
//! epoch on a terminal or the official log's lines elsewhere.

use std::io::IsTerminal;
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

/// How a training run is shown: on a terminal, a bar per epoch; elsewhere (a log file, nohup,
/// CI, a notebook), where bars are not drawn, the official log's lines on stdout.
pub struct TrainReport {
    bars: Option<EpochBars>,
}

impl TrainReport {
    pub fn new() -> Self {
        let bars = std::io::stderr().is_terminal().then(EpochBars::default);
        Self { bars }
    }
}

impl TrainObserver for TrainReport {
    fn observe(&mut self, event: &TrainEvent) {
        match &mut self.bars {
            Some(bars) => bars.observe(event),
            None => {
                if let Some(line) = log_line(event) {
                    println!("{line}");
                }
            }
        }
    }
}

/// The line the official code prints for `event`, where it prints one.
fn log_line(event: &TrainEvent) -> Option<String> {
    match *event {
        TrainEvent::EpochStarted {
            epoch,
            last_epoch,
            samples,
            position,
        } => (position > 0).then(|| {
            format!("epoch {epoch} / {last_epoch}: resuming at image {position} of {samples}")
        }),
        TrainEvent::Step { .. } => None,
        TrainEvent::Logged {
            line,
            compute,
            data,
        } => {
            let l = &line.losses;
            Some(format!(
                "(epoch: {}, iters: {}, time: {compute:.3}, data: {data:.3}) G_GAN: {:.3} \
                 G_L1: {:.3} D_real: {:.3} D_fake: {:.3}",
                line.epoch, line.epoch_iter, l.G_GAN, l.G_L1, l.D_real, l.D_fake
            ))
        }
        TrainEvent::EpochFinished {
            epoch,
            last_epoch,
            lr,
            elapsed,
            ..
        } => Some(format!(
            "End of epoch {epoch} / {last_epoch} \t Time Taken: {} sec \t learning rate {lr:.7}",
            elapsed.as_secs()
        )),
        TrainEvent::Stopped => Some("stopped; saved a resumable checkpoint".into()),
    }
}

/// A bar per epoch, left on screen with the epoch's mean losses.
#[derive(Default)]
struct EpochBars {
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
            TrainEvent::Logged { .. } => {}
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

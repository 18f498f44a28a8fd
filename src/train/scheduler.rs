//! Learning-rate policies of the official code (`--lr_policy`), as a factor of the initial rate
//! for each 1-based epoch.

use serde::{Deserialize, Serialize};

/// `--lr_policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LrPolicy {
    /// Constant for n_epochs, then linear decay to zero over n_epochs_decay (the default).
    #[default]
    Linear,
    /// x0.1 every lr_decay_iters epochs.
    Step,
    /// x0.2 after 5 epochs without a 1% improvement of the epoch's mean G loss.
    Plateau,
    /// Cosine annealing to zero over n_epochs.
    Cosine,
}

crate::names::named_values!(LrPolicy, "lr policy", {
    Linear => "linear",
    Step => "step",
    Plateau => "plateau",
    Cosine => "cosine",
});

/// The state of the plateau policy, saved with the checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    pub best: Option<f64>,
    pub bad_epochs: usize,
    pub factor: Option<f64>,
}

const PLATEAU_PATIENCE: usize = 5;
const PLATEAU_THRESHOLD: f64 = 0.01;
const PLATEAU_DECAY: f64 = 0.2;
const STEP_DECAY: f64 = 0.1;

#[derive(Clone, Debug)]
pub struct Scheduler {
    pub policy: LrPolicy,
    pub n_epochs: usize,
    pub n_epochs_decay: usize,
    pub epoch_count: usize,
    pub lr_decay_iters: usize,
}

impl Scheduler {
    /// The factor for 1-based `epoch`; `plateau` holds the plateau policy's state.
    pub fn factor(&self, epoch: usize, plateau: &PlateauState) -> f64 {
        let elapsed = epoch.saturating_sub(self.epoch_count) as f64;
        match self.policy {
            LrPolicy::Linear => {
                1.0 - (epoch as f64 - self.n_epochs as f64).max(0.0)
                    / (self.n_epochs_decay as f64 + 1.0)
            }
            LrPolicy::Step => {
                STEP_DECAY.powi((elapsed / self.lr_decay_iters.max(1) as f64).floor() as i32)
            }
            LrPolicy::Plateau => plateau.factor.unwrap_or(1.0),
            LrPolicy::Cosine => {
                (1.0 + (std::f64::consts::PI * elapsed / self.n_epochs.max(1) as f64).cos()) / 2.0
            }
        }
    }

    /// Feeds the plateau policy the epoch's metric (lower is better).
    pub fn observe(&self, metric: f64, plateau: &mut PlateauState) {
        if self.policy != LrPolicy::Plateau || !metric.is_finite() {
            return;
        }
        match plateau.best {
            Some(best) if metric >= best * (1.0 - PLATEAU_THRESHOLD) => {
                plateau.bad_epochs += 1;
                if plateau.bad_epochs > PLATEAU_PATIENCE {
                    plateau.factor = Some(plateau.factor.unwrap_or(1.0) * PLATEAU_DECAY);
                    plateau.bad_epochs = 0;
                }
            }
            _ => {
                plateau.best = Some(metric);
                plateau.bad_epochs = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler(policy: LrPolicy) -> Scheduler {
        Scheduler {
            policy,
            n_epochs: 100,
            n_epochs_decay: 100,
            epoch_count: 1,
            lr_decay_iters: 50,
        }
    }

    #[test]
    fn linear_keeps_the_rate_then_decays_to_near_zero() {
        let s = scheduler(LrPolicy::Linear);
        let p = PlateauState::default();
        assert_eq!(s.factor(1, &p), 1.0);
        assert_eq!(s.factor(100, &p), 1.0);
        assert!((s.factor(101, &p) - (1.0 - 1.0 / 101.0)).abs() < 1e-12);
        assert!((s.factor(200, &p) - 1.0 / 101.0).abs() < 1e-12);
    }

    #[test]
    fn step_and_cosine_follow_pytorch() {
        let p = PlateauState::default();
        let step = scheduler(LrPolicy::Step);
        assert_eq!(step.factor(50, &p), 1.0);
        assert!((step.factor(51, &p) - 0.1).abs() < 1e-12);
        let cosine = scheduler(LrPolicy::Cosine);
        assert!((cosine.factor(51, &p) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn plateau_decays_after_patience() {
        let s = scheduler(LrPolicy::Plateau);
        let mut p = PlateauState::default();
        s.observe(1.0, &mut p);
        for _ in 0..=PLATEAU_PATIENCE {
            s.observe(1.0, &mut p);
        }
        assert!((s.factor(10, &p) - PLATEAU_DECAY).abs() < 1e-12);
    }
}

//! B-MM's mixer (docs/methods.md §1): measures each modality's contribution on the clean batch
//! with the recipe's estimator, keeps their moving average (checkpointed), and splits the folded
//! λ into per-modality ratios λ_m and a label ratio λ_y from the relative contributions. The
//! ratios themselves are the pure functions of [`crate::mixup::balanced`].

use super::mixer::{MixAt, Mixer};
use crate::mixup::config::{BalanceSection, Contribution, Draw};
use crate::mixup::contribution::{self, ContributionEma};
use crate::mixup::{plan, Draws, MixPlan};

/// B-MM with its contribution average.
pub struct Bmm {
    cfg: Draw,
    balance: BalanceSection,
    ema: ContributionEma,
}

impl Bmm {
    /// From a validated `[mixup]` with `method = "bmm"` and its balance settings.
    pub fn new(cfg: Draw, balance: BalanceSection) -> Bmm {
        Bmm {
            cfg,
            ema: ContributionEma::new(balance.ema),
            balance,
        }
    }
}

impl Mixer for Bmm {
    fn settings(&self) -> &Draw {
        &self.cfg
    }

    fn at(&self) -> Option<MixAt> {
        Some(MixAt::Encoder)
    }

    fn contribution(&self) -> Contribution {
        self.balance.contribution
    }

    fn observe(&mut self, c: &[f64]) -> (Option<Vec<f64>>, Option<Vec<f64>>) {
        let average = self.ema.update(c).to_vec();
        (Some(contribution::relative(&average)), Some(average))
    }

    fn plan(&self, draws: Draws, modalities: usize, relative: Option<&[f64]>) -> MixPlan {
        plan::plan(draws, modalities, Some(&self.balance), relative)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.ema).unwrap_or(serde_json::Value::Null)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.ema = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mixup::config::{MixupMethod, MixupSection};

    /// The contribution average survives a checkpoint: a restored mixer continues exactly as
    /// the original, and a state of the wrong shape is refused.
    #[test]
    fn restored_state_continues_the_average_exactly() {
        let cfg = MixupSection {
            method: MixupMethod::Bmm,
            fold: true,
            ..MixupSection::default()
        };
        let balance = BalanceSection::default();
        let mut a = Bmm::new(cfg.draw(), balance.clone());
        a.observe(&[0.9, 0.3]);
        a.observe(&[0.7, 0.5]);
        let mut b = Bmm::new(cfg.draw(), balance);
        b.restore(&a.state()).unwrap();
        assert_eq!(b.state(), a.state());
        assert_eq!(a.observe(&[0.2, 0.6]), b.observe(&[0.2, 0.6]));
        assert!(b.restore(&serde_json::json!("not a state")).is_err());
    }
}

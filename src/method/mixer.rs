//! Where and how a batch is mixed: the mixer part of the [`super::standard`] method. A mixer
//! turns the step's random draws ([`crate::mixup::plan::draw`]) into a [`MixPlan`] and says
//! where it applies — to the inputs, the fused feature, or each encoder's output — so the step
//! never asks which mixup method it runs. This file holds the mixers without state: none,
//! input mixup and MM; B-MM, which tracks contributions, is [`super::bmm`].

use crate::mixup::config::{Contribution, Draw};
use crate::mixup::{plan, Draws, MixPlan};

/// Where a plan is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixAt {
    /// The raw inputs of every modality, before encoding (one λ for all modalities).
    Input,
    /// The fused feature.
    Fused,
    /// Each modality's encoder output, with its own λ_m.
    Encoder,
}

/// A mixing strategy.
pub trait Mixer {
    /// Where this mixer mixes; `None` when it never does.
    fn at(&self) -> Option<MixAt>;

    /// The settings its draws follow (α, λ granularity, fold, probability, window).
    fn settings(&self) -> &Draw;

    /// This step's random draws (`None` when the mixer never mixes, or the batch is not mixed).
    fn draw(&self, seed: u64, step: u64, epoch: usize, n: usize) -> Option<Draws> {
        self.at()
            .and_then(|_| plan::draw(seed, step, epoch, n, self.settings()))
    }

    /// The contribution estimator measured on the clean batch (and reported in the metrics).
    /// Default: confidence, OGM-GE's score.
    fn contribution(&self) -> Contribution {
        Contribution::Confidence
    }

    /// Fold this step's clean contributions into the mixer's state. Returns the relative
    /// contributions its plan uses and the running average to record (both `None` for a
    /// mixer without state).
    fn observe(&mut self, _contribution: &[f64]) -> (Option<Vec<f64>>, Option<Vec<f64>>) {
        (None, None)
    }

    /// The plan for this step's draws.
    fn plan(&self, draws: Draws, modalities: usize, relative: Option<&[f64]>) -> MixPlan;

    /// State for checkpoints.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restore [`Mixer::state`].
    fn restore(&mut self, _state: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}

/// No mixing, input mixup and MM: one λ per sample for every modality and the label.
pub struct Uniform {
    at: Option<MixAt>,
    cfg: Draw,
}

impl Uniform {
    /// A stateless mixer applying its plans at `at` (none: never mixes).
    pub fn new(at: Option<MixAt>, cfg: Draw) -> Uniform {
        Uniform { at, cfg }
    }
}

impl Mixer for Uniform {
    fn settings(&self) -> &Draw {
        &self.cfg
    }

    fn at(&self) -> Option<MixAt> {
        self.at
    }

    fn plan(&self, draws: Draws, modalities: usize, _relative: Option<&[f64]>) -> MixPlan {
        plan::plan(draws, modalities, None, None)
    }
}

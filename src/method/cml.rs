//! CML, calibrating multimodal learning (Ma et al., ICML 2023), as BalanceBenchmark's
//! `CML_trainer.py` (4c1482f) runs it (docs/methods.md §3).
//!
//! At each epoch's start the modality order is shuffled (the `modality-order` stream, indexed by
//! epoch). In each step inside the method's window, modalities are removed one at a time from
//! the end of that order, M − 1 times: the partial logits after removing a set R are the fused
//! logits less Σ_{r ∈ R} z_r W_rᵀ — the released `out_s − u_r + b/M`, which keeps the whole bias,
//! and equals the head on the fused features with the removed modalities' features zeroed
//! (concat or sum fusion). With conf the largest softmax probability of a row, each removal adds
//! a calibration hinge between the logits before it (s) and after it (p): on the batch sum
//! max(0, Σ_i (conf_p,i − conf_s,i)) as released, or per sample Σ_i max(0, conf_p,i − conf_s,i).
//! The loss is (CE(full) + Σ CE(partial)) / M + λ · Σ hinges; outside the window, CE(full).
//! Prediction is the fused head.

use super::engine::{StepContext, StepError, StepStats};
use super::hooks::{state_from_json, state_json};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::{EpochContext, Method};
use crate::epoch_window::EpochWindow;
use crate::model::params::{Matrix, Tape};
use crate::model::Backend;
use crate::rng::{stream, Stream};
use dfdx::prelude::*;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// CML's λ (BalanceBenchmark's `lam` in configs/trainer_config.yaml).
pub const CML_LAMBDA: f64 = 0.1;

/// `[method]` with `kind = "cml"`: the keys CML takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CmlConfig {
    /// cml: λ ≥ 0, the weight of the calibration hinge. Default `0.1` (BalanceBenchmark's
    /// `lam`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    /// cml: where the hinge is taken. Default `"batch-sum"`: max(0, Σ_i (conf_p − conf_s)) over
    /// the batch, as released; `"per-sample"`: Σ_i max(0, conf_p − conf_s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hinge: Option<CmlHinge>,
    /// cml: epochs `[start, stop)` whose steps add the partial losses and hinges; other steps
    /// take CE(full). Default: every epoch (the released window is epochs 0–80 inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
}

/// Where CML's calibration hinge is taken.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CmlHinge {
    /// max(0, Σ_i (conf_p,i − conf_s,i)): the released `conf_loss` (Python's `max` of 0 and a
    /// batch sum).
    #[default]
    BatchSum,
    /// Σ_i max(0, conf_p,i − conf_s,i): the paper's per-sample constraint.
    PerSample,
}

/// CML's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CmlSettings {
    /// λ.
    pub lambda: f64,
    /// Where the hinge is taken.
    pub hinge: CmlHinge,
    /// Epochs whose steps use the calibrated loss.
    pub window: EpochWindow,
}

impl CmlConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<CmlSettings, ConfigProblem> {
        cx.needs_split_head(cx.modalities >= 2)?;
        let lambda = *self.lambda.get_or_insert(CML_LAMBDA);
        ConfigProblem::in_range("lambda", lambda, "[0, ∞)", |v| v >= 0.0)?;
        let window = ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, cx.epochs)?;
        Ok(CmlSettings {
            lambda,
            hinge: *self.hinge.get_or_insert_default(),
            window,
        })
    }
}

/// The checkpointed state: this epoch's modality order (removals pop from its end).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CmlState {
    /// The modalities, as indices, in this epoch's shuffled order.
    pub order: Vec<usize>,
}

/// CML with its settings and this epoch's modality order.
pub struct Cml {
    settings: CmlSettings,
    state: CmlState,
}

impl Cml {
    /// CML with `settings`, before any epoch.
    pub fn new(settings: CmlSettings) -> Cml {
        Cml {
            settings,
            state: CmlState::default(),
        }
    }
}

/// The modality order of `epoch`: 0..M shuffled by the `modality-order` stream.
pub fn modality_order(seed: u64, epoch: usize, modalities: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..modalities).collect();
    order.shuffle(&mut stream(seed, Stream::ModalityOrder, epoch as u64));
    order
}

/// The hinge between confidences `before` and `after` (each `n`, taped) as `hinge` says;
/// `None` when the batch sum is not positive (the released `max(0, ·)` returns a constant 0).
pub fn hinge<D: Backend>(
    before: Tensor<(usize,), f32, D, Tape<D>>,
    after: Tensor<(usize,), f32, D, Tape<D>>,
    hinge: CmlHinge,
) -> Option<Tensor<(), f32, D, Tape<D>>> {
    let diff = after - before;
    match hinge {
        CmlHinge::BatchSum => {
            let sum = diff.sum::<(), _>();
            (sum.as_vec()[0] > 0.0).then_some(sum)
        }
        CmlHinge::PerSample => Some(diff.relu().sum::<(), _>()),
    }
}

/// The largest softmax probability of each row of `logits`.
fn confidence<D: Backend>(logits: Matrix<D, Tape<D>>) -> Tensor<(usize,), f32, D, Tape<D>> {
    logits.softmax::<Axis<1>>().max::<(usize,), Axis<1>>()
}

impl OwnStep for CmlSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Cml::new(*self))
    }
}

impl<D: Backend> Method<D> for Cml {
    fn epoch_start(&mut self, cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        self.state.order = modality_order(cx.seed, cx.epoch, cx.data.modalities.len());
        Ok(())
    }

    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        let m_count = cx.modalities();
        let host = cx.host_batch()?;
        let zs = cx.encode(host);
        let unimodal = cx.model.unimodal(&zs);
        let n = cx.n();
        let dev = cx.model.store.dev.clone();
        // The head on the fused features with the modalities in `removed` zeroed (each use a
        // fresh branch on the features' tapes).
        let logits_without = |zs: &[Matrix<D, Tape<D>>], removed: &[usize]| {
            let inputs = zs
                .iter()
                .enumerate()
                .map(|(m, z)| match removed.contains(&m) {
                    true => dev.zeros_like(&(n, z.shape().1)).retaped::<Tape<D>>(),
                    false => z.retaped::<Tape<D>>(),
                })
                .collect();
            cx.model.head(cx.model.fuse(inputs))
        };
        let inside = self.settings.window.contains(cx.epoch);
        let mut extra: Option<Tensor<(), f32, D, Tape<D>>> = None;
        if inside {
            if self.state.order.len() != m_count {
                return Err(StepError::Contract(format!(
                    "cml's modality order {:?} does not name the {m_count} modalities",
                    self.state.order
                )));
            }
            let mut removed: Vec<usize> = Vec::new();
            let lambda = self.settings.lambda as f32;
            for &r in self.state.order.iter().rev().take(m_count - 1) {
                let before = confidence(logits_without(&zs, &removed));
                removed.push(r);
                let partial = logits_without(&zs, &removed);
                let after = confidence(logits_without(&zs, &removed));
                let mut term = cross_entropy_with_logits_loss(partial, targets.clone())
                    * (1.0 / m_count as f32);
                if let Some(h) = hinge(before, after, self.settings.hinge) {
                    term = term + h * lambda;
                }
                extra = Some(match extra {
                    None => term,
                    Some(e) => e + term,
                });
            }
        }
        let scale = if inside { 1.0 / m_count as f32 } else { 1.0 };
        let full = cross_entropy_with_logits_loss(cx.model.head(cx.model.fuse(zs)), targets);
        let full_value = full.as_vec()[0] as f64;
        let loss = match extra {
            None => full * scale,
            Some(e) => full * scale + e,
        };
        cx.update_all(loss)?;
        Ok(cx.plain_stats(full_value, &unimodal, &labels))
    }

    fn state(&self) -> serde_json::Value {
        state_json(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.state = state_from_json(state)?;
        Ok(())
    }
}

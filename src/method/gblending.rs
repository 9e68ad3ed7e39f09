//! G-Blending, gradient blending (Wang et al., CVPR 2020; docs/methods.md §3), online, as a
//! method with its own step and an epoch hook.
//!
//! Every `super_epoch` epochs (from epoch 0), for each output k — each modality alone (the other
//! inputs zeroed and still encoded) and the fused one — a copy of the current model (its batch
//! norms' running statistics included, which move with the copy's own training) with a fresh
//! optimiser trains `super_epoch` epochs on the cross-entropy of that (masked) fused output.
//! Its training loss T and validation loss V (on the validation split carved from the training
//! data — never the test set, unlike BalanceBenchmark's port) are taken after its first and
//! its last epoch: by default as BalanceBenchmark's `GBlending_trainer.py` does (base learning
//! rate, training view, T = Σ of the epoch's training-batch losses in training mode before each
//! update, V = Σ over validation batches of the batch-mean loss in evaluation mode), or
//! (`method.estimate = "means"`) as evaluation-mode means over the whole sets after the epoch.
//! With G = ΔV and O = Δ(V − T), w_k = |G / O²|, normalised to sum 1 (uniform when every w_k is
//! 0 or not finite, e.g. O = 0 — which is what a `super_epoch` of 1 gives, where
//! BalanceBenchmark's loop leaves its "now" losses at 0). The step's loss is
//! Σ_m w_m CE(u_m) + w_fused CE(f) with the decomposed unimodal logits u_m. The weights are
//! checkpointed. Cost: (M + 1) × `super_epoch` extra epochs every `super_epoch` epochs.

use super::engine::{all_groups, StepContext, StepError, StepStats, NEEDS_DECOMPOSABLE_HEAD};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::{EpochContext, Method};
use crate::media::source::View;
use crate::mixup::config::Contribution;
use crate::mixup::mix;
use crate::model::params::{Matrix, Tape};
use crate::model::{Backend, Model};
use crate::rng::{stream, Stream};
use dfdx::prelude::*;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// G-Blending's super-epoch in BalanceBenchmark's online mode.
pub const GBLENDING_SUPER_EPOCH: usize = 10;

/// `[method]` with `kind = "gblending"`: the keys G-Blending takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct GblendingConfig {
    /// gblending: how each output's copy measures its training and validation losses.
    /// Default `"balancebenchmark"` (the port the method's rows follow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<GblendingEstimate>,
    /// gblending: epochs between weight estimates, and the epochs each model copy trains for
    /// an estimate. Default `10` (BalanceBenchmark's `super_epoch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub super_epoch: Option<usize>,
}

/// How G-Blending's model copies measure the losses its weights come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GblendingEstimate {
    /// BalanceBenchmark's `GBlending_trainer.py`: each copy restarts from a fresh optimiser at
    /// the base learning rate and trains on the training view; T is the sum of its in-epoch
    /// training-batch losses, V the sum over validation batches of the batch-mean loss after
    /// the epoch (evaluation mode).
    #[default]
    Balancebenchmark,
    /// balmix's former estimate: copies at the epoch's scheduled learning rate on the
    /// evaluation view; T and V the evaluation-mode mean losses over the whole training and
    /// validation sets after the epoch.
    Means,
}

/// G-Blending's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GblendingSettings {
    /// Epochs between weight estimates.
    pub super_epoch: usize,
    /// How the copies measure their losses.
    pub estimate: GblendingEstimate,
}

impl GblendingConfig {
    /// The settings, every default written back into the config; checked (G-Blending reads a
    /// validation split carved from the training data and the fused head's per-modality
    /// logits).
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<GblendingSettings, ConfigProblem> {
        let super_epoch = *self.super_epoch.get_or_insert(GBLENDING_SUPER_EPOCH);
        if super_epoch == 0 {
            return Err(ConfigProblem::NotPositiveInt {
                key: "super_epoch".into(),
                got: super_epoch,
            });
        }
        if !cx.has_val {
            return Err(ConfigProblem::NeedsValidation);
        }
        let estimate = *self.estimate.get_or_insert_default();
        if !cx.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "kind".into(),
                what: None,
            });
        }
        Ok(GblendingSettings {
            super_epoch,
            estimate,
        })
    }
}
/// (training, validation) losses of one output's model copy.
type Losses = (f64, f64);

/// G-Blending's settings and weights.
pub struct GBlending {
    super_epoch: usize,
    estimate: GblendingEstimate,
    batch_size: usize,
    state: BlendWeights,
}

/// The checkpointed state: one weight per modality, then the fused output's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlendWeights {
    /// w_0 … w_{M−1}, w_fused; empty before the first estimate.
    pub weights: Vec<f64>,
}

/// Weights |ΔG/ΔO²| from each output's (train, val) losses after the first and the last epoch
/// of its copy's training, normalised to sum 1 (uniform when none is usable).
pub fn blend_weights(first: &[Losses], last: &[Losses]) -> Vec<f64> {
    let raw: Vec<f64> = first
        .iter()
        .zip(last)
        .map(|(&(t0, v0), &(t1, v1))| {
            let (o0, o1) = (v0 - t0, v1 - t1);
            let w = ((v1 - v0) / (o1 - o0).powi(2)).abs();
            if w.is_finite() {
                w
            } else {
                0.0
            }
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        raw.iter().map(|w| w / sum).collect()
    } else {
        vec![1.0 / raw.len().max(1) as f64; raw.len()]
    }
}

/// The `blending` stream index of the sample order of output `which` (of `outputs`) in epoch
/// `e` of its copy's training, for the estimate made at epoch `epoch`: distinct for every
/// (estimate, output, copy epoch), so no two copies share an order.
fn blending_index(epoch: usize, outputs: usize, which: usize, super_epoch: usize, e: usize) -> u64 {
    ((epoch * outputs + which) * super_epoch + e) as u64
}

/// Host rows of samples `idx` of every modality in `view`, with the modalities outside `keep`
/// zeroed.
fn masked_rows(
    data: &crate::data::Dataset,
    idx: &[usize],
    keep: &[bool],
    view: View,
) -> Result<Vec<Vec<f32>>, StepError> {
    data.modalities
        .iter()
        .zip(keep)
        .map(|(m, &k)| {
            if k {
                Ok(m.rows(idx, view)?)
            } else {
                Ok(vec![0.0; idx.len() * m.width])
            }
        })
        .collect()
}

/// Σ over the batches of `idx` (`batch` rows each; all of `idx` at once when `batch` is 0) of
/// the batch's summed cross-entropy of the masked fused output, evaluation mode, no gradient;
/// with the sample count.
fn summed_losses<D: Backend>(
    model: &Model<D>,
    data: &crate::data::Dataset,
    idx: &[usize],
    keep: &[bool],
    batch: usize,
) -> Result<Vec<(f64, usize)>, StepError> {
    let k = model.classes;
    let size = if batch == 0 { data.chunk() } else { batch };
    let mut out = Vec::new();
    for chunk in idx.chunks(size.max(1)) {
        let rows = masked_rows(data, chunk, keep, View::Eval)?;
        let zs: Vec<Matrix<D>> = rows
            .into_iter()
            .enumerate()
            .map(|(m, r)| {
                let x: Matrix<D> = model
                    .store
                    .dev
                    .tensor_from_vec(r, (chunk.len(), data.modalities[m].width));
                model.encode(m, x)
            })
            .collect();
        let logits = model.head(model.fuse(zs)).as_vec();
        let p = mix::softmax_rows(&logits, k);
        let sum = chunk
            .iter()
            .enumerate()
            .map(|(i, &s)| -p[i * k + data.labels[s]].max(1e-30).ln())
            .sum::<f64>();
        out.push((sum, chunk.len()));
    }
    Ok(out)
}

/// Mean CE of the masked fused output over `idx` (evaluation mode, no gradient).
fn mean_loss<D: Backend>(
    model: &Model<D>,
    data: &crate::data::Dataset,
    idx: &[usize],
    keep: &[bool],
) -> Result<f64, StepError> {
    let total: f64 = summed_losses(model, data, idx, keep, 0)?
        .iter()
        .map(|(s, _)| s)
        .sum();
    Ok(total / idx.len().max(1) as f64)
}

/// Σ over validation batches of `batch` rows of the batch-mean CE (BalanceBenchmark's V).
fn summed_batch_means<D: Backend>(
    model: &Model<D>,
    data: &crate::data::Dataset,
    idx: &[usize],
    keep: &[bool],
    batch: usize,
) -> Result<f64, StepError> {
    Ok(summed_losses(model, data, idx, keep, batch.max(1))?
        .iter()
        .map(|&(s, n)| s / n.max(1) as f64)
        .sum())
}

impl GBlending {
    /// Train a copy of `cx.model` on output `keep` for `super_epoch` epochs; its (T, V) after
    /// the first and the last epoch, as [`GblendingEstimate`] says.
    fn probe<D: Backend>(
        &self,
        cx: &EpochContext<'_, D>,
        keep: &[bool],
        which: usize,
    ) -> Result<(Losses, Losses), StepError> {
        let released = self.estimate == GblendingEstimate::Balancebenchmark;
        let mut copy = cx.model.clone();
        let mut updater = (cx.new_updater)();
        // BalanceBenchmark restores each copy's optimiser to its initial state: the base rate.
        let lr = if released { cx.base_lr } else { cx.lr };
        let view = if released {
            View::Train {
                seed: cx.seed,
                epoch: cx.epoch,
            }
        } else {
            View::Eval
        };
        let k = copy.classes;
        let (mut first, mut last) = ((0.0, 0.0), (0.0, 0.0));
        for e in 0..self.super_epoch {
            let mut order = cx.train.to_vec();
            let index = blending_index(cx.epoch, keep.len() + 1, which, self.super_epoch, e);
            order.shuffle(&mut stream(cx.seed, Stream::Blending, index));
            // BalanceBenchmark's T: the sum of the epoch's training-batch losses, each taken
            // in training mode before its update.
            let mut in_epoch = 0.0;
            for idx in order.chunks(self.batch_size.max(1)) {
                if crate::interrupt::interrupted() {
                    return Err(StepError::Interrupted);
                }
                let rows = masked_rows(cx.data, idx, keep, view)?;
                let n = idx.len();
                let zs: Vec<Matrix<D, Tape<D>>> = rows
                    .into_iter()
                    .enumerate()
                    .map(|(m, r)| copy.encode_input(m, r, n))
                    .collect();
                let labels: Vec<usize> = idx.iter().map(|&i| cx.data.labels[i]).collect();
                let targets: Matrix<D> = copy
                    .store
                    .dev
                    .tensor_from_vec(mix::one_hot(&labels, k), (n, k));
                let loss = cross_entropy_with_logits_loss(copy.head(copy.fuse(zs)), targets);
                let value = loss.as_vec()[0];
                if !value.is_finite() {
                    copy.store.discard_running_updates();
                    break;
                }
                in_epoch += value as f64;
                let mut g = loss.backward();
                updater.update(&mut copy.store, &mut g, lr, &all_groups);
                // The copy's batch norms: its own running statistics move with its training,
                // as a PyTorch model copy's do.
                copy.store.apply_running_updates();
            }
            if e == 0 || e + 1 == self.super_epoch {
                let m = if released {
                    (
                        in_epoch,
                        summed_batch_means(&copy, cx.data, cx.val, keep, self.batch_size)?,
                    )
                } else {
                    (
                        mean_loss(&copy, cx.data, cx.train, keep)?,
                        mean_loss(&copy, cx.data, cx.val, keep)?,
                    )
                };
                if e == 0 {
                    first = m;
                }
                last = m;
            }
        }
        Ok((first, last))
    }
}

impl OwnStep for GblendingSettings {
    fn build<D: Backend>(&self, cx: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(GBlending::new(
            self.super_epoch,
            self.estimate,
            cx.batch_size,
        ))
    }
}

impl<D: Backend> Method<D> for GBlending {
    fn epoch_start(&mut self, cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        if !cx.epoch.is_multiple_of(self.super_epoch.max(1)) {
            return Ok(());
        }
        let m = cx.data.modalities.len();
        let mut first = Vec::with_capacity(m + 1);
        let mut last = Vec::with_capacity(m + 1);
        for which in 0..=m {
            // Outputs 0..M: modality `which` alone; output M: every modality.
            let keep: Vec<bool> = (0..m).map(|j| which == m || j == which).collect();
            let (a, b) = self.probe(cx, &keep, which)?;
            first.push(a);
            last.push(b);
        }
        self.state.weights = blend_weights(&first, &last);
        Ok(())
    }

    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let m_count = cx.modalities();
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        if self.state.weights.len() != m_count + 1 {
            self.state.weights = vec![1.0 / (m_count + 1) as f64; m_count + 1];
        }
        let zs = cx.encode(cx.host_batch()?);
        let unimodal = cx.model.unimodal(&zs);
        let fused = cross_entropy_with_logits_loss(
            cx.model.head(
                cx.model
                    .fuse(zs.iter().map(|z| z.retaped::<Tape<D>>()).collect()),
            ),
            targets.clone(),
        );
        let loss_value = fused.as_vec()[0] as f64;
        let mut total = fused * self.state.weights[m_count] as f32;
        for (m, z) in zs.into_iter().enumerate() {
            let u = cx
                .model
                .unimodal_taped(m, z, m_count)
                .ok_or(StepError::Unsupported(NEEDS_DECOMPOSABLE_HEAD))?;
            total = total
                + cross_entropy_with_logits_loss(u, cx.unimodal_targets(m, &labels))
                    * self.state.weights[m] as f32;
        }
        let mut g = cx.backward(total)?;
        cx.update(&mut g, &all_groups)?;
        Ok(StepStats {
            loss: loss_value,
            contribution: unimodal
                .iter()
                .enumerate()
                .map(|(m, u)| cx.contribution(m, Contribution::Confidence, u, &[], &labels))
                .collect(),
            contribution_ema: None,
            plan: None,
            coefficients: self.state.weights[..m_count].to_vec(),
        })
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.state = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl GBlending {
    /// G-Blending with its super-epoch, estimate and the run's batch size, before any step.
    pub fn new(super_epoch: usize, estimate: GblendingEstimate, batch_size: usize) -> GBlending {
        GBlending {
            super_epoch,
            estimate,
            batch_size,
            state: BlendWeights::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_copy_epoch_of_every_estimate_and_output_has_its_own_stream_index() {
        let (outputs, super_epoch) = (3, 4);
        let mut seen = std::collections::BTreeSet::new();
        for estimate in 0..5 {
            let epoch = estimate * super_epoch;
            for which in 0..outputs {
                for e in 0..super_epoch {
                    let i = blending_index(epoch, outputs, which, super_epoch, e);
                    assert!(seen.insert(i), "index {i} used twice");
                }
            }
        }
    }

    #[test]
    fn blend_weights_are_nonnegative_sum_to_one_and_fall_back_to_uniform() {
        // Output 0 overfits (O grows), output 1 generalises (G falls, O stable-ish).
        let first = [(1.0, 1.2), (1.0, 1.1), (0.9, 1.0)];
        let last = [(0.2, 1.4), (0.6, 0.8), (0.5, 0.7)];
        let w = blend_weights(&first, &last);
        assert!(w.iter().all(|&x| x >= 0.0));
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // O goes 0.2 → 1.2, 0.1 → 0.2, 0.1 → 0.2 and G moves +0.2, −0.3, −0.3:
        // |ΔG/ΔO²| = 0.2/1², 0.3/0.1², 0.3/0.1² = 0.2, 30, 30, normalised.
        let raw = [0.2, 0.3 / 0.01, 0.3 / 0.01];
        let sum: f64 = raw.iter().sum();
        for (a, b) in w.iter().zip(raw) {
            assert!((a - b / sum).abs() < 1e-9, "{w:?}");
        }
        // ΔO = 0 everywhere: no usable ratio, uniform weights.
        let same = [(1.0, 1.0), (1.0, 1.0)];
        assert_eq!(blend_weights(&same, &same), vec![0.5, 0.5]);
    }
}

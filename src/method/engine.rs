//! What a method's step can use: the batch, encoding, backward with the divergence check,
//! clipping and updates of chosen parameter groups — the engine half of the seam.
//!
//! Every `backward` returns fresh gradients, so gradients of two losses captured one after the
//! other never mix (the explicit zero between captures is built in). An update touches only
//! the groups it is given: a group left out has *no* gradient, which is not the same as a zero
//! gradient — momentum and weight decay do not move it.

use crate::data::Dataset;
use crate::mixup::MixPlan;
use crate::model::grads;
use crate::model::params::{Group, Matrix, Tape};
use crate::model::resnet::Mode;
use crate::model::{Backend, Model};
use dfdx::prelude::*;
use dfdx::tensor::Gradients;

/// Why training stopped before the end of an epoch.
#[derive(Debug)]
pub enum StepError {
    /// A non-finite loss or gradient: the run cannot go on.
    Diverged(Divergence),
    /// An interrupt (SIGINT, SIGTERM, SIGHUP) arrived; stopped at a step boundary.
    Interrupted,
    /// The mix-plan trace could not be written.
    Trace(std::io::Error),
    /// The method needs something this model does not have (e.g. a head that decomposes into
    /// unimodal logits); recipe validation rules such pairs out, so only a method paired with
    /// a model by hand meets this.
    Unsupported(&'static str),
    /// A media file could not be read or decoded mid-run.
    Data(crate::data::error::MediaReadError),
    /// The method broke the seam's contract (e.g. an epoch list naming a sample beyond the
    /// dataset): a bug in the method, named.
    Contract(String),
}

impl From<crate::data::error::MediaReadError> for StepError {
    fn from(e: crate::data::error::MediaReadError) -> StepError {
        StepError::Data(e)
    }
}

/// Why [`StepError::Unsupported`] for a method that needs unimodal logits from the fused head.
pub const NEEDS_DECOMPOSABLE_HEAD: &str =
    "it needs a head that decomposes into unimodal logits (concat or sum fusion)";

/// Where and how a run diverged.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Divergence {
    /// The epoch (1-based) in which it happened.
    pub epoch: usize,
    /// The global step (0-based) whose loss or gradient was not finite.
    pub step: u64,
    /// What was not finite, e.g. `loss is NaN`.
    pub what: String,
}

/// What one step measured, for metrics and the mix-plan trace.
#[derive(Debug, Clone, Default)]
pub struct StepStats {
    /// The fused (mixed, soft-label) cross-entropy.
    pub loss: f64,
    /// Each modality's contribution on the clean batch (the method's estimator; confidence
    /// when it has none).
    pub contribution: Vec<f64>,
    /// The method's running average of the contributions, when it keeps one.
    pub contribution_ema: Option<Vec<f64>>,
    /// The mix plan applied, if the batch was mixed.
    pub plan: Option<MixPlan>,
    /// Per-modality gradient coefficients (1 when not modulating).
    pub coefficients: Vec<f64>,
}

impl StepStats {
    /// Σ_i λ_m,i for each of `modalities` modalities and Σ_i λ_y,i over a batch of `n` (n each
    /// when the batch was not mixed).
    pub fn lambda_sums(&self, n: usize, modalities: usize) -> (Vec<f64>, f64) {
        match &self.plan {
            Some(p) => (
                p.modality
                    .iter()
                    .map(|l| l.iter().map(|&v| v as f64).sum())
                    .collect(),
                p.label.iter().map(|&v| v as f64).sum(),
            ),
            None => (vec![n as f64; modalities], n as f64),
        }
    }
}

pub use crate::optim::updater::{all_groups, Updater, UpdaterState};

/// One step's inputs and the engine's operations.
pub struct StepContext<'a, D: Backend> {
    /// The model being trained.
    pub model: &'a mut Model<D>,
    /// The optimiser.
    pub updater: &'a mut dyn Updater<D>,
    /// The (standardised) dataset.
    pub data: &'a Dataset,
    /// The batch's sample indices.
    pub idx: &'a [usize],
    /// Master seed of the run.
    pub seed: u64,
    /// Global step (0-based).
    pub step: u64,
    /// Epoch (0-based).
    pub epoch: usize,
    /// Learning rate of this epoch.
    pub lr: f64,
    /// Training-time input augmentation (modality dropout, input noise), if any.
    pub augment: Option<&'a crate::data::augment::Augment>,
    /// `train.grad_clip`: the global gradient-norm clip applied before each update, if any.
    pub grad_clip: Option<f64>,
    /// Per batch row, per modality: inputs the method's epoch list zeroes
    /// ([`super::EpochSamples`]); `None` when nothing is.
    pub zeroed: Option<&'a [Vec<bool>]>,
}

impl<D: Backend> StepContext<'_, D> {
    /// Batch size.
    pub fn n(&self) -> usize {
        self.idx.len()
    }

    /// Number of modalities.
    pub fn modalities(&self) -> usize {
        self.data.modalities.len()
    }

    /// The batch's labels.
    pub fn labels(&self) -> Vec<usize> {
        self.idx.iter().map(|&i| self.data.labels[i]).collect()
    }

    /// One-hot targets of `labels` (`n × classes`), for cross-entropies of clean labels.
    pub fn one_hot(&self, labels: &[usize]) -> Matrix<D> {
        let k = self.model.classes;
        let values = crate::mixup::mix::one_hot(labels, k);
        self.model
            .store
            .dev
            .tensor_from_vec(values, (labels.len(), k))
    }

    /// The rows of the batch in which modality `m` is present after modality dropout, when
    /// some but not all are; `None` when every row is (no dropout) — or none is, a batch too
    /// unlucky to measure anything on: then every row is used.
    pub fn present_rows(&self, m: usize) -> Option<Vec<usize>> {
        let a = self.augment.filter(|a| a.dropout > 0.0)?;
        let n = self.n();
        let dropped = a.dropped(n, self.modalities(), self.seed, self.step);
        let rows: Vec<usize> = (0..n).filter(|&i| !dropped[i][m]).collect();
        (!rows.is_empty() && rows.len() < n).then_some(rows)
    }

    /// Per-row weights of a unimodal term of modality `m`: 0 where it was dropped, n/n_m where
    /// present, so a mean over the batch becomes the mean over the rows where m is present;
    /// `None` when every row counts alike (see [`StepContext::present_rows`]).
    pub fn row_weights(&self, m: usize) -> Option<Vec<f32>> {
        let rows = self.present_rows(m)?;
        let n = self.n();
        let mut w = vec![0f32; n];
        let scale = n as f32 / rows.len() as f32;
        for i in rows {
            w[i] = scale;
        }
        Some(w)
    }

    /// One-hot targets of `labels` for a unimodal cross-entropy of modality `m`: the rows are
    /// scaled by [`StepContext::row_weights`], so the batch-mean cross-entropy with these
    /// targets is the mean over the rows where m is present (plain one-hot without dropout).
    pub fn unimodal_targets(&self, m: usize, labels: &[usize]) -> Matrix<D> {
        let k = self.model.classes;
        let mut values = crate::mixup::mix::one_hot(labels, k);
        if let Some(w) = self.row_weights(m) {
            scale_rows(&mut values, k, &w);
        }
        self.model
            .store
            .dev
            .tensor_from_vec(values, (labels.len(), k))
    }

    /// Contribution of modality `m` (estimator `kind`) from its host unimodal logits `u` and
    /// the fused logits (read by KL only), over the rows where m is present.
    pub fn contribution(
        &self,
        m: usize,
        kind: crate::mixup::config::Contribution,
        u: &[f32],
        fused: &[f32],
        labels: &[usize],
    ) -> f64 {
        let k = self.model.classes;
        match self.present_rows(m) {
            None => crate::mixup::contribution::estimate(kind, u, fused, labels, k),
            Some(rows) => {
                let fused = if fused.is_empty() {
                    Vec::new()
                } else {
                    select_rows(fused, k, &rows)
                };
                let labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
                crate::mixup::contribution::estimate(
                    kind,
                    &select_rows(u, k, &rows),
                    &fused,
                    &labels,
                    k,
                )
            }
        }
    }

    /// Backward of `loss` and an update of every parameter group (the one-loss methods).
    pub fn update_all(&mut self, loss: Tensor<(), f32, D, Tape<D>>) -> Result<(), StepError> {
        let mut grads = self.backward(loss)?;
        self.update(&mut grads, &all_groups)?;
        Ok(())
    }

    /// The plain step: one training-mode forward of the batch ([`StepContext::host_batch`]),
    /// the fused cross-entropy, one update of every parameter; its statistics.
    pub fn plain_ce_step(&mut self) -> Result<StepStats, StepError> {
        let labels = self.labels();
        let targets = self.one_hot(&labels);
        let host = self.host_batch()?;
        let zs = self.encode(host);
        let unimodal = self.model.unimodal(&zs);
        let loss = cross_entropy_with_logits_loss(self.model.head(self.model.fuse(zs)), targets);
        let value = loss.as_vec()[0] as f64;
        self.update_all(loss)?;
        Ok(self.plain_stats(value, &unimodal, &labels))
    }

    /// The statistics of a step without mixing or gradient coefficients: `loss` as the method
    /// reports it and the confidence contributions of the host unimodal logits `unimodal`.
    pub fn plain_stats(&self, loss: f64, unimodal: &[Vec<f32>], labels: &[usize]) -> StepStats {
        StepStats {
            loss,
            contribution: self.confidences(unimodal, labels),
            contribution_ema: None,
            plan: None,
            coefficients: vec![1.0; unimodal.len()],
        }
    }

    /// Each modality's confidence contribution from its host unimodal logits `unimodal`
    /// ([`StepContext::contribution`] with [`crate::mixup::config::Contribution::Confidence`]).
    pub fn confidences(&self, unimodal: &[Vec<f32>], labels: &[usize]) -> Vec<f64> {
        let kind = crate::mixup::config::Contribution::Confidence;
        unimodal
            .iter()
            .enumerate()
            .map(|(m, u)| self.contribution(m, kind, u, &[], labels))
            .collect()
    }

    /// Σ_i softmax(u)_i,y_i of modality `m`'s host logits `u` — the score OGM-GE and PMR
    /// compare — summed over the rows where m is present and scaled by n/n_m, so modalities
    /// present in different numbers of rows stay comparable.
    pub fn label_score(&self, m: usize, u: &[f32], labels: &[usize]) -> f64 {
        let k = self.model.classes;
        let p = crate::mixup::mix::softmax_rows(u, k);
        match self.present_rows(m) {
            None => labels.iter().enumerate().map(|(i, &y)| p[i * k + y]).sum(),
            Some(rows) => {
                let sum: f64 = rows.iter().map(|&i| p[i * k + labels[i]]).sum();
                sum * labels.len() as f64 / rows.len() as f64
            }
        }
    }

    /// The batch's rows of every modality, on the host, with the inputs the epoch's list
    /// zeroes set to 0, then the recipe's training-time augmentation (the same draws however
    /// often a step asks).
    pub fn host_batch(&self) -> Result<Vec<Vec<f32>>, StepError> {
        let view = crate::media::source::View::Train {
            seed: self.seed,
            epoch: self.epoch,
        };
        let mut rows = self
            .data
            .modalities
            .iter()
            .map(|m| m.rows(self.idx, view))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(zeroed) = self.zeroed {
            for (m, (rows, modality)) in rows.iter_mut().zip(&self.data.modalities).enumerate() {
                let w = modality.width;
                for (row, z) in rows.chunks_mut(w.max(1)).zip(zeroed) {
                    if z[m] {
                        row.fill(0.0);
                    }
                }
            }
        }
        if let Some(a) = self.augment {
            a.apply(&mut rows, self.idx.len(), self.seed, self.step);
        }
        Ok(rows)
    }

    /// Encode host rows of every modality, with a tape, batch norms in training mode (each
    /// queues one running-statistics update).
    pub fn encode(&self, host: Vec<Vec<f32>>) -> Vec<Matrix<D, Tape<D>>> {
        self.encode_mode(host, Mode::Train)
    }

    /// [`StepContext::encode`] with batch norms in `mode`: [`Mode::Eval`] for passes the
    /// released code runs under `eval()` with autograd on, [`Mode::TrainUnrecorded`] for a
    /// repeated forward of the step's batch (no second running update).
    pub fn encode_mode(&self, host: Vec<Vec<f32>>, mode: Mode) -> Vec<Matrix<D, Tape<D>>> {
        let n = self.n();
        host.into_iter()
            .enumerate()
            .map(|(m, rows)| self.model.encode_input_mode(m, rows, n, mode))
            .collect()
    }

    /// The error for a non-finite value at this step.
    pub fn diverged(&self, what: String) -> StepError {
        StepError::Diverged(Divergence {
            epoch: self.epoch + 1,
            step: self.step,
            what,
        })
    }

    /// Gradients of `loss` (fresh: nothing of an earlier backward is in them). A non-finite
    /// loss stops here, before any gradient exists.
    pub fn backward(
        &self,
        loss: Tensor<(), f32, D, Tape<D>>,
    ) -> Result<Gradients<f32, D>, StepError> {
        let value = loss.as_vec()[0];
        if !value.is_finite() {
            return Err(self.diverged(format!("loss is {value}")));
        }
        Ok(loss.backward())
    }

    /// Check the gradients of the groups `include` accepts (a non-finite norm stops before
    /// any weight moves), clip them as `train.grad_clip` says, and update those groups.
    /// Returns the gradient norm before clipping.
    pub fn update(
        &mut self,
        grads: &mut Gradients<f32, D>,
        include: &dyn Fn(Group) -> bool,
    ) -> Result<f64, StepError> {
        let norm = grads::global_norm(&self.model.store, grads, include);
        if !norm.is_finite() {
            return Err(self.diverged(format!("gradient norm is {norm}")));
        }
        if let Some(clip) = self.grad_clip {
            let factor = grads::clip_factor(norm, clip);
            if factor < 1.0 {
                grads::scale(&self.model.store, grads, factor, include);
            }
        }
        self.updater
            .update(&mut self.model.store, grads, self.lr, include);
        Ok(norm)
    }
}

/// Rows `rows` of a host matrix `v` with `width` columns, in that order.
pub fn select_rows(v: &[f32], width: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * width);
    for &i in rows {
        out.extend_from_slice(&v[i * width..(i + 1) * width]);
    }
    out
}

/// Multiply row i of a host matrix `v` with `width` columns by `w[i]`.
pub fn scale_rows(v: &mut [f32], width: usize, w: &[f32]) {
    for (row, &wi) in v.chunks_mut(width.max(1)).zip(w) {
        for x in row {
            *x *= wi;
        }
    }
}

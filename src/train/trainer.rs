//! The one training loop. Every method — plain fusion, input mixup, MM, B-MM, OGM-GE — runs
//! through [`Trainer::train_step`]; the methods differ only in the mix plan it asks
//! [`crate::mixup`] for and in the gradient modulation applied before the update.

use super::batch;
use super::checkpoint::{CheckpointState, CheckpointTensors};
use super::eval::evaluate;
use super::grad;
use super::lr::learning_rate;
use super::metrics::EpochMetrics;
use super::modulation;
use super::optim::Optimizer;
use super::record::Identity;
use super::trace::MixTrace;
use crate::data::{Dataset, Splits};
use crate::mixup::contribution::{self, ContributionEma};
use crate::mixup::{mix, plan, MixPlan};
use crate::model::layers::{detach, mix_rows};
use crate::model::params::{Matrix, Tape};
use crate::model::{Backend, Model};
use crate::recipe::file::{Contribution, EvalSelect, MixPoint, MixupMethod};
use crate::recipe::Recipe;
use crate::rng::{stream, Stream};
use dfdx::prelude::*;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::time::Instant;

use crate::interrupt::interrupted;

/// Why training stopped before the end of an epoch.
#[derive(Debug)]
pub enum StepError {
    /// A non-finite loss or gradient: the run cannot go on.
    Diverged(Divergence),
    /// An interrupt (SIGINT, SIGTERM, SIGHUP) arrived; stopped at a step boundary.
    Interrupted,
    /// The mix-plan trace could not be written.
    Trace(std::io::Error),
}

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

/// What one step measured.
#[derive(Debug, Clone)]
pub struct StepStats {
    /// Fused mixed soft-label CE.
    pub loss: f64,
    /// Contribution c_m on the clean batch.
    pub contribution: Vec<f64>,
    /// Σ_i λ_m,i over the batch (n when unmixed).
    pub lambda_sum: Vec<f64>,
    /// Σ_i λ_y,i over the batch.
    pub label_sum: f64,
    /// OGM-GE coefficients (1 when not modulating).
    pub ogm_k: Vec<f64>,
}

/// Training state of one run (one seed).
pub struct Trainer<'a, D: Backend> {
    recipe: &'a Recipe,
    seed: u64,
    data: &'a Dataset,
    splits: &'a Splits,
    /// The model being trained.
    pub model: Model<D>,
    optimizer: Optimizer<D>,
    /// Global steps done.
    pub step: u64,
    /// Epochs done.
    pub epochs_done: usize,
    ema: Option<ContributionEma>,
    /// Metrics of completed epochs.
    pub metrics: Vec<EpochMetrics>,
    best: Option<(EpochMetrics, Vec<Vec<f32>>)>,
    /// Seconds spent in earlier invocations plus this one's epochs.
    pub seconds: f64,
    /// Optional mix-plan trace (never changes results).
    pub trace: Option<MixTrace>,
}

impl<'a, D: Backend> Trainer<'a, D> {
    /// A fresh run: weights from the `init` stream of `seed`.
    pub fn new(
        recipe: &'a Recipe,
        seed: u64,
        data: &'a Dataset,
        splits: &'a Splits,
        dev: D,
    ) -> Self {
        let widths: Vec<usize> = data.modalities.iter().map(|m| m.width).collect();
        let model = Model::build(recipe, &widths, data.num_classes(), seed, dev);
        let ema = recipe
            .mixup()
            .balance
            .as_ref()
            .map(|b| ContributionEma::new(b.ema));
        Self {
            recipe,
            seed,
            data,
            splits,
            model,
            optimizer: Optimizer::new(recipe.optim()),
            step: 0,
            epochs_done: 0,
            ema,
            metrics: Vec::new(),
            best: None,
            seconds: 0.0,
            trace: None,
        }
    }

    /// Number of optimiser steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.splits
            .train
            .len()
            .div_ceil(self.recipe.train().batch_size)
    }

    /// Train one epoch, evaluate, and return its metrics (also kept in `self.metrics`).
    /// `on_step` is called after every step with the step's loss. An error leaves the
    /// trainer mid-epoch: only the last checkpoint is a valid state to continue from.
    pub fn run_epoch(&mut self, on_step: &mut dyn FnMut(f64)) -> Result<EpochMetrics, StepError> {
        let start = Instant::now();
        let epoch = self.epochs_done;
        let epochs = self.recipe.train().epochs;
        let lr = learning_rate(self.recipe.optim(), epoch, epochs);
        let mut order = self.splits.train.clone();
        order.shuffle(&mut stream(self.seed, Stream::Shuffle, epoch as u64));
        let m_count = self.data.modalities.len();
        let (mut loss_sum, mut label_sum) = (0.0, 0.0);
        let mut contrib_sum = vec![0.0; m_count];
        let mut lambda_sum = vec![0.0; m_count];
        let mut k_sum = vec![0.0; m_count];
        let mut steps = 0usize;
        for idx in order.chunks(self.recipe.train().batch_size) {
            if interrupted() {
                return Err(StepError::Interrupted);
            }
            let s = self.train_step(idx, epoch, lr)?;
            let n = idx.len() as f64;
            loss_sum += s.loss * n;
            label_sum += s.label_sum;
            for m in 0..m_count {
                contrib_sum[m] += s.contribution[m] * n;
                lambda_sum[m] += s.lambda_sum[m];
                k_sum[m] += s.ogm_k[m];
            }
            steps += 1;
            on_step(s.loss);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let n = order.len() as f64;
        let val = (!self.splits.val.is_empty())
            .then(|| evaluate(&self.model, self.data, &self.splits.val));
        let test = evaluate(&self.model, self.data, &self.splits.test);
        let seconds = start.elapsed().as_secs_f64();
        let row = EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / n,
            val_accuracy: val.as_ref().map(|v| v.accuracy),
            test_accuracy: test.accuracy,
            test_macro_f1: test.macro_f1,
            modality_accuracy: test.modality_accuracy,
            contribution: contrib_sum.iter().map(|c| c / n).collect(),
            contribution_ema: self
                .ema
                .as_ref()
                .and_then(|e| e.value().map(<[f64]>::to_vec)),
            lambda_modality: lambda_sum.iter().map(|l| l / n).collect(),
            lambda_label: label_sum / n,
            ogm_k: k_sum.iter().map(|k| k / steps.max(1) as f64).collect(),
            seconds,
            steps_per_second: steps as f64 / train_seconds.max(1e-9),
            memory_mib: super::record::resident_memory_bytes()
                .map_or(0.0, |b| b as f64 / 1048576.0),
        };
        if self.recipe.train().eval.select == EvalSelect::BestVal {
            let better = match &self.best {
                None => true,
                Some((b, _)) => row.val_accuracy > b.val_accuracy,
            };
            if better {
                let weights = self
                    .model
                    .store
                    .params
                    .iter()
                    .map(|p| p.tensor.to_host())
                    .collect();
                self.best = Some((row.clone(), weights));
            }
        }
        self.seconds += seconds;
        self.epochs_done += 1;
        self.metrics.push(row.clone());
        Ok(row)
    }

    /// One optimiser step on training samples `idx`. A non-finite loss or gradient stops
    /// before the update, so the weights never take a NaN.
    pub fn train_step(
        &mut self,
        idx: &[usize],
        epoch: usize,
        lr: f64,
    ) -> Result<StepStats, StepError> {
        let n = idx.len();
        let k = self.model.classes;
        let m_count = self.data.modalities.len();
        let mix_cfg = self.recipe.mixup();
        let labels = batch::labels(self.data, idx);
        let draws = plan::draw(self.seed, self.step, epoch, n, mix_cfg);
        let mut host = batch::gather_host(self.data, idx);

        // Input mixup mixes raw inputs with one λ per sample, before encoding.
        let mut mix_plan: Option<MixPlan> = None;
        if mix_cfg.method == MixupMethod::Input {
            if let Some(d) = draws.clone() {
                let p = plan::plan(d, m_count, mix_cfg, None);
                for (m, rows) in host.iter_mut().enumerate() {
                    *rows =
                        mix::mix_rows(rows, self.data.modalities[m].width, &p.perm, &p.modality[m]);
                }
                mix_plan = Some(p);
            }
        }
        let zs: Vec<Matrix<D, Tape<D>>> = host
            .into_iter()
            .enumerate()
            .map(|(m, rows)| self.model.encode_input(m, rows, n))
            .collect();

        // Unimodal logits on the clean features (probe heads keep a tape for their own loss).
        let mut probe_loss: Option<Tensor<(), f32, D, Tape<D>>> = None;
        let unimodal: Vec<Vec<f32>> = if self.model.uses_probes() {
            // Probes see the encoder's input batch: mixed targets under input mixup, else clean.
            let probe_targets = match &mix_plan {
                Some(p) => mix::mix_labels(&labels, k, &p.perm, &p.label),
                None => mix::one_hot(&labels, k),
            };
            let probe_targets = self.model.store.dev.tensor_from_vec(probe_targets, (n, k));
            let mut out = Vec::with_capacity(m_count);
            for (m, z) in zs.iter().enumerate() {
                let u = self.model.probe(m, detach(z).retaped::<Tape<D>>());
                out.push(u.as_vec());
                let l = cross_entropy_with_logits_loss(u, probe_targets.clone());
                probe_loss = Some(match probe_loss.take() {
                    None => l,
                    Some(acc) => acc + l,
                });
            }
            out
        } else {
            let host: Vec<Vec<f32>> = zs.iter().map(|z| z.as_vec()).collect();
            self.model.decompose(&host, n)
        };

        // Contributions (B-MM's estimator, else confidence) and their EMA.
        let kind = mix_cfg
            .balance
            .as_ref()
            .map_or(Contribution::Confidence, |b| b.contribution);
        let clean_fused: Vec<f32> = if kind == Contribution::Kl {
            let detached: Vec<Matrix<D>> = zs.iter().map(detach).collect();
            self.model.head(self.model.fuse(detached)).as_vec()
        } else {
            Vec::new()
        };
        let contribution: Vec<f64> = unimodal
            .iter()
            .map(|u| contribution::estimate(kind, u, &clean_fused, &labels, k))
            .collect();
        let relative = self
            .ema
            .as_mut()
            .map(|e| contribution::relative(e.update(&contribution)));

        // Feature-level mixing (MM, B-MM).
        if matches!(mix_cfg.method, MixupMethod::Mm | MixupMethod::Bmm) {
            mix_plan = draws.map(|d| plan::plan(d, m_count, mix_cfg, relative.as_deref()));
        }
        let dev = self.model.store.dev.clone();
        let to_perm = |p: &MixPlan| dev.tensor_from_vec(p.perm.clone(), (n,));
        let to_t =
            |l: &[f32]| dev.tensor_from_vec(l.iter().map(|v| 1.0 - v).collect::<Vec<f32>>(), (n,));
        let at_encoder = mix_cfg.method == MixupMethod::Bmm || mix_cfg.point == MixPoint::Encoder;
        let feature_mix = matches!(mix_cfg.method, MixupMethod::Mm | MixupMethod::Bmm);
        let h = match (&mix_plan, feature_mix) {
            (Some(p), true) if at_encoder => {
                let perm = to_perm(p);
                let mixed = zs
                    .into_iter()
                    .enumerate()
                    .map(|(m, z)| mix_rows(z, &perm, &to_t(&p.modality[m])))
                    .collect();
                self.model.fuse(mixed)
            }
            (Some(p), true) => mix_rows(self.model.fuse(zs), &to_perm(p), &to_t(&p.modality[0])),
            _ => self.model.fuse(zs),
        };
        let logits = self.model.head(h);
        let targets = match &mix_plan {
            Some(p) => mix::mix_labels(&labels, k, &p.perm, &p.label),
            None => mix::one_hot(&labels, k),
        };
        let loss = cross_entropy_with_logits_loss(logits, dev.tensor_from_vec(targets, (n, k)));
        let loss_value = loss.as_vec()[0] as f64;
        let total = match probe_loss {
            Some(p) => loss + p,
            None => loss,
        };
        let diverged = |what: String| {
            StepError::Diverged(Divergence {
                epoch: epoch + 1,
                step: self.step,
                what,
            })
        };
        if !loss_value.is_finite() {
            return Err(diverged(format!("loss is {loss_value}")));
        }
        let mut grads = total.backward();

        let ogm_k = modulation::modulate(
            self.recipe.modulation(),
            &self.model,
            &mut grads,
            &unimodal,
            &labels,
            (self.seed, self.step, epoch),
        );
        let norm = grad::global_norm(&self.model.store, &mut grads);
        if !norm.is_finite() {
            return Err(diverged(format!("gradient norm is {norm}")));
        }
        if let Some(clip) = self.recipe.train().grad_clip {
            let factor = grad::clip_factor(norm, clip);
            if factor < 1.0 {
                grad::scale(&self.model.store, &mut grads, factor);
            }
        }
        self.optimizer.step(&mut self.model.store, &mut grads, lr);

        if let Some(trace) = self.trace.as_mut() {
            trace
                .record(
                    epoch,
                    self.step,
                    n,
                    mix_plan.as_ref(),
                    &contribution,
                    self.ema.as_ref().and_then(|e| e.value()),
                )
                .map_err(StepError::Trace)?;
        }
        self.step += 1;
        let (lambda_sum, label_sum) = match &mix_plan {
            Some(p) => (
                p.modality
                    .iter()
                    .map(|l| l.iter().map(|&v| v as f64).sum())
                    .collect(),
                p.label.iter().map(|&v| v as f64).sum(),
            ),
            None => (vec![n as f64; m_count], n as f64),
        };
        Ok(StepStats {
            loss: loss_value,
            contribution,
            lambda_sum,
            label_sum,
            ogm_k,
        })
    }

    /// Scalar state and tensors for a checkpoint after the current epoch.
    pub fn checkpoint(&mut self, identity: &Identity) -> (CheckpointState, CheckpointTensors) {
        let exported = self.optimizer.export(&self.model.store);
        let mut streams = BTreeMap::new();
        streams.insert("shuffle".to_string(), self.epochs_done as u64);
        streams.insert("mixup".to_string(), self.step);
        streams.insert("noise".to_string(), self.step);
        let state = CheckpointState {
            format: 1,
            recipe_hash: identity.recipe_hash.clone(),
            code_fingerprint: identity.code_fingerprint.clone(),
            data_fingerprint: identity.data_fingerprint.clone(),
            epochs_done: self.epochs_done,
            step: self.step,
            streams,
            ema: self.ema.clone(),
            best: self.best.as_ref().map(|(m, _)| m.clone()),
            metrics: self.metrics.clone(),
            seconds: self.seconds,
        };
        let tensors = CheckpointTensors {
            params: crate::train::record::store_tensors(&self.model.store),
            first: exported.iter().map(|(_, a, _)| a.clone()).collect(),
            second: exported.iter().map(|(_, _, b)| b.clone()).collect(),
            best: self.best.as_ref().map(|(_, w)| w.clone()),
        };
        (state, tensors)
    }

    /// Continue from a checkpoint made by [`Trainer::checkpoint`].
    pub fn restore(&mut self, state: CheckpointState, tensors: CheckpointTensors) {
        for (id, (_, _, values)) in tensors.params.into_iter().enumerate() {
            self.model.store.set_values(id, values);
        }
        let buffers: Vec<(Vec<f32>, Vec<f32>)> =
            tensors.first.into_iter().zip(tensors.second).collect();
        self.optimizer
            .import(&self.model.store, &buffers, state.step);
        self.step = state.step;
        self.epochs_done = state.epochs_done;
        self.ema = state.ema;
        self.metrics = state.metrics;
        self.seconds = state.seconds;
        self.best = state.best.zip(tensors.best);
    }

    /// The metrics row and weights of the model that the recipe's `eval.select` reports.
    pub fn selected(&self) -> (EpochMetrics, Vec<Vec<f32>>) {
        match &self.best {
            Some((m, w)) => (m.clone(), w.clone()),
            None => (
                self.metrics
                    .last()
                    .cloned()
                    .expect("at least one epoch trained"),
                self.model
                    .store
                    .params
                    .iter()
                    .map(|p| p.tensor.to_host())
                    .collect(),
            ),
        }
    }
}

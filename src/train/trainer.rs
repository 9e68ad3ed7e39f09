//! The one training loop: shuffle, batch, ask the recipe's [`Method`] to run each step, then
//! evaluate, record and checkpoint. No method is named here — what a step computes is behind
//! the [`crate::method`] seam.

use super::checkpoint::{CheckpointError, CheckpointState, CheckpointTensors};
use super::eval::evaluate;
use super::trace::MixTrace;
use crate::data::augment::Augment;
use crate::data::corrupt::TrainStats;
use crate::data::{Dataset, Splits};
use crate::interrupt::interrupted;
use crate::method::metrics::{EpochReducer, MetricColumn};
use crate::method::{self, EpochContext, Method, StepContext, Updater};
use crate::model::{Backend, Model};
use crate::optim::optimizer::Optimizer;
use crate::optim::schedule::learning_rate;
use crate::recipe::file::EvalSelect;
use crate::recipe::Recipe;
use crate::record::metrics::EpochMetrics;
use crate::record::Identity;
use crate::rng::{stream, Stream};
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::time::Instant;

pub use crate::method::{Divergence, StepError, StepStats};

/// One finished step, as the progress display sees it.
#[derive(Debug, Clone, Copy)]
pub struct StepDone {
    /// The step's loss.
    pub loss: f64,
    /// Batches of the epoch done, this one included.
    pub batch: usize,
    /// Batches in the epoch's list.
    pub batches: usize,
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
    method: Box<dyn Method<D>>,
    /// Metrics of completed epochs.
    pub metrics: Vec<EpochMetrics>,
    best: Option<(EpochMetrics, Vec<Vec<f32>>)>,
    /// Seconds spent in earlier invocations plus this one's epochs.
    pub seconds: f64,
    /// Optional mix-plan trace (never changes results).
    pub trace: Option<MixTrace>,
    /// Training-time input augmentation (`train.modality_dropout`, `train.input_noise`).
    augment: Option<Augment>,
    /// The frozen models handed to the method, by their runs' identities (for the summary).
    pub frozen: Vec<crate::record::FrozenRecord>,
}

impl<'a, D: Backend> Trainer<'a, D> {
    /// A fresh run of the recipe's method: weights from the `init` stream of `seed`.
    pub fn new(
        recipe: &'a Recipe,
        seed: u64,
        data: &'a Dataset,
        splits: &'a Splits,
        dev: D,
    ) -> Result<Self, crate::data::error::MediaReadError> {
        let method = method::build(&recipe.method_settings(splits.train.len()));
        Self::with_method(recipe, seed, data, splits, dev, method)
    }

    /// A fresh run of `method` (a method the recipe does not name: the seam's test methods)
    /// with the recipe's data, model, optimiser and schedule. The method's own parameters
    /// are added right after the model's, from the `method-init` stream of `seed`.
    pub fn with_method(
        recipe: &'a Recipe,
        seed: u64,
        data: &'a Dataset,
        splits: &'a Splits,
        dev: D,
        mut method: Box<dyn Method<D>>,
    ) -> Result<Self, crate::data::error::MediaReadError> {
        let widths: Vec<usize> = data.modalities.iter().map(|m| m.width).collect();
        let mut model = Model::build(
            &recipe.model_settings(),
            &widths,
            data.num_classes(),
            seed,
            dev,
        );
        method.add_parameters(&mut model, &mut stream(seed, Stream::MethodInit, 0));
        let t = recipe.train();
        let augment = match t.modality_dropout > 0.0 || t.input_noise > 0.0 {
            true => Some(Augment {
                dropout: t.modality_dropout,
                noise: t.input_noise,
                std: TrainStats::of(data, &splits.train)?.std,
            }),
            false => None,
        };
        Ok(Self {
            recipe,
            seed,
            data,
            splits,
            model,
            optimizer: Optimizer::new(recipe.optimizer()),
            step: 0,
            epochs_done: 0,
            method,
            metrics: Vec::new(),
            best: None,
            seconds: 0.0,
            trace: None,
            augment,
            frozen: Vec::new(),
        })
    }

    /// Load the frozen models the method asks for ([`crate::method::Method::frozen_runs`]),
    /// each checked by its run's identity (and a unimodal teacher by its modality and feature
    /// width), and hand them to the method. A relative run is the run of that name beside this
    /// one under `out` ([`crate::method::frozen::FrozenRequest::run_dir`]). A run calls this
    /// once, before its first epoch or its resume.
    pub fn attach_frozen(
        &mut self,
        out: &std::path::Path,
        cache: &crate::data::Cache,
        log: &dyn Fn(&str),
    ) -> Result<(), super::frozen::FrozenError> {
        let mut requests = self.method.frozen_runs();
        if requests.is_empty() {
            return Ok(());
        }
        for r in &mut requests {
            if r.run_dir.is_relative() {
                let name = self.recipe.sibling_run_name(&r.run_dir.to_string_lossy());
                r.run_dir = crate::record::run_dir(out, &name, self.seed);
            }
        }
        let dev = self.model.store.dev.clone();
        let models = requests
            .iter()
            .map(|r| super::frozen::load(r, cache, log, dev.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        for (r, m) in requests.iter().zip(&models) {
            self.check_teacher(r, m)?;
        }
        self.frozen = requests
            .iter()
            .zip(&models)
            .map(|(r, m)| crate::record::FrozenRecord {
                dir: r.run_dir.display().to_string(),
                recipe_hash: m.recipe_hash.clone(),
                model_sha256: m.model_sha256.clone(),
            })
            .collect();
        self.method.receive_frozen(models);
        Ok(())
    }

    /// A unimodal teacher of modality `m` ([`crate::method::frozen::FrozenRequest::for_modality`])
    /// has exactly that modality and an encoder of the student's feature width.
    fn check_teacher(
        &self,
        r: &crate::method::frozen::FrozenRequest,
        m: &crate::method::frozen::FrozenModel<D>,
    ) -> Result<(), super::frozen::FrozenError> {
        let Some(i) = r.for_modality else {
            return Ok(());
        };
        let unfit = |what: String| super::frozen::FrozenError::Unfit {
            dir: r.run_dir.display().to_string(),
            what,
        };
        let want = &self.data.modalities[i].name;
        if m.modalities != [want.clone()] {
            return Err(unfit(format!(
                "a teacher of {want} must be a run of {want} alone; this run has {:?}",
                m.modalities
            )));
        }
        let (theirs, ours) = (m.model.encoders[0].out, self.model.encoders[i].out);
        if theirs != ours {
            return Err(unfit(format!(
                "its {want} encoder gives {theirs}-wide features, the student's {ours}-wide"
            )));
        }
        Ok(())
    }

    /// The method's epoch-start hook for `epoch` (extra passes over the training data).
    pub fn start_epoch(&mut self, epoch: usize) -> Result<(), StepError> {
        self.in_epoch(epoch, |method, cx| method.epoch_start(cx))
    }

    /// The method's epoch-end hook for `epoch` (after the last step, before the evaluation).
    pub fn end_epoch(&mut self, epoch: usize) -> Result<(), StepError> {
        self.in_epoch(epoch, |method, cx| method.epoch_end(cx))
    }

    /// Call `hook` with the method and what its epoch hooks see in `epoch`.
    fn in_epoch<R>(
        &mut self,
        epoch: usize,
        hook: impl FnOnce(&mut dyn Method<D>, &mut EpochContext<'_, D>) -> R,
    ) -> R {
        let optim = self.recipe.optimizer();
        let new_updater = || Box::new(Optimizer::<D>::new(optim)) as Box<dyn Updater<D>>;
        let mut cx = EpochContext {
            model: &mut self.model,
            data: self.data,
            train: &self.splits.train,
            val: &self.splits.val,
            test: &self.splits.test,
            new_updater: &new_updater,
            lr: learning_rate(optim, epoch, self.recipe.train().epochs),
            base_lr: optim.lr,
            seed: self.seed,
            epoch,
        };
        hook(self.method.as_mut(), &mut cx)
    }

    /// The training method, e.g. to set its state as a reference step starts from.
    pub fn method_mut(&mut self) -> &mut dyn Method<D> {
        self.method.as_mut()
    }

    /// The method's metric columns (`metrics.csv`, TensorBoard), for this run's modalities.
    pub fn metric_columns(&self) -> Vec<MetricColumn> {
        let names: Vec<String> = self
            .data
            .modalities
            .iter()
            .map(|m| m.name.clone())
            .collect();
        self.method.metric_columns(&names)
    }

    /// Optimiser steps of an epoch of the plain training list (a method that rebuilds the
    /// list may make an epoch longer or shorter: [`StepDone::batches`] is the epoch's own).
    pub fn steps_per_epoch(&self) -> usize {
        self.recipe.steps_per_epoch(self.splits.train.len())
    }

    /// Train one epoch, evaluate, and return its metrics (also kept in `self.metrics`).
    /// `on_step` is called after every step with the step's loss and where it stands in the
    /// epoch's list (which a method may lengthen). An error leaves the trainer mid-epoch:
    /// only the last checkpoint is a valid state to continue from.
    pub fn run_epoch(
        &mut self,
        on_step: &mut dyn FnMut(StepDone),
    ) -> Result<EpochMetrics, StepError> {
        let start = Instant::now();
        let epoch = self.epochs_done;
        let epochs = self.recipe.train().epochs;
        let lr = learning_rate(self.recipe.optimizer(), epoch, epochs);
        let mut order = self.splits.train.clone();
        order.shuffle(&mut stream(self.seed, Stream::Shuffle, epoch as u64));
        let m_count = self.data.modalities.len();
        let mut loss_sum = 0.0;
        let previous = self.metrics.last().map(|m| m.method.as_slice());
        let mut method_metrics = EpochReducer::new(self.metric_columns(), previous);
        let mut steps = 0usize;
        self.start_epoch(epoch)?;
        let samples = self.epoch_samples(epoch, order)?;
        let batches = samples.batches(self.recipe.train().batch_size);
        let view = crate::media::source::View::Train {
            seed: self.seed,
            epoch,
        };
        for (b, (idx, zeroed)) in batches.iter().copied().enumerate() {
            if interrupted() {
                return Err(StepError::Interrupted);
            }
            // Media: the next batch decodes on the loader threads while this one trains.
            if let Some((next, _)) = batches.get(b + 1) {
                self.data.prefetch(next, view);
            }
            let s = self.step_on(idx, zeroed, epoch, lr)?;
            loss_sum += s.loss * idx.len() as f64;
            let values = self.method.step_metrics(&s, idx.len(), m_count);
            method_metrics.add(&values, idx.len());
            steps += 1;
            on_step(StepDone {
                loss: s.loss,
                batch: b + 1,
                batches: batches.len(),
            });
        }
        self.end_epoch(epoch)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let n = samples.order.len() as f64;
        let (val, test) = self.evaluate_epoch()?;
        let seconds = start.elapsed().as_secs_f64();
        let row = EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / n,
            val_accuracy: val.as_ref().map(|v| v.accuracy),
            test_accuracy: test.accuracy,
            test_macro_f1: test.macro_f1,
            modality_accuracy: test.modality_accuracy,
            method: method_metrics.finish(),
            seconds,
            steps_per_second: steps as f64 / train_seconds.max(1e-9),
            memory_mib: crate::record::resident_memory_bytes()
                .map_or(0.0, |b| b as f64 / 1048576.0),
        };
        self.keep_if_best(&row);
        self.seconds += seconds;
        self.epochs_done += 1;
        self.metrics.push(row.clone());
        Ok(row)
    }

    /// The epoch's scores: on the validation split (when there is one) and the test split.
    fn evaluate_epoch(
        &self,
    ) -> Result<
        (
            Option<crate::train::eval::Evaluation>,
            crate::train::eval::Evaluation,
        ),
        StepError,
    > {
        let on = |idx: &[usize]| evaluate(&self.model, &*self.method, self.data, idx);
        let val = match self.splits.val.is_empty() {
            true => None,
            false => Some(on(&self.splits.val)?),
        };
        Ok((val, on(&self.splits.test)?))
    }

    /// Under `eval.select = "best-val"`, keep `row` and a copy of the weights when its
    /// validation accuracy beats the best so far.
    fn keep_if_best(&mut self, row: &EpochMetrics) {
        if self.recipe.train().eval.select != EvalSelect::BestVal {
            return;
        }
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

    /// One step of the recipe's method on training samples `idx`. A non-finite loss or
    /// gradient stops before the update, so the weights never take a NaN.
    pub fn train_step(
        &mut self,
        idx: &[usize],
        epoch: usize,
        lr: f64,
    ) -> Result<StepStats, StepError> {
        self.step_on(idx, None, epoch, lr)
    }

    /// The epoch's training list: the method's rebuild of the shuffled split `order`, checked.
    pub fn epoch_samples(
        &mut self,
        epoch: usize,
        order: Vec<usize>,
    ) -> Result<method::EpochSamples, StepError> {
        let samples = self.in_epoch(epoch, |method, cx| method.epoch_samples(cx, order))?;
        samples
            .check(self.data.labels.len(), self.data.modalities.len())
            .map_err(StepError::Contract)?;
        Ok(samples)
    }

    /// [`Trainer::train_step`] with the batch rows' modality zeroing of the epoch's list.
    pub fn step_on(
        &mut self,
        idx: &[usize],
        zeroed: Option<&[Vec<bool>]>,
        epoch: usize,
        lr: f64,
    ) -> Result<StepStats, StepError> {
        let mut cx = StepContext {
            model: &mut self.model,
            updater: &mut self.optimizer,
            data: self.data,
            idx,
            seed: self.seed,
            step: self.step,
            epoch,
            lr,
            augment: self.augment.as_ref().filter(|a| a.is_active()),
            grad_clip: self.recipe.train().grad_clip,
            zeroed,
        };
        let stats = match self.method.step(&mut cx) {
            Ok(stats) => stats,
            Err(e) => {
                self.model.store.discard_running_updates();
                return Err(e);
            }
        };
        // Batch norms' running statistics, recorded by this step's training-mode forwards.
        self.model.store.apply_running_updates();
        if let Some(trace) = self.trace.as_mut() {
            trace
                .record(
                    epoch,
                    self.step,
                    idx.len(),
                    stats.plan.as_ref(),
                    &stats.contribution,
                    stats.contribution_ema.as_deref(),
                )
                .map_err(StepError::Trace)?;
        }
        self.step += 1;
        Ok(stats)
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
            method: self.method.state(),
            best: self.best.as_ref().map(|(m, _)| m.clone()),
            metrics: self.metrics.clone(),
            seconds: self.seconds,
            frozen: self.frozen.clone(),
        };
        let tensors = CheckpointTensors {
            params: self.model.store.named_host_tensors(),
            first: exported.iter().map(|(_, a, _)| a.clone()).collect(),
            second: exported.iter().map(|(_, _, b)| b.clone()).collect(),
            best: self.best.as_ref().map(|(_, w)| w.clone()),
            method: self.method.state_tensors(&self.model.store),
        };
        (state, tensors)
    }

    /// Continue from a checkpoint made by [`Trainer::checkpoint`].
    pub fn restore(
        &mut self,
        state: CheckpointState,
        tensors: CheckpointTensors,
    ) -> Result<(), CheckpointError> {
        for (id, (_, _, values)) in tensors.params.into_iter().enumerate() {
            self.model.store.set_values(id, values);
        }
        let buffers: Vec<(Vec<f32>, Vec<f32>)> =
            tensors.first.into_iter().zip(tensors.second).collect();
        self.optimizer
            .import(&self.model.store, &buffers, state.step);
        self.step = state.step;
        self.epochs_done = state.epochs_done;
        let method_state = |reason: String| CheckpointError::Unreadable {
            path: "checkpoint".into(),
            reason: format!("method state: {reason}"),
        };
        self.method.restore(&state.method).map_err(method_state)?;
        let optim = self.recipe.optimizer();
        let new_updater = || Box::new(Optimizer::<D>::new(optim)) as Box<dyn Updater<D>>;
        self.method
            .restore_tensors(tensors.method, &self.model.store, &new_updater)
            .map_err(method_state)?;
        self.metrics = state.metrics;
        self.seconds = state.seconds;
        self.best = state.best.zip(tensors.best);
        Ok(())
    }

    /// The reported model's test scores under the recipe's corruptions (empty without
    /// `train.eval.robustness`).
    pub fn robustness(
        &self,
    ) -> Result<Vec<crate::record::RobustnessRow>, crate::data::error::MediaReadError> {
        let Some(spec) = self.recipe.robustness() else {
            return Ok(Vec::new());
        };
        let mut model = self.model.clone();
        for (id, w) in self.selected().1.into_iter().enumerate() {
            model.store.set_values(id, w);
        }
        let shapes: Vec<Option<[usize; 3]>> = self
            .data
            .modalities
            .iter()
            .map(|m| {
                let spec = self.recipe.manifest().modalities.iter();
                spec.clone()
                    .find(|s| s.name == m.name)
                    .and_then(|s| s.shape)
            })
            .collect();
        super::robustness::evaluate_robustness(
            &model,
            &*self.method,
            self.data,
            self.splits,
            &shapes,
            spec,
        )
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

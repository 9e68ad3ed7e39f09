//! The seam: the hooks a training method implements ([`Method`]) and what its epoch hooks see
//! ([`EpochContext`]).

use super::engine::{StepContext, StepError, StepStats, Updater};
use super::epoch_samples::EpochSamples;
use super::frozen::{FrozenModel, FrozenRequest};
use super::metrics::{self, MetricColumn};
use crate::data::Dataset;
use crate::model::params::{Matrix, NamedTensor};
use crate::model::ParamStore;
use crate::model::{Backend, Model};

/// What an epoch hook may read and change.
pub struct EpochContext<'a, D: Backend> {
    /// The model.
    pub model: &'a mut Model<D>,
    /// The (standardised) dataset.
    pub data: &'a Dataset,
    /// Training sample indices.
    pub train: &'a [usize],
    /// Validation sample indices (carved from the training data; empty without a validation
    /// split). Never the test set.
    pub val: &'a [usize],
    /// Test sample indices: read only by a switch that reproduces a released method's leakage
    /// and says so in its value (Re-learning's `diagnosis_split = "test-leakage"`).
    pub test: &'a [usize],
    /// A fresh optimiser of the recipe's kind, for methods that train copies of the model.
    pub new_updater: &'a dyn Fn() -> Box<dyn Updater<D>>,
    /// This epoch's learning rate.
    pub lr: f64,
    /// The optimiser's base learning rate (before any schedule), for model copies that
    /// restart from a fresh optimiser as the released code's do.
    pub base_lr: f64,
    /// Master seed of the run.
    pub seed: u64,
    /// The epoch (0-based).
    pub epoch: usize,
}

impl<D: Backend> EpochContext<'_, D> {
    /// The `resample` stream of this epoch: a method's draws for its training list.
    pub fn resample_rng(&self) -> rand_chacha::ChaCha8Rng {
        crate::rng::stream(self.seed, crate::rng::Stream::Resample, self.epoch as u64)
    }

    /// Clean encoder features (no gradient) of samples `idx`, per modality on the host
    /// (`idx.len() × d_m` each), computed in chunks ([`crate::data::Dataset::chunk`]); media in the evaluation view.
    pub fn features(&self, idx: &[usize]) -> Result<Vec<Vec<f32>>, StepError> {
        self.features_in(idx, crate::media::source::View::Eval)
    }

    /// [`EpochContext::features`] of media in `view` (the training view of an epoch, as a
    /// PyTorch pass over the training loader reads it).
    pub fn features_in(
        &self,
        idx: &[usize],
        view: crate::media::source::View,
    ) -> Result<Vec<Vec<f32>>, StepError> {
        let dev = self.model.store.dev.clone();
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); self.data.modalities.len()];
        for chunk in idx.chunks(self.data.chunk()) {
            for (m, modality) in self.data.modalities.iter().enumerate() {
                let rows = modality.rows(chunk, view)?;
                let x: Matrix<D> = dev.tensor_from_vec(rows, (chunk.len(), modality.width));
                out[m].extend(self.model.encode(m, x).as_vec());
            }
        }
        Ok(out)
    }
}

/// A training method.
///
/// Besides the step, the seam offers hooks for what the methods still to come need (each
/// has a default that does nothing, and a test method in `tests/seam.rs` that uses it):
/// trainable parameters of its own ([`Method::add_parameters`]), state as tensors and the
/// state of optimisers it owns ([`Method::state_tensors`]), per-sample loss weights that
/// carry gradient ([`super::weighted_loss`]), and the epoch's training list
/// ([`Method::epoch_samples`]).
pub trait Method<D: Backend> {
    /// Add the trainable parameters this method owns (an extra layer, a learnable scalar) to
    /// the model's store (`model.store`; `model.classes` and the encoders' widths size
    /// them), in group [`crate::model::params::Group::Method`], with names
    /// starting `method.`, drawing initial values from `rng` (the run's `method-init` stream).
    /// They are saved with the model and in checkpoints and updated by the optimiser like
    /// every parameter. Called once, right after the model is built (also when a saved run
    /// is loaded). Default: none.
    fn add_parameters(&mut self, _model: &mut Model<D>, _rng: &mut rand_chacha::ChaCha8Rng) {}

    /// The epoch's training list: `order` is the shuffled training split; a method may
    /// resample it (duplicates allowed) and zero modalities per entry, drawing from
    /// `cx`'s `resample` stream ([`EpochContext::resample_rng`]). Called after
    /// [`Method::epoch_start`]. Default: `order` as it is.
    fn epoch_samples(
        &mut self,
        _cx: &mut EpochContext<'_, D>,
        order: Vec<usize>,
    ) -> Result<EpochSamples, StepError> {
        Ok(EpochSamples::plain(order))
    }

    /// Before the epoch's first step (extra passes over the training data). Default: nothing.
    fn epoch_start(&mut self, _cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        Ok(())
    }

    /// One training step on the batch in `cx`.
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError>;

    /// The metric columns this method's steps report ([`metrics`]): names, TensorBoard
    /// tags and how an epoch reduces them. Default: [`metrics::standard_columns`].
    fn metric_columns(&self, modalities: &[String]) -> Vec<MetricColumn> {
        metrics::standard_columns(modalities)
    }

    /// The values of [`Method::metric_columns`] for one step's `stats` on a batch of `n`
    /// samples, in column order (`None`: not reported this step). Default:
    /// [`metrics::standard_values`].
    fn step_metrics(&self, stats: &StepStats, n: usize, modalities: usize) -> Vec<Option<f64>> {
        metrics::standard_values(stats, n, modalities)
    }

    /// After the epoch's last step, before the epoch's evaluation (extra passes, changes to
    /// the weights). Default: nothing.
    fn epoch_end(&mut self, _cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        Ok(())
    }

    /// Encoder features for evaluation from the inputs `xs` (one matrix per modality).
    /// Default: each modality's encoder on its own; a method with cross-modal blocks encodes
    /// through them ([`crate::model::Model::encode_exchanging`]).
    fn encode_eval(&self, model: &Model<D>, xs: Vec<Matrix<D>>) -> Vec<Matrix<D>> {
        xs.into_iter()
            .enumerate()
            .map(|(m, x)| model.encode(m, x))
            .collect()
    }

    /// Fused logits (`n × classes`, row-major) for evaluation from clean features. Default:
    /// the model's head on the fused features.
    fn predict(&self, model: &Model<D>, zs: Vec<Matrix<D>>) -> Vec<f32> {
        model.head(model.fuse(zs)).as_vec()
    }

    /// Each modality's own logits for evaluation (one `n × classes` host vector per modality)
    /// from the features of [`Method::encode_eval`]. Default: the model's unimodal logits
    /// ([`crate::model::Model::unimodal`]); an ensemble of frozen unimodal models gives theirs.
    fn unimodal_eval(&self, model: &Model<D>, zs: &[Matrix<D>]) -> Vec<Vec<f32>> {
        model.unimodal(zs)
    }

    /// State that must survive a checkpoint (running averages, prototypes, counters), as
    /// JSON. Default: none.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restore [`Method::state`].
    fn restore(&mut self, _state: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }

    /// The finished runs this method needs as frozen models (unimodal teachers). The loop
    /// loads and checks them ([`crate::train::frozen`]) and hands them to
    /// [`Method::receive_frozen`] before the first epoch, also on resume. Default: none.
    fn frozen_runs(&self) -> Vec<FrozenRequest> {
        Vec::new()
    }

    /// The models of [`Method::frozen_runs`], in that order.
    fn receive_frozen(&mut self, _models: Vec<FrozenModel<D>>) {}

    /// State that must survive a checkpoint as tensors (a copy of the initial weights, the
    /// buffers of optimisers the method owns: [`super::Updater::export_state`]), named
    /// uniquely within the method. Checkpoints store them as `method/<name>`. Default: none.
    fn state_tensors(&mut self, _store: &ParamStore<D>) -> Vec<NamedTensor> {
        Vec::new()
    }

    /// Restore [`Method::state_tensors`] (called after [`Method::restore`]; the store holds
    /// the checkpoint's weights). `new_updater` makes optimisers of the recipe's kind to load
    /// owned optimisers' state into.
    fn restore_tensors(
        &mut self,
        _tensors: Vec<NamedTensor>,
        _store: &ParamStore<D>,
        _new_updater: &dyn Fn() -> Box<dyn Updater<D>>,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// A method's state as checkpoint JSON (its serde form).
pub fn state_json<T: serde::Serialize>(state: &T) -> serde_json::Value {
    serde_json::to_value(state).unwrap_or(serde_json::Value::Null)
}

/// A method's state read back from checkpoint JSON.
pub fn state_from_json<T: serde::de::DeserializeOwned>(
    state: &serde_json::Value,
) -> Result<T, String> {
    serde_json::from_value(state.clone()).map_err(|e| e.to_string())
}

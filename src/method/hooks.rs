//! The seam: the hooks a training method implements ([`Method`]) and what its epoch hooks see
//! ([`EpochContext`]).

use super::engine::{StepContext, StepError, StepStats, Updater};
use super::metrics::{self, MetricColumn};
use crate::data::Dataset;
use crate::model::params::Matrix;
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
pub trait Method<D: Backend> {
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

    /// After the epoch's last step. Default: nothing.
    fn epoch_end(&mut self, _cx: &mut EpochContext<'_, D>) {}

    /// Fused logits (`n × classes`, row-major) for evaluation from clean features. Default:
    /// the model's head on the fused features.
    fn predict(&self, model: &Model<D>, zs: Vec<Matrix<D>>) -> Vec<f32> {
        model.head(model.fuse(zs)).as_vec()
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
}

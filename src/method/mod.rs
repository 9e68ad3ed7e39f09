//! Training methods behind one seam. The training loop ([`crate::train::trainer`]) knows no
//! method by name: it asks the recipe's [`Method`] to run each step (and gives it the epoch
//! hooks), records what the step reports, and checkpoints the method's state.
//!
//! * [`Method`] — the hooks: `epoch_start` (extra passes over the data), `step` (any number
//!   of forwards and backwards, gradient edits, one or several optimiser updates of chosen
//!   parameter groups), `epoch_end`, `predict`, and the state that goes into checkpoints;
//! * [`engine`] — what a step can use: the batch, encoding, trainable unimodal logits,
//!   backward with the divergence check, clipping and group-wise updates ([`StepContext`]);
//! * [`standard`] — the one-forward method most recipes use, assembled from three parts:
//!   a [`mixer::Mixer`] (where and how a batch is mixed: [`mixer`] for none, input mixup and
//!   MM, [`bmm`] for B-MM), gradient editors ([`ogm_ge`]) and extra loss terms
//!   ([`multitask`]).
//!
//! A new method is one file: either a new part (a mixer, an editor, a loss term) or a whole
//! [`Method`] for methods that need their own step (several backwards, masked forwards,
//! alternating updates).

pub mod bmm;
pub mod engine;
pub mod mixer;
pub mod multitask;
pub mod ogm_ge;
pub mod standard;

pub use engine::{Divergence, StepContext, StepError, StepStats, Updater};

use crate::data::Dataset;
use crate::model::params::Matrix;
use crate::model::{Backend, Model};
use crate::recipe::Recipe;

/// What an epoch hook may read and change.
pub struct EpochContext<'a, D: Backend> {
    /// The model.
    pub model: &'a mut Model<D>,
    /// The (standardised) dataset.
    pub data: &'a Dataset,
    /// Training sample indices.
    pub train: &'a [usize],
    /// Master seed of the run.
    pub seed: u64,
    /// The epoch (0-based).
    pub epoch: usize,
}

/// A training method.
pub trait Method<D: Backend> {
    /// Before the epoch's first step (extra passes over the training data). Default: nothing.
    fn epoch_start(&mut self, _cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        Ok(())
    }

    /// One training step on the batch in `cx`.
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError>;

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

/// The recipe's method: the [`standard::Standard`] step with the recipe's mixer (`[mixup]`),
/// gradient editors (`[modulation]`) and loss terms (`[losses]`). Each part's file decides
/// from the recipe whether it applies.
pub fn build<D: Backend>(recipe: &Recipe) -> Box<dyn Method<D>> {
    let editors = ogm_ge::from_recipe(recipe).into_iter().collect();
    let losses = multitask::from_recipe(recipe).into_iter().collect();
    Box::new(standard::Standard::new(
        mixer::build(recipe.mixup()),
        editors,
        losses,
    ))
}

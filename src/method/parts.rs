//! The parts of the [`super::standard`] step besides the mixer ([`super::mixer::Mixer`]):
//! gradient editors, applied between backward and the update, and extra loss terms added to the
//! fused loss. Each implementation is its own file.

use super::engine::{StepContext, StepError};
use super::EpochContext;
use crate::model::params::{Matrix, Tape};
use crate::model::Backend;
use dfdx::prelude::*;
use dfdx::tensor::Gradients;

/// A gradient edit between backward and the update.
pub trait GradientEditor<D: Backend> {
    /// Edit `grads` of the step in `cx`, given each modality's clean unimodal logits and the
    /// labels; returns a per-modality coefficient for the records.
    fn edit(
        &mut self,
        cx: &StepContext<'_, D>,
        grads: &mut Gradients<f32, D>,
        unimodal: &[Vec<f32>],
        labels: &[usize],
    ) -> Vec<f64>;
}

/// An extra loss of the step.
pub trait LossTerm<D: Backend> {
    /// Before the epoch's first step (e.g. an extra pass over the data). Default: nothing.
    fn epoch_start(&mut self, _cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        Ok(())
    }

    /// The term on the clean encoder features `zs` (with their tape) and labels.
    fn loss(
        &mut self,
        cx: &StepContext<'_, D>,
        zs: &[Matrix<D, Tape<D>>],
        labels: &[usize],
    ) -> Option<Tensor<(), f32, D, Tape<D>>>;

    /// State for checkpoints. Default: none.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restore [`LossTerm::state`].
    fn restore(&mut self, _state: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}

/// `acc + term`, where an absent sum is the term alone.
pub fn add_loss<D: Backend>(
    acc: Option<Tensor<(), f32, D, Tape<D>>>,
    term: Tensor<(), f32, D, Tape<D>>,
) -> Tensor<(), f32, D, Tape<D>> {
    match acc {
        None => term,
        Some(acc) => acc + term,
    }
}

//! The optimiser as a method sees it ([`Updater`]): one update of chosen parameter groups,
//! and its state as host buffers ([`UpdaterState`]) for checkpoints — so a method that owns
//! optimisers of its own (a fresh one per training stage) checkpoints them the same way.

use crate::model::params::{Group, ParamStore};
use crate::model::Backend;
use dfdx::tensor::Gradients;

/// An optimiser's state as host buffers: its step count and, per parameter of the store in
/// order, its first and second moment buffers (zeros where never used). A method that owns
/// optimisers of its own (a fresh one per training stage) checkpoints them through this.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdaterState {
    /// Steps taken (Adam's t).
    pub steps: u64,
    /// First-moment (velocity) buffers, per parameter.
    pub first: Vec<Vec<f32>>,
    /// Second-moment buffers, per parameter.
    pub second: Vec<Vec<f32>>,
}

/// The optimiser as a method sees it.
pub trait Updater<D: Backend> {
    /// One update, with learning rate `lr`, of the parameters whose group `include` accepts;
    /// the others are not touched at all.
    fn update(
        &mut self,
        store: &mut ParamStore<D>,
        grads: &mut Gradients<f32, D>,
        lr: f64,
        include: &dyn Fn(Group) -> bool,
    );

    /// The state, for a checkpoint.
    fn export_state(&mut self, store: &ParamStore<D>) -> UpdaterState;

    /// Continue from [`Updater::export_state`]'s state.
    fn import_state(&mut self, store: &ParamStore<D>, state: &UpdaterState);
}

/// Every parameter group.
pub fn all_groups(_: Group) -> bool {
    true
}

//! How a method with its own step is built from its typed settings ([`OwnStep`]): each
//! method file implements it for its settings, so the list of methods
//! ([`super::config::MethodSection`]) is the only place that names them all.

use super::hooks::Method;
use crate::model::Backend;

/// What building a method reads beyond its own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildContext {
    /// `train.batch_size`.
    pub batch_size: usize,
    /// Optimiser steps of an epoch of the plain training list.
    pub steps_per_epoch: usize,
}

/// A method's typed settings build the method.
pub trait OwnStep {
    /// The method, fresh.
    fn build<D: Backend>(&self, cx: &BuildContext) -> Box<dyn Method<D>>;
}

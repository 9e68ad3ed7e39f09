//! Train or evaluate: how a pass treats batch norm's statistics.

use super::super::backend::Backend;

/// Whether layers train (batch statistics, running statistics recorded) or evaluate (running
/// statistics), as PyTorch's `model.train()` / `model.eval()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training: batch statistics, and one running-statistics update queued per batch norm.
    Train,
    /// Training-mode batch statistics with no running-statistics update: a second forward of a
    /// batch whose `Train` pass already queued its update, standing in for a second backward
    /// through that pass's graph (a dfdx tape is consumed by one backward; PyTorch code
    /// retains the graph). Same values and gradients as the `Train` pass.
    TrainUnrecorded,
    /// Evaluation: running statistics, nothing queued (gradients still flow when the pass
    /// records a tape, as under PyTorch's `eval()` with autograd on).
    Eval,
}

impl Mode {
    /// Whether a pass in this mode queues running-statistics updates.
    pub fn records(self) -> bool {
        self == Mode::Train
    }

    /// The mode of a forward pass that records a tape (training) or not (evaluation): the
    /// rule [`crate::model::Model::encode`] applies.
    pub fn of_tape<D: Backend, T: dfdx::tensor::Tape<f32, D>>() -> Mode {
        if T::OWNS_TAPE {
            Mode::Train
        } else {
            Mode::Eval
        }
    }
}

//! Per-sample weighted cross-entropy whose weights carry gradient (seam hook (d)): MBSD's
//! released per-sample weights are computed from the same forward and are not detached, so
//! the loss's gradient reaches the network through the weights as well as the logits.

use crate::model::params::{Matrix, Tape, Vector};
use crate::model::Backend;
use dfdx::prelude::*;

/// `(1/n) Σ_i w_i · CE_i` with `CE_i = −Σ_k t_ik log softmax(logits_i)_k`: each sample's
/// cross-entropy against (soft) targets `t`, weighted by `w_i`. Both `logits` and `weights`
/// may be on the tape; a weight derived from the network passes its gradient on. Detach the
/// weights (a tape-free tensor) to stop it.
pub fn weighted_cross_entropy<D: Backend>(
    logits: Matrix<D, Tape<D>>,
    targets: Matrix<D>,
    weights: Vector<D, Tape<D>>,
) -> Tensor<(), f32, D, Tape<D>> {
    let per_sample = (logits.log_softmax::<Axis<1>>() * targets)
        .sum::<(usize,), Axis<1>>()
        .negate();
    (per_sample * weights).mean()
}

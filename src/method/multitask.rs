//! The multitask control as a loss term of the [`super::standard`] method: the fused loss plus
//! `weight` × each modality's own cross-entropy on its decomposed unimodal logits
//! u_m = z_m W_mᵀ + b/M (gradients reach the encoder and the head). It is the row that shows
//! what a balancing method gains beyond "just" adding unimodal losses. The unimodal terms use
//! the clean features and labels, before any mixing.

use super::config::MethodSettings;
use super::engine::StepContext;
use super::parts::{add_loss, LossTerm};
use crate::model::params::{Matrix, Tape};
use crate::model::Backend;
use dfdx::prelude::*;

/// Σ_m weight · CE(u_m, y).
pub struct Multitask {
    weight: f64,
}

impl<D: Backend> LossTerm<D> for Multitask {
    fn loss(
        &mut self,
        cx: &StepContext<'_, D>,
        zs: &[Matrix<D, Tape<D>>],
        labels: &[usize],
    ) -> Option<Tensor<(), f32, D, Tape<D>>> {
        let mut total: Option<Tensor<(), f32, D, Tape<D>>> = None;
        for (m, z) in zs.iter().enumerate() {
            // `retaped` keeps z's identity, so this term's gradient flows into the encoder.
            let u = cx
                .model
                .unimodal_taped(m, z.retaped::<Tape<D>>(), zs.len())?;
            let term = cross_entropy_with_logits_loss(u, cx.unimodal_targets(m, labels))
                * self.weight as f32;
            total = Some(add_loss(total, term));
        }
        total
    }
}

/// The multitask term, if `losses.unimodal > 0`.
pub fn from_settings<D: Backend>(settings: &MethodSettings) -> Option<Box<dyn LossTerm<D>>> {
    let weight = settings.losses.unimodal;
    (weight > 0.0).then(|| Box::new(Multitask { weight }) as Box<dyn LossTerm<D>>)
}

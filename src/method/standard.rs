//! The one-forward method: encode the batch, measure each modality's contribution on the clean
//! features, mix where the [`Mixer`] says, take the soft-label cross-entropy (plus probe losses
//! and any extra [`LossTerm`]s), backward once, let the [`GradientEditor`]s edit the gradients,
//! and update every parameter group. Most methods are this one with different parts (see
//! [`super::build`]); none is named here.

use super::engine::{all_groups, scale_rows, StepContext, StepError, StepStats};
use super::mixer::{MixAt, Mixer};
use super::parts::{add_loss, GradientEditor, LossTerm};
use super::{EpochContext, Method};
use crate::mixup::config::Contribution;
use crate::mixup::{mix, MixPlan};
use crate::model::layers::{detach, mix_rows};
use crate::model::params::{Matrix, Tape};
use crate::model::Backend;
use dfdx::prelude::*;

/// A mixer, gradient editors and extra loss terms.
pub struct Standard<D: Backend> {
    mixer: Box<dyn Mixer>,
    editors: Vec<Box<dyn GradientEditor<D>>>,
    losses: Vec<Box<dyn LossTerm<D>>>,
}

impl<D: Backend> Standard<D> {
    /// A method of these parts.
    pub fn new(
        mixer: Box<dyn Mixer>,
        editors: Vec<Box<dyn GradientEditor<D>>>,
        losses: Vec<Box<dyn LossTerm<D>>>,
    ) -> Self {
        Standard {
            mixer,
            editors,
            losses,
        }
    }
}

impl<D: Backend> Method<D> for Standard<D> {
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let n = cx.n();
        let k = cx.model.classes;
        let m_count = cx.modalities();
        let labels = cx.labels();
        let at = self.mixer.at();
        let draws = self.mixer.draw(cx.seed, cx.step, cx.epoch, n);
        let mut host = cx.host_batch()?;

        // Input mixing happens before encoding, with one λ per sample for every modality.
        let mut applied: Option<MixPlan> = None;
        if at == Some(MixAt::Input) {
            if let Some(d) = draws.clone() {
                let p = self.mixer.plan(d, m_count, None);
                for (m, rows) in host.iter_mut().enumerate() {
                    *rows =
                        mix::mix_rows(rows, cx.data.modalities[m].width, &p.perm, &p.modality[m]);
                }
                applied = Some(p);
            }
        }
        let zs = cx.encode(host);

        // Unimodal logits on the clean features (probe heads keep a tape for their own loss;
        // under input mixup they see the mixed batch and its mixed targets).
        let mut probe_loss: Option<Tensor<(), f32, D, Tape<D>>> = None;
        let unimodal: Vec<Vec<f32>> = if cx.model.uses_probes() {
            let probe_targets = match &applied {
                Some(p) => mix::mix_labels(&labels, k, &p.perm, &p.label),
                None => mix::one_hot(&labels, k),
            };
            let mut out = Vec::with_capacity(m_count);
            for (m, z) in zs.iter().enumerate() {
                let u = cx.model.probe(m, detach(z).retaped::<Tape<D>>());
                out.push(u.as_vec());
                // Only the rows where m is present (after modality dropout) count.
                let mut t = probe_targets.clone();
                if let Some(w) = cx.row_weights(m) {
                    scale_rows(&mut t, k, &w);
                }
                let t = cx.model.store.dev.tensor_from_vec(t, (n, k));
                let l = cross_entropy_with_logits_loss(u, t);
                probe_loss = Some(add_loss(probe_loss.take(), l));
            }
            out
        } else {
            cx.model.unimodal(&zs)
        };

        // Contributions with the mixer's estimator, and the mixer's running state.
        let kind = self.mixer.contribution();
        let clean_fused: Vec<f32> = if kind == Contribution::Kl {
            let detached: Vec<Matrix<D>> = zs.iter().map(detach).collect();
            cx.model.head(cx.model.fuse(detached)).as_vec()
        } else {
            Vec::new()
        };
        let contribution: Vec<f64> = unimodal
            .iter()
            .enumerate()
            .map(|(m, u)| cx.contribution(m, kind, u, &clean_fused, &labels))
            .collect();
        let (relative, average) = self.mixer.observe(&contribution);

        // Extra loss terms on the clean features, before they are mixed.
        let mut extra: Option<Tensor<(), f32, D, Tape<D>>> = None;
        for term in &mut self.losses {
            if let Some(l) = term.loss(cx, &zs, &labels) {
                extra = Some(add_loss(extra.take(), l));
            }
        }

        // Feature-level mixing, where the mixer says.
        if matches!(at, Some(MixAt::Fused) | Some(MixAt::Encoder)) {
            applied = draws.map(|d| self.mixer.plan(d, m_count, relative.as_deref()));
        }
        let dev = cx.model.store.dev.clone();
        let to_perm = |p: &MixPlan| dev.tensor_from_vec(p.perm.clone(), (n,));
        let to_t =
            |l: &[f32]| dev.tensor_from_vec(l.iter().map(|v| 1.0 - v).collect::<Vec<f32>>(), (n,));
        let h = match (&applied, at) {
            (Some(p), Some(MixAt::Encoder)) => {
                let perm = to_perm(p);
                let mixed = zs
                    .into_iter()
                    .enumerate()
                    .map(|(m, z)| mix_rows(z, &perm, &to_t(&p.modality[m])))
                    .collect();
                cx.model.fuse(mixed)
            }
            (Some(p), Some(MixAt::Fused)) => {
                mix_rows(cx.model.fuse(zs), &to_perm(p), &to_t(&p.modality[0]))
            }
            _ => cx.model.fuse(zs),
        };
        let logits = cx.model.head(h);
        let targets = match &applied {
            Some(p) => mix::mix_labels(&labels, k, &p.perm, &p.label),
            None => mix::one_hot(&labels, k),
        };
        let loss = cross_entropy_with_logits_loss(logits, dev.tensor_from_vec(targets, (n, k)));
        let loss_value = loss.as_vec()[0] as f64;
        if !loss_value.is_finite() {
            return Err(cx.diverged(format!("loss is {loss_value}")));
        }
        let mut total = loss;
        if let Some(p) = probe_loss {
            total = total + p;
        }
        if let Some(e) = extra {
            total = total + e;
        }
        let mut grads = cx.backward(total)?;

        let mut coefficients = vec![1.0; m_count];
        for editor in &mut self.editors {
            let c = editor.edit(cx, &mut grads, &unimodal, &labels);
            for (acc, v) in coefficients.iter_mut().zip(c) {
                *acc *= v;
            }
        }
        cx.update(&mut grads, &all_groups)?;
        Ok(StepStats {
            loss: loss_value,
            contribution,
            contribution_ema: average,
            plan: applied,
            coefficients,
        })
    }

    fn epoch_start(&mut self, cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        for term in &mut self.losses {
            term.epoch_start(cx)?;
        }
        Ok(())
    }

    fn state(&self) -> serde_json::Value {
        let losses: Vec<serde_json::Value> = self.losses.iter().map(|l| l.state()).collect();
        serde_json::json!({ "mixer": self.mixer.state(), "losses": losses })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if let Some(m) = state.get("mixer") {
            self.mixer.restore(m)?;
        }
        if let Some(serde_json::Value::Array(losses)) = state.get("losses") {
            if losses.len() != self.losses.len() {
                return Err(format!(
                    "{} loss-term states for {} loss terms",
                    losses.len(),
                    self.losses.len()
                ));
            }
            for (term, s) in self.losses.iter_mut().zip(losses) {
                term.restore(s)?;
            }
        }
        Ok(())
    }
}

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
use crate::mixup::plan::Draws;
use crate::mixup::{mix, MixPlan};
use crate::model::layers::{detach, mix_rows};
use crate::model::params::{Matrix, Tape};
use crate::model::Backend;
use dfdx::prelude::*;

/// A scalar loss on the tape.
type Loss<D> = Tensor<(), f32, D, Tape<D>>;

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

impl<D: Backend> Standard<D> {
    /// Input mixing, before encoding, with one λ per sample for every modality: the plan
    /// applied to `host`, if the mixer mixes inputs and this step draws.
    fn mix_inputs(
        &self,
        cx: &StepContext<'_, D>,
        host: &mut [Vec<f32>],
        draws: Option<Draws>,
    ) -> Option<MixPlan> {
        let p = self.mixer.plan(draws?, cx.modalities(), None);
        for (m, rows) in host.iter_mut().enumerate() {
            *rows = mix::mix_rows(rows, cx.data.modalities[m].width, &p.perm, &p.modality[m]);
        }
        Some(p)
    }

    /// The mixed (or clean) fused logits: feature-level mixing where the mixer says, with
    /// `plan` (already drawn).
    fn fused_logits(
        &self,
        cx: &StepContext<'_, D>,
        zs: Vec<Matrix<D, Tape<D>>>,
        plan: Option<&MixPlan>,
        at: Option<MixAt>,
    ) -> Matrix<D, Tape<D>> {
        let n = cx.n();
        let dev = cx.model.store.dev.clone();
        let to_perm = |p: &MixPlan| dev.tensor_from_vec(p.perm.clone(), (n,));
        let to_t =
            |l: &[f32]| dev.tensor_from_vec(l.iter().map(|v| 1.0 - v).collect::<Vec<f32>>(), (n,));
        let h = match (plan, at) {
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
        cx.model.head(h)
    }

    /// Each modality's contribution with the mixer's estimator on the clean features, and the
    /// mixer's running state after observing them.
    fn contributions(
        &mut self,
        cx: &StepContext<'_, D>,
        zs: &[Matrix<D, Tape<D>>],
        unimodal: &[Vec<f32>],
        labels: &[usize],
    ) -> Observed {
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
            .map(|(m, u)| cx.contribution(m, kind, u, &clean_fused, labels))
            .collect();
        let (relative, average) = self.mixer.observe(&contribution);
        Observed {
            contribution,
            relative,
            average,
        }
    }
}

/// The contributions a step measured and what the mixer made of them.
struct Observed {
    /// c_m of each modality.
    contribution: Vec<f64>,
    /// The relative contributions B-MM's ratios follow (`None` for other mixers).
    relative: Option<Vec<f64>>,
    /// The mixer's running average, when it keeps one.
    average: Option<Vec<f64>>,
}

/// Unimodal logits on the clean features, host side: the probes' (which keep a tape for
/// their own loss, returned too; under input mixup they see the mixed batch and its mixed
/// targets) or the head's decomposition.
fn unimodal_logits<D: Backend>(
    cx: &StepContext<'_, D>,
    zs: &[Matrix<D, Tape<D>>],
    input_plan: Option<&MixPlan>,
    labels: &[usize],
) -> (Vec<Vec<f32>>, Option<Loss<D>>) {
    if !cx.model.uses_probes() {
        return (cx.model.unimodal(zs), None);
    }
    let (n, k) = (cx.n(), cx.model.classes);
    let probe_targets = match input_plan {
        Some(p) => mix::mix_labels(labels, k, &p.perm, &p.label),
        None => mix::one_hot(labels, k),
    };
    let mut probe_loss: Option<Loss<D>> = None;
    let mut out = Vec::with_capacity(zs.len());
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
    (out, probe_loss)
}

impl<D: Backend> Method<D> for Standard<D> {
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let (n, k, m_count) = (cx.n(), cx.model.classes, cx.modalities());
        let labels = cx.labels();
        let at = self.mixer.at();
        let draws = self.mixer.draw(cx.seed, cx.step, cx.epoch, n);
        let mut host = cx.host_batch()?;
        let mut applied: Option<MixPlan> = match at {
            Some(MixAt::Input) => self.mix_inputs(cx, &mut host, draws.clone()),
            _ => None,
        };
        let zs = cx.encode(host);
        let (unimodal, probe_loss) = unimodal_logits(cx, &zs, applied.as_ref(), &labels);
        let observed = self.contributions(cx, &zs, &unimodal, &labels);

        // Extra loss terms on the clean features, before they are mixed.
        let mut extra: Option<Loss<D>> = None;
        for term in &mut self.losses {
            if let Some(l) = term.loss(cx, &zs, &labels) {
                extra = Some(add_loss(extra.take(), l));
            }
        }

        // Feature-level mixing, where the mixer says.
        if matches!(at, Some(MixAt::Fused) | Some(MixAt::Encoder)) {
            applied = draws.map(|d| self.mixer.plan(d, m_count, observed.relative.as_deref()));
        }
        let logits = self.fused_logits(cx, zs, applied.as_ref(), at);
        let targets = match &applied {
            Some(p) => mix::mix_labels(&labels, k, &p.perm, &p.label),
            None => mix::one_hot(&labels, k),
        };
        let dev = cx.model.store.dev.clone();
        let loss = cross_entropy_with_logits_loss(logits, dev.tensor_from_vec(targets, (n, k)));
        let loss_value = loss.as_vec()[0] as f64;
        if !loss_value.is_finite() {
            return Err(cx.diverged(format!("loss is {loss_value}")));
        }
        let total = [probe_loss, extra]
            .into_iter()
            .flatten()
            .fold(loss, |acc, l| acc + l);
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
            contribution: observed.contribution,
            contribution_ema: observed.average,
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

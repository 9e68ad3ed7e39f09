//! UME, the unimodal ensemble (Du et al., ICML 2023, "On uni-modal feature learning in
//! supervised multi-modal learning"; docs/methods.md §3): unimodal models trained on their
//! own, their logits averaged at test. BalanceBenchmark has no UME, and no released code of it
//! was found; this follows the paper's definition.
//!
//! The members are finished unimodal balmix runs beside this one, named in `method.members`
//! like UMT's teachers and loaded, checked and recorded the same way ([`super::frozen`]); a
//! saved UME run's evaluation (`balmix eval`) loads the members its summary records. Nothing is
//! trained: a step only reports the ensemble's cross-entropy on the batch, so a UME recipe
//! runs one epoch. Evaluation encodes each modality with its member (evaluation mode), and the
//! fused logits are the mean of the members' logits; each modality's own accuracy is its
//! member's.

use super::engine::{StepContext, StepError, StepStats};
use super::frozen::{FrozenModel, FrozenRequest};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::mixup::mix::softmax_rows;
use crate::model::params::Matrix;
use crate::model::{Backend, Model};
use serde::{Deserialize, Serialize};

/// `[method]` with `kind = "ume"`: the keys UME takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct UmeConfig {
    /// ume: each modality's unimodal member, in `dataset.modalities` order: the name of a
    /// finished run beside this one, read from `<out>/<this recipe's folder>/<member>/seed-<seed>`
    /// (for `synthetic/ume`, `"unimodal-audio"` is the run of `synthetic/unimodal-audio`), with
    /// the same seed (and fold); it must have that one modality and the same encoder. Train the
    /// members first (a table lists their rows before this one). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

/// UME's resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct UmeSettings {
    /// Each modality's member run, as named beside the ensemble.
    pub members: Vec<String>,
}

impl UmeConfig {
    /// The settings; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<UmeSettings, ConfigProblem> {
        let members = ConfigProblem::runs_per_modality(
            "members",
            self.members.as_ref(),
            "method.kind",
            "ume",
            cx.modalities,
        )?;
        Ok(UmeSettings { members })
    }
}

/// UME with its settings and, once attached, its members.
pub struct Ume<D: Backend> {
    settings: UmeSettings,
    members: Vec<FrozenModel<D>>,
}

impl<D: Backend> Ume<D> {
    /// UME with `settings`, no members yet.
    pub fn new(settings: UmeSettings) -> Ume<D> {
        Ume {
            settings,
            members: Vec::new(),
        }
    }

    /// The members, or why there are none: they are attached before the first epoch and when
    /// a saved run is loaded for evaluation.
    fn attached(&self, modalities: usize) -> Result<&[FrozenModel<D>], String> {
        if self.members.len() == modalities {
            Ok(&self.members)
        } else {
            Err(format!(
                "ume has {} members for {modalities} modalities (they are attached before the first epoch and when a saved run is loaded)",
                self.members.len()
            ))
        }
    }
}

/// The logits (`n × classes`, host) of a unimodal `member` on its features `z`.
pub fn member_logits<D: Backend>(member: &Model<D>, z: Matrix<D>) -> Vec<f32> {
    member.head(member.fuse(vec![z])).as_vec()
}

/// The ensemble's logits: the mean of the members' (each `n × classes`, host), in f32 summed
/// in modality order.
pub fn mean_logits(logits: &[Vec<f32>]) -> Vec<f32> {
    let m = logits.len().max(1) as f32;
    let mut out = vec![0.0f32; logits.first().map_or(0, Vec::len)];
    for l in logits {
        for (o, v) in out.iter_mut().zip(l) {
            *o += v;
        }
    }
    out.iter_mut().for_each(|o| *o /= m);
    out
}

/// Mean cross-entropy of host `logits` (`n × k`) against `labels`.
fn cross_entropy(logits: &[f32], labels: &[usize], k: usize) -> f64 {
    let p = softmax_rows(logits, k);
    let n = labels.len().max(1) as f64;
    labels
        .iter()
        .enumerate()
        .map(|(i, &y)| -p[i * k + y].max(f64::MIN_POSITIVE).ln())
        .sum::<f64>()
        / n
}

impl OwnStep for UmeSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Ume::<D>::new(self.clone()))
    }
}

impl<D: Backend> Method<D> for Ume<D> {
    fn frozen_runs(&self) -> Vec<FrozenRequest> {
        FrozenRequest::per_modality(&self.settings.members, true)
    }

    fn receive_frozen(&mut self, models: Vec<FrozenModel<D>>) {
        self.members = models;
    }

    /// No update: the ensemble's cross-entropy on the batch, its members' logits as the
    /// modalities' own.
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let n = cx.n();
        let host = cx.host_batch()?;
        let members = self.attached(host.len()).map_err(StepError::Contract)?;
        let logits: Vec<Vec<f32>> = members
            .iter()
            .zip(host)
            .map(|(member, rows)| {
                let width = rows.len() / n.max(1);
                let x: Matrix<D> = member.model.store.dev.tensor_from_vec(rows, (n, width));
                member_logits(&member.model, member.model.encode(0, x))
            })
            .collect();
        let loss = cross_entropy(&mean_logits(&logits), &labels, cx.model.classes);
        Ok(cx.plain_stats(loss, &logits, &labels))
    }

    /// Each modality through its member's encoder, in evaluation mode.
    fn encode_eval(&self, _model: &Model<D>, xs: Vec<Matrix<D>>) -> Vec<Matrix<D>> {
        let members = self.attached(xs.len()).unwrap_or_else(|e| panic!("{e}"));
        members
            .iter()
            .zip(xs)
            .map(|(member, x)| member.model.encode(0, x))
            .collect()
    }

    /// The mean of the members' logits.
    fn predict(&self, model: &Model<D>, zs: Vec<Matrix<D>>) -> Vec<f32> {
        mean_logits(&self.unimodal_eval(model, &zs))
    }

    /// Each member's logits on its features.
    fn unimodal_eval(&self, _model: &Model<D>, zs: &[Matrix<D>]) -> Vec<Vec<f32>> {
        let members = self.attached(zs.len()).unwrap_or_else(|e| panic!("{e}"));
        members
            .iter()
            .zip(zs)
            .map(|(member, z)| member_logits(&member.model, z.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ensemble's reported loss: rows (0, ln 3) give softmax (1/4, 3/4); label 1 costs
    /// −ln(3/4), label 0 costs −ln(1/4), and the loss is their mean.
    #[test]
    fn the_reported_loss_is_the_mean_cross_entropy_of_the_logits() {
        let l3 = 3f32.ln();
        let got = cross_entropy(&[0.0, l3, 0.0, l3], &[1, 0], 2);
        let want = (-(0.75f64).ln() - (0.25f64).ln()) / 2.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}

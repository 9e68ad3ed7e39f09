//! MBSD, BalanceBenchmark's label for a modality-balanced self-distillation loss, as its
//! `MBSD_trainer.py` (4c1482f) runs it for two modalities (docs/methods.md §3).
//!
//! With the split unimodal logits u_m = z_m W_mᵀ + b/2, q_m,i = softmax(u_m)_i,y_i, the stronger
//! and weaker true-class probabilities ps_i = max(q_a,i, q_v,i), pw_i = min(…) (the first
//! modality at a tie, as Python's `max` and `min` pick), and per-sample weights
//! w_i = ps_i − pw_i when either modality predicts y_i, else 0, the loss inside the window is
//! CE(f) + Σ_m CE(u_m) + (1/n) Σ_i w_i RS_i + (1/n) Σ_i w_i KL_i, with the logit discrepancy
//! RS_i = (1/C) Σ_c (u_a − u_v)²_ic and the released KL term KL_i = pw_i (ln pw_i − ps_i) — the
//! library KL call given a probability where it expects a log-probability; `kl = "true"` takes
//! pw_i (ln pw_i − ln ps_i). The weights carry gradient as released (`weights = "detached"`
//! stops it). Outside the window the loss is CE(f). Prediction is the fused head.

use super::engine::{StepContext, StepError, StepStats, NEEDS_DECOMPOSABLE_HEAD};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::epoch_window::EpochWindow;
use crate::model::params::{Matrix, Tape};
use crate::model::Backend;
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

/// `[method]` with `kind = "mbsd"`: the keys MBSD takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MbsdConfig {
    /// mbsd: the KL term. Default `"released"`: pw (ln pw − ps), the library call given a
    /// probability as its input; `"true"`: pw (ln pw − ln ps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl: Option<MbsdKl>,
    /// mbsd: whether gradient flows through the per-sample weights. Default `"with-gradient"`
    /// (released); `"detached"` treats them as constants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<MbsdWeights>,
    /// mbsd: epochs `[start, stop)` whose steps add the unimodal, discrepancy and KL terms;
    /// other steps take CE(f). Default: every epoch (the released window is epochs 0–80
    /// inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
}

/// MBSD's KL term.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MbsdKl {
    /// pw (ln pw − ps): `F.kl_div(ps, pw)` as released, ps taken as a log-probability.
    #[default]
    Released,
    /// pw (ln pw − ln ps): the same call given ln ps.
    True,
}

/// Whether MBSD's per-sample weights pass gradient.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MbsdWeights {
    /// Gradient flows through w_i = ps_i − pw_i (released: the weights are written into a tensor
    /// from probabilities that carry gradient).
    #[default]
    WithGradient,
    /// The weights are constants.
    Detached,
}

/// MBSD's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MbsdSettings {
    /// The KL term.
    pub kl: MbsdKl,
    /// Whether the weights pass gradient.
    pub weights: MbsdWeights,
    /// Epochs whose steps use the full loss.
    pub window: EpochWindow,
}

impl MbsdConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<MbsdSettings, ConfigProblem> {
        cx.needs_split_head(cx.modalities == 2)?;
        let window = ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, cx.epochs)?;
        Ok(MbsdSettings {
            kl: *self.kl.get_or_insert_default(),
            weights: *self.weights.get_or_insert_default(),
            window,
        })
    }
}

/// MBSD with its settings.
pub struct Mbsd {
    settings: MbsdSettings,
}

impl Mbsd {
    /// MBSD with `settings`.
    pub fn new(settings: MbsdSettings) -> Mbsd {
        Mbsd { settings }
    }
}

/// Per sample, from the host unimodal logits of two modalities: whether the first modality's
/// true-class probability is the larger (Python's `max` keeps the first at a tie) and whether
/// either modality predicts the label (the weight's indicator).
pub fn selections(u: &[Vec<f32>], labels: &[usize], classes: usize) -> (Vec<f32>, Vec<f32>) {
    let p: Vec<Vec<f64>> = u
        .iter()
        .map(|v| crate::mixup::mix::softmax_rows(v, classes))
        .collect();
    let argmax = |row: &[f64]| {
        row.iter()
            .enumerate()
            .fold(0, |best, (c, &v)| if v > row[best] { c } else { best })
    };
    let mut first_larger = Vec::with_capacity(labels.len());
    let mut either_right = Vec::with_capacity(labels.len());
    for (i, &y) in labels.iter().enumerate() {
        let row = |m: usize| &p[m][i * classes..(i + 1) * classes];
        first_larger.push(if row(1)[y] > row(0)[y] { 0.0 } else { 1.0 });
        let right = argmax(row(0)) == y || argmax(row(1)) == y;
        either_right.push(if right { 1.0 } else { 0.0 });
    }
    (first_larger, either_right)
}

impl OwnStep for MbsdSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Mbsd::new(*self))
    }
}

impl<D: Backend> Method<D> for Mbsd {
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        let (n, k) = (cx.n(), cx.model.classes);
        let host = cx.host_batch()?;
        let zs = cx.encode(host);
        let unimodal = cx.model.unimodal(&zs);
        let dev = cx.model.store.dev.clone();
        let mut extra: Option<Tensor<(), f32, D, Tape<D>>> = None;
        if self.settings.window.contains(cx.epoch) {
            // Each use of a unimodal logit is a fresh branch on the features' tapes.
            let u = |m: usize| -> Result<Matrix<D, Tape<D>>, StepError> {
                cx.model
                    .unimodal_taped(m, zs[m].retaped::<Tape<D>>(), 2)
                    .ok_or(StepError::Unsupported(NEEDS_DECOMPOSABLE_HEAD))
            };
            let q = |m: usize| -> Result<Tensor<(usize,), f32, D, Tape<D>>, StepError> {
                Ok((u(m)?.softmax::<Axis<1>>() * targets.clone()).sum::<(usize,), Axis<1>>())
            };
            let (first, right) = selections(&unimodal, &labels, k);
            let vector =
                |v: &[f32]| -> Tensor<(usize,), f32, D> { dev.tensor_from_vec(v.to_vec(), (n,)) };
            let second: Vec<f32> = first.iter().map(|s| 1.0 - s).collect();
            // ps = the larger true-class probability, pw the smaller, as taped vectors.
            let ps =
                || -> Result<_, StepError> { Ok(q(0)? * vector(&first) + q(1)? * vector(&second)) };
            let pw =
                || -> Result<_, StepError> { Ok(q(0)? * vector(&second) + q(1)? * vector(&first)) };
            let weight = || -> Result<Tensor<(usize,), f32, D, Tape<D>>, StepError> {
                let w = (ps()? - pw()?) * vector(&right);
                Ok(match self.settings.weights {
                    MbsdWeights::WithGradient => w,
                    MbsdWeights::Detached => vector(&w.as_vec()).retaped::<Tape<D>>(),
                })
            };
            let rs = (u(0)? - u(1)?).square().sum::<(usize,), Axis<1>>() * (1.0 / k as f32);
            let kl = match self.settings.kl {
                MbsdKl::Released => pw()? * (pw()?.ln() - ps()?),
                MbsdKl::True => pw()? * (pw()?.ln() - ps()?.ln()),
            };
            let inv_n = 1.0 / n as f32;
            let terms = cross_entropy_with_logits_loss(u(0)?, targets.clone())
                + cross_entropy_with_logits_loss(u(1)?, targets.clone())
                + (weight()? * rs).sum::<(), _>() * inv_n
                + (weight()? * kl).sum::<(), _>() * inv_n;
            extra = Some(terms);
        }
        let fused = cross_entropy_with_logits_loss(cx.model.head(cx.model.fuse(zs)), targets);
        let fused_value = fused.as_vec()[0] as f64;
        let loss = match extra {
            None => fused,
            Some(e) => fused + e,
        };
        cx.update_all(loss)?;
        Ok(cx.plain_stats(fused_value, &unimodal, &labels))
    }
}

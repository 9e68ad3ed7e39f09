//! OPM, on-the-fly prediction modulation (Wei et al., TPAMI 2024), as BalanceBenchmark's
//! `OPM_trainer.py` (4c1482f) runs it (docs/methods.md §3).
//!
//! In each step inside the method's window, each modality's score s_m = Σ_i softmax(u_m)_i,y_i
//! (u_m the split unimodal logits z_m W_mᵀ + b/M) gives its dominance
//! r_m = tanh(relu(s_m / (Σ_{o≠m} s_o + 10⁻⁵) − 1)) and its drop probability q_m =
//! q_base·(1 + α·r_m) when r_m > 0, else 0 — so only a modality that scores above all the
//! others together is ever dropped. With probability p_exe (a draw of the `modality-drop`
//! stream, indexed by global step) the step drops: each sample keeps modality m's features with
//! probability 1 − q_m (Bernoulli draws of the same stream), kept features are divided by
//! 1 − θ + 10⁻⁵ with θ = Σ_m d_m q_m / Σ_m d_m (d_m the feature widths), and samples that lose
//! every modality leave the loss. The loss is the cross-entropy of the fused head on those
//! features over the kept samples; the unimodal losses the released trainer computes are never
//! backpropagated. Outside the window the loss is the plain fused cross-entropy (the released
//! trainer has no step there). Prediction is the fused head on whole features.

use super::engine::{StepContext, StepError, StepStats};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::weighted_loss::weighted_cross_entropy;
use super::Method;
use crate::epoch_window::EpochWindow;
use crate::model::params::{Matrix, Tape};
use crate::model::Backend;
use crate::rng::{stream, Stream};
use dfdx::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// OPM's α (BalanceBenchmark's `alpha` for OPM in configs/trainer_config.yaml).
pub const OPM_ALPHA: f64 = 0.5;
/// OPM's p_exe (BalanceBenchmark's `p_exe`).
pub const OPM_P_EXE: f64 = 0.7;
/// OPM's q_base (BalanceBenchmark's `q_base`).
pub const OPM_Q_BASE: f64 = 0.4;

/// `[method]` with `kind = "opm"`: the keys OPM takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct OpmConfig {
    /// opm: α ≥ 0, how much the dominance raises the drop probability q = q_base·(1 + α·r).
    /// Default `0.5` (BalanceBenchmark's `alpha` for OPM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// opm: q_base ≥ 0, the drop probability of a barely dominant modality; q_base·(1 + α) ≤ 1
    /// so that q is a probability. Default `0.4` (BalanceBenchmark's `q_base`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q_base: Option<f64>,
    /// opm: p_exe in [0, 1], the probability that a step drops at all. Default `0.7`
    /// (BalanceBenchmark's `p_exe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_exe: Option<f64>,
    /// opm: epochs `[start, stop)` whose steps may drop features; other steps take the plain
    /// fused cross-entropy. Default: every epoch (the released window is epochs 0–80 inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
}

/// OPM's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpmSettings {
    /// α.
    pub alpha: f64,
    /// q_base.
    pub q_base: f64,
    /// p_exe.
    pub p_exe: f64,
    /// Epochs whose steps may drop.
    pub window: EpochWindow,
}

impl OpmConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<OpmSettings, ConfigProblem> {
        cx.needs_split_head(cx.modalities >= 2)?;
        let alpha = *self.alpha.get_or_insert(OPM_ALPHA);
        ConfigProblem::in_range("alpha", alpha, "[0, ∞)", |v| v >= 0.0 && v.is_finite())?;
        let q_base = *self.q_base.get_or_insert(OPM_Q_BASE);
        ConfigProblem::in_range("q_base", q_base, "[0, 1/(1 + alpha)]", |v| {
            v >= 0.0 && v * (1.0 + alpha) <= 1.0
        })?;
        let p_exe = *self.p_exe.get_or_insert(OPM_P_EXE);
        ConfigProblem::in_range("p_exe", p_exe, "[0, 1]", |v| (0.0..=1.0).contains(&v))?;
        let window = ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, cx.epochs)?;
        Ok(OpmSettings {
            alpha,
            q_base,
            p_exe,
            window,
        })
    }
}

/// Each modality's drop probability q_m from its score `scores[m]` = Σ_i softmax(u_m)_i,y_i.
pub fn drop_probabilities(scores: &[f64], alpha: f64, q_base: f64) -> Vec<f64> {
    let total: f64 = scores.iter().sum();
    scores
        .iter()
        .map(|&s| {
            let r = (s / (total - s + 1e-5) - 1.0).max(0.0).tanh();
            if r > 0.0 {
                q_base * (1.0 + alpha * r)
            } else {
                0.0
            }
        })
        .collect()
}

/// One step's drop: per modality and sample, whether the features are kept, and the scale of
/// kept features. `None` when the step does not drop.
#[derive(Debug, Clone, PartialEq)]
pub struct Drop {
    /// `keep[m][i]`: sample i keeps modality m.
    pub keep: Vec<Vec<bool>>,
    /// 1 / (1 − θ + 10⁻⁵).
    pub scale: f64,
}

/// The drop of global step `step` for `n` samples: whether to drop at all (a uniform draw
/// u ≥ 1 − p_exe, as released), then per modality and sample a keep draw with probability
/// 1 − q_m, all from the `modality-drop` stream; θ from the feature `widths`.
pub fn draw_drop(
    seed: u64,
    step: u64,
    q: &[f64],
    widths: &[usize],
    n: usize,
    p_exe: f64,
) -> Option<Drop> {
    let mut rng = stream(seed, Stream::ModalityDrop, step);
    if rng.gen::<f64>() < 1.0 - p_exe {
        return None;
    }
    let keep = q
        .iter()
        .map(|&qm| (0..n).map(|_| rng.gen::<f64>() < 1.0 - qm).collect())
        .collect();
    let d_sum: usize = widths.iter().sum();
    let theta = q
        .iter()
        .zip(widths)
        .map(|(qm, &d)| qm * d as f64)
        .sum::<f64>()
        / d_sum as f64;
    Some(Drop {
        keep,
        scale: 1.0 / (1.0 - theta + 1e-5),
    })
}

/// OPM with its settings.
pub struct Opm {
    settings: OpmSettings,
}

impl Opm {
    /// OPM with `settings`.
    pub fn new(settings: OpmSettings) -> Opm {
        Opm { settings }
    }
}

impl OwnStep for OpmSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Opm::new(*self))
    }
}

impl<D: Backend> Method<D> for Opm {
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        let n = cx.n();
        let host = cx.host_batch()?;
        let zs = cx.encode(host);
        let unimodal = cx.model.unimodal(&zs);
        let mut drop = None;
        if self.settings.window.contains(cx.epoch) {
            let scores: Vec<f64> = unimodal
                .iter()
                .enumerate()
                .map(|(m, u)| cx.label_score(m, u, &labels))
                .collect();
            let q = drop_probabilities(&scores, self.settings.alpha, self.settings.q_base);
            let widths: Vec<usize> = zs.iter().map(|z| z.shape().1).collect();
            drop = draw_drop(cx.seed, cx.step, &q, &widths, n, self.settings.p_exe);
        }
        let dev = cx.model.store.dev.clone();
        let (inputs, kept): (Vec<Matrix<D, Tape<D>>>, Vec<f32>) = match &drop {
            None => (zs, vec![1.0; n]),
            Some(d) => {
                let inputs = zs
                    .into_iter()
                    .zip(&d.keep)
                    .map(|(z, keep)| {
                        let width = z.shape().1;
                        let rows: Vec<f32> = keep
                            .iter()
                            .flat_map(|&k| {
                                let v = if k { d.scale as f32 } else { 0.0 };
                                std::iter::repeat_n(v, width)
                            })
                            .collect();
                        z * dev.tensor_from_vec(rows, (n, width))
                    })
                    .collect();
                let kept = (0..n)
                    .map(|i| d.keep.iter().any(|k| k[i]) as u8 as f32)
                    .collect();
                (inputs, kept)
            }
        };
        let n_kept: f32 = kept.iter().sum();
        if n_kept == 0.0 {
            return Err(StepError::Contract(
                "opm dropped every modality of every sample (at most one modality can have a \
                 positive drop probability, so this cannot happen with two or more)"
                    .to_string(),
            ));
        }
        // The mean over kept samples: weights kept_i · n / n_kept under the batch mean.
        let weights: Vec<f32> = kept.iter().map(|k| k * n as f32 / n_kept).collect();
        let logits = cx.model.head(cx.model.fuse(inputs));
        let loss = weighted_cross_entropy(
            logits,
            targets,
            dev.tensor_from_vec(weights, (n,)).retaped::<Tape<D>>(),
        );
        let value = loss.as_vec()[0] as f64;
        cx.update_all(loss)?;
        Ok(cx.plain_stats(value, &unimodal, &labels))
    }
}

//! AGM, adaptive gradient modulation (Li et al., ICCV 2023; docs/methods.md §3), the released
//! code's mechanism, as a method with its own step (two modalities).
//!
//! Three forwards with gradient: the full batch (`total` = f({a, v})) in training mode and two
//! masked ones whose other modality's input is zeroed and still encoded (`pad_v` = f({a}),
//! `pad_a` = f({v})), in evaluation mode as the released code runs them (batch norms use and
//! keep their running statistics; one running update per step, from `total`) —
//! `method.masked_passes = "train-mode"` runs them in training mode instead (three updates per
//! step, two of half-zero batches). Mono-modal logits m_a = ½(total − pad_a + pad_v), m_v = ½(total − pad_v + pad_a)
//! give scores s_m = mean_i −log max(softmax(m_m)_i,y_i, 1e-8); with running means T_m of past
//! scores, r_a = exp(s_v − s_a), r*_a = exp(T_v − T_a) (and symmetrically),
//! κ_m = exp(α · min(r*_m − r_m, 10)). Inside the window the loss is CE of
//! κ_a m_a + κ_v m_v + stopgrad((1 − κ_a) m_a + (1 − κ_v) m_v) — the value of `total`, with the
//! gradient of each mono-modal logit scaled by κ_m (the released code's backward hooks, by the
//! stop-gradient trick); after it the released hooks keep the last in-window κ
//! (`method.after_window = "last-kappa"`, default; `"plain"` takes CE(total)), before it CE(total). T_m ← T_m (t − 1)/t + s_m/t every step. When any
//! entry of the fusion head's weight gradient exceeds `clip_trigger` in absolute value, the global
//! gradient norm is clipped to `clip_norm`. One update. BalanceBenchmark's variant (no-gradient
//! Shapley terms, the opposite sign, per-encoder scaling) is not implemented.

use super::engine::{all_groups, select_rows, StepContext, StepError, StepStats};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::epoch_window::EpochWindow;
use crate::mixup::mix;
use crate::model::grads;
use crate::model::params::{Matrix, Tape};
use crate::model::resnet::Mode;
use crate::model::Backend;
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

/// AGM: α of κ_m (the released config; the author recommends 1.5 for CREMA-D).
pub const AGM_ALPHA: f64 = 1.0;

/// AGM: the fusion head's gradient entry that triggers clipping (released).
pub const AGM_CLIP_TRIGGER: f64 = 1.0;

/// AGM: the global norm clipped to (released).
pub const AGM_CLIP_NORM: f64 = 1.0;

/// `[method]` with `kind = "agm"`: the keys AGM takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AgmConfig {
    /// agm: α of κ_m = exp(α · min(r*_m − r_m, 10)). Default `1.0` (the released config; the
    /// author recommends 1.5 for CREMA-D).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// agm: epochs `[start, stop)` in which the gradient is modulated. Default: every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
    /// agm: when any entry of the fusion head's weight gradient exceeds this in absolute
    /// value, the global gradient norm is clipped to `clip_norm`. Default `1.0` (released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_trigger: Option<f64>,
    /// agm: the norm clipped to. Default `1.0` (released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_norm: Option<f64>,
    /// agm: the batch-norm mode of the two masked forwards (one modality zeroed). Default
    /// `"eval-mode"`: the released code runs them under `eval()` with autograd on (running
    /// statistics, no running update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_passes: Option<AgmMaskedPasses>,
    /// agm: what the steps after the modulation window (`epochs`) do. Default `"last-kappa"`:
    /// the released hooks stay registered and keep scaling by the last in-window κ;
    /// `"plain"` takes the plain fused loss, as the paper describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_window: Option<AgmAfterWindow>,
}

/// The batch-norm mode of AGM's masked forwards.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AgmMaskedPasses {
    /// Evaluation mode with gradients (running statistics, no running update): the released
    /// code.
    #[default]
    EvalMode,
    /// Training mode (batch statistics of the half-zero batch, one running update each): what
    /// balmix did before it followed the released code.
    TrainMode,
}

/// What AGM's steps after its modulation window do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AgmAfterWindow {
    /// Keep scaling by the last in-window κ (the released hooks stay registered).
    #[default]
    LastKappa,
    /// The plain fused loss (the paper's description).
    Plain,
}

/// AGM's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgmSettings {
    /// α of κ_m = exp(α · min(r*_m − r_m, 10)).
    pub alpha: f64,
    /// Epochs `[start, stop)` in which the gradient is modulated.
    pub window: EpochWindow,
    /// Head-gradient entry that triggers clipping.
    pub clip_trigger: f64,
    /// The norm clipped to.
    pub clip_norm: f64,
    /// The batch-norm mode of the masked forwards.
    pub masked_passes: AgmMaskedPasses,
    /// What the steps after the window do.
    pub after_window: AgmAfterWindow,
}

impl AgmConfig {
    /// The settings, every default written back into the config; checked (AGM takes two
    /// modalities and a head that splits into per-modality logits).
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<AgmSettings, ConfigProblem> {
        let alpha = *self.alpha.get_or_insert(AGM_ALPHA);
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(ConfigProblem::OutOfRange {
                key: "alpha".into(),
                got: alpha,
                range: "[0, ∞)",
            });
        }
        let clip_trigger = *self.clip_trigger.get_or_insert(AGM_CLIP_TRIGGER);
        ConfigProblem::positive("clip_trigger", clip_trigger)?;
        let clip_norm = *self.clip_norm.get_or_insert(AGM_CLIP_NORM);
        ConfigProblem::positive("clip_norm", clip_norm)?;
        let masked_passes = *self.masked_passes.get_or_insert_default();
        let after_window = *self.after_window.get_or_insert_default();
        let window = self.epochs.unwrap_or(EpochWindow {
            start: 0,
            stop: cx.epochs,
        });
        ConfigProblem::window("epochs", window, cx.epochs)?;
        self.epochs = Some(window);
        if cx.modalities != 2 {
            return Err(ConfigProblem::NeedsTwoModalities {
                key: "kind".into(),
                what: None,
            });
        }
        if !cx.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "kind".into(),
                what: None,
            });
        }
        Ok(AgmSettings {
            alpha,
            window,
            clip_trigger,
            clip_norm,
            masked_passes,
            after_window,
        })
    }
}

/// The clamp of r* − r in κ (the released code's value).
const SCORE_CLAMP: f64 = 10.0;

/// AGM's settings and running means.
pub struct Agm {
    cfg: AgmSettings,
    state: RunningScores,
}

/// The checkpointed state: the running mean T_m of each modality's score over every step so
/// far, and the number of steps it averages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunningScores {
    /// T_m (0 before the first step).
    pub mean: [f64; 2],
    /// Steps averaged.
    pub count: u64,
    /// The κ of the last step inside the modulation window, which the released hooks keep
    /// applying after it (`method.after_window = "last-kappa"`); `None` before the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_kappa: Option<[f64; 2]>,
}

impl RunningScores {
    /// Fold in one step's scores: T ← T (t − 1)/t + s/t with t the new count.
    pub fn update(&mut self, s: [f64; 2]) {
        self.count += 1;
        let t = self.count as f64;
        for (m, v) in s.iter().enumerate() {
            self.mean[m] = self.mean[m] * (t - 1.0) / t + v / t;
        }
    }
}

/// κ for scores `s` and running means `t`: κ_m = exp(α · min(r*_m − r_m, 10)) with
/// r_a = exp(s_v − s_a), r*_a = exp(T_v − T_a), and symmetrically for v.
pub fn kappa(s: [f64; 2], t: [f64; 2], alpha: f64) -> [f64; 2] {
    let r = [(s[1] - s[0]).exp(), (s[0] - s[1]).exp()];
    let r_star = [(t[1] - t[0]).exp(), (t[0] - t[1]).exp()];
    [0, 1].map(|m| (alpha * (r_star[m] - r[m]).min(SCORE_CLAMP)).exp())
}

/// mean_i −log max(softmax(m)_i,y_i, 1e-8) of host logits `m` (`n × k`).
fn score(m: &[f32], labels: &[usize], k: usize) -> f64 {
    let p = mix::softmax_rows(m, k);
    let n = labels.len().max(1) as f64;
    labels
        .iter()
        .enumerate()
        .map(|(i, &y)| -p[i * k + y].max(1e-8).ln())
        .sum::<f64>()
        / n
}

/// Fused logits of the batch with the modalities outside `keep` zeroed (still encoded), batch
/// norms in `mode`.
fn forward<D: Backend>(
    cx: &StepContext<'_, D>,
    keep: &[bool],
    mode: Mode,
) -> Result<Matrix<D, Tape<D>>, StepError> {
    let host: Vec<Vec<f32>> = cx
        .host_batch()?
        .into_iter()
        .zip(keep)
        .map(|(rows, &k)| if k { rows } else { vec![0.0; rows.len()] })
        .collect();
    let zs = cx.encode_mode(host, mode);
    Ok(cx.model.head(cx.model.fuse(zs)))
}

impl OwnStep for AgmSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Agm::new(*self))
    }
}

impl<D: Backend> Method<D> for Agm {
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let (n, k) = (labels.len(), cx.model.classes);
        let targets = cx.one_hot(&labels);
        let total = forward(cx, &[true, true], Mode::Train)?;
        // The released code switches to eval() for the masked passes (autograd stays on).
        let masked = match self.cfg.masked_passes {
            AgmMaskedPasses::EvalMode => Mode::Eval,
            AgmMaskedPasses::TrainMode => Mode::Train,
        };
        if masked == Mode::Eval {
            // PyTorch updates the running statistics during the training forward, so the
            // eval-mode passes after it normalise with the updated ones.
            cx.model.store.apply_running_updates();
        }
        let pad_v = forward(cx, &[true, false], masked)?;
        let pad_a = forward(cx, &[false, true], masked)?;
        let (t, pv, pa) = (total.as_vec(), pad_v.as_vec(), pad_a.as_vec());
        let m_a: Vec<f32> = (0..n * k).map(|i| 0.5 * (t[i] - pa[i] + pv[i])).collect();
        let m_v: Vec<f32> = (0..n * k).map(|i| 0.5 * (t[i] - pv[i] + pa[i])).collect();
        // Each modality's score over the rows where it is present (after modality dropout).
        let score_present = |m: usize, v: &[f32]| match cx.present_rows(m) {
            None => score(v, &labels, k),
            Some(rows) => {
                let labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
                score(&select_rows(v, k, &rows), &labels, k)
            }
        };
        let s = [score_present(0, &m_a), score_present(1, &m_v)];
        let kappa = kappa(s, self.state.mean, self.cfg.alpha);
        self.state.update(s);
        // The κ this step applies: its own inside the window; after it, the released hooks'
        // last κ (they stay registered) or none.
        let applied = if self.cfg.window.contains(cx.epoch) {
            self.state.last_kappa = Some(kappa);
            Some(kappa)
        } else {
            match self.cfg.after_window {
                AgmAfterWindow::LastKappa => self.state.last_kappa,
                AgmAfterWindow::Plain => None,
            }
        };
        let fused_loss = |logits| cross_entropy_with_logits_loss(logits, targets.clone());
        let (loss, loss_value) = if let Some(kappa) = applied {
            // κ_a m_a + κ_v m_v = c_t·total + c_v·pad_v + c_a·pad_a; the detached rest restores
            // the value of `total`.
            let (ka, kv) = (kappa[0] as f32, kappa[1] as f32);
            let (c_t, c_v, c_a) = (0.5 * (ka + kv), 0.5 * (ka - kv), 0.5 * (kv - ka));
            let rest: Vec<f32> = (0..n * k)
                .map(|i| t[i] - (c_t * t[i] + c_v * pv[i] + c_a * pa[i]))
                .collect();
            let rest: Matrix<D> = cx.model.store.dev.tensor_from_vec(rest, (n, k));
            let output = total * c_t + pad_v * c_v + pad_a * c_a + rest;
            let value = cross_entropy_with_logits_loss(
                cx.model.store.dev.tensor_from_vec(t.clone(), (n, k)),
                targets.clone(),
            )
            .as_vec()[0] as f64;
            (fused_loss(output), value)
        } else {
            // The masked passes' tapes are dropped unused.
            let loss = fused_loss(total);
            let value = loss.as_vec()[0] as f64;
            (loss, value)
        };
        let mut g = cx.backward(loss)?;
        // The released clipping rule: triggered by the fusion head's weight gradient (every
        // head's, with one per modality).
        let mut largest = 0f32;
        for head in &cx.model.heads {
            grads::edit_grad(
                &cx.model.store.dev,
                &mut g,
                &cx.model.store.params[head.weight].tensor,
                &mut |v| largest = v.iter().fold(largest, |a, &x| a.max(x.abs())),
            );
        }
        if f64::from(largest) > self.cfg.clip_trigger {
            let norm = grads::global_norm(&cx.model.store, &mut g, &all_groups);
            let factor = grads::clip_factor(norm, self.cfg.clip_norm);
            if factor < 1.0 {
                grads::scale(&cx.model.store, &mut g, factor, &all_groups);
            }
        }
        cx.update(&mut g, &all_groups)?;
        Ok(StepStats {
            loss: loss_value,
            // The scores are losses (lower is better); the contribution columns get exp(−s_m),
            // the geometric-mean probability of the label under the mono-modal logits.
            contribution: s.iter().map(|v| (-v).exp()).collect(),
            contribution_ema: Some(self.state.mean.iter().map(|v| (-v).exp()).collect()),
            plan: None,
            coefficients: applied.unwrap_or([1.0, 1.0]).to_vec(),
        })
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.state = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl Agm {
    /// AGM with its settings, before any step.
    pub fn new(cfg: AgmSettings) -> Agm {
        Agm {
            cfg,
            state: RunningScores::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_scores_are_the_arithmetic_mean_of_every_past_score() {
        let mut r = RunningScores::default();
        let s = [[1.0, 4.0], [2.0, 0.5], [6.0, 1.0], [0.25, 2.0]];
        for (i, x) in s.iter().enumerate() {
            r.update(*x);
            for m in 0..2 {
                let mean = s[..=i].iter().map(|v| v[m]).sum::<f64>() / (i + 1) as f64;
                assert!((r.mean[m] - mean).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn kappa_is_one_when_r_equals_r_star_or_alpha_is_zero_and_bounded_by_the_clamp() {
        assert_eq!(kappa([0.7, 1.3], [0.7, 1.3], 1.5), [1.0, 1.0]);
        assert_eq!(kappa([0.1, 3.0], [2.0, 0.2], 0.0), [1.0, 1.0]);
        // r*_v − r_v = e³ − e⁻³ ≈ 20: clamped at 10; κ_a = exp(0.5 (e⁻³ − e³)) stays above 0.
        let k = kappa([0.0, 3.0], [3.0, 0.0], 0.5);
        assert!((k[1] - (0.5f64 * 10.0).exp()).abs() < 1e-9, "{k:?}");
        assert!(k[0] > 0.0 && k[0] < 1.0);
    }
}

//! LFM, learning-fitted multimodal balancing (Yang et al., NeurIPS 2024), as BalanceBenchmark's
//! `LFM_trainer.py` (4c1482f) runs it (docs/methods.md §3).
//!
//! The step's loss is 2·(α₀·CE(f) + α₁·(1/P) Σ_{i<j} JS(u_i, u_j)) over the P pairs of
//! modalities, u_m the split unimodal logits z_m W_mᵀ + b/M. The released "JS" is
//! ½(KL(m‖p) + KL(m‖q)) with m = (p + q)/2 (its library KL call gets the arguments the other way
//! round); `js = "true"` takes ½(KL(p‖m) + KL(q‖m)), the Jensen–Shannon divergence.
//!
//! α starts at (0.95, 0.05). At every epoch's start, on a probe batch — the first ⌊B/4⌋ samples
//! of the first validation batch (B the batch size; the validation split is carved from the
//! training data; BalanceBenchmark reads the test set here) — one training-mode forward gives
//! v = ∇θ CE and the Hessian-vector product h = ∇²θ L_total · v, L_total = α₀·CE + α₁·(1/P)ΣJS;
//! α₁ −= lr_α · mean(h over the first parameter tensor), clipped to [0.05, 0.95], α₀ = 1 − α₁;
//! lr_α (1e-4) halves at the start of every 20th epoch. dfdx has no double backward: h is the
//! central difference (∇L_total(θ + εv) − ∇L_total(θ − εv)) / 2ε with
//! ε = 2⁻¹⁸·(1 + ‖θ‖)/‖v‖ ([`difference_step`]), computed with batch statistics and without running-statistics
//! updates; the forward at θ updates them once, as the released single forward does. θ is
//! restored bit for bit. Prediction is the fused head.

use super::engine::{StepContext, StepError, StepStats, NEEDS_DECOMPOSABLE_HEAD};
use super::hooks::{state_from_json, state_json};
use super::metrics::{self, MetricColumn, Reduce};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::{EpochContext, Method};
use crate::model::grads::edit_grad;
use crate::model::params::{Matrix, Tape};
use crate::model::resnet::Mode;
use crate::model::{Backend, Model};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

/// LFM's lr_α (BalanceBenchmark's `lr_alpha` in configs/trainer_config.yaml).
pub const LFM_LR_ALPHA: f64 = 1e-4;
/// α₁ at the start (BalanceBenchmark's `alpha = {1: 0.05, 0: 0.95}` in `fit`).
pub const LFM_ALPHA_START: f64 = 0.05;
/// lr_α halves at the start of every epoch that is a positive multiple of this.
pub const LFM_HALVE_EVERY: usize = 20;

/// `[method]` with `kind = "lfm"`: the keys LFM takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LfmConfig {
    /// lfm: the alignment term. Default `"released"`: ½(KL(m‖p) + KL(m‖q)), m = (p + q)/2, the
    /// library KL call with its arguments swapped; `"true"`: ½(KL(p‖m) + KL(q‖m)), the
    /// Jensen–Shannon divergence, in [0, ln 2].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js: Option<LfmJs>,
    /// lfm: lr_α > 0, the step of α₁ against the Hessian-vector product, halved every 20
    /// epochs. Default `1e-4` (BalanceBenchmark's `lr_alpha`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_alpha: Option<f64>,
}

/// LFM's alignment term.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LfmJs {
    /// ½(KL(m‖p) + KL(m‖q)): `F.kl_div(p.log(), m)` as released.
    #[default]
    Released,
    /// ½(KL(p‖m) + KL(q‖m)).
    True,
}

/// LFM's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LfmSettings {
    /// The alignment term.
    pub js: LfmJs,
    /// lr_α at the start.
    pub lr_alpha: f64,
}

impl LfmConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<LfmSettings, ConfigProblem> {
        cx.needs_split_head(cx.modalities >= 2)?;
        if !cx.has_val {
            return Err(ConfigProblem::NeedsValidation);
        }
        let lr_alpha = *self.lr_alpha.get_or_insert(LFM_LR_ALPHA);
        ConfigProblem::in_range("lr_alpha", lr_alpha, "(0, ∞)", |v| {
            v > 0.0 && v.is_finite()
        })?;
        Ok(LfmSettings {
            js: *self.js.get_or_insert_default(),
            lr_alpha,
        })
    }
}

/// The checkpointed state: α₁ (α₀ = 1 − α₁), the current lr_α, and the last update's
/// Hessian-vector mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LfmState {
    /// α₁, the alignment weight.
    pub alpha: f64,
    /// lr_α now.
    pub lr_alpha: f64,
    /// mean(h) over the first parameter tensor at the last update (`None` before the first).
    pub hvp_mean: Option<f64>,
}

/// LFM with its settings and state.
pub struct Lfm {
    settings: LfmSettings,
    batch_size: usize,
    state: LfmState,
}

impl Lfm {
    /// LFM with `settings` for a run with batches of `batch_size`, before any epoch.
    pub fn new(settings: LfmSettings, batch_size: usize) -> Lfm {
        Lfm {
            settings,
            batch_size,
            state: LfmState {
                alpha: LFM_ALPHA_START,
                lr_alpha: settings.lr_alpha,
                hvp_mean: None,
            },
        }
    }

    /// The current (α₀, α₁).
    pub fn alphas(&self) -> (f64, f64) {
        (1.0 - self.state.alpha, self.state.alpha)
    }
}

/// The released α update: lr_α halves at epochs 20, 40, …; α₁ −= lr_α · `hvp_mean`, clipped to
/// [0.05, 0.95]. Returns (α₁, lr_α).
pub fn update_alpha(alpha: f64, lr_alpha: f64, epoch: usize, hvp_mean: f64) -> (f64, f64) {
    let lr = match epoch.is_multiple_of(LFM_HALVE_EVERY) && epoch != 0 {
        true => lr_alpha / 2.0,
        false => lr_alpha,
    };
    ((alpha - lr * hvp_mean).clamp(0.05, 0.95), lr)
}

/// The central-difference step for a Hessian-vector product at `theta` along `v`:
/// 2⁻¹⁸·(1 + ‖θ‖)/‖v‖ (0 when v = 0), a shift of θ by 2⁻¹⁸ ≈ 3.8e-6 of (1 + ‖θ‖). The textbook
/// √(f32 ε) = 2^−11.5 is far too large for batch-norm networks: on the reference network (tests/
/// released_methods.rs) it lands 10× off PyTorch's double backward, the curvature changing
/// within that shift; 2⁻¹⁸ keeps the f32 gradient difference ~30× above rounding and agrees
/// with the double backward to 0.1% on the first tensor's mean.
pub fn difference_step(theta: &[Vec<f32>], v: &[Vec<f32>]) -> f64 {
    let norm = |x: &[Vec<f32>]| {
        x.iter()
            .flatten()
            .map(|&a| (a as f64) * (a as f64))
            .sum::<f64>()
            .sqrt()
    };
    let nv = norm(v);
    match nv > 0.0 {
        true => (-18f64).exp2() * (1.0 + norm(theta)) / nv,
        false => 0.0,
    }
}

/// The gradient at a point, tensor by tensor, on the host (what [`central_difference_hvp`]
/// differences).
pub type GradientAt<'a> = dyn FnMut(&[Vec<f32>]) -> Result<Vec<Vec<f32>>, StepError> + 'a;

/// The Hessian-vector product H(θ)·v by central differences of `grad` (the gradient at a point,
/// tensor by tensor): (grad(θ + εv) − grad(θ − εv)) / 2ε, with ε from [`difference_step`].
pub fn central_difference_hvp(
    theta: &[Vec<f32>],
    v: &[Vec<f32>],
    grad: &mut GradientAt<'_>,
) -> Result<Vec<Vec<f64>>, StepError> {
    let eps = difference_step(theta, v);
    if eps == 0.0 {
        return Ok(theta.iter().map(|t| vec![0.0; t.len()]).collect());
    }
    let shifted = |sign: f64| -> Vec<Vec<f32>> {
        theta
            .iter()
            .zip(v)
            .map(|(t, d)| {
                t.iter()
                    .zip(d)
                    .map(|(&a, &b)| (a as f64 + sign * eps * b as f64) as f32)
                    .collect()
            })
            .collect()
    };
    let plus = grad(&shifted(1.0))?;
    let minus = grad(&shifted(-1.0))?;
    Ok(plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| {
            p.iter()
                .zip(m)
                .map(|(&a, &b)| (a as f64 - b as f64) / (2.0 * eps))
                .collect()
        })
        .collect())
}

/// The alignment term between the logits `p` and `q` (batch mean). Each taped tensor enters
/// the result once as itself (its tape) and otherwise as a retaped copy, so every branch's
/// gradient reaches the logits.
pub fn alignment<D: Backend>(
    p: Matrix<D, Tape<D>>,
    q: Matrix<D, Tape<D>>,
    js: LfmJs,
) -> Tensor<(), f32, D, Tape<D>> {
    let n = p.shape().0 as f32;
    let (lp, lq) = (p.log_softmax::<Axis<1>>(), q.log_softmax::<Axis<1>>());
    let pp = lp.retaped::<Tape<D>>().exp();
    let pq = lq.retaped::<Tape<D>>().exp();
    let total = match js {
        // KL(m‖p) + KL(m‖q) = Σ m ⊙ (2 ln m − ln p − ln q).
        LfmJs::Released => {
            let m = (pp + pq) * 0.5;
            let lm = m.retaped::<Tape<D>>().ln();
            (m * (lm * 2.0 - lp - lq)).sum::<(), _>()
        }
        // KL(p‖m) + KL(q‖m) = Σ (p ⊙ ln p + q ⊙ ln q − 2 m ⊙ ln m).
        LfmJs::True => {
            let m = (pp.retaped::<Tape<D>>() + pq.retaped::<Tape<D>>()) * 0.5;
            let lm = m.retaped::<Tape<D>>().ln();
            (pp * lp + pq * lq - m * lm * 2.0).sum::<(), _>()
        }
    };
    total * (0.5 / n)
}

/// The loss pieces of one forward of samples `host` (rows per modality, `n` samples) in `mode`:
/// CE of the fused head and (1/P) Σ_pairs alignment, both taped, and the host unimodal logits.
#[allow(clippy::type_complexity)]
fn losses<D: Backend>(
    model: &Model<D>,
    host: Vec<Vec<f32>>,
    n: usize,
    targets: &Matrix<D>,
    js: LfmJs,
    mode: Mode,
) -> Result<
    (
        Tensor<(), f32, D, Tape<D>>,
        Tensor<(), f32, D, Tape<D>>,
        Vec<Vec<f32>>,
    ),
    StepError,
> {
    let m_count = host.len();
    let zs: Vec<Matrix<D, Tape<D>>> = host
        .into_iter()
        .enumerate()
        .map(|(m, rows)| model.encode_input_mode(m, rows, n, mode))
        .collect();
    let u = |m: usize| -> Result<Matrix<D, Tape<D>>, StepError> {
        model
            .unimodal_taped(m, zs[m].retaped::<Tape<D>>(), m_count)
            .ok_or(StepError::Unsupported(NEEDS_DECOMPOSABLE_HEAD))
    };
    let mut align: Option<Tensor<(), f32, D, Tape<D>>> = None;
    let mut pairs = 0usize;
    for i in 0..m_count {
        for j in i + 1..m_count {
            let a = alignment(u(i)?, u(j)?, js);
            pairs += 1;
            align = Some(match align {
                None => a,
                Some(s) => s + a,
            });
        }
    }
    let align = align.expect("two modalities or more") * (1.0 / pairs as f32);
    let unimodal = model.unimodal(&zs);
    let ce = cross_entropy_with_logits_loss(model.head(model.fuse(zs)), targets.clone());
    Ok((ce, align, unimodal))
}

/// Every trainable parameter's gradient in `grads`, on the host, in store order.
fn host_grads<D: Backend>(model: &Model<D>, grads: &mut Gradients<f32, D>) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for p in model.store.trainable() {
        let mut g = Vec::new();
        edit_grad(&model.store.dev, grads, &p.tensor, &mut |v| g = v.to_vec());
        out.push(g);
    }
    out
}

/// Set every trainable parameter (store order) to `values`.
fn set_trainable<D: Backend>(model: &mut Model<D>, values: &[Vec<f32>]) {
    let ids: Vec<usize> = (0..model.store.params.len())
        .filter(|&id| !model.store.params[id].buffer)
        .collect();
    for (id, v) in ids.into_iter().zip(values) {
        model.store.set_values(id, v.clone());
    }
}

/// LFM's Hessian-vector product on the probe samples `host` (`n` rows, labels `labels`) at the
/// model's parameters with weights (α₀, α₁): h = ∇²L_total · ∇CE, tensor by tensor. The forward
/// at θ queues one running-statistics update per batch norm (applied here); the shifted ones
/// queue none. The parameters end as they started, bit for bit.
pub fn probe_hvp<D: Backend>(
    model: &mut Model<D>,
    host: &[Vec<f32>],
    labels: &[usize],
    alphas: (f64, f64),
    js: LfmJs,
) -> Result<Vec<Vec<f64>>, StepError> {
    let n = labels.len();
    let k = model.classes;
    let mut t = vec![0f32; n * k];
    for (i, &y) in labels.iter().enumerate() {
        t[i * k + y] = 1.0;
    }
    let targets: Matrix<D> = model.store.dev.tensor_from_vec(t, (n, k));
    let theta: Vec<Vec<f32>> = model
        .store
        .trainable()
        .map(|p| p.tensor.to_host())
        .collect();
    let (ce, _, _) = losses(model, host.to_vec(), n, &targets, js, Mode::Train)?;
    let mut g = ce.backward();
    let v = host_grads(model, &mut g);
    model.store.apply_running_updates();
    let total = |model: &Model<D>| -> Result<Vec<Vec<f32>>, StepError> {
        let (ce, align, _) = losses(model, host.to_vec(), n, &targets, js, Mode::TrainUnrecorded)?;
        let loss = ce * alphas.0 as f32 + align * alphas.1 as f32;
        let mut g = loss.backward();
        Ok(host_grads(model, &mut g))
    };
    let result = central_difference_hvp(&theta, &v, &mut |point| {
        set_trainable(model, point);
        total(model)
    });
    set_trainable(model, &theta);
    result
}

impl OwnStep for LfmSettings {
    fn build<D: Backend>(&self, cx: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Lfm::new(*self, cx.batch_size))
    }
}

impl<D: Backend> Method<D> for Lfm {
    fn epoch_start(&mut self, cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        let first_batch = cx.val.len().min(self.batch_size);
        let probe = &cx.val[..(first_batch / 4).max(1).min(cx.val.len())];
        if probe.is_empty() {
            return Err(StepError::Contract(
                "lfm needs validation samples for its probe batch".to_string(),
            ));
        }
        let view = crate::media::source::View::Eval;
        let host = cx
            .data
            .modalities
            .iter()
            .map(|m| m.rows(probe, view))
            .collect::<Result<Vec<_>, _>>()?;
        let labels: Vec<usize> = probe.iter().map(|&i| cx.data.labels[i]).collect();
        let h = probe_hvp(cx.model, &host, &labels, self.alphas(), self.settings.js)?;
        let first = &h[0];
        let mean = first.iter().sum::<f64>() / first.len() as f64;
        if !mean.is_finite() {
            return Err(StepError::Contract(format!(
                "lfm's Hessian-vector product is {mean} at epoch {}",
                cx.epoch + 1
            )));
        }
        let (alpha, lr) = update_alpha(self.state.alpha, self.state.lr_alpha, cx.epoch, mean);
        self.state = LfmState {
            alpha,
            lr_alpha: lr,
            hvp_mean: Some(mean),
        };
        Ok(())
    }

    /// The standard columns, then α₁ (`lfm_alpha`, tag `lfm/alpha`) and the Hessian-vector mean
    /// it was last updated from (`lfm_hvp_mean`, tag `lfm/hvp_mean`), each the epoch's value.
    fn metric_columns(&self, modalities: &[String]) -> Vec<MetricColumn> {
        let mut c = metrics::standard_columns(modalities);
        for (name, tag) in [("lfm_alpha", "lfm/alpha"), ("lfm_hvp_mean", "lfm/hvp_mean")] {
            c.push(MetricColumn {
                name: name.into(),
                tag: tag.into(),
                reduce: Reduce::Latest,
            });
        }
        c
    }

    fn step_metrics(&self, stats: &StepStats, n: usize, modalities: usize) -> Vec<Option<f64>> {
        let mut v = metrics::standard_values(stats, n, modalities);
        v.push(Some(self.state.alpha));
        v.push(self.state.hvp_mean);
        v
    }

    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        let n = cx.n();
        let host = cx.host_batch()?;
        let (ce, align, unimodal) =
            losses(cx.model, host, n, &targets, self.settings.js, Mode::Train)?;
        let ce_value = ce.as_vec()[0] as f64;
        let (a0, a1) = self.alphas();
        let loss = (ce * a0 as f32 + align * a1 as f32) * 2.0;
        cx.update_all(loss)?;
        Ok(cx.plain_stats(ce_value, &unimodal, &labels))
    }

    fn state(&self) -> serde_json::Value {
        state_json(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.state = state_from_json(state)?;
        Ok(())
    }
}

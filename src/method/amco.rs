//! AMCo, adaptive mask-guided modality competition, as BalanceBenchmark's `AMCo_trainer.py` and
//! `BaseClassifierAMCoModel` (4c1482f) run it (docs/methods.md §3).
//!
//! The method owns an extra C×C linear layer L (weight and bias, PyTorch-default initialised from
//! the `method-init` stream). With the split unimodal logits u_m = z_m W_mᵀ + b/M, the output is
//! L(Σ_m u′_m), where u′_m = u_m ⊙ mask (the mask broadcast over the batch's rows) for a modality
//! found *dependent* and u′_m = u_m otherwise. Inside the method's window the loss is
//! CE(output) + Σ_m CE(u′_m); outside it, CE(L(Σ_m u_m)).
//!
//! The mask of each step has N = ⌊p·C⌋ zeros at places drawn from the `class-mask` stream
//! (indexed by global step), with p = sin(π/2 · min(ε, l)/ε); l starts at 0 in every epoch and
//! grows by epoch/10 after each batch, so p = 0 all through epoch 0 and reaches 1 (every class
//! masked) a few batches into each later epoch. Every modality starts an epoch not dependent;
//! after each step inside the window, modality m is dependent for the *next* batch when its
//! share of the softmax over the concatenated [u′_1 … u′_M], summed over its C columns and
//! averaged over the batch, exceeds σ. At test nothing is masked: the prediction is L(Σ_m u_m).

use super::engine::{StepContext, StepError, StepStats, NEEDS_DECOMPOSABLE_HEAD};
use super::hooks::{state_from_json, state_json};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::{EpochContext, Method};
use crate::epoch_window::EpochWindow;
use crate::model::layers::Linear;
use crate::model::params::{Group, Matrix, Tape};
use crate::model::{Backend, Model};
use crate::rng::{stream, Stream};
use dfdx::prelude::*;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// AMCo's σ (BalanceBenchmark's `sigma` in configs/trainer_config.yaml).
pub const AMCO_SIGMA: f64 = 0.5;
/// AMCo's ε (BalanceBenchmark's `eps`).
pub const AMCO_EPS: f64 = 0.3;
/// The names of the method's layer in the model's store.
pub const AMCO_LAYER: &str = "method.amco";

/// `[method]` with `kind = "amco"`: the keys AMCo takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AmcoConfig {
    /// amco: σ in (0, 1), the softmax share above which a modality counts as dependent.
    /// Default `0.5` (BalanceBenchmark's `sigma`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// amco: ε > 0, the mask schedule's ramp: p = sin(π/2 · min(ε, l)/ε). Default `0.3`
    /// (BalanceBenchmark's `eps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f64>,
    /// amco: epochs `[start, stop)` whose steps mask the dependent modality and add the
    /// unimodal losses; other steps take CE of the layer on the unmasked sum. Default: every
    /// epoch (the released window is epochs 0–80 inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
}

/// AMCo's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmcoSettings {
    /// σ.
    pub sigma: f64,
    /// ε.
    pub eps: f64,
    /// Epochs whose steps mask and add the unimodal losses.
    pub window: EpochWindow,
}

impl AmcoConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<AmcoSettings, ConfigProblem> {
        cx.needs_split_head(cx.modalities >= 2)?;
        let sigma = *self.sigma.get_or_insert(AMCO_SIGMA);
        ConfigProblem::in_range("sigma", sigma, "(0, 1)", |v| v > 0.0 && v < 1.0)?;
        let eps = *self.eps.get_or_insert(AMCO_EPS);
        ConfigProblem::in_range("eps", eps, "(0, ∞)", |v| v > 0.0 && v.is_finite())?;
        let window = ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, cx.epochs)?;
        Ok(AmcoSettings { sigma, eps, window })
    }
}

/// The checkpointed state: which modalities are dependent for the next batch, and how many
/// batches this epoch has taken (l is their running sum of epoch/10).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AmcoState {
    /// Per modality: masked in the next step.
    pub dependent: Vec<bool>,
    /// Batches taken in this epoch.
    pub batches: u64,
}

/// AMCo with its settings, its layer and its state.
pub struct Amco {
    settings: AmcoSettings,
    layer: Option<Linear>,
    state: AmcoState,
}

impl Amco {
    /// AMCo with `settings`, before its layer is added.
    pub fn new(settings: AmcoSettings) -> Amco {
        Amco {
            settings,
            layer: None,
            state: AmcoState::default(),
        }
    }

    fn layer(&self) -> Result<Linear, StepError> {
        self.layer.ok_or_else(|| {
            StepError::Contract("amco's layer was not added to the model".to_string())
        })
    }
}

/// The schedule's p after `batches` batches of epoch `epoch`: l is `batches` additions of
/// epoch/10 made one by one in f64 (as the released loop adds them), p = sin(π/2 · min(ε, l)/ε).
pub fn mask_share(epoch: usize, batches: u64, eps: f64) -> f64 {
    let mut l = 0.0f64;
    for _ in 0..batches {
        l += epoch as f64 / 10.0;
    }
    (std::f64::consts::PI / 2.0 * (eps.min(l) / eps)).sin()
}

/// The class mask of global step `step`: ⌊p·C⌋ zeros and C − ⌊p·C⌋ ones, the places shuffled
/// by the `class-mask` stream.
pub fn class_mask(seed: u64, step: u64, share: f64, classes: usize) -> Vec<f32> {
    let zeros = ((share * classes as f64).floor() as usize).min(classes);
    let mut mask: Vec<f32> = (0..classes)
        .map(|c| if c < classes - zeros { 1.0 } else { 0.0 })
        .collect();
    mask.shuffle(&mut stream(seed, Stream::ClassMask, step));
    mask
}

/// Per modality, whether its share of the softmax over the concatenated logits `u` (M host
/// matrices `n × classes`), summed over its columns and averaged over rows, exceeds `sigma`.
pub fn dependence(u: &[Vec<f32>], n: usize, classes: usize, sigma: f64) -> Vec<bool> {
    let mut share = vec![0f64; u.len()];
    for i in 0..n {
        let row = |m: usize| &u[m][i * classes..(i + 1) * classes];
        let max = (0..u.len())
            .flat_map(|m| row(m).iter().map(|&v| v as f64))
            .fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = (0..u.len())
            .map(|m| row(m).iter().map(|&v| (v as f64 - max).exp()).sum())
            .collect();
        let total: f64 = exps.iter().sum();
        for (s, e) in share.iter_mut().zip(&exps) {
            *s += e / total;
        }
    }
    share.iter().map(|s| s / n as f64 > sigma).collect()
}

impl OwnStep for AmcoSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Amco::new(*self))
    }
}

impl<D: Backend> Method<D> for Amco {
    fn add_parameters(&mut self, model: &mut Model<D>, rng: &mut rand_chacha::ChaCha8Rng) {
        let k = model.classes;
        self.layer = Some(Linear::new(
            &mut model.store,
            AMCO_LAYER,
            (k, k),
            Group::Method,
            rng,
        ));
    }

    fn epoch_start(&mut self, cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        self.state = AmcoState {
            dependent: vec![false; cx.data.modalities.len()],
            batches: 0,
        };
        Ok(())
    }

    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let layer = self.layer()?;
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        let (n, k, m_count) = (cx.n(), cx.model.classes, cx.modalities());
        if self.state.dependent.len() != m_count {
            return Err(StepError::Contract(format!(
                "amco's dependence flags {:?} do not name the {m_count} modalities",
                self.state.dependent
            )));
        }
        let share = mask_share(cx.epoch, self.state.batches, self.settings.eps);
        let mask = class_mask(cx.seed, cx.step, share, k);
        self.state.batches += 1;
        let host = cx.host_batch()?;
        let zs = cx.encode(host);
        let unimodal = cx.model.unimodal(&zs);
        let inside = self.settings.window.contains(cx.epoch);
        let dev = cx.model.store.dev.clone();
        let mask_rows: Matrix<D> = dev.tensor_from_vec(mask.repeat(n), (n, k));
        let mut sum: Option<Matrix<D, Tape<D>>> = None;
        let mut terms: Option<Tensor<(), f32, D, Tape<D>>> = None;
        let mut masked_host = Vec::with_capacity(m_count);
        for (m, z) in zs.into_iter().enumerate() {
            let u = cx
                .model
                .unimodal_taped(m, z, m_count)
                .ok_or(StepError::Unsupported(NEEDS_DECOMPOSABLE_HEAD))?;
            let u = match inside && self.state.dependent[m] {
                true => u * mask_rows.clone(),
                false => u,
            };
            if inside {
                masked_host.push(u.as_vec());
                let ce = cross_entropy_with_logits_loss(u.retaped::<Tape<D>>(), targets.clone());
                terms = Some(match terms {
                    None => ce,
                    Some(t) => t + ce,
                });
            }
            sum = Some(match sum {
                None => u,
                Some(s) => s + u,
            });
        }
        let output = layer.forward(sum.expect("two modalities or more"), &cx.model.store);
        let fused = cross_entropy_with_logits_loss(output, targets);
        let fused_value = fused.as_vec()[0] as f64;
        let loss = match terms {
            None => fused,
            Some(t) => fused + t,
        };
        cx.update_all(loss)?;
        if inside {
            self.state.dependent = dependence(&masked_host, n, k, self.settings.sigma);
        }
        Ok(cx.plain_stats(fused_value, &unimodal, &labels))
    }

    fn predict(&self, model: &Model<D>, zs: Vec<Matrix<D>>) -> Vec<f32> {
        let layer = self.layer.expect("amco's layer is added before prediction");
        layer
            .forward(model.head(model.fuse(zs)), &model.store)
            .as_vec()
    }

    fn state(&self) -> serde_json::Value {
        state_json(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.state = state_from_json(state)?;
        Ok(())
    }
}

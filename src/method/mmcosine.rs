//! MMCosine, multi-modal cosine loss (Xu et al., ICASSP 2023), as BalanceBenchmark's
//! `MMCosine_trainer.py` (4c1482f) runs it (docs/methods.md §3).
//!
//! Each modality's logits are scaled cosine similarities between its feature and the class
//! rows of its columns of the concat head, u_m = s · ẑ_m Ŵ_mᵀ (features and rows L2-normalised
//! as `F.normalize` does, no bias: [`crate::model::cosine`]); the fused logits are Σ_m u_m and
//! the loss is their cross-entropy, with one training-mode forward per step. Outside the
//! method's epoch window (the released `modulation_starts ≤ epoch ≤ modulation_ends`) the step
//! is the plain concat cross-entropy, bias included. At test the fused logits are always Σ_m u_m
//! (the released `validation_step`). Inside the window the head's bias is in no loss: the
//! released optimiser skips it (its gradient is `None`); balmix hands it a zero gradient, which
//! moves it only under weight decay — and it is read only by steps outside the window.

use super::engine::{StepContext, StepError, StepStats};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::epoch_window::EpochWindow;
use crate::model::config::Fusion;
use crate::model::cosine::{cosine_forward, cosine_logits, HeadSlice};
use crate::model::params::{Matrix, Tape};
use crate::model::{Backend, Model};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

/// MMCosine's scale s (BalanceBenchmark's `scaling` in configs/trainer_config.yaml).
pub const MMCOSINE_SCALE: f64 = 15.0;

/// `[method]` with `kind = "mmcosine"`: the keys MMCosine takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MmCosineConfig {
    /// mmcosine: the scale s of the cosine logits, > 0. Default `15` (BalanceBenchmark's
    /// `scaling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// mmcosine: epochs `[start, stop)` whose steps use the cosine loss; other steps use the
    /// plain concat cross-entropy. Default: every epoch (the released window is epochs 0–80
    /// inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
}

/// MMCosine's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmCosineSettings {
    /// The scale s.
    pub scale: f64,
    /// Epochs whose steps use the cosine loss.
    pub window: EpochWindow,
}

impl MmCosineConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<MmCosineSettings, ConfigProblem> {
        if *cx.fusion != Fusion::Concat {
            return Err(ConfigProblem::NeedsConcatHead);
        }
        let scale = *self.scale.get_or_insert(MMCOSINE_SCALE);
        ConfigProblem::positive("scale", scale)?;
        let window = ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, cx.epochs)?;
        Ok(MmCosineSettings { scale, window })
    }
}

/// MMCosine with its settings.
pub struct MmCosine {
    settings: MmCosineSettings,
}

impl MmCosine {
    /// MMCosine with `settings`.
    pub fn new(settings: MmCosineSettings) -> MmCosine {
        MmCosine { settings }
    }
}

/// The columns of the concat head that modality `m` reads.
fn slice_of<D: Backend>(model: &Model<D>, m: usize) -> HeadSlice {
    let widths: Vec<usize> = model.encoders.iter().map(|e| e.out).collect();
    HeadSlice {
        classes: model.classes,
        width: widths.iter().sum(),
        offset: widths[..m].iter().sum(),
        dim: widths[m],
    }
}

/// Each modality's cosine logits (`n × classes`, row-major) from host features `zs`.
pub fn unimodal_cosine<D: Backend>(model: &Model<D>, zs: &[Vec<f32>], scale: f64) -> Vec<Vec<f32>> {
    let w = model.store.matrix(model.heads[0].weight).as_vec();
    zs.iter()
        .enumerate()
        .map(|(m, z)| {
            cosine_forward(z, &w, slice_of(model, m), scale)
                .logits
                .into_iter()
                .map(|v| v as f32)
                .collect()
        })
        .collect()
}

impl OwnStep for MmCosineSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(MmCosine::new(*self))
    }
}

impl<D: Backend> Method<D> for MmCosine {
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        let host = cx.host_batch()?;
        let zs = cx.encode(host);
        let s = self.settings.scale;
        let features: Vec<Vec<f32>> = zs.iter().map(|z| z.as_vec()).collect();
        let unimodal = unimodal_cosine(cx.model, &features, s);
        let logits: Matrix<D, Tape<D>> = if self.settings.window.contains(cx.epoch) {
            let weight = cx.model.heads[0].weight;
            zs.into_iter()
                .enumerate()
                .map(|(m, z)| cosine_logits(z, &cx.model.store, weight, slice_of(cx.model, m), s))
                .reduce(|a, b| a + b)
                .expect("at least one modality")
        } else {
            cx.model.head(cx.model.fuse(zs))
        };
        let loss = cross_entropy_with_logits_loss(logits, targets);
        let loss_value = loss.as_vec()[0] as f64;
        cx.update_all(loss)?;
        Ok(cx.plain_stats(loss_value, &unimodal, &labels))
    }

    fn predict(&self, model: &Model<D>, zs: Vec<Matrix<D>>) -> Vec<f32> {
        let features: Vec<Vec<f32>> = zs.iter().map(|z| z.as_vec()).collect();
        let unimodal = unimodal_cosine(model, &features, self.settings.scale);
        let mut fused = vec![0f32; unimodal[0].len()];
        for u in &unimodal {
            for (f, v) in fused.iter_mut().zip(u) {
                *f += v;
            }
        }
        fused
    }
}

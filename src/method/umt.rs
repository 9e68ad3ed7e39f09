//! UMT, unimodal teachers (Du et al., ICML 2023), as BalanceBenchmark's `UMT_trainer.py`
//! (4c1482f) runs it (docs/methods.md §3).
//!
//! Each modality m has a teacher: a finished unimodal balmix run with the same encoder, frozen
//! ([`super::frozen`]: loaded and checked by its run's identity before the first epoch, never
//! trained). The step's loss is CE(f, y) + s · Σ_m MSE(z_m^teacher, z_m), the MSE a mean over
//! the batch and the feature width, the teacher's feature taken without gradient; outside the
//! method's epoch window it is the plain CE. The released teachers are created, loaded and
//! never put in evaluation mode, so their batch norms normalise with the batch's statistics
//! (`teacher_mode = "train"`, the default; `"eval"` uses their running statistics). Their
//! running statistics are not kept: a frozen teacher stays as it was saved. Prediction is the
//! student's fused head.

use super::engine::{StepContext, StepError, StepStats};
use super::frozen::{FrozenModel, FrozenRequest};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::epoch_window::EpochWindow;
use crate::model::params::{Matrix, Tape};
use crate::model::resnet::Mode;
use crate::model::{Backend, Model};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

/// The weight s of the feature distillation (BalanceBenchmark's `scaling`, configs/
/// trainer_config.yaml).
pub const UMT_SCALING: f64 = 10.0;

/// How a teacher's batch norms normalise during distillation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TeacherMode {
    /// With the batch's statistics (training mode), as the released teachers, which are never
    /// put in evaluation mode.
    #[default]
    Train,
    /// With their running statistics (evaluation mode).
    Eval,
}

/// `[method]` with `kind = "umt"`: the keys UMT takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct UmtConfig {
    /// umt: each modality's unimodal teacher, in `dataset.modalities` order: the name of a
    /// finished run beside this one, read from `<out>/<this recipe's folder>/<teacher>/seed-<seed>`
    /// (for `synthetic/umt`, `"unimodal-audio"` is the run of `synthetic/unimodal-audio`), with
    /// the same seed (and fold); it must have that one modality and the same encoder. Train the
    /// teachers first (a table lists their rows before this one). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teachers: Option<Vec<String>>,
    /// umt: the weight s of Σ_m MSE(teacher feature, student feature), ≥ 0. Default `10`
    /// (BalanceBenchmark's `scaling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<f64>,
    /// umt: how the teachers' batch norms normalise: `"train"` (the batch's statistics: the
    /// released teachers are never put in evaluation mode) or `"eval"` (their running
    /// statistics). Default `"train"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_mode: Option<TeacherMode>,
    /// umt: epochs `[start, stop)` whose steps add the distillation; other steps are the plain
    /// cross-entropy. Default: every epoch (the released window is epochs 0–80 inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
}

/// UMT's resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct UmtSettings {
    /// Each modality's teacher run, as named beside the student.
    pub teachers: Vec<String>,
    /// The weight s.
    pub scaling: f64,
    /// The teachers' batch-norm mode.
    pub teacher_mode: TeacherMode,
    /// Epochs whose steps distil.
    pub window: EpochWindow,
}

impl UmtConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<UmtSettings, ConfigProblem> {
        let teachers = ConfigProblem::runs_per_modality(
            "teachers",
            self.teachers.as_ref(),
            "method.kind",
            "umt",
            cx.modalities,
        )?;
        // The step reports the modalities' contributions from the decomposed head.
        if !cx.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "kind".into(),
                what: None,
            });
        }
        let scaling = *self.scaling.get_or_insert(UMT_SCALING);
        ConfigProblem::in_range("scaling", scaling, "[0, ∞)", |v| v >= 0.0)?;
        let teacher_mode = *self.teacher_mode.get_or_insert_default();
        let window = ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, cx.epochs)?;
        Ok(UmtSettings {
            teachers,
            scaling,
            teacher_mode,
            window,
        })
    }
}

/// UMT with its settings and, once attached, its teachers.
pub struct Umt<D: Backend> {
    settings: UmtSettings,
    teachers: Vec<FrozenModel<D>>,
}

impl<D: Backend> Umt<D> {
    /// UMT with `settings`, no teachers yet.
    pub fn new(settings: UmtSettings) -> Umt<D> {
        Umt {
            settings,
            teachers: Vec::new(),
        }
    }
}

/// The feature of a unimodal `teacher` on host rows `rows` (`n` of them), without gradient,
/// its batch norms in `mode`; the teacher's running statistics are left as they were.
pub fn teacher_feature<D: Backend>(
    teacher: &Model<D>,
    rows: Vec<f32>,
    n: usize,
    mode: TeacherMode,
) -> Vec<f32> {
    match mode {
        TeacherMode::Eval => {
            let width = rows.len() / n.max(1);
            let x: Matrix<D> = teacher.store.dev.tensor_from_vec(rows, (n, width));
            teacher.encode(0, x).as_vec()
        }
        TeacherMode::Train => {
            let z = teacher.encode_input_mode(0, rows, n, Mode::Train).as_vec();
            teacher.store.discard_running_updates();
            z
        }
    }
}

impl OwnStep for UmtSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Umt::<D>::new(self.clone()))
    }
}

impl<D: Backend> Method<D> for Umt<D> {
    fn frozen_runs(&self) -> Vec<FrozenRequest> {
        FrozenRequest::per_modality(&self.settings.teachers, false)
    }

    fn receive_frozen(&mut self, models: Vec<FrozenModel<D>>) {
        self.teachers = models;
    }

    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        let n = cx.n();
        let host = cx.host_batch()?;
        let inside = self.settings.window.contains(cx.epoch);
        let taught: Vec<Vec<f32>> = match inside {
            true => {
                if self.teachers.len() != host.len() {
                    return Err(StepError::Contract(format!(
                        "umt has {} teachers for {} modalities (they are attached before the first epoch)",
                        self.teachers.len(),
                        host.len()
                    )));
                }
                self.teachers
                    .iter()
                    .zip(&host)
                    .map(|(t, rows)| {
                        teacher_feature(&t.model, rows.clone(), n, self.settings.teacher_mode)
                    })
                    .collect()
            }
            false => Vec::new(),
        };
        let zs = cx.encode(host);
        let unimodal = cx.model.unimodal(&zs);
        let dev = cx.model.store.dev.clone();
        let scale = self.settings.scaling as f32;
        let mut distill: Option<Tensor<(), f32, D, Tape<D>>> = None;
        for (z, t) in zs.iter().zip(&taught) {
            let shape = *z.shape();
            let t: Matrix<D> = dev.tensor_from_vec(t.clone(), shape);
            let term = (z.retaped::<Tape<D>>() - t).square().mean() * scale;
            distill = Some(match distill {
                None => term,
                Some(d) => d + term,
            });
        }
        let ce = cross_entropy_with_logits_loss(cx.model.head(cx.model.fuse(zs)), targets);
        let loss = match distill {
            Some(d) => ce + d,
            None => ce,
        };
        let value = loss.as_vec()[0] as f64;
        cx.update_all(loss)?;
        Ok(cx.plain_stats(value, &unimodal, &labels))
    }
}

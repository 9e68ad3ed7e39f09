//! Rules of `[optim]` and `[train]`: learning rate, decay, per-kind keys (momentum for sgd,
//! betas and eps for adam/adamw), schedules, epochs, batch size, threads.

use crate::kind_name::kind_name;
use crate::recipe::error::RecipeError;
use crate::recipe::file::*;
use crate::recipe::typed::{self, Optimizer, Schedule, ScheduleShape, UpdateRule};
use crate::recipe::validate::Checker;

impl Checker<'_> {
    pub(in crate::recipe) fn check_optim(
        &self,
        o: &mut OptimSection,
        epochs: usize,
    ) -> Result<Optimizer, RecipeError> {
        self.positive("optim.lr", o.lr)?;
        self.in_range("optim.weight_decay", o.weight_decay, "[0, ∞)", |v| {
            v >= 0.0
        })?;
        let kind = kind_name(&o.kind);
        let rule = match o.kind {
            OptimKind::Sgd => {
                self.not_for_kind(
                    "optim.betas",
                    &o.betas,
                    "adam and adamw",
                    "optim.kind",
                    &kind,
                )?;
                self.not_for_kind("optim.eps", &o.eps, "adam and adamw", "optim.kind", &kind)?;
                let momentum = *o.momentum.get_or_insert(typed::SGD_MOMENTUM);
                self.in_range("optim.momentum", momentum, "[0, 1)", |v| {
                    (0.0..1.0).contains(&v)
                })?;
                UpdateRule::Sgd { momentum }
            }
            OptimKind::Adam | OptimKind::Adamw => {
                self.not_for_kind("optim.momentum", &o.momentum, "sgd", "optim.kind", &kind)?;
                let betas = *o.betas.get_or_insert(typed::ADAM_BETAS);
                let [b1, b2] = betas;
                self.in_range("optim.betas[0]", b1, "[0, 1)", |v| (0.0..1.0).contains(&v))?;
                self.in_range("optim.betas[1]", b2, "[0, 1)", |v| (0.0..1.0).contains(&v))?;
                let eps = *o.eps.get_or_insert(typed::ADAM_EPS);
                self.positive("optim.eps", eps)?;
                if o.kind == OptimKind::Adam {
                    UpdateRule::Adam { betas, eps }
                } else {
                    UpdateRule::AdamW { betas, eps }
                }
            }
        };
        let s = &mut o.schedule;
        let skind = kind_name(&s.kind);
        if s.warmup >= epochs {
            return Err(RecipeError::OutOfRange {
                origin: self.o("optim.schedule.warmup"),
                key: "optim.schedule.warmup".into(),
                range: "[0, train.epochs)",
                got: s.warmup.to_string(),
            });
        }
        self.schedule_keys_apply(s, &skind)?;
        let shape = match s.kind {
            LrScheduleKind::Constant => ScheduleShape::Constant,
            LrScheduleKind::Step => {
                let Some(every) = s.every else {
                    return Err(RecipeError::KeyRequiredForKind {
                        origin: self.o("optim.schedule"),
                        key: "optim.schedule.every".into(),
                        kind_key: "optim.schedule.kind",
                        kind: skind,
                    });
                };
                self.positive_int("optim.schedule.every", every)?;
                let gamma = *s.gamma.get_or_insert(typed::STEP_GAMMA);
                self.in_range("optim.schedule.gamma", gamma, "(0, 1]", |v| {
                    v > 0.0 && v <= 1.0
                })?;
                ScheduleShape::Step { every, gamma }
            }
            LrScheduleKind::Cosine => {
                let min_lr = *s.min_lr.get_or_insert(typed::COSINE_MIN_LR);
                self.in_range("optim.schedule.min_lr", min_lr, "[0, optim.lr]", |v| {
                    v >= 0.0 && v <= o.lr
                })?;
                ScheduleShape::Cosine { min_lr }
            }
        };
        Ok(Optimizer {
            lr: o.lr,
            weight_decay: o.weight_decay,
            rule,
            schedule: Schedule {
                warmup: s.warmup,
                shape,
            },
        })
    }

    /// `every` and `gamma` belong to the step schedule, `min_lr` to cosine.
    pub(in crate::recipe) fn schedule_keys_apply(
        &self,
        s: &LrScheduleSection,
        kind: &str,
    ) -> Result<(), RecipeError> {
        let key = "optim.schedule.kind";
        if s.kind != LrScheduleKind::Step {
            self.not_for_kind("optim.schedule.every", &s.every, "step", key, kind)?;
            self.not_for_kind("optim.schedule.gamma", &s.gamma, "step", key, kind)?;
        }
        if s.kind != LrScheduleKind::Cosine {
            self.not_for_kind("optim.schedule.min_lr", &s.min_lr, "cosine", key, kind)?;
        }
        Ok(())
    }

    pub(in crate::recipe) fn check_train(&self, t: &TrainSection) -> Result<(), RecipeError> {
        self.positive_int("train.epochs", t.epochs)?;
        self.positive_int("train.batch_size", t.batch_size)?;
        self.positive_int("train.threads", t.threads)?;
        if let Some(clip) = t.grad_clip {
            self.positive("train.grad_clip", clip)?;
        }
        self.in_range(
            "train.modality_dropout",
            t.modality_dropout,
            "[0, 1)",
            |v| (0.0..1.0).contains(&v),
        )?;
        self.in_range("train.input_noise", t.input_noise, "[0, ∞)", |v| v >= 0.0)?;
        Ok(())
    }
}

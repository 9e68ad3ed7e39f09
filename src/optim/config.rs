//! The optimiser concern's settings as a recipe writes them (`[optim]`, `optim.schedule`), the
//! typed choices they resolve into (every default written out) and the rules that resolve them.
//! `recipe/` composes them; the optimiser and the schedule read them from here.

use crate::config_problem::ConfigProblem;
use crate::kind_keys::KindKeys;
use crate::kind_name::kind_name;
use serde::{Deserialize, Serialize};

/// `[optim]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    /// Optimiser. Default `"sgd"`.
    #[serde(default)]
    pub kind: OptimKind,
    /// Base learning rate. Default `0.01`.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// sgd only: classic momentum in [0, 1). Default `0.9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Weight decay ≥ 0: L2 for sgd/adam, decoupled for adamw. Default `0`.
    #[serde(default)]
    pub weight_decay: f64,
    /// adam/adamw only: (β1, β2). Default `[0.9, 0.999]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub betas: Option<[f64; 2]>,
    /// adam/adamw only: ε. Default `1e-8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f64>,
    /// Learning-rate schedule, evaluated per epoch. Default `{ kind = "constant" }`.
    #[serde(default)]
    pub schedule: LrScheduleSection,
}

fn default_lr() -> f64 {
    0.01
}

impl Default for OptimSection {
    fn default() -> Self {
        Self {
            kind: OptimKind::default(),
            lr: default_lr(),
            momentum: None,
            weight_decay: 0.0,
            betas: None,
            eps: None,
            schedule: LrScheduleSection::default(),
        }
    }
}

/// Optimisers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OptimKind {
    /// SGD with classic momentum and L2 weight decay (PyTorch semantics).
    #[default]
    Sgd,
    /// Adam with L2 weight decay.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
}

/// `optim.schedule`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct LrScheduleSection {
    /// Schedule family. Default `"constant"`.
    #[serde(default)]
    pub kind: LrScheduleKind,
    /// step only: epochs between decays. Required for step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<usize>,
    /// step only: decay factor in (0, 1]. Default `0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Linear warm-up epochs (from lr/(warmup+1) up to lr). Default `0`.
    #[serde(default)]
    pub warmup: usize,
    /// cosine only: final learning rate. Default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f64>,
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LrScheduleKind {
    /// lr for every epoch.
    #[default]
    Constant,
    /// lr · gamma^⌊epoch / every⌋.
    Step,
    /// Cosine from lr down to min_lr over the epochs after warm-up.
    Cosine,
}

/// sgd: classic momentum when `optim.momentum` is not given.
pub const SGD_MOMENTUM: f64 = 0.9;
/// adam/adamw: (β1, β2) when `optim.betas` is not given.
pub const ADAM_BETAS: [f64; 2] = [0.9, 0.999];
/// adam/adamw: ε when `optim.eps` is not given.
pub const ADAM_EPS: f64 = 1e-8;
/// step schedule: decay factor when `optim.schedule.gamma` is not given.
pub const STEP_GAMMA: f64 = 0.1;
/// cosine schedule: final learning rate when `optim.schedule.min_lr` is not given.
pub const COSINE_MIN_LR: f64 = 0.0;

/// `[optim]`: learning rate, weight decay, update rule and schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    /// Base learning rate.
    pub lr: f64,
    /// L2 (sgd, adam) or decoupled (adamw) weight decay.
    pub weight_decay: f64,
    /// The update rule with its own parameters.
    pub rule: UpdateRule,
    /// The learning-rate schedule.
    pub schedule: Schedule,
}

/// Update rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UpdateRule {
    /// SGD with classic momentum and L2 weight decay (PyTorch semantics).
    Sgd {
        /// Momentum in [0, 1).
        momentum: f64,
    },
    /// Adam with L2 weight decay.
    Adam {
        /// (β1, β2).
        betas: [f64; 2],
        /// ε.
        eps: f64,
    },
    /// Adam with decoupled weight decay.
    AdamW {
        /// (β1, β2).
        betas: [f64; 2],
        /// ε.
        eps: f64,
    },
}

/// `optim.schedule`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Linear warm-up epochs.
    pub warmup: usize,
    /// The shape after warm-up.
    pub shape: ScheduleShape,
}

/// Learning-rate schedule shapes after warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScheduleShape {
    /// lr every epoch.
    Constant,
    /// lr · gamma^⌊e / every⌋.
    Step {
        /// Epochs between decays (≥ 1).
        every: usize,
        /// Decay factor in (0, 1].
        gamma: f64,
    },
    /// Cosine from lr down to `min_lr`.
    Cosine {
        /// Final learning rate.
        min_lr: f64,
    },
}

/// The keys of `[optim]` and `optim.schedule` that only some kinds take.
pub const KIND_KEYS: &[KindKeys] = &[
    KindKeys {
        section: "optim",
        field: "kind",
        keys: &[
            ("momentum", &["sgd"]),
            ("betas", &["adam", "adamw"]),
            ("eps", &["adam", "adamw"]),
        ],
    },
    KindKeys {
        section: "optim.schedule",
        field: "kind",
        keys: &[
            ("every", &["step"]),
            ("gamma", &["step"]),
            ("min_lr", &["cosine"]),
        ],
    },
];

impl OptimSection {
    /// The section's rules (lr > 0, weight decay ≥ 0, each kind's keys and ranges, the
    /// schedule's), defaults written back; the typed optimiser for a run of `epochs` epochs.
    pub fn resolve(&mut self, epochs: usize) -> Result<Optimizer, ConfigProblem> {
        ConfigProblem::positive("lr", self.lr)?;
        ConfigProblem::in_range("weight_decay", self.weight_decay, "[0, ∞)", |v| v >= 0.0)?;
        let rule = self.resolve_rule()?;
        let schedule = self
            .schedule
            .resolve(self.lr, epochs)
            .map_err(|p| p.inside("schedule"))?;
        Ok(Optimizer {
            lr: self.lr,
            weight_decay: self.weight_decay,
            rule,
            schedule,
        })
    }

    /// The update rule: momentum for sgd, betas and eps for adam and adamw.
    fn resolve_rule(&mut self) -> Result<UpdateRule, ConfigProblem> {
        let kind = kind_name(&self.kind);
        let kind_key = "optim.kind";
        let in_unit = |v: f64| (0.0..1.0).contains(&v);
        match self.kind {
            OptimKind::Sgd => {
                let adam = "adam and adamw";
                ConfigProblem::not_for_kind("betas", &self.betas, adam, kind_key, &kind)?;
                ConfigProblem::not_for_kind("eps", &self.eps, adam, kind_key, &kind)?;
                let momentum = *self.momentum.get_or_insert(SGD_MOMENTUM);
                ConfigProblem::in_range("momentum", momentum, "[0, 1)", in_unit)?;
                Ok(UpdateRule::Sgd { momentum })
            }
            OptimKind::Adam | OptimKind::Adamw => {
                ConfigProblem::not_for_kind("momentum", &self.momentum, "sgd", kind_key, &kind)?;
                let betas @ [b1, b2] = *self.betas.get_or_insert(ADAM_BETAS);
                ConfigProblem::in_range("betas[0]", b1, "[0, 1)", in_unit)?;
                ConfigProblem::in_range("betas[1]", b2, "[0, 1)", in_unit)?;
                let eps = *self.eps.get_or_insert(ADAM_EPS);
                ConfigProblem::positive("eps", eps)?;
                Ok(match self.kind {
                    OptimKind::Adam => UpdateRule::Adam { betas, eps },
                    _ => UpdateRule::AdamW { betas, eps },
                })
            }
        }
    }
}

impl LrScheduleSection {
    /// The schedule's rules (warm-up shorter than training, each kind's keys and ranges; a
    /// cosine's floor at most `lr`), defaults written back.
    pub fn resolve(&mut self, lr: f64, epochs: usize) -> Result<Schedule, ConfigProblem> {
        let kind = kind_name(&self.kind);
        if self.warmup >= epochs {
            return Err(ConfigProblem::OutOfRange {
                key: "warmup".into(),
                got: self.warmup as f64,
                range: "[0, train.epochs)",
            });
        }
        let kind_key = "optim.schedule.kind";
        if self.kind != LrScheduleKind::Step {
            ConfigProblem::not_for_kind("every", &self.every, "step", kind_key, &kind)?;
            ConfigProblem::not_for_kind("gamma", &self.gamma, "step", kind_key, &kind)?;
        }
        if self.kind != LrScheduleKind::Cosine {
            ConfigProblem::not_for_kind("min_lr", &self.min_lr, "cosine", kind_key, &kind)?;
        }
        let shape = match self.kind {
            LrScheduleKind::Constant => ScheduleShape::Constant,
            LrScheduleKind::Step => {
                let Some(every) = self.every else {
                    return Err(ConfigProblem::KeyRequiredForKind {
                        key: "every".into(),
                        kind_key,
                        kind,
                    });
                };
                ConfigProblem::positive_int("every", every)?;
                let gamma = *self.gamma.get_or_insert(STEP_GAMMA);
                ConfigProblem::in_range("gamma", gamma, "(0, 1]", |v| v > 0.0 && v <= 1.0)?;
                ScheduleShape::Step { every, gamma }
            }
            LrScheduleKind::Cosine => {
                let min_lr = *self.min_lr.get_or_insert(COSINE_MIN_LR);
                ConfigProblem::in_range("min_lr", min_lr, "[0, optim.lr]", |v| {
                    v >= 0.0 && v <= lr
                })?;
                ScheduleShape::Cosine { min_lr }
            }
        };
        Ok(Schedule {
            warmup: self.warmup,
            shape,
        })
    }
}

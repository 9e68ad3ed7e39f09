//! The resolved recipe as the engine reads it: one enum per choice (optimiser, schedule,
//! encoder, fusion, mixer, gradient modulation, method), each variant carrying its own
//! parameters with every default applied. Only validation builds these, so no code downstream
//! unwraps an option "because validation filled it in"; each default that depends on a kind
//! is a constant here, and validation is the one place that applies it.

use crate::data::config::CorruptionKind;
pub use crate::method::config::{
    AgmSettings, GblendingSettings, Losses, Method, MlaSettings, MmParetoSettings, Modulation,
    OgmGeSettings, PmrSettings, AGM_ALPHA, AGM_CLIP_NORM, AGM_CLIP_TRIGGER, GBLENDING_SUPER_EPOCH,
    MMPARETO_GAMMA, OGM_ALPHA, OGM_NOISE,
};
pub use crate::mixup::config::Mixer;
pub use crate::model::config::{Encoder, EncoderBody, Fusion, Model, CONV_KERNEL, RESNET_WIDTH};

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

/// `train.eval.robustness`: which corruptions, at which severities, of which modalities.
#[derive(Debug, Clone, PartialEq)]
pub struct Robustness {
    /// Each kind with its severities, in recipe order.
    pub corruptions: Vec<(CorruptionKind, Vec<f64>)>,
    /// Modalities corrupted (one at a time), as indices in `dataset.modalities`.
    pub modalities: Vec<usize>,
    /// Seed of the `corruption` stream.
    pub seed: u64,
}

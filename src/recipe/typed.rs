//! The resolved recipe as the engine reads it: one enum per choice (optimiser, schedule,
//! encoder, fusion, mixer, gradient modulation, method), each variant carrying its own
//! parameters with every default applied. Only validation builds these, so no code downstream
//! unwraps an option "because validation filled it in"; each default that depends on a kind
//! is a constant here, and validation is the one place that applies it.

use super::file::{
    Activation, AgmAfterWindow, AgmMaskedPasses, BalanceSection, CorruptionKind, EpochWindow,
    GblendingEstimate, MixPoint, MlaDenominator, MlaProjection, MlaTestFusion, MmParetoHeads,
    OgmParams, OgmVariant, UnimodalLogits,
};

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
/// conv encoders: kernel size when `kernel` is not given.
pub const CONV_KERNEL: usize = 3;
/// Default base width of a resnet18 encoder (torchvision's).
pub const RESNET_WIDTH: usize = 64;
/// OGM-GE: α (OGM-GE's CREMA-D setting).
pub const OGM_ALPHA: f64 = 0.8;
/// OGM-GE: generalisation-enhancement noise on.
pub const OGM_NOISE: bool = true;
/// AGM: α of κ_m (the released config; the author recommends 1.5 for CREMA-D).
pub const AGM_ALPHA: f64 = 1.0;
/// AGM: the fusion head's gradient entry that triggers clipping (released).
pub const AGM_CLIP_TRIGGER: f64 = 1.0;
/// AGM: the global norm clipped to (released).
pub const AGM_CLIP_NORM: f64 = 1.0;
/// MMPareto's γ in the released code (hard-coded there).
pub const MMPARETO_GAMMA: f64 = 1.5;
/// G-Blending's super-epoch in BalanceBenchmark's online mode.
pub const GBLENDING_SUPER_EPOCH: usize = 10;

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

/// One modality's encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoder {
    /// Layers before the fully connected ones.
    pub body: EncoderBody,
    /// Hidden widths of the fully connected layers.
    pub hidden: Vec<usize>,
    /// Output (feature) width.
    pub out: usize,
    /// Activation after every layer.
    pub activation: Activation,
}

/// What an encoder runs before its fully connected layers.
#[derive(Debug, Clone, PartialEq)]
pub enum EncoderBody {
    /// Nothing: an MLP on the flat feature vector.
    Mlp,
    /// Conv blocks on the modality's image shape.
    Conv {
        /// `[channels, height, width]` of the modality (from its manifest).
        shape: [usize; 3],
        /// Filters of each block.
        channels: Vec<usize>,
        /// Odd kernel size.
        kernel: usize,
    },
    /// ResNet-18 on every frame, features averaged over frames (no fully connected layers).
    ResNet18 {
        /// `[channels, height, width]` of the modality (from its manifest).
        shape: [usize; 3],
        /// Channels of one frame.
        in_channels: usize,
        /// Base width (64 as published).
        width: usize,
        /// Frames per sample: `shape[0] / in_channels`.
        frames: usize,
    },
}

/// `model.fusion`, modalities given by their index in `dataset.modalities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    /// h = [z_1, …, z_M].
    Concat,
    /// h = Σ z_m.
    Sum,
    /// One head per modality, logits summed.
    SumHeads,
    /// h = γ(z_c) ⊙ z_o + β(z_c).
    Film {
        /// The conditioning modality c.
        condition: usize,
    },
    /// h = σ(G z_g) ⊙ (V z_o).
    Gated {
        /// The gating modality g.
        gate: usize,
        /// Width of the gated projection.
        dim: usize,
    },
}

impl Fusion {
    /// Whether the head is linear in each modality's features (concat, sum), so that it
    /// decomposes into unimodal logits.
    pub fn decomposes(&self) -> bool {
        matches!(self, Fusion::Concat | Fusion::Sum | Fusion::SumHeads)
    }
}

/// `[model]`
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// One encoder per selected modality, in `dataset.modalities` order.
    pub encoders: Vec<Encoder>,
    /// The fusion.
    pub fusion: Fusion,
    /// Where per-modality logits come from.
    pub unimodal_logits: UnimodalLogits,
}

/// The mixer of the standard step (`mixup.method` with what it needs).
#[derive(Debug, Clone, PartialEq)]
pub enum Mixer {
    /// No mixing.
    None,
    /// Input mixup.
    Input,
    /// MM at a point.
    Mm(MixPoint),
    /// B-MM with its balance settings.
    Bmm(BalanceSection),
}

/// `[modulation]`
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Modulation {
    /// No gradient modulation.
    None,
    /// OGM-GE.
    OgmGe(OgmGe),
}

/// OGM-GE's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OgmGe {
    /// α of the coefficient.
    pub alpha: f64,
    /// Generalisation-enhancement noise.
    pub noise: bool,
    /// Epochs `[start, stop)` in which gradients are modulated.
    pub window: EpochWindow,
    /// Coefficient formula.
    pub variant: OgmVariant,
    /// Which encoder gradients are modulated.
    pub params: OgmParams,
}

/// `[method]`: the step a run takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The standard step with the recipe's mixer, modulation and losses.
    Standard,
    /// MMPareto.
    Mmpareto {
        /// γ, the factor on every encoder gradient.
        gamma: f64,
        /// Where the unimodal logits come from.
        heads: MmParetoHeads,
    },
    /// AGM.
    Agm(Agm),
    /// MLA.
    Mla {
        /// The head-gradient projection.
        projection: MlaProjection,
        /// The projection update's denominator.
        denominator: MlaDenominator,
        /// How prediction fuses the modalities.
        test_fusion: MlaTestFusion,
    },
    /// G-Blending (online).
    Gblending {
        /// Epochs between weight estimates.
        super_epoch: usize,
        /// How the copies measure their losses.
        estimate: GblendingEstimate,
    },
}

/// AGM's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agm {
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

impl EpochWindow {
    /// Whether `epoch` lies in `[start, stop)`.
    pub fn contains(&self, epoch: usize) -> bool {
        (self.start..self.stop).contains(&epoch)
    }
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

impl CorruptionKind {
    /// Every kind, in declaration order.
    pub const ALL: [CorruptionKind; 5] = [
        CorruptionKind::MissingZero,
        CorruptionKind::MissingMean,
        CorruptionKind::Gaussian,
        CorruptionKind::Occlusion,
        CorruptionKind::Blur,
    ];

    /// The kind's name in recipes and flags (`missing-zero`, …).
    pub fn name(self) -> String {
        crate::kind_name::kind_name(&self)
    }

    /// Severities evaluated when the recipe gives none: missing — the probability that a
    /// sample's modality is missing; gaussian — σ in training stds; occlusion — the square's
    /// side as a fraction of the shorter image side; blur — σ in pixels.
    pub fn default_severities(self) -> Vec<f64> {
        match self {
            CorruptionKind::MissingZero | CorruptionKind::MissingMean => {
                vec![0.0, 0.25, 0.5, 0.75, 1.0]
            }
            CorruptionKind::Gaussian => vec![0.0, 0.5, 1.0, 2.0, 4.0],
            CorruptionKind::Occlusion => vec![0.0, 0.25, 0.5, 0.75],
            CorruptionKind::Blur => vec![0.0, 0.5, 1.0, 2.0],
        }
    }

    /// Whether the kind needs an image-shaped modality.
    pub fn needs_image(self) -> bool {
        matches!(self, CorruptionKind::Occlusion | CorruptionKind::Blur)
    }

    /// The largest severity that makes sense: 1 for probabilities and fractions.
    pub fn max_severity(self) -> Option<f64> {
        match self {
            CorruptionKind::MissingZero
            | CorruptionKind::MissingMean
            | CorruptionKind::Occlusion => Some(1.0),
            CorruptionKind::Gaussian | CorruptionKind::Blur => None,
        }
    }
}

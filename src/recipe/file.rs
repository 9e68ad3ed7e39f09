//! The recipe file as written: serde types that mirror TOML/YAML one to one.
//!
//! Every field states its default once, in its doc comment and its `serde(default)`. Unknown
//! keys are errors (`deny_unknown_fields`; no `flatten`, which would break that). Values are
//! only *typed* here; [`super::validate`] checks ranges and cross-field rules.

pub use crate::data::config::{
    CorruptionKind, DatasetSection, SplitKind, SplitSection, DEFAULT_TEST_FRACTION,
};
pub use crate::epoch_window::EpochWindow;
pub use crate::method::config::{
    AgmAfterWindow, AgmConfig, AgmMaskedPasses, GblendingConfig, GblendingEstimate, LossesSection,
    MethodKind, MethodSection, MlaConfig, MlaDenominator, MlaProjection, MlaTestFusion,
    MmParetoConfig, MmParetoHeads, ModulationKind, ModulationSection, OgmGeConfig, OgmParams,
    PmrCoefficient, PmrConfig, PrototypeView,
};
pub use crate::mixup::config::{
    BalanceSection, Contribution, Direction, LabelWeight, LambdaPer, MixPoint, MixupMethod,
    MixupSection, OgmVariant,
};
pub use crate::model::config::{
    Activation, EncoderKind, EncoderSpec, FusionKind, FusionSpec, ModelSection, UnimodalLogits,
};
use serde::{Deserialize, Serialize};

/// One experiment, as read from the recipe file(s) after `extends`, environment and `--set`
/// layering.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecipeFile {
    /// Experiment name; the run directory is `<out>/<name>/seed-<n>/`. Required.
    pub name: String,
    /// Path of a base recipe, relative to this file. Layers are merged base first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Master seeds; `balmix run` runs each in turn. Default `[0]`.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Which data, which modalities, how split.
    pub dataset: DatasetSection,
    /// Encoders, fusion, head.
    pub model: ModelSection,
    /// Mixup method and schedule. Default: no mixing.
    #[serde(default)]
    pub mixup: MixupSection,
    /// Gradient-modulation baseline. Default: none.
    #[serde(default, deserialize_with = "ModulationSection::read_later")]
    pub modulation: ModulationSection,
    /// A method with its own training step (instead of the standard step's mixer, modulation
    /// and loss terms). Default: the standard step; written out only when set.
    #[serde(
        default,
        skip_serializing_if = "MethodSection::is_standard",
        deserialize_with = "MethodSection::read_later"
    )]
    pub method: MethodSection,
    /// Extra loss terms (the multitask control). Default: none; written out only when set.
    #[serde(default, skip_serializing_if = "LossesSection::is_default")]
    pub losses: LossesSection,
    /// Optimiser and learning-rate schedule.
    #[serde(default)]
    pub optim: OptimSection,
    /// Epochs, batch size, evaluation, threads, device.
    #[serde(default)]
    pub train: TrainSection,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

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

/// `[train]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Training epochs. Default `60`.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Mini-batch size; the last batch of an epoch may be smaller. Default `64`.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Evaluation protocol.
    #[serde(default)]
    pub eval: EvalSection,
    /// CPU threads for the matrix kernels; results do not depend on it. Default `1`.
    /// Overridable by `BALMIX_THREADS`.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Device. Default `"cpu"`. Overridable by `BALMIX_DEVICE`.
    #[serde(default)]
    pub device: DeviceKind,
    /// Clip the global gradient norm (all parameters together) to this value before each
    /// update, as PyTorch's `clip_grad_norm_` does: gradients are scaled by
    /// `clip / (norm + 1e-6)` when that is below 1. Default: no clipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f64>,
    /// Modality dropout: the probability, in [0, 1), that a training sample's modality is
    /// replaced by zero input; never every modality of a sample (one, drawn uniformly, stays).
    /// Default `0` (off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub modality_dropout: f64,
    /// Input-noise augmentation: σ ≥ 0 of Gaussian noise added to every training input, in
    /// units of each feature's training std. Default `0` (off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input_noise: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn default_epochs() -> usize {
    60
}
fn default_batch_size() -> usize {
    64
}
fn default_threads() -> usize {
    1
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            eval: EvalSection::default(),
            threads: default_threads(),
            device: DeviceKind::default(),
            grad_clip: None,
            modality_dropout: 0.0,
            input_noise: 0.0,
        }
    }
}

/// `train.eval`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Which epoch's model is reported. Default `"last"`.
    #[serde(default)]
    pub select: EvalSelect,
    /// Test-time corruptions the reported model is also evaluated under (`robustness.csv`).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robustness: Option<RobustnessSection>,
}

/// `train.eval.robustness`: test-time corruptions (docs/methods.md, "Robustness").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RobustnessSection {
    /// Corruption kinds, each evaluated on every modality of `modalities` at every severity.
    pub corruptions: Vec<CorruptionKind>,
    /// Severities per kind. Default: each kind's defaults (written out in the resolved recipe).
    #[serde(default)]
    pub severities: Severities,
    /// Modalities to corrupt, one at a time. Default: every modality of the recipe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    /// Seed of the `corruption` stream. The draws depend on it and on each sample's index in
    /// the dataset only — never on the run's seed, the method or the evaluation order — so every
    /// method and seed sees the same corruption of a sample. Default `0`.
    #[serde(default)]
    pub seed: u64,
}

/// Severities per corruption kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Severities {
    /// Probabilities in [0, 1] that a sample's modality is missing (zero input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_zero: Option<Vec<f64>>,
    /// Probabilities in [0, 1] that a sample's modality is missing (training-mean input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_mean: Option<Vec<f64>>,
    /// σ ≥ 0 of additive Gaussian noise, in units of each feature's training std.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaussian: Option<Vec<f64>>,
    /// Side of a zeroed square, as a fraction in [0, 1] of the image's shorter side (image
    /// modalities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occlusion: Option<Vec<f64>>,
    /// σ ≥ 0 in pixels of a Gaussian blur (image modalities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blur: Option<Vec<f64>>,
}

/// Model selection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EvalSelect {
    /// The model after the last epoch.
    #[default]
    Last,
    /// The epoch with the best validation accuracy (first such epoch on ties).
    BestVal,
}

/// Compute devices.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// The CPU (dfdx `Cpu`).
    #[default]
    Cpu,
    /// An NVIDIA GPU (dfdx `Cuda`); needs a build with `--features cuda` and a visible GPU.
    Cuda,
}

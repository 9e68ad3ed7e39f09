//! The recipe file as written: serde types that mirror TOML/YAML one to one.
//!
//! Every field states its default once, in its doc comment and its `serde(default)`. Unknown
//! keys are errors (`deny_unknown_fields`; no `flatten`, which would break that). Values are
//! only *typed* here; [`super::validate`] checks ranges and cross-field rules.

pub use crate::epoch_window::EpochWindow;
pub use crate::method::config::{
    AgmAfterWindow, AgmMaskedPasses, GblendingEstimate, LossesSection, MethodKind, MethodSection,
    MlaDenominator, MlaProjection, MlaTestFusion, MmParetoHeads, ModulationKind, ModulationSection,
    OgmParams, PmrCoefficient, PmrSection, PrototypeView,
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
    #[serde(default)]
    pub modulation: ModulationSection,
    /// A method with its own training step (instead of the standard step's mixer, modulation
    /// and loss terms). Default: the standard step; written out only when set.
    #[serde(default, skip_serializing_if = "MethodSection::is_standard")]
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

/// G-Blending's super-epoch in BalanceBenchmark's online mode.
pub const GBLENDING_SUPER_EPOCH: usize = 10;

/// MMPareto's γ in the released code (hard-coded there).
pub const MMPARETO_GAMMA: f64 = 1.5;

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// `[dataset]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetSection {
    /// Manifest name: `data-manifests/<manifest>.toml`. Required.
    pub manifest: String,
    /// Modalities to use, in order. Required, non-empty; one modality trains a unimodal model.
    pub modalities: Vec<String>,
    /// Train/val/test split.
    #[serde(default)]
    pub split: SplitSection,
    /// Standardise each feature with mean/std of the training split. Default `true`.
    #[serde(default = "yes")]
    pub standardize: bool,
    /// Variants of the media readers (datasets read from media only): audio front-end,
    /// resampler, STFT padding, frames per clip, frame selection, frame size, label order.
    #[serde(
        default,
        skip_serializing_if = "crate::media::options::MediaSection::is_empty"
    )]
    pub media: crate::media::options::MediaSection,
}

fn yes() -> bool {
    true
}

/// `dataset.split`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitSection {
    /// Split strategy: `"stratified"` (per class, by the split seed), `"group"` (whole groups
    /// — e.g. subjects — on one side only; needs a group column in the manifest) or `"fixed"`
    /// (the manifest's train/test lists). Default: `"fixed"` when the manifest has fixed lists
    /// (any other kind is then an error: it would not happen), else `"stratified"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SplitKind>,
    /// stratified and group, without folds: fraction of the samples (of the groups, for
    /// `group`) held out for test. With fixed lists or folds the test set is decided
    /// otherwise and giving a fraction is an error. Default `0.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<f64>,
    /// Fraction held out of the training part for validation: of each class, or of the
    /// groups when the data has groups (validation never shares a group with training).
    /// Default `0.1`.
    #[serde(default = "default_val_fraction")]
    pub val: f64,
    /// Seed of the `split` stream; independent of the run seed so all seeds share one split.
    /// Default `0`.
    #[serde(default)]
    pub seed: u64,
    /// k-fold cross-validation (stratified or group kind): the number of folds, k ≥ 2. Fold
    /// `fold` is the test set. `balmix run` without `fold` runs every fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    /// With `folds`: which fold is the test set, 0-based (0 ≤ fold < folds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// Group split only: the groups (e.g. subject ids, as written in the group column) whose
    /// samples are the test set, instead of a random `test` fraction of the groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_groups: Option<Vec<String>>,
    /// How validation is drawn from the training part: `"group"` (whole groups, so no group
    /// is on both sides) or `"row"` (per class, whatever the group). Default: `"group"` when
    /// the manifest has groups; data without groups is always split by row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_by: Option<crate::data::split::ValBy>,
}

/// `dataset.split.test` of a stratified split when the recipe leaves it out.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

fn default_val_fraction() -> f64 {
    0.1
}

impl Default for SplitSection {
    fn default() -> Self {
        Self {
            kind: None,
            test: None,
            val: default_val_fraction(),
            seed: 0,
            folds: None,
            fold: None,
            test_groups: None,
            val_by: None,
        }
    }
}

/// How samples are split.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SplitKind {
    /// Per class, shuffle with the `split` stream and cut test, val, train.
    #[default]
    Stratified,
    /// The manifest's fixed train and test lists; validation is a fraction `val` of the
    /// training part, drawn with the `split` stream.
    Fixed,
    /// Whole groups (the manifest's group column) on one side: the groups are shuffled with
    /// the `split` stream and cut into test, val and train.
    Group,
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

/// Test-time corruptions of one modality.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptionKind {
    /// The modality is missing: zero input (as the field's masked evaluations do).
    MissingZero,
    /// The modality is missing: each feature's training mean is imputed.
    MissingMean,
    /// Additive Gaussian noise, σ relative to each feature's training std.
    Gaussian,
    /// A zeroed square at a random position of the image.
    Occlusion,
    /// Gaussian blur of the image.
    Blur,
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

//! The recipe file as written: serde types that mirror TOML/YAML one to one.
//!
//! Every field states its default once, in its doc comment and its `serde(default)`. Unknown
//! keys are errors (`deny_unknown_fields`; no `flatten`, which would break that). Values are
//! only *typed* here; [`super::validate`] checks ranges and cross-field rules.

pub use crate::data::config::{
    CorruptionKind, DatasetSection, SplitKind, SplitSection, DEFAULT_TEST_FRACTION,
};
pub use crate::data::robustness::{RobustnessSection, Severities};
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
pub use crate::optim::config::{LrScheduleKind, LrScheduleSection, OptimKind, OptimSection};
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

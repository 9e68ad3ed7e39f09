//! The method concern's settings as a recipe writes them (`[method]`, `[modulation]`,
//! `[losses]`) and the typed choices validation resolves them into (every default written out).
//! `recipe/` composes and validates them; the methods read them from here.

use crate::epoch_window::EpochWindow;
use crate::mixup::config::{Draw, Mixer, OgmVariant};
use serde::{Deserialize, Serialize};

/// `[method]`: methods that need their own step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct MethodSection {
    /// `"standard"` (one forward and backward, with the recipe's `[mixup]`, `[modulation]` and
    /// `[losses]`), `"mmpareto"`, `"agm"`, `"mla"` or `"gblending"`. Default `"standard"`.
    #[serde(default)]
    pub kind: MethodKind,
    /// mmpareto: γ, the factor on every encoder gradient. Default [`MMPARETO_GAMMA`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// agm: α of κ_m = exp(α · min(r*_m − r_m, 10)). Default `1.0` (the released config; the
    /// author recommends 1.5 for CREMA-D).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// agm: epochs `[start, stop)` in which the gradient is modulated. Default: every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
    /// agm: when any entry of the fusion head's weight gradient exceeds this in absolute
    /// value, the global gradient norm is clipped to `clip_norm`. Default `1.0` (released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_trigger: Option<f64>,
    /// agm: the norm clipped to. Default `1.0` (released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_norm: Option<f64>,
    /// agm: the batch-norm mode of the two masked forwards (one modality zeroed). Default
    /// `"eval-mode"`: the released code runs them under `eval()` with autograd on (running
    /// statistics, no running update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_passes: Option<AgmMaskedPasses>,
    /// agm: what the steps after the modulation window (`epochs`) do. Default `"last-kappa"`:
    /// the released hooks stay registered and keep scaling by the last in-window κ;
    /// `"plain"` takes the plain fused loss, as the paper describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_window: Option<AgmAfterWindow>,
    /// mmpareto: where the unimodal logits come from. Default `"separate"`: a linear head per
    /// modality beside the fused head, as the released model has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unimodal_heads: Option<MmParetoHeads>,
    /// mla: the head-gradient projection. Default `"off"` (the released code never runs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<MlaProjection>,
    /// mla: the denominator of the projection update (with `projection` on). Default
    /// `"outer"`: the released code and BalanceBenchmark divide k kᵀ element-wise by a + k rᵀ,
    /// the outer product, so P is not symmetric; `"scalar"` divides by a + r k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<MlaDenominator>,
    /// mla: how prediction fuses the modalities' logits through the shared head. Default
    /// `"fixed"`: the released code's default (its `--dynamic` flag is off unless given); its
    /// README runs both, "fixed fusion" and "dynamic fusion" (`"batch-entropy"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fusion: Option<MlaTestFusion>,
    /// gblending: how each output's copy measures its training and validation losses.
    /// Default `"balancebenchmark"` (the port the method's rows follow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<GblendingEstimate>,
    /// gblending: epochs between weight estimates, and the epochs each model copy trains for
    /// an estimate. Default [`GBLENDING_SUPER_EPOCH`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub super_epoch: Option<usize>,
}

/// The batch-norm mode of AGM's masked forwards.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AgmMaskedPasses {
    /// Evaluation mode with gradients (running statistics, no running update): the released
    /// code.
    #[default]
    EvalMode,
    /// Training mode (batch statistics of the half-zero batch, one running update each): what
    /// balmix did before it followed the released code.
    TrainMode,
}

/// What AGM's steps after its modulation window do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AgmAfterWindow {
    /// Keep scaling by the last in-window κ (the released hooks stay registered).
    #[default]
    LastKappa,
    /// The plain fused loss (the paper's description).
    Plain,
}

/// Where MMPareto's unimodal logits come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MmParetoHeads {
    /// A linear head per modality (`unimodal_head.<modality>`), trained by its unimodal loss
    /// beside the fused head: the released model.
    #[default]
    Separate,
    /// The fused head split by modality, u_m = z_m W_mᵀ + b/M: BalanceBenchmark's port.
    Split,
}

/// The denominator of MLA's projection update P ← P − k kᵀ / (…).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MlaDenominator {
    /// a + k rᵀ, the outer product, element-wise (the released code and BalanceBenchmark).
    #[default]
    Outer,
    /// The scalar a + r k (a recursive-least-squares reading; P stays symmetric).
    Scalar,
}

/// How MLA's prediction fuses the modalities' logits H(z_m).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MlaTestFusion {
    /// One weight per modality per evaluation batch (`train.batch_size` rows): softmax over
    /// modalities of minus the entropy of H(z_m) softmaxed over the batch's rows (per class,
    /// as the released `calculate_entropy` does), summed — the released dynamic fusion
    /// (`--dynamic`).
    BatchEntropy,
    /// Per sample: softmax over modalities of −entropy(softmax(H(z_m,i))) (BalanceBenchmark's
    /// form; balmix's former default).
    SampleEntropy,
    /// Fixed weights 0.55 on the first modality and 0.45 on the second (the released code's
    /// default, `main(av_alpha = 0.55)`); two modalities.
    #[default]
    Fixed,
}

/// How G-Blending's model copies measure the losses its weights come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GblendingEstimate {
    /// BalanceBenchmark's `GBlending_trainer.py`: each copy restarts from a fresh optimiser at
    /// the base learning rate and trains on the training view; T is the sum of its in-epoch
    /// training-batch losses, V the sum over validation batches of the batch-mean loss after
    /// the epoch (evaluation mode).
    #[default]
    Balancebenchmark,
    /// balmix's former estimate: copies at the epoch's scheduled learning rate on the
    /// evaluation view; T and V the evaluation-mode mean losses over the whole training and
    /// validation sets after the epoch.
    Means,
}

/// MLA's gradient projection of the shared head's weight gradient G.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MlaProjection {
    /// No projection: the released code's behaviour (its hook matches no parameter name).
    #[default]
    Off,
    /// G ← G Pᵀ, the original intent.
    Replace,
    /// G ← G + G Pᵀ, BalanceBenchmark's version.
    Add,
}

impl MethodSection {
    /// Whether this is the standard step with no settings.
    pub fn is_standard(&self) -> bool {
        *self == MethodSection::default()
    }
}

/// Methods with their own step.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    /// The standard one-forward step.
    #[default]
    Standard,
    /// MMPareto (Wei & Hu, ICML 2024): per-loss encoder gradients combined by the two-vector
    /// Pareto (min-norm) rule and rescaled.
    Mmpareto,
    /// AGM (Li et al., ICCV 2023), the released code's mechanism: masked forwards, Shapley-style
    /// mono-modal logits, their gradients scaled by κ_m.
    Agm,
    /// MLA (Zhang et al., CVPR 2024): alternating unimodal steps through the shared head (sum
    /// fusion), one optimiser update per modality per batch.
    Mla,
    /// G-Blending (Wang et al., CVPR 2020), online: loss weights of the fused and each unimodal
    /// output from their overfitting-to-generalisation ratio on the validation split.
    Gblending,
}

/// `[losses]`: extra loss terms added to the fused loss.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct LossesSection {
    /// Weight of each modality's own cross-entropy on its decomposed unimodal logits
    /// u_m = z_m W_mᵀ + b/M, added to the fused loss (the multitask control; needs concat or
    /// sum fusion). Default `0` (off).
    #[serde(default)]
    pub unimodal: f64,
    /// PMR, prototypical modal rebalance (Fan et al., CVPR 2023). Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmr: Option<PmrSection>,
}

/// `[losses.pmr]`: prototype cross-entropy for the lagging modality (docs/methods.md §3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PmrSection {
    /// α, the weight of the lagging modality's prototype cross-entropy. Default `1.0` (the
    /// released code's default).
    #[serde(default = "crate::mixup::config::one")]
    pub alpha: f64,
    /// μ, the prototypes' moving-average momentum: c ← (1 − μ) c̃ + μ c. Default `0.2` (the
    /// released code's default).
    #[serde(default = "default_pmr_momentum")]
    pub momentum: f64,
    /// How the coefficients follow the prototype-score ratio ρ. Default `"binary"`.
    #[serde(default)]
    pub coefficient: PmrCoefficient,
    /// Epochs `[start, stop)` in which the prototype terms are added. Default: every epoch.
    /// (The released code's window `starts ≤ epoch ≤ ends` is `{ start = starts, stop = ends + 1 }`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
    /// Weight of the prototypical entropy regulariser (PER) on the dominant modality, which the
    /// paper describes and the released code lacks. Default `0` (off, as released).
    #[serde(default)]
    pub entropy: f64,
    /// PER is active in the first `entropy_epochs` epochs of the window. Default `10`.
    #[serde(default = "default_entropy_epochs")]
    pub entropy_epochs: usize,
    /// Share of each epoch's training batches used to compute the prototypes. Default `0.1`
    /// (hard-coded in the released code).
    #[serde(default = "default_sample_fraction")]
    pub sample_fraction: f64,
    /// The first epoch whose prototypes are folded into the old ones with μ; earlier epochs
    /// replace them. Default `2`: the released code computes the prototypes that epoch 1 uses
    /// with its epoch argument still 0, which replaces (`1` starts the average one epoch
    /// earlier).
    #[serde(default = "default_pmr_ema_start")]
    pub ema_start: usize,
    /// Which view of media clips the prototype pass reads (the batch norms evaluate, no
    /// running update, either way). Default `"train"`: the released code iterates the training
    /// loader, random crops and flips included; `"eval"` reads the evaluation view.
    #[serde(default)]
    pub prototype_view: PrototypeView,
}

/// The view of media clips PMR's prototype pass reads.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PrototypeView {
    /// The training view of the epoch (the released code).
    #[default]
    Train,
    /// The evaluation view.
    Eval,
}

/// PMR's coefficient rule.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PmrCoefficient {
    /// The released code: the lagging modality gets α, the leading one 0 (both 0 at ρ = 1).
    #[default]
    Binary,
    /// BalanceBenchmark's variant: the lagging modality gets α · clip(ρ′ − 1, 0, 1), ρ′ ≥ 1
    /// being the leader's score over the lagger's.
    RatioClipped,
}

fn default_pmr_momentum() -> f64 {
    0.2
}

fn default_entropy_epochs() -> usize {
    10
}

fn default_sample_fraction() -> f64 {
    0.1
}

fn default_pmr_ema_start() -> usize {
    2
}

impl LossesSection {
    /// Whether every key has its default.
    pub fn is_default(&self) -> bool {
        *self == LossesSection::default()
    }
}

/// `[modulation]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ModulationSection {
    /// Baseline. Default `"none"`.
    #[serde(default)]
    pub kind: ModulationKind,
    /// ogm-ge: α of k_m = 1 − tanh(α ρ_m). Default `0.8` (OGM-GE's CREMA-D setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// ogm-ge: add N(0, std(g)) to modulated gradients (GE). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<bool>,
    /// ogm-ge: epoch window of the modulation. Default: every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
    /// ogm-ge: `published` (Eq. 10 as the public code computes it) or `continuous`. Default
    /// `"published"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<OgmVariant>,
    /// ogm-ge: which encoder gradients are modulated. Default `"weights"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<OgmParams>,
}

/// Which encoder parameters OGM-GE modulates (biases never).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OgmParams {
    /// Every weight matrix of the encoder (linear and convolution): the choice for MLP encoders.
    #[default]
    Weights,
    /// Only the convolution weights, as the released code does (its 4-D tensors); needs a conv
    /// or resnet18 encoder.
    ConvWeights,
}

/// Gradient-modulation baselines.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ModulationKind {
    /// No modulation.
    #[default]
    None,
    /// On-the-fly gradient modulation with generalisation enhancement (Peng et al., 2022).
    OgmGe,
}

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

/// Everything a method is built from, resolved by validation (`Recipe::method_settings`):
/// the runtime builds a method from this, never from the recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSettings {
    /// `[method]`: a method with its own step, or the standard step.
    pub method: Method,
    /// `[modulation]`: the standard step's gradient editor.
    pub modulation: Modulation,
    /// `[losses]`: the standard step's extra loss terms.
    pub losses: LossesSection,
    /// The standard step's mixer (B-MM's with its balance settings).
    pub mixer: Mixer,
    /// What the mixer's λ draws follow (`[mixup]`'s α, λ granularity, fold, probability,
    /// window).
    pub draw: Draw,
    /// `train.batch_size`.
    pub batch_size: usize,
    /// Optimiser steps per epoch of the run (⌈training samples / batch size⌉).
    pub steps_per_epoch: usize,
    /// `train.grad_clip`: the global gradient-norm clip, if any.
    pub grad_clip: Option<f64>,
}

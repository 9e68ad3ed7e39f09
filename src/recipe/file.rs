//! The recipe file as written: serde types that mirror TOML/YAML one to one.
//!
//! Every field states its default once, in its doc comment and its `serde(default)`. Unknown
//! keys are errors (`deny_unknown_fields`; no `flatten`, which would break that). Values are
//! only *typed* here; [`super::validate`] checks ranges and cross-field rules.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// G-Blending's super-epoch in BalanceBenchmark's online mode.
pub const GBLENDING_SUPER_EPOCH: usize = 10;

/// MMPareto's γ in the released code (hard-coded there).
pub const MMPARETO_GAMMA: f64 = 1.5;

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
    #[serde(default = "one")]
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

/// `[model]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// One encoder per modality, keyed by modality name. Encoders of modalities the recipe does
    /// not select are ignored (and dropped from the resolved recipe).
    pub encoders: BTreeMap<String, EncoderSpec>,
    /// How encoder features are combined. Default `{ kind = "concat" }`.
    #[serde(default)]
    pub fusion: FusionSpec,
    /// How per-modality ("unimodal") logits are obtained. Default: `decompose` for concat/sum
    /// fusion, `probe` for film/gated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unimodal_logits: Option<UnimodalLogits>,
}

/// `model.encoders.<modality>`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    /// Encoder family. Default `"mlp"`.
    #[serde(default)]
    pub kind: EncoderKind,
    /// conv only: filters of each conv block (k × k "same" conv, ReLU, 2 × 2 max-pool), on
    /// the modality's `[channels, height, width]` shape from its manifest. Required for conv.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<usize>,
    /// conv only: odd kernel size. Default `3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<usize>,
    /// resnet18 only: input channels of one frame (1 for a spectrogram, 3 for RGB, 2 for a
    /// flow pair). The modality's channels must be a multiple: that many frames, each through
    /// the 2-D net, features averaged over frames. Default: the modality's channels (one frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_channels: Option<usize>,
    /// resnet18 only: base width, the channels of the first stage (stages have 1, 2, 4 and 8
    /// times it; the feature is 8 × width wide). Default `64`, as published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// Hidden widths of the fully connected layers (after the conv blocks for conv). Default
    /// `[]` (a single layer). mlp and conv only.
    #[serde(default)]
    pub hidden: Vec<usize>,
    /// Output (feature) width. Required for mlp and conv; for resnet18 it is 8 × width and may
    /// be left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<usize>,
    /// Activation after every layer, the output layer included (features are post-activation,
    /// as in the OGM-GE encoders). Default `"relu"`. mlp and conv only (ResNet-18 has its own
    /// ReLUs).
    #[serde(default)]
    pub activation: Activation,
}

/// Encoder families.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// Multi-layer perceptron on the flat feature vector.
    #[default]
    Mlp,
    /// Convolution blocks (im2col + matmul) on an image-shaped modality, then an MLP.
    Conv,
    /// torchvision's ResNet-18 trunk (batch norm, residual blocks) on each frame of an
    /// image-shaped modality, global average pooling, features averaged over frames.
    #[serde(rename = "resnet18")]
    ResNet18,
}

/// Activation functions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// max(0, x)
    #[default]
    Relu,
    /// tanh(x)
    Tanh,
    /// GELU (tanh approximation).
    Gelu,
}

/// `model.fusion`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct FusionSpec {
    /// Fusion family. Default `"concat"`.
    #[serde(default)]
    pub kind: FusionKind,
    /// film only: the modality that produces γ, β. Default: the first modality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// gated only: the modality that produces the gate. Default: the first modality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// gated only: width of the gated projection. Default: the other modality's feature width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
}

/// Fusion families (docs/methods.md §1–2; the OGM-GE paper's baselines).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FusionKind {
    /// h = [z_1, …, z_M]; head Linear(Σd_m → K).
    #[default]
    Concat,
    /// h = Σ z_m (equal widths); head Linear(d → K).
    Sum,
    /// OGM-GE's `SumFusion`: one head Linear(d_m → K) per modality, each with its own bias, and
    /// the logits summed (any widths). Same function class as concat, different parameters:
    /// M biases, and each head initialised on its own fan-in.
    SumHeads,
    /// Two modalities: h = γ(z_c) ⊙ z_o + β(z_c), γ and β linear in the conditioning modality.
    Film,
    /// Two modalities: h = σ(G z_g) ⊙ (V z_o); G, V linear to `dim`.
    Gated,
}

/// Where per-modality logits come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum UnimodalLogits {
    /// Split the linear head by modality: u_m = z_m W_mᵀ + b/M (concat, sum).
    Decompose,
    /// Per-modality linear probes trained on detached features (any fusion; they never change
    /// the encoders).
    Probe,
}

/// `[mixup]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MixupSection {
    /// Method. Default `"none"`.
    #[serde(default)]
    pub method: MixupMethod,
    /// mm only: mix the fused feature (`fused`) or each encoder output (`encoder`). Default
    /// `"fused"`. For concat fusion the two coincide.
    #[serde(default)]
    pub point: MixPoint,
    /// λ ~ Beta(alpha, alpha). Default `0.4`.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// One λ per sample or one per batch. Default `"sample"`.
    #[serde(default)]
    pub lambda_per: LambdaPer,
    /// Fold λ ← max(λ, 1 − λ) so every sample keeps its own label as the majority. Default
    /// `false`; B-MM requires `true`.
    #[serde(default)]
    pub fold: bool,
    /// Chance that a batch is mixed at all. Default `1.0`.
    #[serde(default = "one")]
    pub probability: f64,
    /// Epoch window `[start, stop)` in which batches are mixed. Default: every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
    /// bmm only: how contributions set the per-modality mixing. Default: see [`BalanceSection`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<BalanceSection>,
}

fn default_alpha() -> f64 {
    0.4
}
fn one() -> f64 {
    1.0
}

impl Default for MixupSection {
    fn default() -> Self {
        Self {
            method: MixupMethod::default(),
            point: MixPoint::default(),
            alpha: default_alpha(),
            lambda_per: LambdaPer::default(),
            fold: false,
            probability: one(),
            epochs: None,
            balance: None,
        }
    }
}

/// Mixup methods (docs/methods.md §1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MixupMethod {
    /// No mixing.
    #[default]
    None,
    /// Mix raw inputs of every modality with one λ (classic mixup).
    Input,
    /// Multimodal mixup: mix features at `point`.
    Mm,
    /// Balanced multimodal mixup: per-modality λ_m from relative contributions.
    Bmm,
}

/// Where MM mixes features.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MixPoint {
    /// The aggregated (fused) feature h.
    #[default]
    Fused,
    /// Each encoder output z_m, then fuse.
    Encoder,
}

/// Granularity of λ draws.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LambdaPer {
    /// One λ per sample.
    #[default]
    Sample,
    /// One λ for the whole batch.
    Batch,
}

/// An epoch window `[start, stop)`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EpochWindow {
    /// First epoch inside the window (0-based).
    pub start: usize,
    /// First epoch after the window.
    pub stop: usize,
}

/// `mixup.balance` (B-MM, docs/methods.md §1, B-MM steps 1–7).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BalanceSection {
    /// Contribution estimator. Default `"confidence"`.
    #[serde(default)]
    pub contribution: Contribution,
    /// EMA factor β of the contribution, in [0, 1). Default `0.9`.
    #[serde(default = "default_ema")]
    pub ema: f64,
    /// Exponent γ ≥ 0 on the relative contribution. Default `1.0`; 0 reduces B-MM to MM.
    #[serde(default = "one")]
    pub gamma: f64,
    /// Which modality is mixed more. Default `"dominant-more"`.
    #[serde(default)]
    pub direction: Direction,
    /// How the label ratio λ_y follows the per-modality ratios. Default
    /// `"inverse-contribution"` (docs/methods.md §1 explains why: `contribution` starved the weak
    /// modality on real data).
    #[serde(default)]
    pub label_weight: LabelWeight,
}

fn default_ema() -> f64 {
    0.9
}

impl Default for BalanceSection {
    fn default() -> Self {
        Self {
            contribution: Contribution::default(),
            ema: default_ema(),
            gamma: one(),
            direction: Direction::default(),
            label_weight: LabelWeight::default(),
        }
    }
}

/// Contribution estimators.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Contribution {
    /// Mean softmax probability of the true class under u_m (OGM-GE's score).
    #[default]
    Confidence,
    /// Accuracy of argmax u_m, plus 1/K so it stays > 0.
    Accuracy,
    /// 1 / (ε + mean KL(fused ‖ unimodal)).
    Kl,
}

/// B-MM direction.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// δ_m = min(δ r_m^γ, 0.5): the dominant modality is mixed more.
    #[default]
    DominantMore,
    /// δ_m = min(δ r_m^−γ, 0.5): the weak modality is mixed more.
    WeakMore,
}

/// B-MM label weighting.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LabelWeight {
    /// w_m ∝ 1/r_m: the label follows the under-contributing modality.
    #[default]
    InverseContribution,
    /// w_m ∝ r_m.
    Contribution,
    /// w_m = 1/M.
    Mean,
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

/// OGM-GE coefficient formula.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OgmVariant {
    /// k = 1 − tanh(α ρ) if ρ > 1 else 1 (jumps at ρ = 1, as published).
    #[default]
    Published,
    /// k = 1 − tanh(α (ρ − 1)) if ρ > 1 else 1 (no jump).
    Continuous,
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

//! The model concern's settings: `[model]` as a recipe writes it (encoders, fusion, where
//! unimodal logits come from) and the typed choices validation resolves it into, plus what a
//! method asks of the model (separate unimodal heads). `recipe/` composes and validates them;
//! [`super::Model::build`] reads [`ModelSettings`], never the recipe.

use crate::kind_keys::KindKeys;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// conv encoders: kernel size when `kernel` is not given.
pub const CONV_KERNEL: usize = 3;

/// Default base width of a resnet18 encoder (torchvision's).
pub const RESNET_WIDTH: usize = 64;

/// The keys of `model.fusion` and of an encoder that only some kinds take.
pub const KIND_KEYS: &[KindKeys] = &[
    KindKeys {
        section: "model.fusion",
        field: "kind",
        keys: &[
            ("condition", &["film"]),
            ("gate", &["gated"]),
            ("dim", &["gated"]),
        ],
    },
    KindKeys {
        section: "model.encoders.*",
        field: "kind",
        keys: &[("channels", &["conv"]), ("kernel", &["conv"])],
    },
];

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
    /// The fusion's kind as a recipe writes it (`model.fusion.kind`).
    pub fn name(&self) -> &'static str {
        match self {
            Fusion::Concat => "concat",
            Fusion::Sum => "sum",
            Fusion::SumHeads => "sum-heads",
            Fusion::Film { .. } => "film",
            Fusion::Gated { .. } => "gated",
        }
    }

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

/// Everything the model is built from, resolved by validation (`Recipe::model_settings`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    /// The modalities, in `dataset.modalities` order (parameter names carry them).
    pub modalities: Vec<String>,
    /// The encoders, fusion and unimodal logits.
    pub model: Model,
    /// One extra linear head per modality on its own features (`unimodal_head.<m>`), trained
    /// with the fusion's parameters: what a method with separate unimodal heads asks for
    /// (MMPareto's released model).
    pub unimodal_heads: bool,
}

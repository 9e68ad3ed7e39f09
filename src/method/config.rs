//! The method concern's settings as a recipe writes them (`[method]`, `[modulation]`,
//! `[losses]`) and the typed choices validation resolves them into (every default written out).
//! `recipe/` composes and validates them; the methods read them from here.

pub use super::agm::{
    AgmAfterWindow, AgmConfig, AgmMaskedPasses, AgmSettings, AGM_ALPHA, AGM_CLIP_NORM,
    AGM_CLIP_TRIGGER,
};
pub use super::gblending::{
    GblendingConfig, GblendingEstimate, GblendingSettings, GBLENDING_SUPER_EPOCH,
};
pub use super::mla::{MlaConfig, MlaDenominator, MlaProjection, MlaSettings, MlaTestFusion};
pub use super::mmpareto::{MmParetoConfig, MmParetoHeads, MmParetoSettings, MMPARETO_GAMMA};
use super::resolve::{ConfigProblem, MethodContext};
use crate::epoch_window::EpochWindow;
use crate::mixup::config::{Draw, Mixer, OgmVariant};
use serde::{Deserialize, Serialize};

// `[method]`: a method with its own training step, each kind with its own keys (its file's
// config: `MmParetoConfig`, `AgmConfig`, `MlaConfig`, `GblendingConfig`), written as one table
// with `kind` first; validation writes every default of the kind out. The doc comment below is
// what `balmix keys` shows for `method.kind`.
/// `"standard"` (one forward and backward, with the recipe's `[mixup]`, `[modulation]` and
/// `[losses]`), `"mmpareto"`, `"agm"`, `"mla"` or `"gblending"`. Default `"standard"`.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MethodSection {
    /// The standard one-forward step.
    #[default]
    Standard,
    /// MMPareto (Wei & Hu, ICML 2024): per-loss encoder gradients combined by the two-vector
    /// Pareto (min-norm) rule and rescaled.
    Mmpareto(MmParetoConfig),
    /// AGM (Li et al., ICCV 2023), the released code's mechanism: masked forwards, Shapley-style
    /// mono-modal logits, their gradients scaled by κ_m.
    Agm(AgmConfig),
    /// MLA (Zhang et al., CVPR 2024): alternating unimodal steps through the shared head (sum
    /// fusion), one optimiser update per modality per batch.
    Mla(MlaConfig),
    /// G-Blending (Wang et al., CVPR 2020), online: loss weights of the fused and each unimodal
    /// output from their overfitting-to-generalisation ratio on the validation split.
    Gblending(GblendingConfig),
}

impl MethodSection {
    /// Whether this is the standard step (no `[method]` table is written).
    pub fn is_standard(&self) -> bool {
        *self == MethodSection::Standard
    }

    /// The kind.
    pub fn kind(&self) -> MethodKind {
        match self {
            MethodSection::Standard => MethodKind::Standard,
            MethodSection::Mmpareto(_) => MethodKind::Mmpareto,
            MethodSection::Agm(_) => MethodKind::Agm,
            MethodSection::Mla(_) => MethodKind::Mla,
            MethodSection::Gblending(_) => MethodKind::Gblending,
        }
    }

    /// The typed method, every default written back into the section; checked by the
    /// method's own rules.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<Method, ConfigProblem> {
        Ok(match self {
            MethodSection::Standard => Method::Standard,
            MethodSection::Mmpareto(c) => Method::Mmpareto(c.resolve(cx)?),
            MethodSection::Agm(c) => Method::Agm(c.resolve(cx)?),
            MethodSection::Mla(c) => Method::Mla(c.resolve(cx)?),
            MethodSection::Gblending(c) => Method::Gblending(c.resolve(cx)?),
        })
    }

    /// An empty section of `kind` (its keys read from the recipe's layers next:
    /// `recipe/load.rs` reads `[method]` in a second pass, once the kind is known).
    pub fn read_later<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MethodSection, D::Error> {
        // A table is all this pass checks; its keys are the kind's config's.
        let _: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
            serde::Deserialize::deserialize(d)?;
        Ok(MethodSection::Standard)
    }
}

/// `method.kind`, read alone first: it decides which config reads the rest of `[method]`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    /// The standard one-forward step.
    #[default]
    Standard,
    /// MMPareto.
    Mmpareto,
    /// AGM.
    Agm,
    /// MLA.
    Mla,
    /// G-Blending.
    Gblending,
}

impl MethodKind {
    /// The kind as a recipe writes it.
    pub fn name(self) -> &'static str {
        match self {
            MethodKind::Standard => "standard",
            MethodKind::Mmpareto => "mmpareto",
            MethodKind::Agm => "agm",
            MethodKind::Mla => "mla",
            MethodKind::Gblending => "gblending",
        }
    }
}

/// Each method kind with the `[method]` keys its config takes, in order (the standard step
/// takes none): read from the config structs themselves, so a key is stated once.
pub fn method_keys() -> Vec<(MethodKind, &'static [&'static str])> {
    use super::resolve::field_names;
    vec![
        (MethodKind::Standard, &[]),
        (MethodKind::Mmpareto, field_names::<MmParetoConfig>()),
        (MethodKind::Agm, field_names::<AgmConfig>()),
        (MethodKind::Mla, field_names::<MlaConfig>()),
        (MethodKind::Gblending, field_names::<GblendingConfig>()),
    ]
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
    Mmpareto(MmParetoSettings),
    /// AGM.
    Agm(AgmSettings),
    /// MLA.
    Mla(MlaSettings),
    /// G-Blending (online).
    Gblending(GblendingSettings),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_keys_are_each_config_structs_fields() {
        let keys = method_keys();
        let of = |k: MethodKind| keys.iter().find(|(kind, _)| *kind == k).unwrap().1;
        assert!(of(MethodKind::Standard).is_empty());
        assert_eq!(of(MethodKind::Mmpareto), &["gamma", "unimodal_heads"]);
        assert_eq!(of(MethodKind::Gblending), &["estimate", "super_epoch"]);
        assert_eq!(of(MethodKind::Agm).len(), 6);
    }

    #[test]
    fn kind_names_are_the_names_recipes_write() {
        for (kind, _) in method_keys() {
            assert_eq!(kind.name(), crate::kind_name::kind_name(&kind));
        }
    }
}

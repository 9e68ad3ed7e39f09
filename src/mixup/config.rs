//! The mixup concern's settings as a recipe writes them (`[mixup]`, `mixup.balance`), with the
//! OGM-GE coefficient formula the mixing maths also computes. `recipe/` composes them into a
//! recipe; the mixers and planners read them from here.

use crate::config_problem::ConfigProblem;
use crate::epoch_window::EpochWindow;
use crate::kind_keys::KindKeys;
use crate::kind_name::kind_name;
use serde::{Deserialize, Serialize};

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

/// What the λ sampler of a mixing method draws with: the part of `[mixup]` every mixer
/// shares (B-MM's own settings are [`BalanceSection`], held by its mixer alone).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    /// λ ~ Beta(alpha, alpha).
    pub alpha: f64,
    /// One λ per sample or one per batch.
    pub lambda_per: LambdaPer,
    /// Fold λ ← max(λ, 1 − λ).
    pub fold: bool,
    /// Chance that a batch is mixed at all.
    pub probability: f64,
    /// Epoch window in which batches are mixed (`None`: every epoch).
    pub epochs: Option<EpochWindow>,
}

impl MixupSection {
    /// The sampler's settings of this section.
    pub fn draw(&self) -> Draw {
        Draw {
            alpha: self.alpha,
            lambda_per: self.lambda_per,
            fold: self.fold,
            probability: self.probability,
            epochs: self.epochs,
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

/// The serde default 1.0 (also of `[losses.pmr]`'s α, in [`crate::method::config`]).
pub(crate) fn one() -> f64 {
    1.0
}

/// The keys of `[mixup]` that only some methods take.
pub const KIND_KEYS: &[KindKeys] = &[KindKeys {
    section: "mixup",
    field: "method",
    keys: &[("balance", &["bmm"])],
}];

/// The mixer of the standard step: what it mixes (`mixup.method` with what that needs) and the
/// λ sampler's settings, so the sampler's settings reach it through the mixer alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixer {
    /// What is mixed.
    pub kind: MixKind,
    /// How λ is drawn (the window filled in).
    pub draw: Draw,
}

/// What a mixer mixes.
#[derive(Debug, Clone, PartialEq)]
pub enum MixKind {
    /// No mixing.
    None,
    /// Input mixup.
    Input,
    /// MM at a point.
    Mm(MixPoint),
    /// B-MM with its balance settings.
    Bmm(BalanceSection),
}

impl MixupSection {
    /// The section's rules (α > 0, probability in [0, 1], the window inside training, B-MM's
    /// fold, modalities and balance ranges), defaults written back; the typed mixer.
    pub fn resolve(&mut self, modalities: usize, epochs: usize) -> Result<Mixer, ConfigProblem> {
        ConfigProblem::positive("alpha", self.alpha)?;
        ConfigProblem::in_range("probability", self.probability, "[0, 1]", |v| {
            (0.0..=1.0).contains(&v)
        })?;
        ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, epochs)?;
        let kind = match self.method {
            MixupMethod::Bmm => MixKind::Bmm(self.resolve_balance(modalities)?),
            other => {
                let method = kind_name(&other);
                ConfigProblem::not_for_kind(
                    "balance",
                    &self.balance,
                    "method = \"bmm\"",
                    "mixup.method",
                    &method,
                )?;
                match other {
                    MixupMethod::Input => MixKind::Input,
                    MixupMethod::Mm => MixKind::Mm(self.point),
                    _ => MixKind::None,
                }
            }
        };
        Ok(Mixer {
            kind,
            draw: self.draw(),
        })
    }

    /// B-MM's rules: folded λ, two or more modalities, EMA in [0, 1), γ ≥ 0.
    fn resolve_balance(&mut self, modalities: usize) -> Result<BalanceSection, ConfigProblem> {
        if !self.fold {
            return Err(ConfigProblem::BmmWithoutFold);
        }
        if modalities < 2 {
            return Err(ConfigProblem::BmmNeedsModalities { got: modalities });
        }
        let b = self.balance.get_or_insert_with(BalanceSection::default);
        let inside = |p: ConfigProblem| p.inside("balance");
        ConfigProblem::in_range("ema", b.ema, "[0, 1)", |v| (0.0..1.0).contains(&v))
            .map_err(inside)?;
        ConfigProblem::in_range("gamma", b.gamma, "[0, ∞)", |v| v >= 0.0).map_err(inside)?;
        Ok(b.clone())
    }
}

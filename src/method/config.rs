//! The method concern's settings as a recipe writes them (`[method]`, `[modulation]`,
//! `[losses]`) and the typed choices validation resolves them into (every default written out).
//! `recipe/` composes and validates them; the methods read them from here.

pub use super::agm::{
    AgmAfterWindow, AgmConfig, AgmMaskedPasses, AgmSettings, AGM_ALPHA, AGM_CLIP_NORM,
    AGM_CLIP_TRIGGER,
};
pub use super::amco::{AmcoConfig, AmcoSettings, AMCO_EPS, AMCO_SIGMA};
pub use super::cml::{CmlConfig, CmlHinge, CmlSettings, CML_LAMBDA};
pub use super::gblending::{
    GblendingConfig, GblendingEstimate, GblendingSettings, GBLENDING_SUPER_EPOCH,
};
pub use super::lfm::{LfmConfig, LfmJs, LfmSettings, LFM_LR_ALPHA};
pub use super::mbsd::{MbsdConfig, MbsdKl, MbsdSettings, MbsdWeights};
pub use super::mla::{MlaConfig, MlaDenominator, MlaProjection, MlaSettings, MlaTestFusion};
pub use super::mmcosine::{MmCosineConfig, MmCosineSettings, MMCOSINE_SCALE};
pub use super::mmpareto::{MmParetoConfig, MmParetoHeads, MmParetoSettings, MMPARETO_GAMMA};
pub use super::ogm_ge::{OgmGeConfig, OgmGeSettings, OgmParams, OGM_ALPHA, OGM_NOISE};
pub use super::opm::{OpmConfig, OpmSettings, OPM_ALPHA, OPM_P_EXE, OPM_Q_BASE};
pub use super::pmr::{PmrCoefficient, PmrConfig, PmrSettings, PrototypeView};
use super::registry::method_kinds;
pub use super::relearn::{DiagnosisSplit, ReLearnConfig, ReLearnSettings};
use super::resolve::{ConfigProblem, MethodContext};
pub use super::ume::{UmeConfig, UmeSettings};
pub use super::umt::{TeacherMode, UmtConfig, UmtSettings, UMT_SCALING};
pub use super::valuation::{
    ValuationConfig, ValuationLevel, ValuationSettings, VALUATION_PART_RATIO, VALUATION_WARMUP,
};
use crate::kind_keys::TableReader;
use crate::mixup::config::Mixer;
use serde::{Deserialize, Serialize};

// `[method]`: a method with its own training step, each kind with its own keys (its file's
// config), written as one table with `kind` first; validation writes every default of the kind
// out. This list is the one place that names every method: each variant is
// `Kind(ItsConfig) => ItsSettings`, and `method_kinds!` ([`super::registry`]) derives the kind,
// the typed choice, reading, resolving, the keys and building from it. The doc comment below is
// what `balmix keys` shows for `method.kind`.
method_kinds! {
/// A method with its own training step (each kind's keys below), or `"standard"`: one
/// forward and backward, with the recipe's `[mixup]`, `[modulation]` and `[losses]`. Default
/// `"standard"`.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MethodSection {
    /// The standard one-forward step.
    #[default]
    Standard,
    /// MMPareto (Wei & Hu, ICML 2024): per-loss encoder gradients combined by the two-vector
    /// Pareto (min-norm) rule and rescaled.
    Mmpareto(MmParetoConfig) => MmParetoSettings,
    /// AGM (Li et al., ICCV 2023), the released code's mechanism: masked forwards, Shapley-style
    /// mono-modal logits, their gradients scaled by κ_m.
    Agm(AgmConfig) => AgmSettings,
    /// MLA (Zhang et al., CVPR 2024): alternating unimodal steps through the shared head (sum
    /// fusion), one optimiser update per modality per batch.
    Mla(MlaConfig) => MlaSettings,
    /// G-Blending (Wang et al., CVPR 2020), online: loss weights of the fused and each unimodal
    /// output from their overfitting-to-generalisation ratio on the validation split.
    Gblending(GblendingConfig) => GblendingSettings,
    /// MMCosine (Xu et al., ICASSP 2023): unimodal logits as scaled cosine similarities on the
    /// concat head's columns, fused by their sum.
    Mmcosine(MmCosineConfig) => MmCosineSettings,
    /// CML (Ma et al., ICML 2023): partial logits with modalities removed in a per-epoch
    /// shuffled order, their cross-entropies and a calibration hinge on the confidences.
    Cml(CmlConfig) => CmlSettings,
    /// MBSD (BalanceBenchmark): fused and unimodal losses plus per-sample weighted logit
    /// discrepancy and KL terms.
    Mbsd(MbsdConfig) => MbsdSettings,
    /// AMCo (BalanceBenchmark): an extra C×C layer on the summed unimodal logits, the
    /// dependent modality's logits class-masked on a schedule.
    Amco(AmcoConfig) => AmcoSettings,
    /// OPM (Wei et al., TPAMI 2024): the dominant modality's features dropped per sample with a
    /// probability set by its dominance.
    Opm(OpmConfig) => OpmSettings,
    /// LFM (Yang et al., NeurIPS 2024): fused CE and pairwise Jensen–Shannon between unimodal
    /// predictions, their weights learnt once per epoch from a Hessian-vector product.
    Lfm(LfmConfig) => LfmSettings,
    /// Diagnosing & Re-learning (Wei et al., ECCV 2024): after every `reinit_every` epochs, each
    /// encoder softly re-initialised towards its initial weights by how much its features'
    /// k-means purity on the training split exceeds that on the diagnosis split.
    Relearn(ReLearnConfig) => ReLearnSettings,
    /// UMT (Du et al., ICML 2023): each encoder's features pulled towards a frozen unimodal
    /// teacher's (a finished unimodal run beside this one) by a mean squared error.
    Umt(UmtConfig) => UmtSettings,
    /// Modality valuation (Wei et al., CVPR 2024): each epoch's training list rebuilt from
    /// per-sample Shapley values of the modalities, with extra copies whose stronger
    /// modalities are zeroed.
    Valuation(ValuationConfig) => ValuationSettings,
    /// UME (Du et al., ICML 2023): the unimodal ensemble — finished unimodal runs beside this
    /// one, their logits averaged at test; nothing is trained.
    Ume(UmeConfig) => UmeSettings,
}
}

impl MethodSection {
    /// Whether this is the standard step (no `[method]` table is written).
    pub fn is_standard(&self) -> bool {
        *self == MethodSection::Standard
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
    pub pmr: Option<PmrConfig>,
}

/// `[losses]`, resolved: the multitask weight and PMR's settings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Losses {
    /// Weight of each modality's own cross-entropy (0: off).
    pub unimodal: f64,
    /// PMR, when set.
    pub pmr: Option<PmrSettings>,
}

impl LossesSection {
    /// Whether every key has its default.
    pub fn is_default(&self) -> bool {
        *self == LossesSection::default()
    }

    /// The typed loss terms, every default written back; checked (PMR's problems come
    /// [`ConfigProblem::In`] the `pmr` table).
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<Losses, ConfigProblem> {
        ConfigProblem::in_range("unimodal", self.unimodal, "[0, ∞)", |v| v >= 0.0)?;
        if self.unimodal > 0.0 && !cx.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "unimodal".into(),
                what: None,
            });
        }
        let pmr = match self.pmr.as_mut() {
            Some(p) => Some(p.resolve(cx).map_err(|p| p.inside("pmr"))?),
            None => None,
        };
        Ok(Losses {
            unimodal: self.unimodal,
            pmr,
        })
    }
}

// `[modulation]`: the standard step's gradient modulation, each kind with its own keys (its
// file's config: `OgmGeConfig`), written as one table with `kind` first. The doc comment below
// is what `balmix keys` shows for `modulation.kind`.
/// Baseline: `"none"` or `"ogm-ge"`. Default `"none"`.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModulationSection {
    /// No modulation.
    #[default]
    None,
    /// On-the-fly gradient modulation with generalisation enhancement (Peng et al., 2022).
    OgmGe(OgmGeConfig),
}

impl ModulationSection {
    /// The kind.
    pub fn kind(&self) -> ModulationKind {
        match self {
            ModulationSection::None => ModulationKind::None,
            ModulationSection::OgmGe(_) => ModulationKind::OgmGe,
        }
    }

    /// The typed modulation, every default written back into the section; checked by the
    /// kind's own rules.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<Modulation, ConfigProblem> {
        Ok(match self {
            ModulationSection::None => Modulation::None,
            ModulationSection::OgmGe(c) => Modulation::OgmGe(c.resolve(cx)?),
        })
    }

    /// An empty section (its keys read from the recipe's layers next, by the kind's config:
    /// see [`MethodSection::read_later`]).
    pub fn read_later<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<ModulationSection, D::Error> {
        let _: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
            serde::Deserialize::deserialize(d)?;
        Ok(ModulationSection::None)
    }
}

/// `modulation.kind`, read alone first: it decides which config reads the rest.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ModulationKind {
    /// No modulation.
    #[default]
    None,
    /// OGM-GE.
    OgmGe,
}

/// Each modulation kind with the `[modulation]` keys its config takes, in order.
pub fn modulation_keys() -> Vec<(ModulationKind, &'static [&'static str])> {
    use super::resolve::field_names;
    vec![
        (ModulationKind::None, &[]),
        (ModulationKind::OgmGe, field_names::<OgmGeConfig>()),
    ]
}

/// `[modulation]`
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Modulation {
    /// No gradient modulation.
    None,
    /// OGM-GE.
    OgmGe(OgmGeSettings),
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
    pub losses: Losses,
    /// The standard step's mixer: what it mixes (B-MM with its balance settings) and how its
    /// λ is drawn.
    pub mixer: Mixer,
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
    fn modulation_keys_are_ogm_ge_configs_fields() {
        let keys = modulation_keys();
        assert!(keys[0].1.is_empty());
        assert_eq!(keys[1].0, ModulationKind::OgmGe);
        assert_eq!(
            keys[1].1,
            &["alpha", "noise", "epochs", "variant", "params"]
        );
        assert_eq!(
            crate::kind_name::kind_name(&ModulationKind::OgmGe),
            "ogm-ge"
        );
    }

    #[test]
    fn a_pmr_problem_is_reported_inside_the_pmr_table() {
        use crate::model::config::Fusion;
        let cx = MethodContext {
            modalities: 2,
            epochs: 4,
            has_val: false,
            fusion: &Fusion::Concat,
            convolutional: false,
        };
        let mut losses = LossesSection {
            unimodal: 0.5,
            pmr: Some(serde_json::from_str(r#"{"momentum": 1.0}"#).unwrap()),
        };
        assert_eq!(
            losses.resolve(&cx),
            Err(ConfigProblem::In {
                table: "pmr".into(),
                problem: Box::new(ConfigProblem::OutOfRange {
                    key: "momentum".into(),
                    got: 1.0,
                    range: "[0, 1)",
                }),
            })
        );
        // Valid: the window is written back and the settings carry it.
        losses.pmr.as_mut().unwrap().momentum = 0.5;
        let typed = losses.resolve(&cx).unwrap();
        let window = crate::epoch_window::EpochWindow { start: 0, stop: 4 };
        assert_eq!(typed.pmr.unwrap().window, window);
        assert_eq!(losses.pmr.unwrap().epochs, Some(window));
        assert_eq!(typed.unimodal, 0.5);
    }

    #[test]
    fn ogm_ge_conv_weights_need_a_convolutional_encoder() {
        use crate::model::config::Fusion;
        let mut cx = MethodContext {
            modalities: 2,
            epochs: 4,
            has_val: false,
            fusion: &Fusion::Concat,
            convolutional: false,
        };
        let mut section = ModulationSection::OgmGe(OgmGeConfig {
            params: Some(OgmParams::ConvWeights),
            ..OgmGeConfig::default()
        });
        assert_eq!(
            section.resolve(&cx),
            Err(ConfigProblem::NeedsConvolutions {
                key: "params".into()
            })
        );
        cx.convolutional = true;
        let Ok(Modulation::OgmGe(s)) = section.resolve(&cx) else {
            panic!("ogm-ge resolves with a conv encoder");
        };
        assert_eq!((s.alpha, s.noise), (OGM_ALPHA, OGM_NOISE));
    }
}

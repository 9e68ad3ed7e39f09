//! A concern's broken rule ([`ConfigProblem`]) in the recipe's words: the key written out in
//! full below its section, the origin of that key (file, `--set`, environment) and the
//! [`RecipeError`] variant of the rule. The concerns state their rules; this file only reports.

use super::checker::{fmt, Checker};
use super::error::RecipeError;
use crate::config_problem::ConfigProblem;

/// The section a problem came from: its key prefix and what its messages name.
#[derive(Clone, Copy)]
pub(super) enum Section<'a> {
    /// `[method]` with this kind.
    Method(&'a str),
    /// `[modulation]` with this kind.
    Modulation(&'a str),
    /// `[losses]`.
    Losses,
    /// Any other section, by its key prefix (`"model."`, `"mixup."`, `"optim."`,
    /// `"train.eval.robustness."`).
    Other(&'static str),
}

impl Section<'_> {
    fn prefix(&self) -> &'static str {
        match self {
            Section::Method(_) => "method.",
            Section::Modulation(_) => "modulation.",
            Section::Losses => "losses.",
            Section::Other(prefix) => prefix,
        }
    }

    /// The kind a method section's messages name.
    fn named(&self) -> String {
        match self {
            Section::Method(kind) | Section::Modulation(kind) => kind.to_string(),
            Section::Losses => "losses".into(),
            Section::Other(prefix) => prefix.trim_end_matches('.').into(),
        }
    }
}

/// What messages read of the rest of the recipe.
pub(super) struct Facts {
    /// `dataset.modalities`, how many.
    pub modalities: usize,
    /// `train.epochs`.
    pub epochs: usize,
    /// The resolved fusion, as the recipe writes it (for the method rules).
    pub fusion: String,
}

impl Checker<'_> {
    /// `p`, a problem of `section`, as the recipe error of its rule at the key's origin.
    pub(super) fn report(&self, p: ConfigProblem, section: Section, facts: &Facts) -> RecipeError {
        let (prefix, p) = p.flatten(section.prefix());
        self.keyed(p, &prefix, facts)
            .or_else(|p| self.concern_rule(p, &prefix))
            .or_else(|p| self.method_rule(p, section, &prefix, facts))
            .unwrap_or_else(|p| unreachable!("every problem has its recipe error: {p:?}"))
    }

    /// A rule on one key's value or presence.
    fn keyed(
        &self,
        p: ConfigProblem,
        prefix: &str,
        facts: &Facts,
    ) -> Result<RecipeError, ConfigProblem> {
        let key = |k: &str| format!("{prefix}{k}");
        Ok(match p {
            ConfigProblem::NotPositive { key: k, got } => RecipeError::NotPositive {
                origin: self.o(&key(&k)),
                key: key(&k),
                got: fmt(got),
            },
            ConfigProblem::NotPositiveInt { key: k, got } => RecipeError::NotPositive {
                origin: self.o(&key(&k)),
                key: key(&k),
                got: got.to_string(),
            },
            ConfigProblem::OutOfRange { key: k, got, range } => RecipeError::OutOfRange {
                origin: self.o(&key(&k)),
                key: key(&k),
                range,
                got: fmt(got),
            },
            ConfigProblem::EpochWindow { key: k, window } => RecipeError::EpochWindow {
                origin: self.o(&key(&k)),
                key: key(&k),
                start: window.start,
                stop: window.stop,
                epochs: facts.epochs,
            },
            ConfigProblem::KeyNotForKind {
                key: k,
                applies_to,
                kind_key,
                kind,
            } => RecipeError::KeyNotForKind {
                origin: self.o(&key(&k)),
                key: key(&k),
                applies_to: applies_to.into(),
                kind_key,
                kind,
            },
            ConfigProblem::KeyRequiredForKind {
                key: k,
                kind_key,
                kind,
            } => RecipeError::KeyRequiredForKind {
                // Reported at the table that lacks the key.
                origin: self.o(prefix.trim_end_matches('.')),
                key: key(&k),
                kind_key,
                kind,
            },
            ConfigProblem::Geometry { key: k, detail } => RecipeError::ConvGeometry {
                origin: self.o(&key(&k)),
                key: key(&k),
                detail,
            },
            ConfigProblem::UnknownModality { key: k, got, known } => RecipeError::UnknownModality {
                origin: self.o(&key(&k)),
                key: key(&k),
                got,
                manifest: self.manifest.name.clone(),
                known,
            },
            ConfigProblem::Empty { key: k } => RecipeError::Empty {
                origin: self.o(&key(&k)),
                key: key(&k),
            },
            ConfigProblem::OnePerModality {
                key: k,
                got,
                modalities,
            } => RecipeError::OnePerModality {
                origin: self.o(&key(&k)),
                key: key(&k),
                got,
                modalities,
            },
            ConfigProblem::DuplicateModality { key: k, got } => RecipeError::DuplicateModality {
                origin: self.o(&key(&k)),
                got,
            },
            other => return Err(other),
        })
    }

    /// A rule of the data, model, mixup or robustness concern across keys.
    fn concern_rule(&self, p: ConfigProblem, prefix: &str) -> Result<RecipeError, ConfigProblem> {
        let key = |k: &str| format!("{prefix}{k}");
        Ok(match p {
            ConfigProblem::MissingEncoder { modality } => RecipeError::MissingEncoder {
                origin: self.o(prefix.trim_end_matches('.')),
                modality,
            },
            ConfigProblem::FusionArity { fusion, needs, got } => RecipeError::FusionArity {
                origin: self.o(&key("kind")),
                fusion,
                needs,
                got,
            },
            ConfigProblem::SumWidthMismatch { widths } => RecipeError::SumWidthMismatch {
                origin: self.o(&key("kind")),
                widths,
            },
            ConfigProblem::NeedsImageShape { key: k, modality } => RecipeError::ConvNeedsShape {
                origin: self.o(&key(&k)),
                key: key(&k),
                modality,
                manifest: self.manifest.name.clone(),
            },
            ConfigProblem::DecomposeNeedsLinearFusion { fusion } => {
                RecipeError::DecomposeNeedsLinearFusion {
                    origin: self.o(&key("unimodal_logits")),
                    fusion,
                }
            }
            ConfigProblem::BmmWithoutFold => RecipeError::BmmWithoutFold {
                origin: self.o(&key("fold")),
            },
            ConfigProblem::BmmNeedsModalities { got } => RecipeError::BmmNeedsModalities {
                origin: self.o("dataset.modalities"),
                got,
            },
            ConfigProblem::CorruptionNeedsImage { kind, modality } => {
                RecipeError::CorruptionNeedsImage {
                    origin: self.o(&key("corruptions")),
                    kind,
                    modality,
                    manifest: self.manifest.name.clone(),
                }
            }
            ConfigProblem::DuplicateCorruption { kind } => RecipeError::DuplicateCorruption {
                origin: self.o(&key("corruptions")),
                kind,
            },
            ConfigProblem::SplitKindForManifest { kind, fixed } => {
                RecipeError::SplitKindForManifest {
                    origin: self.o(&key("kind")),
                    kind,
                    manifest: self.manifest.name.clone(),
                    fixed,
                }
            }
            ConfigProblem::BestValWithoutVal => RecipeError::BestValWithoutVal {
                origin: self.o("train.eval.select"),
            },
            ConfigProblem::ValByGroupWithoutGroups => RecipeError::ValByGroupWithoutGroups {
                origin: self.o(&key("val_by")),
                manifest: self.manifest.name.clone(),
            },
            ConfigProblem::GroupSplitWithoutGroups => RecipeError::GroupSplitWithoutGroups {
                origin: self.o(&key("kind")),
                manifest: self.manifest.name.clone(),
            },
            ConfigProblem::BadFold { fold, folds } => RecipeError::BadFold {
                origin: self.o(&key("fold")),
                fold,
                folds,
            },
            ConfigProblem::SplitTooLarge { test, val } => RecipeError::SplitTooLarge {
                origin: self.o(prefix.trim_end_matches('.')),
                test,
                val,
            },
            ConfigProblem::SplitEmptiesClass {
                test,
                val,
                class_size,
                which,
            } => RecipeError::SplitEmptiesClass {
                origin: self.o(prefix.trim_end_matches('.')),
                test,
                val,
                class_size,
                which,
            },
            ConfigProblem::BatchLargerThanTrainingSet { batch, train } => {
                RecipeError::BatchLargerThanTrainingSet {
                    origin: self.o("train.batch_size"),
                    batch,
                    train,
                }
            }
            other => return Err(other),
        })
    }

    /// A method section's rule on the rest of the recipe (worded by the section).
    fn method_rule(
        &self,
        p: ConfigProblem,
        section: Section,
        prefix: &str,
        facts: &Facts,
    ) -> Result<RecipeError, ConfigProblem> {
        let key = |k: &str| format!("{prefix}{k}");
        let fusion = || facts.fusion.clone();
        Ok(match p {
            ConfigProblem::NeedsValidation => RecipeError::MethodNeedsValidation {
                origin: self.o("dataset.split.val"),
                method: section.named(),
            },
            ConfigProblem::NeedsSharedHead => RecipeError::MlaNeedsSharedHead {
                origin: self.o("method.kind"),
                fusion: fusion(),
            },
            ConfigProblem::NeedsConcatHead => RecipeError::MethodNeedsConcatHead {
                origin: self.o("method.kind"),
                method: section.named(),
                fusion: fusion(),
            },
            ConfigProblem::NeedsConvolutions { key: k } => RecipeError::ConvWeightsWithoutConv {
                origin: self.o(&key(&k)),
            },
            ConfigProblem::NeedsTwoModalities { key: k, what } => match section {
                Section::Modulation(_) => RecipeError::OgmNeedsModalities {
                    origin: self.o("dataset.modalities"),
                    got: facts.modalities,
                },
                Section::Losses => RecipeError::PmrNeedsTwoModalities {
                    origin: self.o(prefix.trim_end_matches('.')),
                    got: facts.modalities,
                },
                _ => RecipeError::MethodNeedsTwoModalities {
                    origin: self.o(&key(&k)),
                    method: what.map_or_else(|| section.named(), str::to_string),
                    got: facts.modalities,
                },
            },
            ConfigProblem::NeedsDecomposableHead { key: k, what } => match section {
                Section::Losses => RecipeError::UnimodalLossNeedsDecomposableHead {
                    origin: self.o(&key(&k)),
                    fusion: fusion(),
                },
                _ => RecipeError::MethodNeedsDecomposableHead {
                    origin: self.o(&key(&k)),
                    method: match what {
                        None => section.named(),
                        Some(w) => format!("{}\" with method.{w}", section.named()),
                    },
                    fusion: fusion(),
                },
            },
            other => return Err(other),
        })
    }
}

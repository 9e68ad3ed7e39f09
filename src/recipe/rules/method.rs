//! Rules of the method concern's sections — `[method]`, `[modulation]` and `[losses]`: each
//! section's own config checks itself ([`crate::method::resolve`]); this file reports a broken
//! rule in the recipe's words at the key's origin, and keeps the composition rule that a method
//! with its own step takes none of the standard step's parts.

use super::model::fusion_name;
use crate::kind_name::kind_name;
use crate::method::config::{Losses, ModulationKind};
use crate::method::resolve::{ConfigProblem, MethodContext};
use crate::recipe::error::RecipeError;
use crate::recipe::file::*;
use crate::recipe::typed::{self, EncoderBody, Method, Modulation};
use crate::recipe::validate::{fmt, Checker};

/// The section a problem came from: its key prefix and the kind named in messages.
#[derive(Clone, Copy)]
enum Section<'a> {
    /// `[method]` with this kind.
    Method(&'a str),
    /// `[modulation]` with this kind.
    Modulation(&'a str),
    /// `[losses]`.
    Losses,
}

impl Checker<'_> {
    /// What a method's rules read of the rest of the recipe.
    fn method_context<'m>(&self, f: &RecipeFile, model: &'m typed::Model) -> MethodContext<'m> {
        MethodContext {
            modalities: f.dataset.modalities.len(),
            epochs: f.train.epochs,
            has_val: f.dataset.split.val > 0.0,
            fusion: &model.fusion,
            convolutional: model.encoders.iter().any(|e| {
                matches!(
                    e.body,
                    EncoderBody::Conv { .. } | EncoderBody::ResNet18 { .. }
                )
            }),
        }
    }

    /// `[modulation]`: the kind's own rules, reported with the key's origin.
    pub(in crate::recipe) fn check_modulation(
        &self,
        f: &mut RecipeFile,
        model: &typed::Model,
    ) -> Result<Modulation, RecipeError> {
        let cx = self.method_context(f, model);
        let kind = kind_name(&f.modulation.kind());
        f.modulation
            .resolve(&cx)
            .map_err(|p| self.problem(p, Section::Modulation(&kind), "", &cx))
    }

    /// `[losses]`: the multitask weight's and PMR's rules.
    pub(in crate::recipe) fn check_losses(
        &self,
        f: &mut RecipeFile,
        model: &typed::Model,
    ) -> Result<Losses, RecipeError> {
        let cx = self.method_context(f, model);
        f.losses
            .resolve(&cx)
            .map_err(|p| self.problem(p, Section::Losses, "", &cx))
    }

    /// `[method]`: the method's own rules, reported with the key's origin; then the
    /// composition rule that a method with its own step takes none of the standard step's
    /// parts.
    pub(in crate::recipe) fn check_method(
        &self,
        f: &mut RecipeFile,
        model: &typed::Model,
    ) -> Result<Method, RecipeError> {
        let kind = kind_name(&f.method.kind());
        let cx = self.method_context(f, model);
        let method = f
            .method
            .resolve(&cx)
            .map_err(|p| self.problem(p, Section::Method(&kind), "", &cx))?;
        if method == Method::Standard {
            return Ok(method);
        }
        let others = [
            ("mixup.method", f.mixup.method != MixupMethod::None),
            (
                "modulation.kind",
                f.modulation.kind() != ModulationKind::None,
            ),
            ("losses", !f.losses.is_default()),
        ];
        match others.iter().find(|(_, set)| *set) {
            Some((key, _)) => Err(RecipeError::MethodWithStandardParts {
                origin: self.o(key),
                method: kind,
                key,
            }),
            None => Ok(method),
        }
    }

    /// A broken rule of `section` in the recipe's words, at the key's origin; `inner` is the
    /// inner table's key path (`pmr.` inside `[losses]`), empty at the section's top.
    fn problem(
        &self,
        p: ConfigProblem,
        section: Section,
        inner: &str,
        cx: &MethodContext,
    ) -> RecipeError {
        let prefix = match section {
            Section::Method(_) => "method.",
            Section::Modulation(_) => "modulation.",
            Section::Losses => "losses.",
        };
        let key = |k: &str| format!("{prefix}{inner}{k}");
        match p {
            ConfigProblem::In { table, problem } => {
                self.problem(*problem, section, &format!("{inner}{table}."), cx)
            }
            ConfigProblem::NotPositive { key: k, got } => RecipeError::NotPositive {
                origin: self.o(&key(k)),
                key: key(k),
                got: fmt(got),
            },
            ConfigProblem::NotPositiveInt { key: k, got } => RecipeError::NotPositive {
                origin: self.o(&key(k)),
                key: key(k),
                got: got.to_string(),
            },
            ConfigProblem::OutOfRange { key: k, got, range } => RecipeError::OutOfRange {
                origin: self.o(&key(k)),
                key: key(k),
                range,
                got: fmt(got),
            },
            ConfigProblem::EpochWindow { key: k, window } => RecipeError::EpochWindow {
                origin: self.o(&key(k)),
                key: key(k),
                start: window.start,
                stop: window.stop,
                epochs: cx.epochs,
            },
            ConfigProblem::NeedsValidation => RecipeError::MethodNeedsValidation {
                origin: self.o("dataset.split.val"),
                method: self.named(section),
            },
            ConfigProblem::NeedsSharedHead => RecipeError::MlaNeedsSharedHead {
                origin: self.o("method.kind"),
                fusion: fusion_name(cx.fusion),
            },
            ConfigProblem::NeedsConcatHead => RecipeError::MethodNeedsConcatHead {
                origin: self.o("method.kind"),
                method: self.named(section),
                fusion: fusion_name(cx.fusion),
            },
            ConfigProblem::NeedsConvolutions { key: k } => RecipeError::ConvWeightsWithoutConv {
                origin: self.o(&key(k)),
            },
            ConfigProblem::NeedsTwoModalities { key: k, what } => match section {
                Section::Method(kind) => RecipeError::MethodNeedsTwoModalities {
                    origin: self.o(&key(k)),
                    method: what.map_or_else(|| kind.to_string(), str::to_string),
                    got: cx.modalities,
                },
                Section::Modulation(_) => RecipeError::OgmNeedsModalities {
                    origin: self.o("dataset.modalities"),
                    got: cx.modalities,
                },
                Section::Losses => RecipeError::PmrNeedsTwoModalities {
                    origin: self.o(&format!("{prefix}{}", inner.trim_end_matches('.'))),
                    got: cx.modalities,
                },
            },
            ConfigProblem::NeedsDecomposableHead { key: k, what } => match section {
                Section::Losses => RecipeError::UnimodalLossNeedsDecomposableHead {
                    origin: self.o(&key(k)),
                    fusion: fusion_name(cx.fusion),
                },
                _ => RecipeError::MethodNeedsDecomposableHead {
                    origin: self.o(&key(k)),
                    method: match what {
                        None => self.named(section),
                        Some(w) => format!("{}\" with method.{w}", self.named(section)),
                    },
                    fusion: fusion_name(cx.fusion),
                },
            },
        }
    }

    /// The kind a section's messages name.
    fn named(&self, section: Section) -> String {
        match section {
            Section::Method(kind) | Section::Modulation(kind) => kind.to_string(),
            Section::Losses => "losses".into(),
        }
    }
}

//! Rules of the method concern's sections — `[method]`, `[modulation]` and `[losses]`: each
//! section's own config checks itself ([`crate::method::resolve`]); this file reports a broken
//! rule in the recipe's words at the key's origin, and keeps the composition rule that a method
//! with its own step takes none of the standard step's parts.

use crate::kind_name::kind_name;
use crate::method::config::{Losses, ModulationKind};
use crate::method::resolve::MethodContext;
use crate::recipe::checker::Checker;
use crate::recipe::error::RecipeError;
use crate::recipe::file::*;
use crate::recipe::problem::{Facts, Section};
use crate::recipe::typed::{self, EncoderBody, Method, Modulation};

/// What a method problem's message reads of the recipe.
fn facts(cx: &MethodContext) -> Facts {
    Facts {
        modalities: cx.modalities,
        epochs: cx.epochs,
        fusion: cx.fusion.name().into(),
    }
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
            .map_err(|p| self.report(p, Section::Modulation(&kind), &facts(&cx)))
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
            .map_err(|p| self.report(p, Section::Losses, &facts(&cx)))
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
            .map_err(|p| self.report(p, Section::Method(&kind), &facts(&cx)))?;
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
}

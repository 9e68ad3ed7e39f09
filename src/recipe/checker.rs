//! The checker the recipe's rules run on: where each key came from (for messages) and the
//! manifest the recipe names, with the small range checks the recipe's own sections use.

use super::error::RecipeError;
use crate::manifest::Manifest;

/// Applies the rules; the rules of each section live in [`super::rules`].
pub(super) struct Checker<'a> {
    pub(super) origin: &'a dyn Fn(&str) -> String,
    pub(super) manifest: &'a Manifest,
}

impl Checker<'_> {
    pub(super) fn o(&self, key: &str) -> String {
        (self.origin)(key)
    }

    pub(super) fn positive(&self, key: &str, v: f64) -> Result<(), RecipeError> {
        if v > 0.0 && v.is_finite() {
            Ok(())
        } else {
            Err(RecipeError::NotPositive {
                origin: self.o(key),
                key: key.into(),
                got: fmt(v),
            })
        }
    }

    pub(super) fn positive_int(&self, key: &str, v: usize) -> Result<(), RecipeError> {
        if v > 0 {
            Ok(())
        } else {
            Err(RecipeError::NotPositive {
                origin: self.o(key),
                key: key.into(),
                got: v.to_string(),
            })
        }
    }

    pub(super) fn in_range(
        &self,
        key: &str,
        v: f64,
        range: &'static str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<(), RecipeError> {
        if v.is_finite() && ok(v) {
            Ok(())
        } else {
            Err(RecipeError::OutOfRange {
                origin: self.o(key),
                key: key.into(),
                range,
                got: fmt(v),
            })
        }
    }
}

/// A number as messages write it.
pub(super) fn fmt(v: f64) -> String {
    format!("{v}")
}

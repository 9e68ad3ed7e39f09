//! The checker the recipe's rules run on: where each key came from (for messages) and the
//! manifest the recipe names.

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
}

/// A number as messages write it.
pub(super) fn fmt(v: f64) -> String {
    format!("{v}")
}

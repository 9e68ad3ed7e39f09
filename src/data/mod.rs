//! Data: manifests ([`manifest`]), sources ([`synthetic`]), in-memory datasets ([`dataset`])
//! and splits ([`split`]). [`load`] turns a recipe's `[dataset]` into standardised data and
//! its splits.

pub mod dataset;
pub mod manifest;
pub mod split;
pub mod synthetic;

pub use dataset::{DataError, Dataset, Modality};
pub use split::Splits;

use crate::recipe::Recipe;
use manifest::SourceSpec;

/// The recipe's data: generated or read, restricted to its modalities, split, and (when the
/// recipe asks) standardised with training statistics.
pub fn load(recipe: &Recipe) -> Result<(Dataset, Splits), DataError> {
    let manifest = recipe.manifest();
    let full = match manifest.source {
        SourceSpec::Synthetic { samples, seed } => synthetic::generate(manifest, samples, seed),
    };
    let spec = recipe.dataset();
    let mut data = full.select(&spec.modalities)?;
    let splits = split::stratified(&data, spec.split.test, spec.split.val, spec.split.seed)?;
    if spec.standardize {
        data.standardize(&splits.train);
    }
    Ok((data, splits))
}

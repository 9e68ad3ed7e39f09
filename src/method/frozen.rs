//! Frozen models from other finished runs (seam hook (f)): a method that distils from
//! unimodal teachers names the runs it needs ([`FrozenRequest`]); the training loop loads each
//! one, checks it is the run it claims to be, and hands the method a [`FrozenModel`] that is
//! never trained (it is not in the student's store, so no optimiser sees it).

use crate::model::{Backend, Model};
use std::path::PathBuf;

/// A finished run a method needs as a frozen model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenRequest {
    /// The run's directory (`<out>/<recipe name>/seed-<seed>`), or, when relative, the name of
    /// a run beside the student's: `<out>/<the student's folder>/<name>/seed-<the student's
    /// seed>` (plus the student's `fold-<k>`).
    pub run_dir: PathBuf,
    /// The resolved-recipe hash the run must have (its `summary.json`'s `recipe_hash`), when
    /// the method knows it: a teacher retrained under another recipe is refused.
    pub recipe_hash: Option<String>,
    /// When the run is a unimodal teacher of the student's modality `m`: it must have exactly
    /// that modality, and an encoder of the student's feature width.
    pub for_modality: Option<usize>,
    /// Whether the method's evaluation reads the model (an ensemble member): a saved run's
    /// evaluation (`balmix eval`) then loads it again, held to the identity the run recorded.
    /// A teacher only training reads is not loaded there.
    pub at_eval: bool,
}

impl FrozenRequest {
    /// One unimodal run per modality, named beside the student (`names` in
    /// `dataset.modalities` order); `at_eval`: whether evaluation reads them.
    pub fn per_modality(names: &[String], at_eval: bool) -> Vec<FrozenRequest> {
        names
            .iter()
            .enumerate()
            .map(|(m, name)| FrozenRequest {
                run_dir: name.into(),
                recipe_hash: None,
                for_modality: Some(m),
                at_eval,
            })
            .collect()
    }
}

/// A frozen model loaded from a finished run, with the identity it was checked by.
pub struct FrozenModel<D: Backend> {
    /// The run's reported model, on the student's device.
    pub model: Model<D>,
    /// The run's modalities, in its order (a unimodal teacher has one).
    pub modalities: Vec<String>,
    /// The run's resolved-recipe hash.
    pub recipe_hash: String,
    /// sha256 of the run's model file (checked against its summary when loaded).
    pub model_sha256: String,
}

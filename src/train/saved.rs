//! A finished run read back from its directory (`balmix eval`): the resolved recipe, the data
//! and split it was trained on (re-derived from the recipe and the run's seed), the model with
//! its saved weights, and the method that predicts with it.

use crate::data::{self, Cache, DataError, Dataset, Splits};
use crate::method::{self, Method};
use crate::model::{Dev, Model};
use crate::recipe::{Recipe, RecipeError};
use crate::record::{self, Summary};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A finished run, ready to evaluate.
pub struct SavedRun {
    /// The run's resolved recipe (with any extra `--set` applied).
    pub recipe: Recipe,
    /// Its summary.
    pub summary: Summary,
    /// The data, as the run saw it (standardised when the recipe standardises).
    pub data: Dataset,
    /// The run's split.
    pub splits: Splits,
    /// The reported model.
    pub model: Model<Dev>,
    /// The method (its `predict` makes the fused prediction).
    pub method: Box<dyn Method<Dev>>,
}

/// Why a run directory cannot be evaluated.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum SavedRunError {
    #[error("{dir}: not a finished run (no {}; an interrupted run has a checkpoint — finish it with `balmix run --resume`)", record::SUMMARY)]
    NotFinished { dir: String },
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}: {reason}")]
    Weights { path: String, reason: String },
}

/// Load the finished run in `dir`; `sets` are extra recipe overrides (e.g. the corruptions to
/// evaluate), which must not change the model.
pub fn load(
    dir: &Path,
    sets: &[String],
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<SavedRun, SavedRunError> {
    let shown = dir.display().to_string();
    let summary =
        record::read_summary(dir).ok_or(SavedRunError::NotFinished { dir: shown.clone() })?;
    let resolved = dir.join(record::RESOLVED_RECIPE);
    let recipe = match &summary.manifest_dir {
        // The manifest the run read: found from its own folder, wherever the run folder is.
        Some(m) => Recipe::load_with_catalog(resolved.as_path(), sets, Path::new(m))?,
        None => Recipe::load(&resolved, sets)?,
    }
    .for_seed(summary.seed);
    let (data, splits) = data::load(&recipe, cache, log)?;
    let widths: Vec<usize> = data.modalities.iter().map(|m| m.width).collect();
    let mut model = Model::build(
        &recipe,
        &widths,
        data.num_classes(),
        summary.seed,
        Dev::default(),
    );
    let path: PathBuf = dir.join(record::MODEL);
    let weights = |reason: String| SavedRunError::Weights {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| weights(e.to_string()))?;
    let st =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| weights(format!("{e:?}")))?;
    for id in 0..model.store.params.len() {
        let p = &model.store.params[id];
        let view = st.tensor(&p.name).map_err(|_| {
            weights(format!(
                "no tensor `{}` (a model of another recipe?)",
                p.name
            ))
        })?;
        let want: Vec<usize> = p.tensor.dims();
        if view.shape() != want.as_slice() {
            return Err(weights(format!(
                "`{}` has shape {:?}, the recipe's model {:?}",
                p.name,
                view.shape(),
                want
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        model.store.set_values(id, values);
    }
    let batches = splits
        .train
        .len()
        .div_ceil(recipe.train().batch_size.max(1));
    let method = method::build(&recipe, batches);
    Ok(SavedRun {
        recipe,
        summary,
        data,
        splits,
        model,
        method,
    })
}

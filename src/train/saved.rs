//! A finished run read back from its directory (`balmix eval`): the resolved recipe, the data
//! and split it was trained on (re-derived from the recipe and the run's seed), the model with
//! its saved weights, and the method that predicts with it.

use crate::data::{self, Cache, DataError, Dataset, Splits};
use crate::method::{self, Method};
use crate::model::{Dev, Model};
use crate::recipe::{Recipe, RecipeError};
use crate::record::{self, short, Summary};
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
    /// sha256 of the model file as read now.
    pub model_sha256: String,
    /// The data fingerprint of the data as read now.
    pub data_fingerprint: String,
}

impl SavedRun {
    /// Which of the inputs that decide the run's scores differ from what its summary
    /// recorded: the model file, the data, the code. Empty when none does (or none can be
    /// told: a record without the model's sha256 only compares data and code).
    pub fn changed_inputs(&self) -> Vec<String> {
        let s = &self.summary;
        let mut out: Vec<String> = self.model_file_changed().into_iter().collect();
        out.extend(self.data_changed());
        if s.code_fingerprint != crate::build_info::code_fingerprint() {
            out.push(format!(
                "the code changed (this binary's fingerprint {}, the run's {})",
                short(crate::build_info::code_fingerprint()),
                short(&s.code_fingerprint)
            ));
        }
        out
    }
}

impl SavedRun {
    /// When the data read now is not what the run read (its fingerprint differs from the
    /// summary's): both fingerprints.
    pub fn data_changed(&self) -> Option<String> {
        let recorded = &self.summary.data_fingerprint;
        (*recorded != self.data_fingerprint).then(|| {
            format!(
                "the data changed (fingerprint {} recorded, {} now)",
                short(recorded),
                short(&self.data_fingerprint)
            )
        })
    }

    /// When the model file is not the one the run wrote (its sha256 differs from the
    /// summary's): what was recorded and what is there now.
    pub fn model_file_changed(&self) -> Option<String> {
        let recorded = self.summary.model_sha256.as_ref()?;
        (*recorded != self.model_sha256).then(|| {
            format!(
                "the model file changed ({} sha256 {} recorded, {} now)",
                record::MODEL,
                short(recorded),
                short(&self.model_sha256)
            )
        })
    }
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
    let (data, splits) = data::load(&recipe.data_settings(), cache, log)?;
    let data_fingerprint =
        data::fingerprint::fingerprint(recipe.manifest(), &recipe.dataset().modalities, cache)?;
    let widths: Vec<usize> = data.modalities.iter().map(|m| m.width).collect();
    let mut model = Model::build(
        &recipe.model_settings(),
        &widths,
        data.num_classes(),
        summary.seed,
        Dev::default(),
    );
    let mut method = method::build(&recipe.method_settings(splits.train.len()));
    // The method's own parameters are saved with the model: the store must hold them too.
    method.add_parameters(
        &mut model,
        &mut crate::rng::stream(summary.seed, crate::rng::Stream::MethodInit, 0),
    );
    let path: PathBuf = dir.join(record::MODEL);
    let weights = |reason: String| SavedRunError::Weights {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| weights(e.to_string()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
        weights(format!(
            "not a readable safetensors file ({} bytes; {}); it was truncated, emptied or overwritten since training — train the run again with `balmix run RECIPE --force`, or restore the file from a copy",
            bytes.len(),
            safetensors_problem(&e)
        ))
    })?;
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
    Ok(SavedRun {
        recipe,
        summary,
        data,
        splits,
        model,
        method,
        model_sha256: data::cache::sha256_hex(&bytes),
        data_fingerprint,
    })
}

/// A safetensors parse error in words (the library's own text names enum variants).
fn safetensors_problem(e: &safetensors::SafeTensorError) -> &'static str {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall | E::MetadataIncompleteBuffer | E::InvalidHeaderLength => {
            "the file ends before its data does"
        }
        E::InvalidHeader
        | E::InvalidHeaderStart
        | E::InvalidHeaderDeserialization
        | E::HeaderTooLarge
        | E::JsonError(_) => "its header is not a safetensors header",
        _ => "its tensors do not match its header",
    }
}

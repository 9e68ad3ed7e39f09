//! Loading the frozen models a method asks for ([`crate::method::frozen`]): each from its
//! finished run directory, checked by the run's identity — its model file must be the one the
//! run wrote and its data the data it read, and its recipe hash the one the method expects.
//! A teacher trained by another build of balmix is accepted (its weights are what they are).

use super::saved::{self, SavedRunError};
use crate::data::Cache;
use crate::method::frozen::{FrozenModel, FrozenRequest};
use crate::model::{Backend, Model};
use thiserror::Error;

/// Why a frozen model cannot be used.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum FrozenError {
    #[error("frozen model {dir}: {source}; a frozen model is a finished run: train it first, with this run's --out and seed")]
    Unreadable {
        dir: String,
        #[source]
        source: Box<SavedRunError>,
    },
    #[error("frozen model {dir}: {what}; train it again or point the method at the run it names")]
    Changed { dir: String, what: String },
    #[error("frozen model {dir}: {what}")]
    Unfit { dir: String, what: String },
    #[error("frozen model {dir}: the run's recipe hash is {found}, the method expects {expected}; it was trained under another recipe")]
    OtherRecipe {
        dir: String,
        found: String,
        expected: String,
    },
}

/// Load the finished run `req` names as a frozen model on `dev`.
pub fn load<D: Backend>(
    req: &FrozenRequest,
    cache: &Cache,
    log: &dyn Fn(&str),
    dev: D,
) -> Result<FrozenModel<D>, FrozenError> {
    let dir = req.run_dir.display().to_string();
    let run =
        saved::load(&req.run_dir, &[], cache, log).map_err(|source| FrozenError::Unreadable {
            dir: dir.clone(),
            source: Box::new(source),
        })?;
    // Not `changed_inputs`: another build of balmix may have trained the teacher.
    let changed: Vec<String> = run
        .model_file_changed()
        .into_iter()
        .chain(run.data_changed())
        .collect();
    if !changed.is_empty() {
        return Err(FrozenError::Changed {
            dir,
            what: changed.join("; "),
        });
    }
    if let Some(expected) = &req.recipe_hash {
        if *expected != run.summary.recipe_hash {
            return Err(FrozenError::OtherRecipe {
                dir,
                found: run.summary.recipe_hash.clone(),
                expected: expected.clone(),
            });
        }
    }
    let widths: Vec<usize> = run.data.modalities.iter().map(|m| m.width).collect();
    let mut model = Model::build(
        &run.recipe.model_settings(),
        &widths,
        run.data.num_classes(),
        run.summary.seed,
        dev,
    );
    // The model's own parameters come first in the saved store; a teacher's method may have
    // added parameters of its own after them, which the frozen model does not carry.
    for id in 0..model.store.params.len() {
        let saved = &run.model.store.params[id];
        debug_assert_eq!(saved.name, model.store.params[id].name);
        model.store.set_values(id, saved.tensor.to_host());
    }
    Ok(FrozenModel {
        model,
        modalities: run.recipe.dataset().modalities.clone(),
        recipe_hash: run.summary.recipe_hash.clone(),
        model_sha256: run.model_sha256.clone(),
    })
}

/// Attach to a saved run's method the frozen models its evaluation reads (a UME run's members,
/// [`FrozenRequest::at_eval`]), each from the directory the run's summary records, held to the
/// recorded recipe hash and model checksum: an ensemble whose member was trained again since is
/// not the run that was scored.
pub fn attach_recorded(
    run: &mut super::saved::SavedRun,
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<(), FrozenError> {
    let requests = run.method.frozen_runs();
    if !requests.iter().any(|r| r.at_eval) {
        return Ok(());
    }
    if run.summary.frozen.len() != requests.len() {
        return Err(FrozenError::Changed {
            dir: run.recipe.name().to_string(),
            what: format!(
                "the run's summary records {} frozen model(s), its method reads {}",
                run.summary.frozen.len(),
                requests.len()
            ),
        });
    }
    let dev = run.model.store.dev.clone();
    let mut models = Vec::with_capacity(requests.len());
    for (r, recorded) in requests.iter().zip(&run.summary.frozen) {
        let req = FrozenRequest {
            run_dir: recorded.dir.clone().into(),
            recipe_hash: Some(recorded.recipe_hash.clone()),
            ..r.clone()
        };
        let m = load(&req, cache, log, dev.clone())?;
        if m.model_sha256 != recorded.model_sha256 {
            return Err(FrozenError::Changed {
                dir: recorded.dir.clone(),
                what: format!(
                    "its model file is not the one this run read (sha256 {} now, {} recorded)",
                    &m.model_sha256[..12.min(m.model_sha256.len())],
                    &recorded.model_sha256[..12.min(recorded.model_sha256.len())]
                ),
            });
        }
        models.push(m);
    }
    run.method.receive_frozen(models);
    Ok(())
}

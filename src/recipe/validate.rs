//! From a [`RecipeFile`] to a checked [`Recipe`]: range and cross-field rules, defaults that
//! depend on other fields filled in, encoders of unused modalities dropped. The resolved recipe
//! is what a run records and what reports read.

use super::checker::Checker;
use super::error::RecipeError;
use super::file::*;
use super::load::{self, Layered};
use super::problem::{Facts, Section};
use super::typed::{self, Losses, Method, Mixer, Modulation, Optimizer};
use crate::manifest::{Catalog, Manifest, ManifestError};
use sha2::{Digest, Sha256};
use std::path::Path;

/// A validated recipe. Only [`Recipe::load`] and [`Recipe::from_layers`] construct one, so
/// every value the engine reads has passed every rule.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The resolved recipe as written out ([`Recipe::to_toml`]) and hashed
    /// ([`Recipe::result_hash`]). A section that resolves into a typed form (model, mixer,
    /// modulation, method, losses, optimiser, split, robustness) is read only in that form;
    /// the rest (name, seeds, `[dataset]`'s names and switches, `[train]`) is already typed
    /// as written.
    written: RecipeFile,
    typed: Typed,
    manifest: Manifest,
}

/// The typed choices of a recipe ([`typed`]), built by validation.
#[derive(Debug, Clone)]
struct Typed {
    split: crate::data::split_settings::Split,
    model: typed::Model,
    mixer: Mixer,
    modulation: Modulation,
    method: Method,
    losses: Losses,
    optimizer: Optimizer,
    robustness: Option<typed::Robustness>,
}

impl Recipe {
    /// Load `path` with its `extends` chain, the whitelisted environment and `sets`, validate.
    pub fn load(path: &Path, sets: &[String]) -> Result<Recipe, RecipeError> {
        Self::load_with_unset(path, sets, &[])
    }

    /// [`Recipe::load`] with `--unset` keys removed from the files and environment first.
    pub fn load_with_unset(
        path: &Path,
        sets: &[String],
        unsets: &[String],
    ) -> Result<Recipe, RecipeError> {
        Self::load_without(path, sets, unsets, &[])
    }

    /// [`Recipe::load_with_unset`], also removing the keys `drop` wherever the files or the
    /// environment set them (see [`load::load_without`]).
    pub fn load_without(
        path: &Path,
        sets: &[String],
        unsets: &[String],
        drop: &[&str],
    ) -> Result<Recipe, RecipeError> {
        let layers = load::load_without(path, sets, unsets, drop)?;
        let dir = layers.top.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::from_layers(&layers, &Catalog::discover(&dir))
    }

    /// [`Recipe::load`] with manifests looked up from `manifests` (and the folders above it)
    /// instead of the recipe's folder.
    pub fn load_with_catalog(
        path: &Path,
        sets: &[String],
        manifests: &Path,
    ) -> Result<Recipe, RecipeError> {
        let layers = load::load_with_unset(path, sets, &[])?;
        Self::from_layers(&layers, &Catalog::discover(manifests))
    }

    /// Validate already-loaded layers against the manifests in `catalog`.
    pub fn from_layers(layers: &Layered, catalog: &Catalog) -> Result<Recipe, RecipeError> {
        let file = layers.extract()?;
        let origin = |key: &str| layers.origin(key);
        let manifest = catalog.get(&file.dataset.manifest).map_err(|e| match e {
            ManifestError::Unknown {
                name,
                suggestions,
                known,
            } => RecipeError::UnknownManifest {
                origin: origin("dataset.manifest"),
                got: name,
                suggestions,
                known,
            },
            ManifestError::Invalid { path, reason } => RecipeError::Malformed {
                origin: origin("dataset.manifest"),
                key: "dataset.manifest".into(),
                detail: format!("{path}: {reason}"),
            },
        })?;
        let mut manifest = manifest;
        crate::media::options::resolve(&mut manifest, &file.dataset.media).map_err(|detail| {
            RecipeError::Malformed {
                origin: origin("dataset.media"),
                key: "dataset.media".into(),
                detail,
            }
        })?;
        let (resolved, typed) = Checker {
            origin: &origin,
            manifest: &manifest,
        }
        .check(file)?;
        Ok(Recipe {
            written: resolved,
            typed,
            manifest,
        })
    }

    /// The experiment name.
    pub fn name(&self) -> &str {
        &self.written.name
    }
    /// The name of the run folder below `--out`: the experiment name, and `/fold-<i>` when the
    /// recipe runs fold `i` of a k-fold split.
    pub fn run_name(&self) -> String {
        match self.written.dataset.split.fold {
            Some(fold) => format!("{}/fold-{fold}", self.written.name),
            None => self.written.name.clone(),
        }
    }
    /// The run name of `sibling` beside this recipe's runs: `sibling` in this recipe's name's
    /// folder (`synthetic/umt` → `synthetic/<sibling>`), with this run's fold if it has one.
    pub fn sibling_run_name(&self, sibling: &str) -> String {
        let folder = match self.written.name.rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/{sibling}"),
            None => sibling.to_string(),
        };
        match self.written.dataset.split.fold {
            Some(fold) => format!("{folder}/fold-{fold}"),
            None => folder,
        }
    }

    /// The seeds to run.
    pub fn seeds(&self) -> &[u64] {
        &self.written.seeds
    }
    /// `[dataset]`
    pub fn dataset(&self) -> &DatasetSection {
        &self.written.dataset
    }
    /// `dataset.split`, resolved: how the samples are split.
    pub fn split(&self) -> &crate::data::split_settings::Split {
        &self.typed.split
    }
    /// `[model]`: encoders in modality order, fusion, unimodal-logits mode.
    pub fn model(&self) -> &typed::Model {
        &self.typed.model
    }
    /// The standard step's mixer (`mixup.method` with its settings).
    pub fn mixer(&self) -> &Mixer {
        &self.typed.mixer
    }
    /// `[modulation]`
    pub fn modulation(&self) -> &Modulation {
        &self.typed.modulation
    }
    /// `[method]`
    pub fn method(&self) -> &Method {
        &self.typed.method
    }
    /// What the data is loaded from: the resolved manifest and `[dataset]`.
    pub fn data_settings(&self) -> crate::data::config::DataSettings {
        crate::data::config::DataSettings {
            manifest: self.manifest().clone(),
            dataset: self.dataset().clone(),
            split: self.split().clone(),
        }
    }
    /// What the model is built from: `[model]` with the method's request for separate
    /// unimodal heads.
    pub fn model_settings(&self) -> crate::model::config::ModelSettings {
        use crate::method::config::{Method, MmParetoHeads, MmParetoSettings};
        crate::model::config::ModelSettings {
            modalities: self.dataset().modalities.clone(),
            model: self.model().clone(),
            unimodal_heads: matches!(
                self.method(),
                Method::Mmpareto(MmParetoSettings {
                    heads: MmParetoHeads::Separate,
                    ..
                })
            ),
        }
    }
    /// Optimiser steps per epoch of a run with `train_samples` training samples (the last
    /// batch may be short): the one place that computes it.
    pub fn steps_per_epoch(&self, train_samples: usize) -> usize {
        train_samples.div_ceil(self.train().batch_size.max(1))
    }
    /// What the method is built from, for a run with `train_samples` training samples.
    pub fn method_settings(&self, train_samples: usize) -> crate::method::config::MethodSettings {
        crate::method::config::MethodSettings {
            method: self.method().clone(),
            modulation: *self.modulation(),
            losses: *self.losses(),
            mixer: self.mixer().clone(),
            batch_size: self.train().batch_size,
            steps_per_epoch: self.steps_per_epoch(train_samples),
            grad_clip: self.train().grad_clip,
        }
    }
    /// `[losses]`: the multitask weight and PMR's settings.
    pub fn losses(&self) -> &Losses {
        &self.typed.losses
    }
    /// `[optim]`
    pub fn optimizer(&self) -> &Optimizer {
        &self.typed.optimizer
    }
    /// `train.eval.robustness`, if the recipe asks for test-time corruptions.
    pub fn robustness(&self) -> Option<&typed::Robustness> {
        self.typed.robustness.as_ref()
    }
    /// `[train]`
    pub fn train(&self) -> &TrainSection {
        &self.written.train
    }
    /// The dataset's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The same recipe with one seed only (a run records the seed it used).
    pub fn for_seed(&self, seed: u64) -> Recipe {
        let mut r = self.clone();
        r.written.seeds = vec![seed];
        r
    }

    /// The same recipe with a different thread count (never changes results).
    pub fn with_threads(&self, threads: usize) -> Recipe {
        let mut r = self.clone();
        r.written.train.threads = threads.max(1);
        r
    }

    /// The resolved recipe as TOML, every default written out.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.written).expect("a resolved recipe always serialises")
    }

    /// SHA-256 of the resolved recipe without the keys that cannot change results
    /// (`train.threads`): two runs with equal hashes are the same experiment.
    pub fn result_hash(&self) -> String {
        let mut r = self.written.clone();
        r.train.threads = 1;
        let text = toml::to_string(&r).expect("a resolved recipe always serialises");
        let digest = Sha256::digest(text.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Checker<'_> {
    /// Every rule, section by section in a fixed order (the first broken rule is reported);
    /// each concern resolves its own section, and defaults are written back into `f`.
    fn check(&self, mut f: RecipeFile) -> Result<(RecipeFile, Typed), RecipeError> {
        f.extends = None;
        self.check_name_and_seeds(&f)?;
        let mut facts = Facts {
            modalities: f.dataset.modalities.len(),
            epochs: f.train.epochs,
            fusion: String::new(),
        };
        let data_cx = crate::data::resolve::DataContext {
            manifest: self.manifest,
            best_val: f.train.eval.select == EvalSelect::BestVal,
            batch_size: f.train.batch_size,
        };
        let split = (f.dataset.resolve(&data_cx))
            .map_err(|p| self.report(p, Section::Other("dataset."), &facts))?;
        let shapes: Vec<Option<[usize; 3]>> = (f.dataset.modalities.iter())
            .map(|name| {
                let spec = self.manifest.modalities.iter().find(|m| m.name == *name);
                spec.and_then(|m| m.shape)
            })
            .collect();
        let model = f
            .model
            .resolve(&f.dataset.modalities, &shapes)
            .map_err(|p| self.report(p, Section::Other("model."), &facts))?;
        facts.fusion = model.fusion.name().into();
        (f.train.check()).map_err(|p| self.report(p, Section::Other("train."), &facts))?;
        let mixer = f
            .mixup
            .resolve(facts.modalities, facts.epochs)
            .map_err(|p| self.report(p, Section::Other("mixup."), &facts))?;
        let modulation = self.check_modulation(&mut f, &model)?;
        let optimizer = f
            .optim
            .resolve(facts.epochs)
            .map_err(|p| self.report(p, Section::Other("optim."), &facts))?;
        let method = self.check_method(&mut f, &model)?;
        let losses = self.check_losses(&mut f, &model)?;
        let robustness =
            match f.train.eval.robustness.as_mut() {
                Some(r) => Some((r.resolve(&f.dataset.modalities, &shapes)).map_err(|p| {
                    self.report(p, Section::Other("train.eval.robustness."), &facts)
                })?),
                None => None,
            };
        let typed = Typed {
            split,
            model,
            mixer,
            modulation,
            method,
            losses,
            optimizer,
            robustness,
        };
        Ok((f, typed))
    }

    /// `name` names a run folder below `--out`; `seeds` is a non-empty list without repeats.
    fn check_name_and_seeds(&self, f: &RecipeFile) -> Result<(), RecipeError> {
        if f.name.trim().is_empty() {
            return Err(RecipeError::Empty {
                origin: self.o("name"),
                key: "name".into(),
            });
        }
        if let Some(problem) = name_problem(&f.name) {
            return Err(RecipeError::BadName {
                origin: self.o("name"),
                got: f.name.chars().take(60).collect(),
                problem,
            });
        }
        if f.seeds.is_empty() {
            return Err(RecipeError::Empty {
                origin: self.o("seeds"),
                key: "seeds".into(),
            });
        }
        for (i, s) in f.seeds.iter().enumerate() {
            if f.seeds[..i].contains(s) {
                return Err(RecipeError::DuplicateSeed {
                    origin: self.o("seeds"),
                    key: "seeds".into(),
                    seed: *s,
                });
            }
        }
        Ok(())
    }
}

/// Longest recipe name: run directories stay well inside file-system path limits.
const MAX_NAME: usize = 120;

/// Why `name` cannot name a run directory below `--out`, if it cannot.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.chars().count() > MAX_NAME {
        return Some("is too long");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Some("is an absolute path");
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Some("has an empty path part");
        }
        if part == "." || part == ".." {
            return Some("has a `.` or `..` part, which would leave --out");
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Some("has characters other than letters, digits, `-`, `_`, `.` and `/`");
        }
    }
    None
}

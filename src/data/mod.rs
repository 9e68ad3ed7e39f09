//! Data: manifests (the top-level [`crate::manifest`], re-exported here), the download cache ([`cache`]), sources ([`fetch`],
//! [`synthetic`], [`local`]), readers ([`read_csv`], [`read_npy`], [`read_modality`]),
//! assembly ([`assemble`]), in-memory datasets ([`dataset`]) and splits ([`mod@split`]).
//! [`load`] turns a recipe's `[dataset]` into standardised data and its splits.

pub mod assemble;
pub mod augment;
pub mod cache;
pub mod clips;
pub mod config;
pub mod corrupt;
pub mod dataset;
pub mod error;
pub mod fetch;
pub mod fingerprint;
pub mod loader_bench;
pub mod local;
pub mod read_csv;
pub mod read_modality;
pub mod read_npy;
pub mod resolve;
pub mod robustness;
pub mod split;
pub mod split_settings;
pub mod synthetic;

pub use crate::manifest;
pub use cache::Cache;
pub use dataset::{Dataset, Modality};
pub use error::DataError;
pub use split::Splits;

use crate::manifest::Manifest;
use config::DataSettings;
use split_settings::{Split, SplitPlan};

/// The whole dataset a manifest describes (only `names` when not empty), fetching as needed.
///
/// Assembled datasets are kept in memory for the life of the process, keyed by the manifest's
/// full text, the modalities and the cache folder, so a table's many runs read and parse each
/// dataset once. The value is the same whichever run loads it first.
pub fn load_manifest(
    manifest: &Manifest,
    names: &[String],
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<Dataset, DataError> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Memo = Mutex<HashMap<String, Arc<Dataset>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    if let Some(s) = &manifest.synthetic {
        return synthetic::generate(manifest, s.samples, s.seed);
    }
    let key = format!(
        "{}\n{:?}\n{}",
        toml::to_string(manifest).unwrap_or_default(),
        names,
        cache.root().display()
    );
    let memo = MEMO.get_or_init(Default::default);
    if let Some(d) = memo.lock().expect("dataset memo").get(&key) {
        return Ok((**d).clone());
    }
    let d = assemble::load(manifest, names, cache, log)?;
    if fetch::local_folder(manifest, cache).is_none() {
        // Local folders can change under us; downloaded data is pinned by sha256.
        memo.lock()
            .expect("dataset memo")
            .insert(key, Arc::new(d.clone()));
    }
    Ok(d)
}

/// The splits of a dataset as the resolved split `s` says: the manifest's fixed lists, a
/// stratified or group split by seed, named test groups, or one fold of a (group) k-fold.
pub fn split(data: &Dataset, s: &Split) -> Result<Splits, DataError> {
    let splits = split_unchecked(data, s)?;
    // A part the recipe asks for that rounds to nothing would be "selected" from or reported
    // as if it existed.
    if s.val > 0.0 && splits.val.is_empty() {
        return Err(DataError::EmptySplit {
            dataset: data.name.clone(),
            split: "val",
            detail: format!(
                "dataset.split.val = {} of the {} training samples rounds to 0 samples in every class (train {}, test {} of {} samples); raise dataset.split.val, or set it to 0 for no validation split",
                s.val,
                splits.train.len(),
                splits.train.len(),
                splits.test.len(),
                data.len()
            ),
        });
    }
    Ok(splits)
}

fn split_unchecked(data: &Dataset, s: &Split) -> Result<Splits, DataError> {
    let (val, val_by, seed) = (s.val, s.val_by, s.seed);
    match &s.plan {
        SplitPlan::Fixed => {
            let n_train = data.fixed_train.ok_or_else(|| DataError::Format {
                file: data.name.clone(),
                reason: "split kind `fixed` needs the manifest's fixed train/test lists".into(),
            })?;
            split::fixed(data, n_train, val, val_by, seed)
        }
        &SplitPlan::Stratified { test } => split::stratified(data, test, val, val_by, seed),
        &SplitPlan::Groups { test } => split::by_group(data, test, val, val_by, seed),
        SplitPlan::NamedGroups { names } => split::named_groups(data, names, val, val_by, seed),
        &SplitPlan::Folds {
            folds,
            fold,
            groups,
        } => {
            let fold = fold.ok_or_else(|| DataError::Format {
                file: data.name.clone(),
                reason: format!(
                    "dataset.split.folds = {folds} but no dataset.split.fold: `balmix run` runs every fold, or set the fold (0..{folds})"
                ),
            })?;
            split::k_fold(data, folds, fold, groups, val, val_by, seed)
        }
    }
}

/// The data of `settings`: generated or read (fetching on first use), restricted to its
/// modalities, split, and (when asked) standardised with training statistics.
pub fn load(
    settings: &DataSettings,
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<(Dataset, Splits), DataError> {
    let manifest = &settings.manifest;
    let spec = &settings.dataset;
    if clips::layout(manifest).is_some() {
        let (data, _) = clips::load(manifest, &spec.modalities, &spec.media, cache, log)?;
        let splits = split(&data, &settings.split)?;
        return Ok((data, splits));
    }
    let full = load_manifest(manifest, &spec.modalities, cache, log)?;
    let mut data = full.select(&spec.modalities)?;
    let splits = split(&data, &settings.split)?;
    if spec.standardize {
        data.standardize(&splits.train);
    }
    Ok((data, splits))
}

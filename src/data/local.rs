//! Local datasets (CREMA-D, Kinetics-Sounds, your own): files the user prepared, optionally
//! with fixed `train.csv` / `test.csv` lists of `id,label` lines (the layout of the public
//! OGM-GE preprocessing) — feature files either carry an id column (rows matched by id) or
//! have their rows in list order, train then test. Presence, counts and labels are checked, and a missing piece is reported with
//! the manifest's preparation instructions.

use super::cache::Cache;
use super::error::{DataError, Location};
use super::fetch::local_folder as folder;
use crate::manifest::{Manifest, Member};

/// The train and test lists.
pub struct Lists {
    /// Labels of `train.csv`, in order.
    pub train: Vec<usize>,
    /// Labels of `test.csv`, in order.
    pub test: Vec<usize>,
    /// Ids (first column) of `train.csv` then `test.csv`, in order.
    pub ids: Vec<String>,
    /// The file and 1-based line of each id.
    pub origins: Vec<(String, usize)>,
}

/// Check presence of every file and the lists' counts; read the lists' ids and labels (empty
/// without fixed lists).
pub fn check(manifest: &Manifest, cache: &Cache) -> Result<Lists, DataError> {
    if super::clips::layout(manifest).is_some() {
        let c = super::clips::clips(manifest, cache)?;
        return Ok(Lists {
            train: c.labels[..c.train].to_vec(),
            test: c.labels[c.train..].to_vec(),
            ids: Vec::new(),
            origins: Vec::new(),
        });
    }
    let (dir, env) = folder(manifest, cache).expect("local datasets have a local source");
    let mut missing = Vec::new();
    if !dir.is_dir() {
        missing.push(format!(
            "folder {} does not exist (set {env} or create it)",
            dir.display()
        ));
    }
    let mut ids = Vec::new();
    let mut origins = Vec::new();
    // A list that is present but wrong (bad input, unlike a missing file).
    let mut wrong: Option<DataError> = None;
    let mut read_list = |m: &Member, expected: Option<usize>| -> Option<Vec<usize>> {
        let path = dir.join(&m.path);
        let Ok(text) = std::fs::read_to_string(&path) else {
            missing.push(format!("{} is missing", path.display()));
            return None;
        };
        let shown = path.display().to_string();
        let mut labels = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let label = line.rsplit(',').next().unwrap_or("").trim();
            let id = line.split(',').next().unwrap_or("").trim().to_string();
            let class = manifest
                .classes
                .iter()
                .position(|c| c == label)
                .or_else(|| {
                    label
                        .parse::<usize>()
                        .ok()
                        .filter(|&c| c < manifest.classes.len())
                });
            match class {
                Some(c) => labels.push(c),
                None => {
                    wrong.get_or_insert(DataError::UnknownClass {
                        file: shown.clone(),
                        at: Location {
                            id: Some(id.into()),
                            ..Location::line(i + 1)
                        },
                        cell: label.to_string(),
                        classes: manifest.classes.join(", "),
                    });
                    return None;
                }
            }
            ids.push(id);
            origins.push((shown.clone(), i + 1));
        }
        if let Some(expected) = expected.filter(|&e| e != labels.len()) {
            wrong.get_or_insert(DataError::CountMismatch {
                dataset: manifest.name.clone(),
                what: shown,
                got: labels.len(),
                expected,
            });
            return None;
        }
        Some(labels)
    };
    let (train, test) = match &manifest.fixed_splits {
        Some(splits) => (
            read_list(&splits.train, splits.train_count),
            read_list(&splits.test, splits.test_count),
        ),
        None => (Some(Vec::new()), Some(Vec::new())),
    };
    let lists: Vec<&str> = manifest
        .fixed_splits
        .iter()
        .flat_map(|s| [s.train.path.as_str(), s.test.path.as_str()])
        .collect();
    for m in manifest
        .members()
        .into_iter()
        .filter(|m| !lists.contains(&m.path.as_str()))
    {
        let path = dir.join(&m.path);
        if !path.is_file() {
            missing.push(format!("{} is missing", path.display()));
        }
    }
    match (train, test, wrong) {
        (Some(train), Some(test), None) if missing.is_empty() => Ok(Lists {
            train,
            test,
            ids,
            origins,
        }),
        // Missing files first (with the instructions); then what is wrong in a present list.
        (_, _, Some(wrong)) if missing.is_empty() => Err(wrong),
        (_, _, wrong) => {
            missing.extend(wrong.map(|w| w.to_string()));
            Err(DataError::LocalMissing {
                dataset: manifest.name.clone(),
                missing: missing.join("; "),
                instructions: manifest.instructions.clone().unwrap_or_default(),
            })
        }
    }
}

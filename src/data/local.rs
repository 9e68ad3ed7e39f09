//! Local datasets (CREMA-D, Kinetics-Sounds, …): files the user prepared in the layout of the
//! public OGM-GE preprocessing — `train.csv` / `test.csv` lists of `clip,label` lines — plus
//! one feature matrix per modality (`features/<modality>.npy`, rows in list order, train
//! then test). Presence, counts and labels are checked, and a missing piece is reported with
//! the manifest's preparation instructions.

use super::cache::Cache;
use super::error::DataError;
use super::fetch::local_dir;
use crate::manifest::{Manifest, Member, Source};
use std::path::PathBuf;

/// Labels of the train and test lists.
pub struct Lists {
    /// Labels of `train.csv`, in order.
    pub train: Vec<usize>,
    /// Labels of `test.csv`, in order.
    pub test: Vec<usize>,
}

/// The folder of the dataset's local source.
pub fn folder(manifest: &Manifest, cache: &Cache) -> Option<(PathBuf, String)> {
    manifest.sources.iter().find_map(|s| match s {
        Source::Local { env, .. } => Some((local_dir(manifest, env, cache), env.clone())),
        _ => None,
    })
}

/// Check presence and counts of every file; read the lists' labels.
pub fn check(manifest: &Manifest, cache: &Cache) -> Result<Lists, DataError> {
    if crate::media::dataset::layout(manifest).is_some() {
        let c = crate::media::dataset::clips(manifest, cache)?;
        return Ok(Lists {
            train: c.labels[..c.train].to_vec(),
            test: c.labels[c.train..].to_vec(),
        });
    }
    let splits = manifest
        .fixed_splits
        .as_ref()
        .expect("local datasets have fixed splits");
    let (dir, env) = folder(manifest, cache).expect("local datasets have a local source");
    let mut missing = Vec::new();
    if !dir.is_dir() {
        missing.push(format!(
            "folder {} does not exist (set {env} or create it)",
            dir.display()
        ));
    }
    let mut read_list = |m: &Member, expected: usize| -> Option<Vec<usize>> {
        let path = dir.join(&m.path);
        let Ok(text) = std::fs::read_to_string(&path) else {
            missing.push(format!("{} is missing", path.display()));
            return None;
        };
        let mut labels = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let label = line.rsplit(',').next().unwrap_or("").trim();
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
                    missing.push(format!(
                        "{} line {}: unknown label `{label}` (classes: {})",
                        path.display(),
                        i + 1,
                        manifest.classes.join(", ")
                    ));
                    return None;
                }
            }
        }
        if labels.len() != expected {
            missing.push(format!(
                "{} has {} clips, expected {expected}",
                path.display(),
                labels.len()
            ));
            return None;
        }
        Some(labels)
    };
    let train = read_list(&splits.train, splits.train_count);
    let test = read_list(&splits.test, splits.test_count);
    for m in manifest
        .members()
        .into_iter()
        .filter(|m| m.path != splits.train.path && m.path != splits.test.path)
    {
        let path = dir.join(&m.path);
        if !path.is_file() {
            missing.push(format!("{} is missing", path.display()));
        }
    }
    match (train, test) {
        (Some(train), Some(test)) if missing.is_empty() => Ok(Lists { train, test }),
        _ => Err(DataError::LocalMissing {
            dataset: manifest.name.clone(),
            missing: missing.join("; "),
            instructions: manifest.instructions.clone().unwrap_or_default(),
        }),
    }
}

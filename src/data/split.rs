//! Train/val/test splits.

use super::dataset::Dataset;
use super::error::DataError;
use crate::rng::{stream, Stream};
use rand::seq::SliceRandom;

/// Sample indices of each split, each sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splits {
    /// Training samples.
    pub train: Vec<usize>,
    /// Validation samples (may be empty).
    pub val: Vec<usize>,
    /// Test samples.
    pub test: Vec<usize>,
}

pub use crate::manifest::class_counts;

/// How the validation part is drawn from the training part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValBy {
    /// Whole groups (a group is never on both sides of training and validation); needs a
    /// group per sample.
    Group,
    /// Rows, stratified by class, whatever their group.
    Row,
}

impl ValBy {
    /// Whether validation of `data` is drawn by group: asked for, and the data has groups.
    fn by_group(self, data: &Dataset) -> bool {
        self == ValBy::Group && !data.groups.is_empty()
    }
}

/// Stratified split: within each class, shuffle with the `split` stream of `seed`, then take
/// `round(n_c · test)` for test, `round(n_c · val)` for val and the rest for training.
///
/// When the data has groups and `val_by` is [`ValBy::Group`], validation is instead drawn by
/// group from the training part.
pub fn stratified(
    data: &Dataset,
    test: f64,
    val: f64,
    val_by: ValBy,
    seed: u64,
) -> Result<Splits, DataError> {
    if val_by.by_group(data) && val > 0.0 {
        let outer = stratified(data, test, 0.0, val_by, seed)?;
        let (train, val_part) = hold_out_val(data, outer.train, val, val_by, seed, 6)?;
        return Ok(Splits {
            train,
            val: val_part,
            test: outer.test,
        });
    }
    let mut rng = stream(seed, Stream::Split, 0);
    let mut splits = Splits {
        train: vec![],
        val: vec![],
        test: vec![],
    };
    for class in 0..data.num_classes() {
        let mut members: Vec<usize> = (0..data.len())
            .filter(|&i| data.labels[i] == class)
            .collect();
        members.shuffle(&mut rng);
        let (n_test, n_val, _) = class_counts(members.len(), test, val);
        splits.test.extend(&members[..n_test.min(members.len())]);
        splits
            .val
            .extend(&members[n_test.min(members.len())..n_test.min(members.len()) + n_val]);
        splits
            .train
            .extend(&members[(n_test + n_val).min(members.len())..]);
    }
    splits.train.sort_unstable();
    splits.val.sort_unstable();
    splits.test.sort_unstable();
    for (name, part) in [("train", &splits.train), ("test", &splits.test)] {
        if part.is_empty() {
            return Err(DataError::EmptySplit {
                dataset: data.name.clone(),
                split: name,
                detail: format!(
                    "{} samples, test fraction {test}, val fraction {val}",
                    data.len()
                ),
            });
        }
    }
    if val > 0.0 && splits.val.is_empty() {
        return Err(DataError::EmptySplit {
            dataset: data.name.clone(),
            split: "val",
            detail: format!("{} samples, val fraction {val}", data.len()),
        });
    }
    Ok(splits)
}

/// Fixed train/test lists (rows `0..n_train` and `n_train..`); validation samples, when the
/// recipe asks for them, are a fraction `val` of the training rows drawn with the `split`
/// stream of `seed`: by group when `val_by` says so and the data has groups, else stratified
/// by class.
pub fn fixed(
    data: &Dataset,
    n_train: usize,
    val: f64,
    val_by: ValBy,
    seed: u64,
) -> Result<Splits, DataError> {
    let (train, val_part) = hold_out_val(data, (0..n_train).collect(), val, val_by, seed, 1)?;
    let splits = Splits {
        train,
        val: val_part,
        test: (n_train..data.len()).collect(),
    };
    if splits.train.is_empty() || splits.test.is_empty() {
        return Err(DataError::EmptySplit {
            dataset: data.name.clone(),
            split: if splits.train.is_empty() {
                "train"
            } else {
                "test"
            },
            detail: format!("fixed lists: {n_train} train of {} samples", data.len()),
        });
    }
    Ok(splits)
}

/// Validation held out of `pool` (fraction `val`), drawn with the `split` stream of `seed`
/// at `index`: whole groups when `val_by` says so and the data has groups (a group is never
/// on both sides), else per class. Returns `(train, val)`, each sorted.
fn hold_out_val(
    data: &Dataset,
    pool: Vec<usize>,
    val: f64,
    val_by: ValBy,
    seed: u64,
    index: u64,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    let mut rng = stream(seed, Stream::Split, index);
    let (mut train, mut held) = (Vec::new(), Vec::new());
    if val_by.by_group(data) && val > 0.0 {
        let mut groups = groups_of(data, &pool);
        groups.shuffle(&mut rng);
        let n_val = ((groups.len() as f64 * val).round() as usize)
            .max(1)
            .min(groups.len().saturating_sub(1));
        if n_val == 0 {
            return Err(DataError::EmptySplit {
                dataset: data.name.clone(),
                split: "val",
                detail: format!(
                    "validation is drawn by group and the training part has {} group(s); at least 2 are needed",
                    groups.len()
                ),
            });
        }
        let chosen: std::collections::BTreeSet<&str> =
            groups[..n_val].iter().map(String::as_str).collect();
        for i in pool {
            if chosen.contains(data.groups[i].as_str()) {
                held.push(i);
            } else {
                train.push(i);
            }
        }
    } else {
        for class in 0..data.num_classes() {
            let mut members: Vec<usize> = pool
                .iter()
                .copied()
                .filter(|&i| data.labels[i] == class)
                .collect();
            members.shuffle(&mut rng);
            let n_val = ((members.len() as f64 * val).round() as usize).min(members.len());
            held.extend(&members[..n_val]);
            train.extend(&members[n_val..]);
        }
    }
    train.sort_unstable();
    held.sort_unstable();
    Ok((train, held))
}

/// The distinct groups of the samples `idx`, sorted (a fixed order before any shuffle).
fn groups_of(data: &Dataset, idx: &[usize]) -> Vec<String> {
    let set: std::collections::BTreeSet<&str> =
        idx.iter().map(|&i| data.groups[i].as_str()).collect();
    set.into_iter().map(str::to_string).collect()
}

/// Group split: the sorted distinct groups are shuffled with the `split` stream of `seed`;
/// `round(G · test)` groups (at least one, leaving one) are the test set; validation is drawn
/// from the rest, by group or by row as `val_by` says.
pub fn by_group(
    data: &Dataset,
    test: f64,
    val: f64,
    val_by: ValBy,
    seed: u64,
) -> Result<Splits, DataError> {
    need_groups(data)?;
    let mut rng = stream(seed, Stream::Split, 4);
    let all: Vec<usize> = (0..data.len()).collect();
    let mut groups = groups_of(data, &all);
    groups.shuffle(&mut rng);
    let val_groups = val > 0.0 && val_by.by_group(data);
    if groups.len() < 2 + usize::from(val_groups) {
        return Err(DataError::EmptySplit {
            dataset: data.name.clone(),
            split: "test",
            detail: format!(
                "{} group(s); a group split needs one for test, one for training{}",
                groups.len(),
                if val_groups {
                    " and one for validation"
                } else {
                    ""
                }
            ),
        });
    }
    let n_test = ((groups.len() as f64 * test).round() as usize).clamp(1, groups.len() - 1);
    let test_groups: std::collections::BTreeSet<&str> =
        groups[..n_test].iter().map(String::as_str).collect();
    let (pool, test): (Vec<usize>, Vec<usize>) = all
        .into_iter()
        .partition(|&i| !test_groups.contains(data.groups[i].as_str()));
    let (train, val_part) = hold_out_val(data, pool, val, val_by, seed, 5)?;
    Ok(Splits {
        train,
        val: val_part,
        test,
    })
}

/// Group split with the test groups named (e.g. subjects held out by name): every sample of a
/// group in `test_groups` is a test sample; validation is drawn from the rest as `val_by` says.
/// A name that is not a group of the data is an error listing the groups.
pub fn named_groups(
    data: &Dataset,
    test_groups: &[String],
    val: f64,
    val_by: ValBy,
    seed: u64,
) -> Result<Splits, DataError> {
    need_groups(data)?;
    let all: Vec<usize> = (0..data.len()).collect();
    let known = groups_of(data, &all);
    for name in test_groups {
        if !known.contains(name) {
            let hint = match crate::manifest::suggest(name, &known).first() {
                Some(g) => format!(" (did you mean `{g}`?)"),
                None => String::new(),
            };
            return Err(DataError::UnknownGroup {
                dataset: data.name.clone(),
                group: name.clone(),
                hint,
                known: known.join(", "),
            });
        }
    }
    let chosen: std::collections::BTreeSet<&str> = test_groups.iter().map(String::as_str).collect();
    let (pool, test): (Vec<usize>, Vec<usize>) = all
        .into_iter()
        .partition(|&i| !chosen.contains(data.groups[i].as_str()));
    if pool.is_empty() {
        return Err(DataError::EmptySplit {
            dataset: data.name.clone(),
            split: "train",
            detail: format!(
                "dataset.split.test_groups names all {} groups; leave at least one for training",
                known.len()
            ),
        });
    }
    let (train, val_part) = hold_out_val(data, pool, val, val_by, seed, 7)?;
    Ok(Splits {
        train,
        val: val_part,
        test,
    })
}

/// Fold `fold` of `folds` as the test set. Stratified k-fold: per class the members are
/// shuffled with the `split` stream of `seed` and dealt round-robin to the folds, continuing
/// from class to class so fold sizes differ by at most one. Group k-fold (`groups`): the
/// distinct groups, shuffled, then ordered by size (largest first, stable), each go to the
/// fold with the fewest samples so far (lowest index on ties). Validation is drawn from the
/// other folds (by group or by row as `val_by` says).
pub fn k_fold(
    data: &Dataset,
    folds: usize,
    fold: usize,
    groups: bool,
    val: f64,
    val_by: ValBy,
    seed: u64,
) -> Result<Splits, DataError> {
    let mut rng = stream(seed, Stream::Split, 2);
    let mut assigned = vec![0usize; data.len()];
    if groups {
        need_groups(data)?;
        let all: Vec<usize> = (0..data.len()).collect();
        let mut names = groups_of(data, &all);
        if names.len() < folds {
            return Err(DataError::EmptySplit {
                dataset: data.name.clone(),
                split: "test",
                detail: format!("{} group(s) for {folds} folds", names.len()),
            });
        }
        names.shuffle(&mut rng);
        let size = |g: &str| data.groups.iter().filter(|x| x.as_str() == g).count();
        let mut sized: Vec<(usize, String)> = names.into_iter().map(|g| (size(&g), g)).collect();
        sized.sort_by_key(|g| std::cmp::Reverse(g.0));
        let mut load = vec![0usize; folds];
        let mut fold_of = std::collections::BTreeMap::new();
        for (n, g) in sized {
            let f = (0..folds).min_by_key(|&f| (load[f], f)).expect("folds ≥ 1");
            load[f] += n;
            fold_of.insert(g, f);
        }
        for (i, a) in assigned.iter_mut().enumerate() {
            *a = fold_of[&data.groups[i]];
        }
    } else {
        let mut next = 0;
        for class in 0..data.num_classes() {
            let mut members: Vec<usize> = (0..data.len())
                .filter(|&i| data.labels[i] == class)
                .collect();
            members.shuffle(&mut rng);
            for i in members {
                assigned[i] = next % folds;
                next += 1;
            }
        }
    }
    let (test, pool): (Vec<usize>, Vec<usize>) =
        (0..data.len()).partition(|&i| assigned[i] == fold);
    let (train, val_part) = hold_out_val(data, pool, val, val_by, seed, 3)?;
    if test.is_empty() || train.is_empty() {
        return Err(DataError::EmptySplit {
            dataset: data.name.clone(),
            split: if test.is_empty() { "test" } else { "train" },
            detail: format!("fold {fold} of {folds}, {} samples", data.len()),
        });
    }
    Ok(Splits {
        train,
        val: val_part,
        test,
    })
}

fn need_groups(data: &Dataset) -> Result<(), DataError> {
    if data.groups.is_empty() {
        return Err(DataError::Format {
            file: data.name.clone(),
            reason: "a group split needs a group per sample: name the group column in the manifest (`group = \"subject\"` on a CSV reader or in [labels])".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::Modality;

    fn toy(n: usize) -> Dataset {
        Dataset {
            name: "toy".into(),
            classes: vec!["a".into(), "b".into()],
            modalities: vec![Modality {
                name: "m".into(),
                width: 1,
                values: vec![0.0; n],
                media: None,
            }],
            labels: (0..n).map(|i| i % 2).collect(),
            groups: Vec::new(),
            fixed_train: None,
        }
    }

    #[test]
    fn stratified_split_partitions_and_keeps_class_proportions() {
        let d = toy(100);
        let s = stratified(&d, 0.2, 0.1, ValBy::Group, 3).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (70, 10, 20));
        let mut all: Vec<usize> = s
            .train
            .iter()
            .chain(&s.val)
            .chain(&s.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(s.test.iter().filter(|&&i| d.labels[i] == 0).count(), 10);
        assert_eq!(s, stratified(&d, 0.2, 0.1, ValBy::Group, 3).unwrap());
        assert_ne!(s, stratified(&d, 0.2, 0.1, ValBy::Group, 4).unwrap());
    }

    #[test]
    fn split_that_leaves_nothing_to_train_is_an_error() {
        let d = toy(2);
        let err = stratified(&d, 0.5, 0.49, ValBy::Group, 0).unwrap_err();
        assert!(
            matches!(err, DataError::EmptySplit { split: "train", .. }),
            "{err}"
        );
    }
}

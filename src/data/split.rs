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

/// Stratified split: within each class, shuffle with the `split` stream of `seed`, then take
/// `round(n_c · test)` for test, `round(n_c · val)` for val and the rest for training.
pub fn stratified(data: &Dataset, test: f64, val: f64, seed: u64) -> Result<Splits, DataError> {
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
/// recipe asks for them, are a stratified fraction `val` of the training rows drawn with the
/// `split` stream of `seed`.
pub fn fixed(data: &Dataset, n_train: usize, val: f64, seed: u64) -> Result<Splits, DataError> {
    let mut rng = stream(seed, Stream::Split, 1);
    let mut splits = Splits {
        train: vec![],
        val: vec![],
        test: (n_train..data.len()).collect(),
    };
    for class in 0..data.num_classes() {
        let mut members: Vec<usize> = (0..n_train).filter(|&i| data.labels[i] == class).collect();
        members.shuffle(&mut rng);
        let n_val = ((members.len() as f64 * val).round() as usize).min(members.len());
        splits.val.extend(&members[..n_val]);
        splits.train.extend(&members[n_val..]);
    }
    splits.train.sort_unstable();
    splits.val.sort_unstable();
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
        }
    }

    #[test]
    fn stratified_split_partitions_and_keeps_class_proportions() {
        let d = toy(100);
        let s = stratified(&d, 0.2, 0.1, 3).unwrap();
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
        assert_eq!(s, stratified(&d, 0.2, 0.1, 3).unwrap());
        assert_ne!(s, stratified(&d, 0.2, 0.1, 4).unwrap());
    }

    #[test]
    fn split_that_leaves_nothing_to_train_is_an_error() {
        let d = toy(2);
        let err = stratified(&d, 0.5, 0.49, 0).unwrap_err();
        assert!(
            matches!(err, DataError::EmptySplit { split: "train", .. }),
            "{err}"
        );
    }
}

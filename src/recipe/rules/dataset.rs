//! Rules of `[dataset]`: modalities known to the manifest and unique, split fractions, and
//! best-val selection needing a validation split.

use crate::data::split::ValBy;
use crate::kind_name::kind_name;
use crate::manifest::class_counts;
use crate::recipe::checker::Checker;
use crate::recipe::error::RecipeError;
use crate::recipe::file::*;

impl Checker<'_> {
    pub(in crate::recipe) fn check_dataset(
        &self,
        d: &mut DatasetSection,
        t: &TrainSection,
    ) -> Result<(), RecipeError> {
        if d.modalities.is_empty() {
            return Err(RecipeError::Empty {
                origin: self.o("dataset.modalities"),
                key: "dataset.modalities".into(),
            });
        }
        let known: Vec<&str> = self
            .manifest
            .modalities
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        for (i, m) in d.modalities.iter().enumerate() {
            if !known.contains(&m.as_str()) {
                return Err(RecipeError::UnknownModality {
                    origin: self.o("dataset.modalities"),
                    key: "dataset.modalities".into(),
                    got: m.clone(),
                    manifest: self.manifest.name.clone(),
                    known: known.join(", "),
                });
            }
            if d.modalities[..i].contains(m) {
                return Err(RecipeError::DuplicateModality {
                    origin: self.o("dataset.modalities"),
                    got: m.clone(),
                });
            }
        }
        let fixed = self.manifest.fixed_splits.is_some();
        let s = &mut d.split;
        match (fixed, s.kind) {
            (true, Some(SplitKind::Stratified | SplitKind::Group))
            | (false, Some(SplitKind::Fixed)) => {
                let kind = match s.kind {
                    Some(SplitKind::Group) => "group",
                    Some(SplitKind::Stratified) => "stratified",
                    _ => "fixed",
                };
                return Err(RecipeError::SplitKindForManifest {
                    origin: self.o("dataset.split.kind"),
                    kind,
                    manifest: self.manifest.name.clone(),
                    fixed,
                });
            }
            _ => {}
        }
        self.in_range("dataset.split.val", s.val, "[0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        if t.eval.select == EvalSelect::BestVal && s.val <= 0.0 {
            return Err(RecipeError::BestValWithoutVal {
                origin: self.o("train.eval.select"),
            });
        }
        let groups = self.manifest.has_groups();
        match s.val_by {
            Some(ValBy::Group) if !groups => {
                return Err(RecipeError::ValByGroupWithoutGroups {
                    origin: self.o("dataset.split.val_by"),
                    manifest: self.manifest.name.clone(),
                })
            }
            None if groups => s.val_by = Some(ValBy::Group),
            _ => {}
        }
        if let Some(names) = &s.test_groups {
            if names.is_empty() {
                return Err(RecipeError::Empty {
                    origin: self.o("dataset.split.test_groups"),
                    key: "dataset.split.test_groups".into(),
                });
            }
            let kind = s.kind.map(|k| kind_name(&k));
            let conflict = if kind.as_deref() != Some("group") {
                let default = if fixed { "fixed" } else { "stratified" };
                Some(("dataset.split.kind", kind.unwrap_or_else(|| default.into())))
            } else if let Some(k) = s.folds {
                Some(("dataset.split.folds", k.to_string()))
            } else {
                s.test.map(|f| ("dataset.split.test", f.to_string()))
            };
            if let Some((kind_key, kind)) = conflict {
                return Err(RecipeError::KeyNotForKind {
                    origin: self.o("dataset.split.test_groups"),
                    key: "dataset.split.test_groups".into(),
                    applies_to: "group splits (dataset.split.kind = \"group\") without folds or a test fraction: the named groups are the test set".into(),
                    kind_key,
                    kind,
                });
            }
            if !groups {
                return Err(RecipeError::GroupSplitWithoutGroups {
                    origin: self.o("dataset.split.kind"),
                    manifest: self.manifest.name.clone(),
                });
            }
            return Ok(());
        }
        if fixed {
            for (key, given) in [
                ("dataset.split.test", s.test.is_some()),
                ("dataset.split.folds", s.folds.is_some()),
                ("dataset.split.fold", s.fold.is_some()),
            ] {
                if given {
                    return Err(RecipeError::KeyNotForKind {
                        origin: self.o(key),
                        key: key.into(),
                        applies_to: "stratified and group splits (the manifest's fixed lists decide the test set)".into(),
                        kind_key: "dataset.split.kind",
                        kind: "fixed".into(),
                    });
                }
            }
            s.kind = Some(SplitKind::Fixed);
            return Ok(());
        }
        let kind = *s.kind.get_or_insert(SplitKind::Stratified);
        if kind == SplitKind::Group && !self.manifest.has_groups() {
            return Err(RecipeError::GroupSplitWithoutGroups {
                origin: self.o("dataset.split.kind"),
                manifest: self.manifest.name.clone(),
            });
        }
        if let Some(fold) = s.fold {
            if s.folds.is_none_or(|k| fold >= k) {
                return Err(RecipeError::BadFold {
                    origin: self.o("dataset.split.fold"),
                    fold,
                    folds: s.folds.map_or("not set".into(), |k| k.to_string()),
                });
            }
        }
        if let Some(folds) = s.folds {
            self.in_range("dataset.split.folds", folds as f64, "[2, ∞)", |v| {
                v >= 2.0
            })?;
            if s.test.is_some() {
                return Err(RecipeError::KeyNotForKind {
                    origin: self.o("dataset.split.test"),
                    key: "dataset.split.test".into(),
                    applies_to: "splits without folds (with k folds, one fold is the test set)"
                        .into(),
                    kind_key: "dataset.split.folds",
                    kind: folds.to_string(),
                });
            }
            return Ok(());
        }
        let test = *s.test.get_or_insert(DEFAULT_TEST_FRACTION);
        let s = &*s;
        self.in_range("dataset.split.test", test, "(0, 1)", |v| v > 0.0 && v < 1.0)?;
        if test + s.val >= 1.0 {
            return Err(RecipeError::SplitTooLarge {
                origin: self.o("dataset.split"),
                test,
                val: s.val,
            });
        }
        if kind == SplitKind::Stratified {
            if let Some(sizes) = self.manifest.class_sizes() {
                self.check_split_sizes(&sizes, test, s.val, t.batch_size)?;
            }
        }
        Ok(())
    }

    /// Every split keeps a sample of every class, and a batch fits in the training set.
    fn check_split_sizes(
        &self,
        sizes: &[usize],
        test: f64,
        val: f64,
        batch: usize,
    ) -> Result<(), RecipeError> {
        let mut train_total = 0;
        for &n in sizes {
            let (n_test, n_val, n_train) = class_counts(n, test, val);
            let which = if n_test == 0 {
                Some("test")
            } else if val > 0.0 && n_val == 0 {
                Some("validation")
            } else if n_train == 0 {
                Some("training")
            } else {
                None
            };
            if let Some(which) = which {
                return Err(RecipeError::SplitEmptiesClass {
                    origin: self.o("dataset.split"),
                    test,
                    val,
                    class_size: n,
                    which,
                });
            }
            train_total += n_train;
        }
        if batch > train_total {
            return Err(RecipeError::BatchLargerThanTrainingSet {
                origin: self.o("train.batch_size"),
                batch,
                train: train_total,
            });
        }
        Ok(())
    }
}

//! The data concern's rules: `[dataset]` as written ([`DatasetSection`]) checked against the
//! manifest it names and resolved into the typed [`Split`] — modalities known and unique, a
//! split kind the manifest allows, fractions in range, groups where a rule needs them, folds,
//! every class kept in every part and a batch that fits the training set. Problems are
//! [`ConfigProblem`]s with keys relative to `[dataset]`; `recipe/` reports them.

use super::config::{DatasetSection, SplitKind, SplitSection, DEFAULT_TEST_FRACTION};
use super::split::ValBy;
use super::split_settings::{Split, SplitPlan};
use crate::config_problem::ConfigProblem;
use crate::kind_name::kind_name;
use crate::manifest::{class_counts, Manifest};

/// What the data rules read beyond `[dataset]`.
pub struct DataContext<'a> {
    /// The manifest the recipe names.
    pub manifest: &'a Manifest,
    /// Whether `train.eval.select = "best-val"` (which needs a validation split).
    pub best_val: bool,
    /// `train.batch_size`.
    pub batch_size: usize,
}

impl DatasetSection {
    /// The section's rules, defaults written back; the typed split.
    pub fn resolve(&mut self, cx: &DataContext) -> Result<Split, ConfigProblem> {
        if self.modalities.is_empty() {
            return Err(ConfigProblem::Empty {
                key: "modalities".into(),
            });
        }
        let known: Vec<&str> = (cx.manifest.modalities.iter())
            .map(|m| m.name.as_str())
            .collect();
        for (i, m) in self.modalities.iter().enumerate() {
            if !known.contains(&m.as_str()) {
                return Err(ConfigProblem::UnknownModality {
                    key: "modalities".into(),
                    got: m.clone(),
                    known: known.join(", "),
                });
            }
            if self.modalities[..i].contains(m) {
                return Err(ConfigProblem::DuplicateModality {
                    key: "modalities".into(),
                    got: m.clone(),
                });
            }
        }
        self.split.resolve(cx).map_err(|p| p.inside("split"))
    }
}

impl SplitSection {
    /// `dataset.split`'s rules against the manifest, defaults written back.
    fn resolve(&mut self, cx: &DataContext) -> Result<Split, ConfigProblem> {
        let fixed = cx.manifest.fixed_splits.is_some();
        let groups = cx.manifest.has_groups();
        match (fixed, self.kind) {
            (true, Some(SplitKind::Stratified | SplitKind::Group))
            | (false, Some(SplitKind::Fixed)) => {
                let kind = match self.kind {
                    Some(SplitKind::Group) => "group",
                    Some(SplitKind::Stratified) => "stratified",
                    _ => "fixed",
                };
                return Err(ConfigProblem::SplitKindForManifest { kind, fixed });
            }
            _ => {}
        }
        ConfigProblem::in_range("val", self.val, "[0, 1)", |v| (0.0..1.0).contains(&v))?;
        if cx.best_val && self.val <= 0.0 {
            return Err(ConfigProblem::BestValWithoutVal);
        }
        match self.val_by {
            Some(ValBy::Group) if !groups => return Err(ConfigProblem::ValByGroupWithoutGroups),
            None if groups => self.val_by = Some(ValBy::Group),
            _ => {}
        }
        let plan = self.resolve_plan(cx, fixed, groups)?;
        Ok(Split {
            plan,
            val: self.val,
            // Without groups, validation is drawn by row whatever this says.
            val_by: self.val_by.unwrap_or(ValBy::Group),
            seed: self.seed,
        })
    }

    /// How the test set is chosen: named groups, the fixed lists, folds or a fraction.
    fn resolve_plan(
        &mut self,
        cx: &DataContext,
        fixed: bool,
        groups: bool,
    ) -> Result<SplitPlan, ConfigProblem> {
        if let Some(names) = &self.test_groups {
            return self.named_groups(names.clone(), fixed, groups);
        }
        if fixed {
            for (key, given) in [
                ("test", self.test.is_some()),
                ("folds", self.folds.is_some()),
                ("fold", self.fold.is_some()),
            ] {
                if given {
                    return Err(ConfigProblem::KeyNotForKind {
                        key: key.into(),
                        applies_to: "stratified and group splits (the manifest's fixed lists decide the test set)",
                        kind_key: "dataset.split.kind",
                        kind: "fixed".into(),
                    });
                }
            }
            self.kind = Some(SplitKind::Fixed);
            return Ok(SplitPlan::Fixed);
        }
        let kind = *self.kind.get_or_insert(SplitKind::Stratified);
        if kind == SplitKind::Group && !groups {
            return Err(ConfigProblem::GroupSplitWithoutGroups);
        }
        if let Some(fold) = self.fold {
            if self.folds.is_none_or(|k| fold >= k) {
                return Err(ConfigProblem::BadFold {
                    fold,
                    folds: self.folds.map_or("not set".into(), |k| k.to_string()),
                });
            }
        }
        if let Some(folds) = self.folds {
            ConfigProblem::in_range("folds", folds as f64, "[2, ∞)", |v| v >= 2.0)?;
            if self.test.is_some() {
                return Err(ConfigProblem::KeyNotForKind {
                    key: "test".into(),
                    applies_to: "splits without folds (with k folds, one fold is the test set)",
                    kind_key: "dataset.split.folds",
                    kind: folds.to_string(),
                });
            }
            return Ok(SplitPlan::Folds {
                folds,
                fold: self.fold,
                groups: kind == SplitKind::Group,
            });
        }
        let test = *self.test.get_or_insert(DEFAULT_TEST_FRACTION);
        ConfigProblem::in_range("test", test, "(0, 1)", |v| v > 0.0 && v < 1.0)?;
        if test + self.val >= 1.0 {
            return Err(ConfigProblem::SplitTooLarge {
                test,
                val: self.val,
            });
        }
        if kind == SplitKind::Stratified {
            if let Some(sizes) = cx.manifest.class_sizes() {
                sizes_fit(&sizes, test, self.val, cx.batch_size)?;
            }
        }
        Ok(match kind {
            SplitKind::Group => SplitPlan::Groups { test },
            _ => SplitPlan::Stratified { test },
        })
    }

    /// `test_groups`: a group split without folds or a test fraction, on data with groups.
    fn named_groups(
        &self,
        names: Vec<String>,
        fixed: bool,
        groups: bool,
    ) -> Result<SplitPlan, ConfigProblem> {
        if names.is_empty() {
            return Err(ConfigProblem::Empty {
                key: "test_groups".into(),
            });
        }
        let kind = self.kind.map(|k| kind_name(&k));
        let conflict = if kind.as_deref() != Some("group") {
            let default = if fixed { "fixed" } else { "stratified" };
            Some(("dataset.split.kind", kind.unwrap_or_else(|| default.into())))
        } else if let Some(k) = self.folds {
            Some(("dataset.split.folds", k.to_string()))
        } else {
            self.test.map(|f| ("dataset.split.test", f.to_string()))
        };
        if let Some((kind_key, kind)) = conflict {
            return Err(ConfigProblem::KeyNotForKind {
                key: "test_groups".into(),
                applies_to: "group splits (dataset.split.kind = \"group\") without folds or a test fraction: the named groups are the test set",
                kind_key,
                kind,
            });
        }
        if !groups {
            return Err(ConfigProblem::GroupSplitWithoutGroups);
        }
        Ok(SplitPlan::NamedGroups { names })
    }
}

/// Every split part keeps a sample of every class (classes of `sizes` samples), and a batch
/// fits in the training set.
fn sizes_fit(sizes: &[usize], test: f64, val: f64, batch: usize) -> Result<(), ConfigProblem> {
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
            return Err(ConfigProblem::SplitEmptiesClass {
                test,
                val,
                class_size: n,
                which,
            });
        }
        train_total += n_train;
    }
    if batch > train_total {
        return Err(ConfigProblem::BatchLargerThanTrainingSet {
            batch,
            train: train_total,
        });
    }
    Ok(())
}

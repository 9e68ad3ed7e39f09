//! The split a run uses, resolved ([`Split`]): which plan (the manifest's fixed lists, a
//! stratified or group split, named test groups, or k folds) with every default applied, so
//! the splitter reads no option a recipe may leave out. Validation builds it from
//! `dataset.split` ([`super::resolve`]).

use super::split::ValBy;

/// A resolved split.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Which samples are held out for test.
    pub plan: SplitPlan,
    /// Fraction of the training part held out for validation.
    pub val: f64,
    /// How validation is drawn (by group only when the data has groups).
    pub val_by: ValBy,
    /// Seed of the `split` stream.
    pub seed: u64,
}

/// How the test set is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitPlan {
    /// The manifest's fixed train/test lists.
    Fixed,
    /// Per class, a `test` fraction.
    Stratified {
        /// Fraction of each class held out for test.
        test: f64,
    },
    /// Whole groups, a `test` fraction of them.
    Groups {
        /// Fraction of the groups held out for test.
        test: f64,
    },
    /// The named groups are the test set.
    NamedGroups {
        /// The test groups, as written in the group column.
        names: Vec<String>,
    },
    /// k-fold cross-validation: fold `fold` is the test set (`None`: every fold is run, one
    /// recipe per fold — a single run needs one).
    Folds {
        /// k ≥ 2.
        folds: usize,
        /// The test fold, when chosen.
        fold: Option<usize>,
        /// Whole groups per fold (group kind) rather than stratified rows.
        groups: bool,
    },
}

impl Split {
    /// The split a recipe gets that sets only `test`, `val` and `seed`: the fixed lists when
    /// the data has them (`fixed`), else stratified by class; validation by group where the
    /// data has groups.
    pub fn plain(fixed: bool, test: f64, val: f64, seed: u64) -> Split {
        Split {
            plan: match fixed {
                true => SplitPlan::Fixed,
                false => SplitPlan::Stratified { test },
            },
            val,
            val_by: ValBy::Group,
            seed,
        }
    }

    /// The same split with fold `fold` as the test set (a k-fold split), else unchanged.
    pub fn with_fold(&self, fold: Option<usize>) -> Split {
        let mut s = self.clone();
        if let SplitPlan::Folds { fold: f, .. } = &mut s.plan {
            *f = fold;
        }
        s
    }
}

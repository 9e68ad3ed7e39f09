//! Promises the split code makes in its doc comments (src/data/split.rs), asserted on data
//! where breaking them changes the answer (issue 25: the mutation pass had not been over
//! src/data). Each test names its promise; the expected values are worked out by hand in the
//! comments from the rule, not read off the code.

use balmix::data::split::{by_group, k_fold, stratified, ValBy};
use balmix::data::{Dataset, Modality};
use std::collections::BTreeSet;

/// A dataset of `labels.len()` rows (one feature each) with these labels and groups.
fn data(labels: Vec<usize>, groups: Vec<String>) -> Dataset {
    let n = labels.len();
    let classes = labels.iter().max().map_or(1, |m| m + 1);
    Dataset {
        name: "promises".into(),
        classes: (0..classes).map(|c| format!("c{c}")).collect(),
        modalities: vec![Modality::in_memory("m".into(), 1, vec![0.0; n])],
        labels,
        groups,
        fixed_train: None,
    }
}

/// Classes of 7, 5 and 4 samples (16 in all), no groups.
fn uneven_classes() -> Dataset {
    let labels = [vec![0; 7], vec![1; 5], vec![2; 4]].concat();
    data(labels, Vec::new())
}

/// Stratified k-fold deals each class round-robin *continuing from class to class*: 16
/// samples in 3 folds are 6, 5, 5. Restarting at fold 0 for every class would give 7, 5, 4
/// (3+2+2, 2+2+1, 2+1+1).
#[test]
fn stratified_k_fold_sizes_differ_by_at_most_one_across_uneven_classes() {
    let d = uneven_classes();
    let mut sizes: Vec<usize> = (0..3)
        .map(|f| {
            k_fold(&d, 3, f, false, 0.0, ValBy::Row, 0)
                .unwrap()
                .test
                .len()
        })
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [5, 5, 6]);
    for class in 0..3 {
        let counts: Vec<usize> = (0..3)
            .map(|f| {
                let s = k_fold(&d, 3, f, false, 0.0, ValBy::Row, 0).unwrap();
                s.test.iter().filter(|&&i| d.labels[i] == class).count()
            })
            .collect();
        let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(hi - lo <= 1, "class {class}: {counts:?}");
    }
}

/// Group k-fold deals the groups *largest first* to the fold with the fewest samples: groups
/// of 6, 1, 1, 1, 1 samples in 2 folds give 6 | 4 (the 6 first, then every 1 to the lighter
/// fold). In shuffled order the 6 could come last, onto 2 | 2, giving 8 | 2.
#[test]
fn group_k_fold_deals_the_largest_group_first_to_the_lightest_fold() {
    let mut groups = vec!["big".to_string(); 6];
    groups.extend(["a", "b", "c", "d"].map(String::from));
    let d = data(vec![0; 10], groups);
    for seed in 0..8 {
        let folds: Vec<_> = (0..2)
            .map(|f| k_fold(&d, 2, f, true, 0.0, ValBy::Row, seed).unwrap())
            .collect();
        let mut sizes: Vec<usize> = folds.iter().map(|s| s.test.len()).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, [4, 6], "seed {seed}");
        // Ties go to the lowest fold index: the first (largest) group lands in fold 0.
        assert_eq!(folds[0].test, (0..6).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// A group split holds out `round(G · test)` groups, at least one and leaving one: 5 groups at
/// test 0.5 is round(2.5) = 3 (Rust rounds half away from zero); at test 0.01 still 1.
#[test]
fn group_split_tests_round_g_times_test_groups_at_least_one() {
    let groups: Vec<String> = (0..10).map(|i| format!("g{}", i / 2)).collect();
    let d = data((0..10).map(|i| i % 2).collect(), groups);
    let tested = |test: f64| {
        let s = by_group(&d, test, 0.0, ValBy::Row, 0).unwrap();
        s.test
            .iter()
            .map(|&i| d.groups[i].clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert_eq!(tested(0.5), 3);
    assert_eq!(tested(0.01), 1);
    assert_eq!(tested(0.99), 4, "one group is left for training");
}

/// Validation by group never shares a group with training; by row (ValBy::Row) it draws per
/// class whatever the group, so on this data (every group holds both classes) it does share.
#[test]
fn validation_by_group_never_shares_a_group_and_by_row_does() {
    let groups: Vec<String> = (0..40).map(|i| format!("g{}", i / 4)).collect();
    let d = data((0..40).map(|i| i % 2).collect(), groups);
    let shared = |by: ValBy| {
        let s = stratified(&d, 0.2, 0.25, by, 0).unwrap();
        let train: BTreeSet<&str> = s.train.iter().map(|&i| d.groups[i].as_str()).collect();
        assert!(!s.val.is_empty());
        s.val.iter().any(|&i| train.contains(d.groups[i].as_str()))
    };
    assert!(!shared(ValBy::Group));
    assert!(shared(ValBy::Row));
}

/// Stratified split: `round(n_c · test)` of each class for test, `round(n_c · val)` for
/// validation: classes of 7, 5, 4 at test 0.25, val 0.2 give test 2+1+1 = 4 (round(1.75),
/// round(1.25), round(1.0)) and val 1+1+1 = 3 (round(1.4), round(1.0), round(0.8)).
#[test]
fn stratified_split_takes_rounded_fractions_of_each_class() {
    let d = uneven_classes();
    let s = stratified(&d, 0.25, 0.2, ValBy::Row, 0).unwrap();
    let count = |idx: &[usize], c: usize| idx.iter().filter(|&&i| d.labels[i] == c).count();
    let test: Vec<usize> = (0..3).map(|c| count(&s.test, c)).collect();
    let val: Vec<usize> = (0..3).map(|c| count(&s.val, c)).collect();
    assert_eq!(test, [2, 1, 1]);
    assert_eq!(val, [1, 1, 1]);
    assert_eq!(s.train.len(), 16 - 4 - 3);
}

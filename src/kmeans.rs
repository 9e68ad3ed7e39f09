//! Deterministic k-means and cluster purity, as Diagnosing & Re-learning scores a modality's
//! features (Wei et al., ECCV 2024: each split's features min-max scaled to [−1, 1], clustered
//! into C clusters, and the clusters' majority-label accuracy taken as the purity).
//!
//! The steps follow scikit-learn's `MinMaxScaler(feature_range=(-1, 1))` and `KMeans` with its
//! defaults (greedy k-means++ seeding with 2 + ⌊ln k⌋ candidates per centre, Lloyd iterations,
//! at most 300, stopping when the labels stop changing or the squared centre shift falls to
//! `1e-4 ×` the features' mean variance, empty clusters moved to the points farthest from their
//! centres, a final assignment when stopped by the shift, the restart with the least inertia):
//! the same data and the same initial centres give the same partition. The seeding draws from a
//! caller's random stream, not NumPy's, so the initial centres themselves are balmix's own; the
//! number of restarts is explicit (scikit-learn's default changed from 10 to 1 in 1.4).
//! Arithmetic is f64; ties go to the lowest index.

use rand::Rng;

/// Settings of [`kmeans`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansSettings {
    /// Number of clusters k (≥ 1).
    pub clusters: usize,
    /// Seedings tried; the one with the least inertia wins (scikit-learn's `n_init`).
    pub restarts: usize,
    /// Most Lloyd iterations per seeding (scikit-learn: 300).
    pub max_iter: usize,
    /// Relative tolerance on the squared centre shift (scikit-learn: 1e-4).
    pub tol: f64,
}

impl KMeansSettings {
    /// scikit-learn's defaults with `clusters` clusters and `restarts` seedings.
    pub fn new(clusters: usize, restarts: usize) -> KMeansSettings {
        KMeansSettings {
            clusters,
            restarts,
            max_iter: 300,
            tol: 1e-4,
        }
    }
}

/// A clustering: each point's cluster, the centres (`k × d`, row-major) and the inertia (sum of
/// squared distances of the points to their centres).
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// Cluster of each point.
    pub labels: Vec<usize>,
    /// Centres, row-major.
    pub centres: Vec<f64>,
    /// Sum of squared distances to the assigned centres.
    pub inertia: f64,
    /// Lloyd iterations of the winning seeding.
    pub iterations: usize,
}

/// Each column of the `n × d` row-major `x` scaled to `[lo, hi]` by its own minimum and maximum
/// over the rows (scikit-learn's `MinMaxScaler`: `x·s + (lo − min·s)` with `s = (hi − lo) /
/// (max − min)`, a constant column taking range 1, so it lands on `lo`).
pub fn min_max_scale(x: &[f64], d: usize, lo: f64, hi: f64) -> Vec<f64> {
    assert!(d > 0 && x.len().is_multiple_of(d), "an n × {d} matrix");
    let mut min = vec![f64::INFINITY; d];
    let mut max = vec![f64::NEG_INFINITY; d];
    for row in x.chunks(d) {
        for (j, &v) in row.iter().enumerate() {
            min[j] = min[j].min(v);
            max[j] = max[j].max(v);
        }
    }
    let scale: Vec<f64> = (0..d)
        .map(|j| {
            let range = max[j] - min[j];
            (hi - lo) / if range == 0.0 { 1.0 } else { range }
        })
        .collect();
    x.chunks(d)
        .flat_map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, &v)| v * scale[j] + (lo - min[j] * scale[j]))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Purity of a clustering: every cluster votes for its most frequent label (ties: the
/// smallest), and the purity is the fraction of points whose label is their cluster's vote.
pub fn purity(labels: &[usize], clusters: &[usize]) -> f64 {
    assert_eq!(labels.len(), clusters.len(), "one cluster per label");
    if labels.is_empty() {
        return 0.0;
    }
    let mut counts: std::collections::BTreeMap<usize, std::collections::BTreeMap<usize, usize>> =
        Default::default();
    for (&l, &c) in labels.iter().zip(clusters) {
        *counts.entry(c).or_default().entry(l).or_default() += 1;
    }
    let agree: usize = counts
        .values()
        .map(|by_label| by_label.values().copied().max().unwrap_or(0))
        .sum();
    agree as f64 / labels.len() as f64
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index and squared distance of the centre nearest to `p` (ties: the lowest index).
fn nearest(p: &[f64], centres: &[f64], d: usize) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (c, centre) in centres.chunks(d).enumerate() {
        let v = dist2(p, centre);
        if v < best.1 {
            best = (c, v);
        }
    }
    best
}

/// Greedy k-means++ seeding (scikit-learn's `_kmeans_plusplus`): the first centre uniformly,
/// then for each further centre 2 + ⌊ln k⌋ candidates drawn with probability proportional to
/// the squared distance to the nearest chosen centre, keeping the candidate that leaves the
/// least total.
pub fn plus_plus(x: &[f64], d: usize, k: usize, rng: &mut impl Rng) -> Vec<f64> {
    let n = x.len() / d;
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let trials = 2 + (k as f64).ln() as usize;
    let first = rng.gen_range(0..n);
    let mut centres = row(first).to_vec();
    let mut closest: Vec<f64> = (0..n).map(|i| dist2(row(i), row(first))).collect();
    let mut pot: f64 = closest.iter().sum();
    for _ in 1..k {
        let cumulative: Vec<f64> = closest
            .iter()
            .scan(0.0, |s, &v| {
                *s += v;
                Some(*s)
            })
            .collect();
        let mut best: Option<(usize, f64, Vec<f64>)> = None;
        for _ in 0..trials {
            let r = rng.gen::<f64>() * pot;
            // searchsorted, side left: the first index whose cumulative sum reaches r
            let id = cumulative.partition_point(|&c| c < r).min(n - 1);
            let candidate: Vec<f64> = (0..n)
                .map(|i| closest[i].min(dist2(row(i), row(id))))
                .collect();
            let total: f64 = candidate.iter().sum();
            if best.as_ref().is_none_or(|b| total < b.1) {
                best = Some((id, total, candidate));
            }
        }
        let (id, total, candidate) = best.expect("at least two trials");
        centres.extend_from_slice(row(id));
        closest = candidate;
        pot = total;
    }
    centres
}

/// Lloyd iterations from `centres` (`k × d`), as scikit-learn's `_kmeans_single_lloyd` runs them.
pub fn lloyd(x: &[f64], d: usize, mut centres: Vec<f64>, s: &KMeansSettings) -> Clustering {
    let n = x.len() / d;
    let k = centres.len() / d;
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let tol = s.tol * mean_variance(x, d);
    let mut labels = vec![usize::MAX; n];
    let mut strict = false;
    let mut iterations = 0;
    for _ in 0..s.max_iter {
        iterations += 1;
        let assigned: Vec<(usize, f64)> = (0..n).map(|i| nearest(row(i), &centres, d)).collect();
        let new_labels: Vec<usize> = assigned.iter().map(|a| a.0).collect();
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0usize; k];
        for (i, &c) in new_labels.iter().enumerate() {
            counts[c] += 1;
            for (s, v) in sums[c * d..(c + 1) * d].iter_mut().zip(row(i)) {
                *s += v;
            }
        }
        relocate_empty(x, d, &assigned, &mut sums, &mut counts);
        let mut new_centres = centres.clone();
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    new_centres[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            }
        }
        let shift: f64 = dist2(&new_centres, &centres);
        centres = new_centres;
        if new_labels == labels {
            strict = true;
            break;
        }
        labels = new_labels;
        if shift <= tol {
            break;
        }
    }
    if !strict {
        labels = (0..n).map(|i| nearest(row(i), &centres, d).0).collect();
    }
    let inertia = (0..n)
        .map(|i| dist2(row(i), &centres[labels[i] * d..(labels[i] + 1) * d]))
        .sum();
    Clustering {
        labels,
        centres,
        inertia,
        iterations,
    }
}

/// scikit-learn's `_relocate_empty_clusters_dense`: each empty cluster takes one of the points
/// farthest from their centres (the farthest to the first empty cluster), which leaves its old
/// cluster.
fn relocate_empty(
    x: &[f64],
    d: usize,
    assigned: &[(usize, f64)],
    sums: &mut [f64],
    counts: &mut [usize],
) {
    let empty: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] == 0).collect();
    if empty.is_empty() {
        return;
    }
    let mut far: Vec<usize> = (0..assigned.len()).collect();
    far.sort_by(|&a, &b| assigned[b].1.total_cmp(&assigned[a].1).then(a.cmp(&b)));
    for (&c, &i) in empty.iter().zip(&far) {
        let old = assigned[i].0;
        let p = &x[i * d..(i + 1) * d];
        for j in 0..d {
            sums[old * d + j] -= p[j];
            sums[c * d + j] = p[j];
        }
        counts[old] -= 1;
        counts[c] = 1;
    }
}

/// Mean over the columns of each column's population variance.
fn mean_variance(x: &[f64], d: usize) -> f64 {
    let n = (x.len() / d) as f64;
    (0..d)
        .map(|j| {
            let mean = x.iter().skip(j).step_by(d).sum::<f64>() / n;
            x.iter()
                .skip(j)
                .step_by(d)
                .map(|v| (v - mean) * (v - mean))
                .sum::<f64>()
                / n
        })
        .sum::<f64>()
        / d as f64
}

/// k-means of the `n × d` row-major `x`: `s.restarts` k-means++ seedings from `rng`, each run by
/// [`lloyd`]; the first with the least inertia wins. Needs at least `s.clusters` points.
pub fn kmeans(x: &[f64], d: usize, s: &KMeansSettings, rng: &mut impl Rng) -> Clustering {
    assert!(d > 0 && x.len().is_multiple_of(d), "an n × {d} matrix");
    assert!(s.clusters >= 1 && s.restarts >= 1, "k ≥ 1 and a seeding");
    assert!(
        x.len() / d >= s.clusters,
        "{} points for {} clusters",
        x.len() / d,
        s.clusters
    );
    let mut best: Option<Clustering> = None;
    for _ in 0..s.restarts {
        let centres = plus_plus(x, d, s.clusters, rng);
        let c = lloyd(x, d, centres, s);
        if best.as_ref().is_none_or(|b| c.inertia < b.inertia) {
            best = Some(c);
        }
    }
    best.expect("one seeding")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn min_max_scaling_maps_each_column_onto_the_range_and_a_constant_column_onto_its_low_end() {
        let x = [0.0, 5.0, 2.0, 5.0, 4.0, 5.0];
        let y = min_max_scale(&x, 2, -1.0, 1.0);
        assert_eq!(y, vec![-1.0, -1.0, 0.0, -1.0, 1.0, -1.0]);
    }

    #[test]
    fn purity_is_the_majority_vote_accuracy() {
        // cluster 0: labels 1, 1, 2 -> 2 agree; cluster 5: labels 0, 2 -> tie, 1 agrees
        assert_eq!(purity(&[1, 1, 2, 0, 2], &[0, 0, 0, 5, 5]), 3.0 / 5.0);
        assert_eq!(purity(&[0, 1, 2], &[7, 8, 9]), 1.0);
    }

    #[test]
    fn separated_blobs_come_back_whole_from_any_seed() {
        let mut x = Vec::new();
        for c in 0..3 {
            for i in 0..10 {
                x.push(10.0 * c as f64 + 0.1 * i as f64);
                x.push(-5.0 * c as f64 + 0.05 * (i % 3) as f64);
            }
        }
        for seed in 0..5 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let c = kmeans(&x, 2, &KMeansSettings::new(3, 1), &mut rng);
            let truth: Vec<usize> = (0..30).map(|i| i / 10).collect();
            assert_eq!(purity(&truth, &c.labels), 1.0, "seed {seed}");
        }
    }
}

//! Training-time input augmentation (docs/methods.md §8): modality dropout — each sample's
//! modality is replaced by zero input with probability p, never every modality of a sample —
//! and additive Gaussian input noise relative to each feature's training std. Draws come from
//! the `dropout` stream at the global step, in batch order, so a resumed run draws the same.

use crate::rng::{stream, Stream};
use rand::Rng;
use rand_distr::StandardNormal;

/// The recipe's augmentation with the training statistics it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    /// Per-sample, per-modality probability of zeroing the modality's input.
    pub dropout: f64,
    /// σ of additive input noise in units of each feature's training std.
    pub noise: f64,
    /// Training std per modality and feature (for the noise).
    pub std: Vec<Vec<f32>>,
}

impl Augment {
    /// Whether the augmentation changes anything.
    pub fn is_active(&self) -> bool {
        self.dropout > 0.0 || self.noise > 0.0
    }

    /// Augment the host rows of a batch of `n` samples (one `n × width` vector per modality)
    /// at global step `step`. Returns, per sample, which modalities were dropped.
    pub fn apply(&self, rows: &mut [Vec<f32>], n: usize, seed: u64, step: u64) -> Vec<Vec<bool>> {
        let m_count = rows.len();
        if !self.is_active() {
            return vec![vec![false; m_count]; n];
        }
        let mut rng = stream(seed, Stream::Dropout, step);
        let dropped = self.draw_dropped(&mut rng, n, m_count);
        if self.dropout > 0.0 {
            for (m, r) in rows.iter_mut().enumerate() {
                let width = r.len() / n.max(1);
                for (i, d) in dropped.iter().enumerate() {
                    if d[m] {
                        r[i * width..(i + 1) * width].fill(0.0);
                    }
                }
            }
        }
        if self.noise > 0.0 {
            for (m, r) in rows.iter_mut().enumerate() {
                let width = r.len() / n.max(1);
                for (i, row) in r.chunks_mut(width.max(1)).enumerate() {
                    if dropped[i][m] {
                        continue;
                    }
                    for (v, &s) in row.iter_mut().zip(&self.std[m]) {
                        let z: f64 = rng.sample(StandardNormal);
                        *v += (self.noise * s as f64 * z) as f32;
                    }
                }
            }
        }
        dropped
    }

    /// Which modalities of each of `n` samples [`Augment::apply`] drops at step `step` (the
    /// same draws, without touching any input).
    pub fn dropped(&self, n: usize, m_count: usize, seed: u64, step: u64) -> Vec<Vec<bool>> {
        if !self.is_active() {
            return vec![vec![false; m_count]; n];
        }
        self.draw_dropped(&mut stream(seed, Stream::Dropout, step), n, m_count)
    }

    /// The dropout draws, first in the step's `dropout` stream: per sample, per modality, then
    /// (if all were drawn) the one that stays.
    fn draw_dropped(&self, rng: &mut impl Rng, n: usize, m_count: usize) -> Vec<Vec<bool>> {
        let mut dropped = vec![vec![false; m_count]; n];
        if self.dropout <= 0.0 {
            return dropped;
        }
        for d in dropped.iter_mut() {
            for slot in d.iter_mut() {
                *slot = rng.gen::<f64>() < self.dropout;
            }
            if d.iter().all(|&x| x) {
                // Never every modality: one, drawn uniformly, stays.
                let keep = rng.gen_range(0..m_count);
                d[keep] = false;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<Vec<f32>> {
        vec![vec![1.0; n * 3], vec![2.0; n * 2], vec![3.0; n]]
    }

    #[test]
    fn modality_dropout_never_drops_every_modality_of_a_sample_and_zeroes_whole_rows() {
        let a = Augment {
            dropout: 0.9,
            noise: 0.0,
            std: vec![],
        };
        let n = 500;
        let mut total = 0;
        for step in 0..4 {
            let mut r = rows(n);
            let dropped = a.apply(&mut r, n, 1, step);
            for (i, d) in dropped.iter().enumerate() {
                assert!(
                    d.iter().any(|&x| !x),
                    "sample {i} of step {step} kept nothing"
                );
                for (m, width) in [3usize, 2, 1].into_iter().enumerate() {
                    let row = &r[m][i * width..(i + 1) * width];
                    let want = if d[m] { 0.0 } else { (m + 1) as f32 };
                    assert!(row.iter().all(|&v| v == want));
                }
                total += d.iter().filter(|&&x| x).count();
            }
        }
        // With p = 0.9 and the all-dropped rule, each sample loses 2 of 3 most of the time:
        // E = 3·0.9 − P(all three)·1 = 2.7 − 0.729 = 1.971 per sample.
        let mean = total as f64 / (4 * n) as f64;
        assert!((mean - 1.971).abs() < 0.06, "mean dropped {mean}");
    }

    /// Input noise σ adds N(0, (σ · std_j)²) to feature j of every kept row. For 4,000 rows the
    /// sample std's relative standard error is ≈ 1.1 %, so 5 % is 4.5 SE.
    #[test]
    fn input_noise_has_std_sigma_times_the_training_std_per_feature() {
        let n = 4000;
        let a = Augment {
            dropout: 0.0,
            noise: 0.7,
            std: vec![vec![0.5, 2.0]],
        };
        let mut r = vec![vec![0f32; n * 2]];
        a.apply(&mut r, n, 5, 3);
        for (j, s) in [0.5f64, 2.0].into_iter().enumerate() {
            let col: Vec<f64> = r[0].chunks(2).map(|row| row[j] as f64).collect();
            let mean = col.iter().sum::<f64>() / n as f64;
            let std = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
            let want = 0.7 * s;
            assert!(
                (std / want - 1.0).abs() < 0.05,
                "feature {j}: std {std} vs {want}"
            );
            assert!(mean.abs() < 0.07 * want, "feature {j}: mean {mean}");
        }
    }

    #[test]
    fn no_augmentation_changes_nothing_and_the_draws_repeat_for_a_step() {
        let none = Augment {
            dropout: 0.0,
            noise: 0.0,
            std: vec![],
        };
        let mut r = rows(8);
        none.apply(&mut r, 8, 0, 0);
        assert_eq!(r, rows(8));
        let a = Augment {
            dropout: 0.3,
            noise: 0.5,
            std: vec![vec![1.0; 3], vec![2.0; 2], vec![0.5]],
        };
        let (mut x, mut y) = (rows(8), rows(8));
        assert_eq!(a.apply(&mut x, 8, 4, 9), a.apply(&mut y, 8, 4, 9));
        assert_eq!(x, y);
        let mut z = rows(8);
        a.apply(&mut z, 8, 4, 10);
        assert_ne!(x, z, "another step draws again");
        for step in 0..20 {
            assert_eq!(
                a.dropped(8, 3, 4, step),
                a.apply(&mut rows(8), 8, 4, step),
                "the mask alone draws what apply drops (step {step})"
            );
        }
    }
}

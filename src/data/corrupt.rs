//! Test-time corruptions of one modality's rows (docs/methods.md §8): missing (zero or
//! training-mean input), additive Gaussian noise relative to each feature's training std,
//! occlusion and blur of images. They act on the rows the model sees (after standardisation,
//! when the recipe standardises).
//!
//! The random draws of a sample come from the `corruption` stream at an index made of the
//! sample's position in the dataset, the kind and the modality — never the run's seed, the
//! method, the severity or the evaluation order — so every method and seed sees the same
//! corruption of a sample, and a higher severity corrupts the same samples and more (missing:
//! a sample is missing at probability p when its uniform draw is below p; noise: the same
//! standard normal draws scaled by σ).

use super::config::CorruptionKind;
use super::error::MediaReadError;
use super::Dataset;
use crate::rng::{stream, Stream};
use rand::Rng;
use rand_distr::StandardNormal;

/// Per-feature mean and standard deviation (Bessel-corrected) of each modality over the
/// training rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainStats {
    /// Means, one vector per modality.
    pub mean: Vec<Vec<f32>>,
    /// Standard deviations, one vector per modality.
    pub std: Vec<Vec<f32>>,
}

impl TrainStats {
    /// The statistics of `data` over the rows `train`.
    pub fn of(data: &Dataset, train: &[usize]) -> Result<TrainStats, MediaReadError> {
        let n = train.len().max(1) as f64;
        let mut mean = Vec::new();
        let mut std = Vec::new();
        for m in &data.modalities {
            let mut sum = vec![0f64; m.width];
            let mut sq = vec![0f64; m.width];
            for chunk in train.chunks(data.chunk()) {
                let rows = m.rows(chunk, crate::media::source::View::Eval)?;
                for row in rows.chunks_exact(m.width.max(1)) {
                    for (j, &v) in row.iter().enumerate() {
                        sum[j] += v as f64;
                        sq[j] += (v as f64) * (v as f64);
                    }
                }
            }
            let mu: Vec<f64> = sum.iter().map(|s| s / n).collect();
            let var = sq
                .iter()
                .zip(&mu)
                .map(|(q, u)| ((q - n * u * u) / (n - 1.0).max(1.0)).max(0.0));
            std.push(var.map(|v| v.sqrt() as f32).collect());
            mean.push(mu.into_iter().map(|v| v as f32).collect());
        }
        Ok(TrainStats { mean, std })
    }
}

/// One corruption of one modality at one severity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corruption {
    /// What is done.
    pub kind: CorruptionKind,
    /// The corrupted modality (index in the dataset).
    pub modality: usize,
    /// How much (see [`CorruptionKind::default_severities`] for each kind's unit).
    pub severity: f64,
}

impl Corruption {
    /// Corrupt `rows` (`samples.len() × width`, the rows of modality `self.modality` of the
    /// dataset samples `samples`). `shape` is the modality's `[channels, height, width]` for the
    /// image kinds. Severity 0 leaves the rows untouched.
    pub fn apply(
        &self,
        rows: &mut [f32],
        samples: &[usize],
        shape: Option<[usize; 3]>,
        stats: &TrainStats,
        seed: u64,
    ) {
        if self.severity == 0.0 {
            return;
        }
        let width = rows.len() / samples.len().max(1);
        for (row, &sample) in rows.chunks_mut(width.max(1)).zip(samples) {
            let mut rng = stream(seed, Stream::Corruption, self.draw_index(sample));
            match self.kind {
                CorruptionKind::MissingZero | CorruptionKind::MissingMean => {
                    let u: f64 = rng.gen();
                    if u < self.severity {
                        match self.kind {
                            CorruptionKind::MissingZero => row.fill(0.0),
                            _ => row.copy_from_slice(&stats.mean[self.modality]),
                        }
                    }
                }
                CorruptionKind::Gaussian => {
                    for (v, &s) in row.iter_mut().zip(&stats.std[self.modality]) {
                        let z: f64 = rng.sample(StandardNormal);
                        *v += (self.severity * s as f64 * z) as f32;
                    }
                }
                CorruptionKind::Occlusion => {
                    if let Some(shape) = shape {
                        occlude(row, shape, self.severity, &mut rng);
                    }
                }
                CorruptionKind::Blur => {
                    if let Some(shape) = shape {
                        blur(row, shape, self.severity);
                    }
                }
            }
        }
    }

    /// The `corruption` stream index of `sample`: its dataset position, the kind and the
    /// modality (the severity is left out, so severities are nested).
    fn draw_index(&self, sample: usize) -> u64 {
        // Fixed ids: adding a kind must never change another kind's draws.
        let kind: u64 = match self.kind {
            CorruptionKind::MissingZero => 0,
            CorruptionKind::MissingMean => 1,
            CorruptionKind::Gaussian => 2,
            CorruptionKind::Occlusion => 3,
            CorruptionKind::Blur => 4,
        };
        ((sample as u64) << 12) | (kind << 8) | self.modality as u64
    }
}

/// Zero a square of side ⌈f · min(h, w)⌉ at a uniformly drawn position, in every channel.
fn occlude(row: &mut [f32], [c, h, w]: [usize; 3], fraction: f64, rng: &mut impl Rng) {
    let side = ((fraction * h.min(w) as f64).ceil() as usize).min(h.min(w));
    if side == 0 {
        return;
    }
    let top = rng.gen_range(0..=h - side);
    let left = rng.gen_range(0..=w - side);
    for ch in 0..c {
        for y in top..top + side {
            let start = ch * h * w + y * w + left;
            row[start..start + side].fill(0.0);
        }
    }
}

/// Separable Gaussian blur with standard deviation `sigma` pixels (kernel radius ⌈3σ⌉,
/// normalised; edges clamped), each channel on its own.
fn blur(row: &mut [f32], [c, h, w]: [usize; 3], sigma: f64) {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|d| (-((d * d) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    let kernel: Vec<f64> = kernel.iter().map(|k| k / total).collect();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    for ch in 0..c {
        let plane = &mut row[ch * h * w..(ch + 1) * h * w];
        let mut tmp = vec![0f64; h * w];
        for y in 0..h {
            for x in 0..w {
                tmp[y * w + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, g)| {
                        g * plane[y * w + clamp(x as isize + k as isize - radius, w)] as f64
                    })
                    .sum();
            }
        }
        for y in 0..h {
            for x in 0..w {
                plane[y * w + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, g)| g * tmp[clamp(y as isize + k as isize - radius, h) * w + x])
                    .sum::<f64>() as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Modality;

    fn data() -> Dataset {
        Dataset {
            name: "t".into(),
            classes: vec!["a".into(), "b".into()],
            modalities: vec![Modality {
                name: "x".into(),
                width: 2,
                values: vec![1.0, 10.0, 3.0, 10.0, 5.0, 40.0, 7.0, 40.0],
                media: None,
            }],
            labels: vec![0, 1, 0, 1],
            groups: Vec::new(),
            fixed_train: None,
        }
    }

    #[test]
    fn training_statistics_use_the_training_rows_only() {
        let s = TrainStats::of(&data(), &[0, 1, 2]).unwrap();
        assert_eq!(s.mean[0], vec![3.0, 20.0]);
        // Bessel-corrected: var of (1, 3, 5) is 4; of (10, 10, 40) is 300.
        assert_eq!(s.std[0], vec![2.0, 300f32.sqrt()]);
    }

    #[test]
    fn missing_replaces_whole_rows_with_zero_or_the_mean_and_nests_over_severity() {
        let d = data();
        let stats = TrainStats::of(&d, &[0, 1, 2, 3]).unwrap();
        let samples: Vec<usize> = (0..4).collect();
        let rows = d.modalities[0].values.clone();
        let mut missing_before = 0;
        for p in [0.0, 0.3, 0.6, 1.0] {
            let c = Corruption {
                kind: CorruptionKind::MissingMean,
                modality: 0,
                severity: p,
            };
            let mut r = rows.clone();
            c.apply(&mut r, &samples, None, &stats, 7);
            let missing: Vec<bool> = r
                .chunks(2)
                .zip(rows.chunks(2))
                .map(|(a, b)| {
                    let gone = a == stats.mean[0].as_slice();
                    assert!(gone || a == b, "a row is either kept or replaced whole");
                    gone
                })
                .collect();
            let count = missing.iter().filter(|&&g| g).count();
            assert!(count >= missing_before, "severity {p}: nested");
            missing_before = count;
            if p == 0.0 {
                assert_eq!(r, rows);
            }
            if p == 1.0 {
                assert_eq!(count, 4);
            }
        }
    }

    /// Mean and sample std of column `j` of `n × width` rows.
    fn column_moments(rows: &[f32], width: usize, j: usize) -> (f64, f64) {
        let col: Vec<f64> = rows.chunks(width).map(|r| r[j] as f64).collect();
        let n = col.len() as f64;
        let mean = col.iter().sum::<f64>() / n;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt())
    }

    /// Gaussian noise of severity σ adds N(0, (σ · std_j)²) to feature j. Tolerances for 4,000
    /// draws: the sample std's relative standard error is 1/√(2n) ≈ 1.1 %, so 5 % is 4.5 SE; the
    /// mean's SE is std/√n ≈ 1.6 % of the std, so 7 % is 4.4 SE.
    #[test]
    fn gaussian_noise_has_std_severity_times_the_training_std_per_feature() {
        let n = 4000;
        let stats = TrainStats {
            mean: vec![vec![0.0, 0.0]],
            std: vec![vec![0.5, 2.0]],
        };
        let c = Corruption {
            kind: CorruptionKind::Gaussian,
            modality: 0,
            severity: 1.5,
        };
        let mut rows = vec![0f32; n * 2];
        let samples: Vec<usize> = (0..n).collect();
        c.apply(&mut rows, &samples, None, &stats, 11);
        for (j, s) in [0.5f64, 2.0].into_iter().enumerate() {
            let (mean, std) = column_moments(&rows, 2, j);
            let want = 1.5 * s;
            assert!(
                (std / want - 1.0).abs() < 0.05,
                "feature {j}: std {std} vs {want}"
            );
            assert!(mean.abs() < 0.07 * want, "feature {j}: mean {mean}");
        }
    }

    #[test]
    fn draws_depend_on_the_sample_not_on_its_position_in_the_batch() {
        let d = data();
        let stats = TrainStats::of(&d, &[0, 1, 2, 3]).unwrap();
        let c = Corruption {
            kind: CorruptionKind::Gaussian,
            modality: 0,
            severity: 1.0,
        };
        let mut all = d.modalities[0].values.clone();
        c.apply(&mut all, &[0, 1, 2, 3], None, &stats, 3);
        let mut reversed: Vec<f32> = [3, 2, 1, 0]
            .iter()
            .flat_map(|&i| d.modalities[0].row(i).to_vec())
            .collect();
        c.apply(&mut reversed, &[3, 2, 1, 0], None, &stats, 3);
        for (k, &i) in [3usize, 2, 1, 0].iter().enumerate() {
            assert_eq!(&reversed[k * 2..k * 2 + 2], &all[i * 2..i * 2 + 2]);
        }
    }

    #[test]
    fn occlusion_zeroes_one_square_of_the_given_side_in_every_channel() {
        let mut row = vec![1.0f32; 2 * 8 * 8];
        let mut rng = stream(0, Stream::Corruption, 1);
        occlude(&mut row, [2, 8, 8], 0.5, &mut rng);
        for ch in 0..2 {
            let zeros = row[ch * 64..(ch + 1) * 64]
                .iter()
                .filter(|&&v| v == 0.0)
                .count();
            assert_eq!(zeros, 16, "a 4×4 square in channel {ch}");
        }
        assert_eq!(row[..64], row[64..], "the same square in both channels");
    }

    #[test]
    fn blur_keeps_constant_images_and_spreads_a_point_symmetrically() {
        let mut flat = vec![2.5f32; 9 * 9];
        blur(&mut flat, [1, 9, 9], 1.0);
        assert!(flat.iter().all(|&v| (v - 2.5).abs() < 1e-5));
        let mut point = vec![0f32; 9 * 9];
        point[4 * 9 + 4] = 1.0;
        blur(&mut point, [1, 9, 9], 1.0);
        let total: f32 = point.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "mass kept: {total}");
        assert_eq!(point[4 * 9 + 3], point[4 * 9 + 5]);
        assert_eq!(point[3 * 9 + 4], point[4 * 9 + 3]);
        // The 1-D kernel at distance 1 relative to the centre is exp(−1/2).
        let ratio = point[4 * 9 + 3] / point[4 * 9 + 4];
        assert!((ratio as f64 - (-0.5f64).exp()).abs() < 1e-5, "{ratio}");
    }
}

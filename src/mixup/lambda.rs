//! λ draws: Beta(α, α) per sample or per batch, optionally folded to max(λ, 1 − λ).

use rand::Rng;
use rand_distr::{Beta, Distribution};

/// Fold λ into [0.5, 1] so each sample keeps its own label as the majority.
pub fn fold(lambda: f64) -> f64 {
    lambda.max(1.0 - lambda)
}

/// Draw `n` values of λ ~ Beta(α, α): one per sample, or one repeated for the batch.
/// `alpha` must be > 0 (the recipe guarantees it).
pub fn sample(
    rng: &mut impl Rng,
    alpha: f64,
    n: usize,
    per_sample: bool,
    folded: bool,
) -> Vec<f32> {
    let beta = Beta::new(alpha, alpha).expect("alpha > 0 is checked by the recipe");
    let mut draw = || {
        let l = beta.sample(rng);
        (if folded { fold(l) } else { l }) as f32
    };
    if per_sample {
        (0..n).map(|_| draw()).collect()
    } else {
        let l = draw();
        vec![l; n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};
    use statrs::function::beta::beta_reg;

    /// The CDF of Beta(a, a), by statrs' regularised incomplete beta (accurate to ~1e-14).
    fn beta_cdf(x: f64, a: f64) -> f64 {
        if x <= 0.0 {
            0.0
        } else if x >= 1.0 {
            1.0
        } else {
            beta_reg(a, a, x)
        }
    }

    /// The f64 values that round to the f32 `v`: the interval between the midpoints to its
    /// neighbours, cut to [0, 1].
    fn rounding_cell(v: f32) -> (f64, f64) {
        let below = if v > 0.0 {
            (v as f64 + f32::from_bits(v.to_bits() - 1) as f64) / 2.0
        } else {
            0.0
        };
        let above = (v as f64 + f32::from_bits(v.to_bits() + 1) as f64) / 2.0;
        (below.max(0.0), above.min(1.0))
    }

    /// Kolmogorov–Smirnov distance between f32 draws and Beta(a, a) *rounded to f32* — the
    /// distribution the sampler actually returns. Draws are grouped by value (ties: at α = 0.2
    /// about 1.65 % of draws round to exactly 1.0), and at each distinct value v with draws at
    /// sorted positions i..j the empirical CDF steps from i/n to j/n while the rounded CDF steps
    /// from F(lo) to F(hi), (lo, hi] the values that round to v. Between distinct values both
    /// are monotone and the empirical one flat, so these endpoints give the exact supremum.
    fn ks_distance(draws: &[f32], a: f64) -> f64 {
        let mut xs = draws.to_vec();
        xs.sort_by(f32::total_cmp);
        let n = xs.len() as f64;
        let (mut d, mut i) = (0.0f64, 0);
        while i < xs.len() {
            let v = xs[i];
            let j = i + xs[i..].iter().take_while(|&&x| x == v).count();
            let (lo, hi) = rounding_cell(v);
            d = d
                .max((i as f64 / n - beta_cdf(lo, a)).abs())
                .max((j as f64 / n - beta_cdf(hi, a)).abs());
            i = j;
        }
        d
    }

    /// P(√n·D > x) in the limit (Kolmogorov's series). For finite n and for a distribution with
    /// atoms (the f32 rounding) the true tail is smaller, so a test at this level is
    /// conservative.
    fn kolmogorov_tail(x: f64) -> f64 {
        2.0 * (1..100)
            .map(|k| {
                let k = k as f64;
                (if k as u64 % 2 == 1 { 1.0 } else { -1.0 }) * (-2.0 * k * k * x * x).exp()
            })
            .sum::<f64>()
    }

    /// √n·D above this fails: a per-α false-failure rate of 0.1 %, so the four α below make a
    /// correct sampler fail for at most ~0.4 % of seeds (union bound; less, being conservative).
    const KS_CRITICAL: f64 = 1.95;
    const DRAWS: usize = 20_000;

    #[test]
    fn ks_critical_value_is_the_one_in_a_thousand_level() {
        let tail = kolmogorov_tail(KS_CRITICAL);
        assert!(
            (tail - 1e-3).abs() < 5e-5,
            "P(√n D > {KS_CRITICAL}) = {tail}"
        );
    }

    /// 20 000 draws per α from the mixup stream; √n·D must stay below [`KS_CRITICAL`].
    #[test]
    fn lambda_sampler_matches_beta_alpha_alpha_by_kolmogorov_smirnov() {
        for (k, alpha) in [0.2, 0.4, 1.0, 2.0].into_iter().enumerate() {
            let draws = sample(
                &mut stream(11, Stream::Mixup, k as u64),
                alpha,
                DRAWS,
                true,
                false,
            );
            if alpha == 0.2 {
                // The ties the test must handle are really there.
                let ones = draws.iter().filter(|&&x| x == 1.0).count();
                assert!(ones > DRAWS / 100, "{ones} draws of exactly 1.0");
            }
            let d = ks_distance(&draws, alpha) * (DRAWS as f64).sqrt();
            assert!(
                d < KS_CRITICAL,
                "alpha {alpha}: √n·D = {d:.3} ≥ {KS_CRITICAL}"
            );
        }
    }

    /// The test above can fail: uniform draws, and Beta(α, 1.15 α) draws — a 7 % shift of the
    /// mean — are rejected at every α.
    #[test]
    fn ks_check_rejects_wrong_distributions() {
        let uniform: Vec<f32> = (0..DRAWS)
            .map(|i| ((i as f64 + 0.5) / DRAWS as f64) as f32)
            .collect();
        assert!(ks_distance(&uniform, 0.2) * (DRAWS as f64).sqrt() > KS_CRITICAL);
        for (k, alpha) in [0.2, 0.4, 1.0, 2.0].into_iter().enumerate() {
            let skewed = Beta::new(alpha, 1.15 * alpha).unwrap();
            let mut rng = stream(11, Stream::Mixup, k as u64);
            let draws: Vec<f32> = (0..DRAWS).map(|_| skewed.sample(&mut rng) as f32).collect();
            let d = ks_distance(&draws, alpha) * (DRAWS as f64).sqrt();
            assert!(d > KS_CRITICAL, "alpha {alpha}: √n·D = {d:.3}");
        }
    }

    #[test]
    fn folded_draws_are_max_of_lambda_and_one_minus_lambda() {
        let plain = sample(&mut stream(3, Stream::Mixup, 0), 0.4, 500, true, false);
        let folded = sample(&mut stream(3, Stream::Mixup, 0), 0.4, 500, true, true);
        assert!(plain.iter().any(|&l| l < 0.5));
        for (p, f) in plain.iter().zip(&folded) {
            // Folded in f64 before the f32 rounding: equal up to one f32 ulp.
            assert!(
                (f - p.max(1.0 - p)).abs() <= f32::EPSILON,
                "λ {p} folded to {f}"
            );
        }
    }
}

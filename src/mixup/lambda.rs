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

    /// Regularised incomplete beta I_x(a, a) by midpoint integration of the density on a fine
    /// grid after the substitution x = sin²θ, which removes the endpoint singularities for a < 1.
    fn beta_cdf(x: f64, a: f64) -> f64 {
        let density = |theta: f64| {
            let (s, c) = (theta.sin(), theta.cos());
            // dx = 2 s c dθ; x^(a-1)(1-x)^(a-1) = s^(2a-2) c^(2a-2)
            2.0 * s.powf(2.0 * a - 1.0) * c.powf(2.0 * a - 1.0)
        };
        let integral = |upper: f64| {
            let n = 2_000;
            let h = upper / n as f64;
            (0..n).map(|i| density((i as f64 + 0.5) * h)).sum::<f64>() * h
        };
        integral(x.sqrt().asin()) / integral(std::f64::consts::FRAC_PI_2)
    }

    /// Kolmogorov–Smirnov: 4000 draws per α from a fixed seed; the statistic must stay below
    /// 1.63/√n (the 1% critical value), so a wrong sampler (e.g. Beta(α, 1) or uniform) fails.
    #[test]
    fn lambda_sampler_matches_beta_alpha_alpha_by_kolmogorov_smirnov() {
        for (k, alpha) in [0.2, 0.4, 1.0, 2.0].into_iter().enumerate() {
            let mut rng = stream(11, Stream::Mixup, k as u64);
            let n = 4000;
            let mut xs: Vec<f64> = sample(&mut rng, alpha, n, true, false)
                .into_iter()
                .map(f64::from)
                .collect();
            xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let d = xs
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let f = beta_cdf(x.clamp(0.0, 1.0), alpha);
                    (f - i as f64 / n as f64)
                        .abs()
                        .max(((i + 1) as f64 / n as f64 - f).abs())
                })
                .fold(0.0, f64::max);
            let critical = 1.63 / (n as f64).sqrt();
            assert!(
                d < critical,
                "alpha {alpha}: KS statistic {d:.4} >= {critical:.4}"
            );
        }
    }

    #[test]
    fn ks_check_rejects_a_wrong_distribution() {
        // Guard that the KS machinery above can fail: uniform draws are not Beta(0.2, 0.2).
        let n = 4000;
        let xs: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let d = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| (beta_cdf(x, 0.2) - i as f64 / n as f64).abs())
            .fold(0.0, f64::max);
        assert!(d > 1.63 / (n as f64).sqrt());
    }
}

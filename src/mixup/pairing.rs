//! Pairings π: a uniformly random permutation of the batch (Fisher–Yates).

use rand::Rng;

/// A uniformly random permutation of `0..n` by Fisher–Yates, drawing `n − 1` integers from
/// `rng` (none for n ≤ 1).
pub fn random_pairing(rng: &mut impl Rng, n: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        perm.swap(i, j);
    }
    perm
}

/// Whether `perm` is a bijection of `0..perm.len()`.
pub fn is_bijection(perm: &[usize]) -> bool {
    let mut seen = vec![false; perm.len()];
    perm.iter()
        .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};
    use statrs::function::gamma::gamma_ur;

    /// The bijection check itself: it accepts permutations and rejects a repeated index, an
    /// index out of range and a permutation of the wrong length's range.
    #[test]
    fn is_bijection_accepts_permutations_only() {
        assert!(is_bijection(&[]));
        assert!(is_bijection(&[2, 0, 1]));
        assert!(!is_bijection(&[0, 0]));
        assert!(!is_bijection(&[1, 1, 0]));
        assert!(!is_bijection(&[0, 2]));
        assert!(!is_bijection(&[3, 0, 1]));
    }

    /// Upper tail P(χ²_df > x).
    fn chi_square_tail(x: f64, df: f64) -> f64 {
        gamma_ur(df / 2.0, x / 2.0)
    }

    /// A test fails below this p-value: a correct shuffle fails one seed in a thousand.
    const P_MIN: f64 = 1e-3;

    /// Pearson's statistic of how often each of the 24 permutations of 0..4 comes out of
    /// `shuffle` over `draws` draws, each from the mixup stream of its own step (as training
    /// draws them); χ² with 23 degrees of freedom under uniformity.
    fn permutation_chi_square(shuffle: impl Fn(&mut rand_chacha::ChaCha8Rng) -> Vec<usize>) -> f64 {
        let draws = 24_000u64;
        let mut counts = std::collections::HashMap::new();
        for step in 0..draws {
            *counts
                .entry(shuffle(&mut stream(5, Stream::Mixup, step)))
                .or_insert(0u64) += 1;
        }
        let expected = draws as f64 / 24.0;
        let seen: f64 = counts
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        // Permutations never drawn contribute (0 − E)²/E each.
        seen + (24 - counts.len()) as f64 * expected
    }

    /// Pearson's statistic of the partner table (how often π(i) = j) of `shuffle` for n = 10
    /// over `draws` draws. For a uniform permutation the table's deviations have covariance
    /// (I − J/n) ⊗ (I − J/n) / (n − 1) per draw, so the statistic times (n − 1)/n is χ² with
    /// (n − 1)² degrees of freedom.
    fn partner_chi_square(shuffle: impl Fn(&mut rand_chacha::ChaCha8Rng) -> Vec<usize>) -> f64 {
        let (n, draws) = (10usize, 20_000u64);
        let mut table = vec![0u64; n * n];
        for step in 0..draws {
            for (i, &j) in shuffle(&mut stream(6, Stream::Mixup, step))
                .iter()
                .enumerate()
            {
                table[i * n + j] += 1;
            }
        }
        let expected = draws as f64 / n as f64;
        let pearson: f64 = table
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        pearson * (n - 1) as f64 / n as f64
    }

    #[test]
    fn random_pairing_draws_every_permutation_of_four_equally_often() {
        let x = permutation_chi_square(|rng| random_pairing(rng, 4));
        let p = chi_square_tail(x, 23.0);
        assert!(p > P_MIN, "χ² = {x:.1} on 23 df, p = {p:.2e}");
    }

    #[test]
    fn random_pairing_sends_every_sample_to_every_position_equally_often() {
        let x = partner_chi_square(|rng| random_pairing(rng, 10));
        let p = chi_square_tail(x, 81.0);
        assert!(p > P_MIN, "χ² = {x:.1} on 81 df, p = {p:.2e}");
    }

    /// The two tests above can fail: a naive shuffle (swap with any position) is biased over
    /// permutations, and Sattolo's algorithm (never j = i) never leaves a sample with itself.
    #[test]
    fn chi_square_checks_reject_biased_shuffles() {
        let naive = |rng: &mut rand_chacha::ChaCha8Rng, n: usize| {
            let mut p: Vec<usize> = (0..n).collect();
            for i in 0..n {
                p.swap(i, rng.gen_range(0..n));
            }
            p
        };
        let sattolo = |rng: &mut rand_chacha::ChaCha8Rng, n: usize| {
            let mut p: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                p.swap(i, rng.gen_range(0..i));
            }
            p
        };
        let x = permutation_chi_square(|rng| naive(rng, 4));
        assert!(chi_square_tail(x, 23.0) < P_MIN, "naive: χ² = {x:.1}");
        let x = partner_chi_square(|rng| naive(rng, 10));
        assert!(chi_square_tail(x, 81.0) < P_MIN, "naive: χ² = {x:.1}");
        let x = partner_chi_square(|rng| sattolo(rng, 10));
        assert!(chi_square_tail(x, 81.0) < P_MIN, "Sattolo: χ² = {x:.1}");
    }
}

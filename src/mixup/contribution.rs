//! Per-modality contribution estimators and their moving average (B-MM steps 1–3).

use super::config::Contribution;
use super::mix::softmax_rows;

/// Floor of every contribution, so ratios never divide by zero.
pub const EPSILON: f64 = 1e-6;

/// Contribution c_m of one modality on a batch from its unimodal logits `u` (`n × classes`).
/// `fused` (the fused logits) is only read by [`Contribution::Kl`].
pub fn estimate(
    kind: Contribution,
    u: &[f32],
    fused: &[f32],
    labels: &[usize],
    classes: usize,
) -> f64 {
    let n = labels.len().max(1) as f64;
    let q = softmax_rows(u, classes);
    match kind {
        Contribution::Confidence => {
            labels
                .iter()
                .enumerate()
                .map(|(i, &y)| q[i * classes + y])
                .sum::<f64>()
                / n
        }
        Contribution::Accuracy => {
            let hits = labels
                .iter()
                .enumerate()
                .filter(|(i, &y)| argmax(&u[i * classes..(i + 1) * classes]) == y)
                .count();
            hits as f64 / n + 1.0 / classes as f64
        }
        Contribution::Kl => {
            let p = softmax_rows(fused, classes);
            let kl: f64 = p
                .iter()
                .zip(&q)
                .map(|(&pi, &qi)| {
                    if pi > 0.0 {
                        pi * (pi.ln() - qi.max(1e-30).ln())
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
                / n;
            1.0 / (EPSILON + kl.max(0.0))
        }
    }
}

/// Index of the largest value (first on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Guard applied to every contribution before it is used: a value that is not finite or below
/// [`EPSILON`] becomes [`EPSILON`]. All-zero or all-NaN contributions therefore become equal,
/// and B-MM falls back to MM instead of producing NaN.
pub fn guard(c: f64) -> f64 {
    if c.is_finite() && c > EPSILON {
        c
    } else {
        EPSILON
    }
}

/// Exponential moving average ĉ ← β ĉ + (1 − β) c, started at the first batch's value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContributionEma {
    beta: f64,
    value: Option<Vec<f64>>,
}

impl ContributionEma {
    /// An empty average with factor `beta` ∈ [0, 1).
    pub fn new(beta: f64) -> Self {
        Self { beta, value: None }
    }

    /// Fold in one batch's contributions (guarded) and return the new average.
    pub fn update(&mut self, c: &[f64]) -> &[f64] {
        let c: Vec<f64> = c.iter().map(|&v| guard(v)).collect();
        let beta = self.beta;
        let next = match self.value.take() {
            None => c,
            Some(prev) => prev
                .iter()
                .zip(&c)
                .map(|(&p, &x)| guard(beta * p + (1.0 - beta) * x))
                .collect(),
        };
        self.value.insert(next)
    }
}

/// Relative contributions r_m = ĉ_m / mean_k ĉ_k (mean 1). Inputs are guarded first; when all
/// guarded values are equal, r is exactly 1 for every modality.
pub fn relative(c: &[f64]) -> Vec<f64> {
    let c: Vec<f64> = c.iter().map(|&v| guard(v)).collect();
    if c.windows(2).all(|w| w[0] == w[1]) {
        return vec![1.0; c.len()];
    }
    let mean = c.iter().sum::<f64>() / c.len() as f64;
    c.iter().map(|v| v / mean).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fused probability that underflows to exactly 0 contributes 0 · log 0 = 0 to the KL
    /// (the convention of the KL divergence), not NaN.
    #[test]
    fn kl_contribution_treats_a_zero_fused_probability_as_contributing_nothing() {
        // One sample, two classes; the fused logits put all mass on class 0 (exp(−2000) = 0).
        let fused = [0.0f32, -2000.0];
        let u = [0.5f32, 0.25];
        let c = estimate(Contribution::Kl, &u, &fused, &[0], 2);
        let q0 = 1.0 / (1.0 + (-0.25f64).exp());
        let want = 1.0 / (EPSILON + -(q0.ln()));
        assert!(
            c.is_finite() && (c - want).abs() < 1e-9 * want,
            "{c} vs {want}"
        );
    }

    #[test]
    fn argmax_takes_the_first_of_equal_values() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[2.0, 2.0]), 0);
        // The accuracy contribution depends on it: a tie between the label and a later class
        // counts as a hit.
        let c = estimate(Contribution::Accuracy, &[1.0, 1.0], &[], &[0], 2);
        assert_eq!(c, 1.0 + 0.5);
    }
}

//! OGM-GE gradient-modulation coefficients (Peng et al., CVPR 2022; docs/methods.md §3).

use super::config::OgmVariant;

/// Coefficients k_m from per-modality scores `s_m = Σ_i softmax(u_m,i)[y_i]`.
///
/// ρ_m = s_m / mean_{k≠m} s_k; `published`: k_m = 1 − tanh(α ρ_m) if ρ_m > 1 else 1 — and, with
/// two modalities, at an exact tie (ρ = 1 for both) the first modality still gets
/// 1 − tanh(α), as the released code's `else` branch modulates audio whenever visual is not
/// strictly ahead; `continuous`: k_m = 1 − tanh(α (ρ_m − 1)) if ρ_m > 1 else 1. Scores are
/// floored at 1e-12 (no division by zero) and 1 − tanh(x) is evaluated as 2/(1 + e^{2x}),
/// floored at the smallest positive f64, so k_m ∈ (0, 1] holds in floating point too.
pub fn coefficients(scores: &[f64], alpha: f64, variant: OgmVariant) -> Vec<f64> {
    let s: Vec<f64> = scores
        .iter()
        .map(|&v| if v.is_finite() && v > 1e-12 { v } else { 1e-12 })
        .collect();
    let m = s.len();
    let tie = m == 2 && s[0] == s[1];
    (0..m)
        .map(|i| {
            if m < 2 {
                return 1.0;
            }
            let others = (s.iter().sum::<f64>() - s[i]) / (m - 1) as f64;
            let rho = s[i] / others.max(1e-12);
            match variant {
                OgmVariant::Published if rho > 1.0 || (tie && i == 0) => {
                    one_minus_tanh(alpha * rho)
                }
                OgmVariant::Continuous if rho > 1.0 => one_minus_tanh(alpha * (rho - 1.0)),
                _ => 1.0,
            }
        })
        .collect()
}

fn one_minus_tanh(x: f64) -> f64 {
    (2.0 / (1.0 + (2.0 * x).exp())).clamp(f64::MIN_POSITIVE, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A score that is not finite (from NaN or infinite logits upstream) counts as the floor,
    /// like a zero score: it never makes its modality dominant.
    #[test]
    fn a_non_finite_score_counts_as_the_floor() {
        for bad in [f64::INFINITY, f64::NAN] {
            let k = coefficients(&[bad, 1.0], 0.8, OgmVariant::Continuous);
            assert_eq!(k[0], 1.0, "{bad}: {k:?}");
            assert!(k[1] < 1.0, "{bad}: {k:?}");
            assert_eq!(k, coefficients(&[0.0, 1.0], 0.8, OgmVariant::Continuous));
        }
    }
}

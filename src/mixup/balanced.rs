//! B-MM: per-modality mixing ratios and the label ratio from relative contributions
//! (docs/methods.md §1, B-MM steps 4–7). Pure functions of a folded λ′ and r.

use super::config::{Direction, LabelWeight};

/// λ_m = 1 − min(δ · r_m^(±γ), 0.5) with δ = 1 − λ′, for each modality. `lambda_folded` must
/// be in [0.5, 1]. With γ = 0 or r_m = 1 the result is exactly λ′ (δ is exact for λ′ ≥ 0.5).
pub fn modality_lambdas(
    lambda_folded: f32,
    r: &[f64],
    gamma: f64,
    direction: Direction,
) -> Vec<f32> {
    let delta = 1.0 - lambda_folded as f64;
    r.iter()
        .map(|&rm| {
            let scale = match direction {
                Direction::DominantMore => rm.powf(gamma),
                Direction::WeakMore => rm.powf(-gamma),
            };
            let dm = (delta * scale).min(0.5);
            (1.0 - dm) as f32
        })
        .collect()
}

/// Label weights w_m (non-negative, summing to 1).
pub fn label_weights(r: &[f64], rule: LabelWeight) -> Vec<f64> {
    let raw: Vec<f64> = match rule {
        LabelWeight::InverseContribution => r.iter().map(|&v| 1.0 / v).collect(),
        LabelWeight::Contribution => r.to_vec(),
        LabelWeight::Mean => vec![1.0; r.len()],
    };
    let total: f64 = raw.iter().sum();
    raw.iter().map(|v| v / total).collect()
}

/// λ_y = Σ_m w_m λ_m, computed as λ_lo + Σ_m w_m (λ_m − λ_lo) with λ_lo = min_m λ_m and clamped
/// to [min λ_m, max λ_m]: the same value in exact arithmetic, but exactly λ_m when all λ_m are
/// equal, whatever the weights.
pub fn label_lambda(lambdas: &[f32], weights: &[f64]) -> f32 {
    let lo = lambdas.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    let hi = lambdas.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let y = lo
        + lambdas
            .iter()
            .zip(weights)
            .map(|(&l, &w)| w * (l as f64 - lo))
            .sum::<f64>();
    y.clamp(lo, hi) as f32
}

//! The mixing maths on plain slices — the one definition the training loop's tensor version
//! (`model::mixing`) is tested against.
//!
//! A mixed row is written x̃_i = x_i + (1 − λ_i)(x_π(i) − x_i), which equals
//! λ_i x_i + (1 − λ_i) x_π(i) and, unlike that form, is *exactly* x_i in floating point when
//! λ_i = 1 or π(i) = i.

/// Mix the rows of a row-major `n × width` matrix: row i becomes
/// x_i + (1 − λ_i)(x_π(i) − x_i).
pub fn mix_rows(x: &[f32], width: usize, perm: &[usize], lambda: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), perm.len() * width, "x must hold perm.len() rows");
    assert_eq!(perm.len(), lambda.len(), "one λ per row");
    let mut out = Vec::with_capacity(x.len());
    for (i, (&p, &l)) in perm.iter().zip(lambda).enumerate() {
        let t = 1.0 - l;
        let (a, b) = (
            &x[i * width..(i + 1) * width],
            &x[p * width..(p + 1) * width],
        );
        out.extend(a.iter().zip(b).map(|(&xa, &xb)| xa + t * (xb - xa)));
    }
    out
}

/// One-hot rows (`n × classes`).
pub fn one_hot(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut out = vec![0.0; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        out[i * classes + y] = 1.0;
    }
    out
}

/// Mixed soft labels: Ỹ_i = Y_i + (1 − λ_i)(Y_π(i) − Y_i) = λ_i Y_i + (1 − λ_i) Y_π(i).
pub fn mix_labels(labels: &[usize], classes: usize, perm: &[usize], lambda: &[f32]) -> Vec<f32> {
    mix_rows(&one_hot(labels, classes), classes, perm, lambda)
}

/// Per-row cross-entropy −Σ_k t_k log softmax(z)_k of logits against (soft) targets.
pub fn soft_cross_entropy(logits: &[f32], targets: &[f32], classes: usize) -> Vec<f64> {
    logits
        .chunks(classes)
        .zip(targets.chunks(classes))
        .map(|(z, t)| {
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max + z.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
            -z.iter()
                .zip(t)
                .map(|(&v, &p)| p as f64 * (v as f64 - lse))
                .sum::<f64>()
        })
        .collect()
}

/// Softmax of each row, in f64.
pub fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.len());
    for z in logits.chunks(classes) {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let e: Vec<f64> = z.iter().map(|&v| (v as f64 - max).exp()).collect();
        let s: f64 = e.iter().sum();
        out.extend(e.into_iter().map(|v| v / s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Subtracting the row maximum keeps large logits finite (exp(1000) overflows f64), and
    /// the result is still the softmax.
    #[test]
    fn softmax_of_large_logits_is_finite_and_exact() {
        let p = softmax_rows(&[1000.0, 999.0, -1000.0], 3);
        let e = (-1.0f64).exp();
        assert!((p[0] - 1.0 / (1.0 + e)).abs() < 1e-15, "{p:?}");
        assert!((p[1] - e / (1.0 + e)).abs() < 1e-15, "{p:?}");
        assert_eq!(p[2], 0.0);
    }
}

//! Cosine logits on a slice of the concat head (MMCosine's unimodal logits): for modality m
//! with features z_m (`n × d_m`) and the columns of the head weight W (`C × D`) that concat
//! fusion gives m, u_ic = s · ⟨ẑ_i, ŵ_c⟩ with ẑ_i = z_i / max(‖z_i‖, ε) and ŵ_c the class row
//! of W_m normalised the same way (PyTorch's `F.normalize`, ε = 1e-12); no bias.
//!
//! Forward and backward run on the host ([`cosine_forward`], [`cosine_backward`]); on the tape
//! [`cosine_logits`] is one op whose backward writes the gradients of z_m and of W's columns.

use super::backend::Backend;
use super::params::{Matrix, ParamId, ParamStore, Tape};
use dfdx::prelude::*;
use dfdx::tensor::Tape as _;

/// `F.normalize`'s floor on a norm.
pub const NORM_EPS: f64 = 1e-12;

/// Which columns of the head weight a modality's cosine logits read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadSlice {
    /// Classes (rows of W).
    pub classes: usize,
    /// Columns of W (the concat width).
    pub width: usize,
    /// First column of the modality.
    pub offset: usize,
    /// Columns of the modality (d_m).
    pub dim: usize,
}

/// The host pieces of one modality's cosine logits, kept for the backward.
#[derive(Debug, Clone)]
pub struct CosineParts {
    /// ẑ, `n × d` row-major.
    pub z_hat: Vec<f64>,
    /// max(‖z_i‖, ε) per row.
    pub z_norm: Vec<f64>,
    /// ŵ, `C × d` row-major.
    pub w_hat: Vec<f64>,
    /// max(‖w_c‖, ε) per class.
    pub w_norm: Vec<f64>,
    /// The logits s · ẑ ŵᵀ, `n × C` row-major.
    pub logits: Vec<f64>,
}

/// Rows of `v` (`rows × d`) divided by their norms (floored at [`NORM_EPS`]): (normalised, norms).
fn normalise_rows(v: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut out = v.to_vec();
    let mut norms = Vec::with_capacity(v.len() / d.max(1));
    for row in out.chunks_mut(d.max(1)) {
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt().max(NORM_EPS);
        row.iter_mut().for_each(|x| *x /= norm);
        norms.push(norm);
    }
    (out, norms)
}

/// The forward on the host, in f64: `z` is `n × d`, `w` the whole head weight `C × width`.
pub fn cosine_forward(z: &[f32], w: &[f32], slice: HeadSlice, scale: f64) -> CosineParts {
    let HeadSlice {
        classes,
        width,
        offset,
        dim,
    } = slice;
    let z: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let w_m: Vec<f64> = (0..classes)
        .flat_map(|c| w[c * width + offset..c * width + offset + dim].iter())
        .map(|&v| v as f64)
        .collect();
    let (z_hat, z_norm) = normalise_rows(&z, dim);
    let (w_hat, w_norm) = normalise_rows(&w_m, dim);
    let n = z_norm.len();
    let mut logits = vec![0.0; n * classes];
    for i in 0..n {
        for c in 0..classes {
            let dot: f64 = (0..dim)
                .map(|j| z_hat[i * dim + j] * w_hat[c * dim + j])
                .sum();
            logits[i * classes + c] = scale * dot;
        }
    }
    CosineParts {
        z_hat,
        z_norm,
        w_hat,
        w_norm,
        logits,
    }
}

/// The gradient through a normalisation: for x̂ = x / ‖x‖ (‖x‖ above the floor),
/// ∂L/∂x = (g − ⟨g, x̂⟩ x̂) / ‖x‖; at the floor x̂ = x / ε, so ∂L/∂x = g / ε.
fn through_norm(g: &[f64], x_hat: &[f64], norm: f64) -> Vec<f64> {
    if norm <= NORM_EPS {
        return g.iter().map(|v| v / norm).collect();
    }
    let dot: f64 = g.iter().zip(x_hat).map(|(a, b)| a * b).sum();
    g.iter()
        .zip(x_hat)
        .map(|(gv, xv)| (gv - dot * xv) / norm)
        .collect()
}

/// The backward on the host: from ∂L/∂u (`n × C`) to (∂L/∂z `n × d`, ∂L/∂W_m `C × d`).
pub fn cosine_backward(
    parts: &CosineParts,
    g_logits: &[f64],
    slice: HeadSlice,
    scale: f64,
) -> (Vec<f64>, Vec<f64>) {
    let (classes, dim) = (slice.classes, slice.dim);
    let n = parts.z_norm.len();
    let mut g_z = Vec::with_capacity(n * dim);
    for i in 0..n {
        let g_hat: Vec<f64> = (0..dim)
            .map(|j| {
                (0..classes)
                    .map(|c| g_logits[i * classes + c] * parts.w_hat[c * dim + j])
                    .sum::<f64>()
                    * scale
            })
            .collect();
        g_z.extend(through_norm(
            &g_hat,
            &parts.z_hat[i * dim..(i + 1) * dim],
            parts.z_norm[i],
        ));
    }
    let mut g_w = Vec::with_capacity(classes * dim);
    for c in 0..classes {
        let g_hat: Vec<f64> = (0..dim)
            .map(|j| {
                (0..n)
                    .map(|i| g_logits[i * classes + c] * parts.z_hat[i * dim + j])
                    .sum::<f64>()
                    * scale
            })
            .collect();
        g_w.extend(through_norm(
            &g_hat,
            &parts.w_hat[c * dim..(c + 1) * dim],
            parts.w_norm[c],
        ));
    }
    (g_z, g_w)
}

/// Modality features `z` (taped) to their cosine logits on the columns `slice` of the head
/// weight `weight`, times `scale`, as one op on `z`'s tape: its backward adds ∂L/∂z to z's
/// gradient and ∂L/∂W_m into the slice's columns of W's gradient (other columns untouched).
pub fn cosine_logits<D: Backend>(
    z: Matrix<D, Tape<D>>,
    store: &ParamStore<D>,
    weight: ParamId,
    slice: HeadSlice,
    scale: f64,
) -> Matrix<D, Tape<D>> {
    let dev = store.dev.clone();
    let (z, mut tape) = z.split_tape();
    let w = store.matrix(weight).clone();
    let parts = cosine_forward(&z.as_vec(), &w.as_vec(), slice, scale);
    let n = parts.z_norm.len();
    let out: Matrix<D> = dev.tensor_from_vec(
        parts.logits.iter().map(|&v| v as f32).collect(),
        (n, slice.classes),
    );
    let (z_ghost, w_ghost, out_ghost) = (z.ghost(), w.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let g_out: Vec<f64> = dev
            .read(grads.get_or_alloc_mut(&out_ghost)?)
            .into_iter()
            .map(|v| v as f64)
            .collect();
        let (g_z, g_w) = cosine_backward(&parts, &g_out, slice, scale);
        dev.edit(grads.get_or_alloc_mut(&z_ghost)?, &mut |gz| {
            for (a, b) in gz.iter_mut().zip(&g_z) {
                *a += *b as f32;
            }
        });
        dev.edit(grads.get_or_alloc_mut(&w_ghost)?, &mut |gw| {
            for c in 0..slice.classes {
                let row = &mut gw[c * slice.width + slice.offset..][..slice.dim];
                for (a, b) in row.iter_mut().zip(&g_w[c * slice.dim..(c + 1) * slice.dim]) {
                    *a += *b as f32;
                }
            }
        });
        Ok(())
    });
    out.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLICE: HeadSlice = HeadSlice {
        classes: 3,
        width: 5,
        offset: 2,
        dim: 3,
    };

    fn inputs() -> (Vec<f32>, Vec<f32>) {
        let z: Vec<f32> = (0..6)
            .map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.3 + 0.1)
            .collect();
        let w: Vec<f32> = (0..15).map(|i| ((i * 3 % 7) as f32 - 3.0) * 0.2).collect();
        (z, w)
    }

    /// L = Σ_ic a_ic u_ic with fixed a, so ∂L/∂u = a.
    fn weighted(parts: &CosineParts) -> f64 {
        parts
            .logits
            .iter()
            .enumerate()
            .map(|(k, u)| u * (0.3 + 0.1 * k as f64))
            .sum()
    }

    proptest::proptest! {
        /// Invariants of MMCosine's logits (baselines spec §12): |u_ic| ≤ s, and u is
        /// unchanged when a sample's feature or a class row of W_m is rescaled by c > 0.
        #[test]
        fn logits_are_bounded_by_the_scale_and_invariant_to_rescaling(
            z in proptest::collection::vec(-3.0f32..3.0, 6),
            w in proptest::collection::vec(-2.0f32..2.0, 15),
            scale in 0.1f64..50.0,
            factors in proptest::collection::vec(0.01f32..100.0, 5),
        ) {
            proptest::prop_assume!(z.chunks(3).all(|r| r.iter().map(|v| v * v).sum::<f32>() > 1e-4));
            proptest::prop_assume!((0..3).all(|c| w[c * 5 + 2..c * 5 + 5].iter().map(|v| v * v).sum::<f32>() > 1e-4));
            let base = cosine_forward(&z, &w, SLICE, scale);
            proptest::prop_assert!(base.logits.iter().all(|u| u.abs() <= scale * (1.0 + 1e-12)));
            let mut z2 = z.clone();
            for (i, row) in z2.chunks_mut(3).enumerate() {
                row.iter_mut().for_each(|v| *v *= factors[i]);
            }
            let mut w2 = w.clone();
            for c in 0..3 {
                w2[c * 5 + 2..c * 5 + 5].iter_mut().for_each(|v| *v *= factors[2 + c]);
            }
            let scaled = cosine_forward(&z2, &w2, SLICE, scale);
            for (a, b) in base.logits.iter().zip(&scaled.logits) {
                proptest::prop_assert!((a - b).abs() <= 1e-5 * scale, "{} vs {}", a, b);
            }
        }
    }

    #[test]
    fn the_backward_is_the_gradient_of_the_forward() {
        let (z, w) = inputs();
        let parts = cosine_forward(&z, &w, SLICE, 15.0);
        let g: Vec<f64> = (0..parts.logits.len())
            .map(|k| 0.3 + 0.1 * k as f64)
            .collect();
        let (g_z, g_w) = cosine_backward(&parts, &g, SLICE, 15.0);
        let h = 1e-3f32;
        for j in 0..z.len() {
            let (mut up, mut down) = (z.clone(), z.clone());
            up[j] += h;
            down[j] -= h;
            let fd = (weighted(&cosine_forward(&up, &w, SLICE, 15.0))
                - weighted(&cosine_forward(&down, &w, SLICE, 15.0)))
                / (2.0 * h as f64);
            assert!(
                (fd - g_z[j]).abs() < 2e-3 * (1.0 + fd.abs()),
                "z[{j}]: {fd} vs {}",
                g_z[j]
            );
        }
        for c in 0..3 {
            for j in 0..3 {
                let k = c * 5 + 2 + j;
                let (mut up, mut down) = (w.clone(), w.clone());
                up[k] += h;
                down[k] -= h;
                let fd = (weighted(&cosine_forward(&z, &up, SLICE, 15.0))
                    - weighted(&cosine_forward(&z, &down, SLICE, 15.0)))
                    / (2.0 * h as f64);
                let got = g_w[c * 3 + j];
                assert!(
                    (fd - got).abs() < 2e-3 * (1.0 + fd.abs()),
                    "w[{c},{j}]: {fd} vs {got}"
                );
            }
        }
    }

    #[test]
    fn the_taped_op_writes_only_its_columns_of_the_weight_gradient() {
        use crate::model::params::Group;
        let dev = Cpu::default();
        let mut store = ParamStore::new(dev.clone());
        let mut rng = crate::rng::stream(0, crate::rng::Stream::Init, 0);
        let (weight, _) = store.add_linear("head", 5, 3, Group::Fusion, &mut rng);
        let (z, w) = inputs();
        store.set_values(weight, w.clone());
        let zt: Matrix<Cpu> = dev.tensor_from_vec(z.clone(), (2, 3));
        let u = cosine_logits(zt.leaky_traced(), &store, weight, SLICE, 15.0);
        let loss = u.sum::<(), _>();
        let grads = loss.backward();
        let gw = grads.get(store.matrix(weight)).as_vec();
        for c in 0..3 {
            assert!(gw[c * 5..c * 5 + 2].iter().all(|&v| v == 0.0));
        }
        let parts = cosine_forward(&z, &w, SLICE, 15.0);
        let (_, g_w) = cosine_backward(&parts, &[1.0; 6], SLICE, 15.0);
        assert!((gw[2] as f64 - g_w[0]).abs() < 1e-5);
    }
}

//! The fusion module, built from its resolved recipe spec: concatenation, sum (with one head or
//! OGM-GE's head per modality), FiLM and gated fusion. The model builder only asks for "the
//! recipe's fusion over these feature widths".

use super::backend::Backend;
use super::config::Fusion as FusionSpec;
use super::layers::Linear;
use super::params::{Group, Matrix, ParamStore};
use dfdx::prelude::*;
use rand::Rng;

/// The fusion module.
#[derive(Debug, Clone)]
pub enum Fusion {
    /// Concatenate features.
    Concat,
    /// Sum features.
    Sum,
    /// OGM-GE's `SumFusion`: one linear head per modality, logits summed. The fused feature is
    /// the concatenation (so mixing it mixes every z_m), and [`super::Model::heads`] holds one head
    /// per modality.
    SumHeads,
    /// h = γ(z_c) ⊙ z_o + β(z_c).
    Film {
        /// γ projection.
        gamma: Linear,
        /// β projection.
        beta: Linear,
        /// Conditioning modality index.
        cond: usize,
        /// Modulated modality index.
        other: usize,
    },
    /// h = σ(G z_g) ⊙ (V z_o).
    Gated {
        /// Gate projection.
        gate: Linear,
        /// Value projection.
        value: Linear,
        /// Gating modality index.
        g: usize,
        /// Gated modality index.
        other: usize,
    },
}

impl Fusion {
    /// The fusion `spec` over features of `widths` (modality order), its layers drawn from
    /// `rng`; returns it and the fused feature's width.
    pub fn build<D: Backend>(
        spec: &FusionSpec,
        widths: &[usize],
        store: &mut ParamStore<D>,
        rng: &mut impl Rng,
    ) -> (Fusion, usize) {
        match *spec {
            FusionSpec::Concat => (Fusion::Concat, widths.iter().sum()),
            FusionSpec::SumHeads => (Fusion::SumHeads, widths.iter().sum()),
            FusionSpec::Sum => (Fusion::Sum, widths[0]),
            FusionSpec::Film { condition: cond } => {
                let other = 1 - cond;
                let (dc, d) = (widths[cond], widths[other]);
                let gamma = Linear::new(store, "fusion.film.gamma", (dc, d), Group::Fusion, rng);
                let beta = Linear::new(store, "fusion.film.beta", (dc, d), Group::Fusion, rng);
                (
                    Fusion::Film {
                        gamma,
                        beta,
                        cond,
                        other,
                    },
                    d,
                )
            }
            FusionSpec::Gated { gate: g, dim } => {
                let other = 1 - g;
                let gate = Linear::new(
                    store,
                    "fusion.gated.gate",
                    (widths[g], dim),
                    Group::Fusion,
                    rng,
                );
                let value = Linear::new(
                    store,
                    "fusion.gated.value",
                    (widths[other], dim),
                    Group::Fusion,
                    rng,
                );
                (
                    Fusion::Gated {
                        gate,
                        value,
                        g,
                        other,
                    },
                    dim,
                )
            }
        }
    }

    /// Fuse encoder features (modality order).
    pub fn fuse<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        zs: Vec<Matrix<D, T>>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        match self {
            Fusion::Concat | Fusion::SumHeads => {
                let mut it = zs.into_iter();
                let first = it.next().expect("at least one modality");
                it.fold(first, |acc, z| (acc, z).concat_along(Axis::<1>))
            }
            Fusion::Sum => {
                let mut it = zs.into_iter();
                let first = it.next().expect("at least one modality");
                it.fold(first, |acc, z| acc + z)
            }
            Fusion::Film {
                gamma,
                beta,
                cond,
                other,
            } => {
                let mut zs: Vec<Option<Matrix<D, T>>> = zs.into_iter().map(Some).collect();
                let zc = zs[*cond].take().expect("two modalities");
                let zo = zs[*other].take().expect("two modalities");
                let (zc, tape) = zc.split_tape();
                let g = gamma.forward(zc.clone().put_tape(tape), store);
                let b = beta.forward(zc.retaped::<T>(), store);
                g * zo + b
            }
            Fusion::Gated {
                gate,
                value,
                g,
                other,
            } => {
                let mut zs: Vec<Option<Matrix<D, T>>> = zs.into_iter().map(Some).collect();
                let zg = zs[*g].take().expect("two modalities");
                let zo = zs[*other].take().expect("two modalities");
                gate.forward(zg, store).sigmoid() * value.forward(zo, store)
            }
        }
    }

    /// The fusion's own matrix products per sample, as `(1, in, out)`.
    pub fn matmul_shapes(&self) -> Vec<(usize, usize, usize)> {
        match self {
            Fusion::Film { gamma, beta, .. } => {
                vec![(1, gamma.inp, gamma.out), (1, beta.inp, beta.out)]
            }
            Fusion::Gated { gate, value, .. } => {
                vec![(1, gate.inp, gate.out), (1, value.inp, value.out)]
            }
            Fusion::Concat | Fusion::Sum | Fusion::SumHeads => Vec::new(),
        }
    }
}

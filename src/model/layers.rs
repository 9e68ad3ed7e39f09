//! Runtime-width layers on dfdx tensor ops: linear, activations, and row mixing.

use super::params::{Matrix, ParamId, ParamStore, Vector};
use crate::recipe::file::Activation;
use dfdx::prelude::*;

/// y = x Wᵀ + b with W `(out, in)`.
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    /// Weight id.
    pub weight: ParamId,
    /// Bias id.
    pub bias: ParamId,
    /// Input width.
    pub inp: usize,
    /// Output width.
    pub out: usize,
}

impl Linear {
    /// Apply to a batch `(n, inp)`.
    pub fn forward<T: dfdx::tensor::Tape<f32, Cpu>>(
        &self,
        x: Matrix<T>,
        store: &ParamStore,
    ) -> Matrix<T> {
        let w = store.matrix(self.weight).clone();
        let b = store.vector(self.bias).clone();
        let y = x.matmul(w.permute::<(usize, usize), Axes2<1, 0>>());
        let shape = *y.shape();
        y + b.broadcast_like::<(usize, usize), Axis<0>>(&shape)
    }
}

/// Apply an activation.
pub fn activate<T: dfdx::tensor::Tape<f32, Cpu>>(x: Matrix<T>, a: Activation) -> Matrix<T> {
    match a {
        Activation::Relu => x.relu(),
        Activation::Tanh => x.tanh(),
        Activation::Gelu => x.fast_gelu(),
    }
}

/// Row mixing on tensors: row i becomes x_i + t_i (x_π(i) − x_i) with t_i = 1 − λ_i — the same
/// operations, in the same order, as [`crate::mixup::mix::mix_rows`], which tests hold it to.
pub fn mix_rows<T: dfdx::tensor::Tape<f32, Cpu>>(
    x: Matrix<T>,
    perm: &Tensor<(usize,), usize, Cpu>,
    one_minus_lambda: &Vector,
) -> Matrix<T> {
    let (x, tape) = x.split_tape();
    let partner = x.clone().put_tape(tape).gather(perm.clone());
    let diff = partner - x.clone();
    let shape = *diff.shape();
    let t = one_minus_lambda
        .clone()
        .broadcast_like::<(usize, usize), Axis<1>>(&shape);
    diff * t + x
}

/// A copy of `x`'s values under a new identity and without a tape: gradients of anything
/// computed from it never reach the ops that produced `x`.
pub fn detach<T: dfdx::tensor::Tape<f32, Cpu>>(x: &Matrix<T>) -> Matrix {
    x.retaped::<NoneTape>() * 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mixup::mix;

    #[test]
    fn tensor_mixing_equals_slice_mixing_bit_for_bit() {
        let dev: Cpu = Default::default();
        let x: Vec<f32> = (0..15).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let perm = vec![2, 0, 4, 1, 3];
        let lambda = vec![0.9f32, 0.5, 1.0, 0.73, 0.61];
        let expected = mix::mix_rows(&x, 3, &perm, &lambda);
        let xt = dev.tensor_from_vec(x, (5, 3));
        let pt = dev.tensor_from_vec(perm, (5,));
        let tt = dev.tensor_from_vec(lambda.iter().map(|l| 1.0 - l).collect(), (5,));
        assert_eq!(mix_rows(xt, &pt, &tt).as_vec(), expected);
    }
}

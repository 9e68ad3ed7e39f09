//! Runtime-width layers on dfdx tensor ops: linear, activations, and row mixing.

use super::backend::Backend;
use super::config::Activation;
use super::host;
use super::params::{Matrix, ParamId, ParamStore, Tape, Vector};
use dfdx::prelude::*;
use dfdx::tensor::Tape as _;

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
    /// A PyTorch-default-initialised layer `inp → out` named `name` (its weight and bias drawn
    /// from `rng`, [`ParamStore::add_linear`]).
    pub fn new<D: Backend>(
        store: &mut ParamStore<D>,
        name: &str,
        (inp, out): (usize, usize),
        group: super::params::Group,
        rng: &mut impl rand::Rng,
    ) -> Linear {
        let (weight, bias) = store.add_linear(name, inp, out, group, rng);
        Linear {
            weight,
            bias,
            inp,
            out,
        }
    }

    /// Apply to a batch `(n, inp)`.
    pub fn forward<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        let w = store.matrix(self.weight).clone();
        let b = store.vector(self.bias).clone();
        let y = x.matmul(w.permute::<(usize, usize), Axes2<1, 0>>());
        let shape = *y.shape();
        y + b.broadcast_like::<(usize, usize), Axis<0>>(&shape)
    }

    /// y = x Wᵀ + s·b on a taped batch, with the gradient reaching b (scaled by s): the
    /// decomposed head's unimodal logits u_m = z_m W_mᵀ + b/M as a trainable output.
    pub fn forward_scaled_bias<D: Backend>(
        &self,
        x: Matrix<D, Tape<D>>,
        store: &ParamStore<D>,
        scale: f32,
    ) -> Matrix<D, Tape<D>> {
        let w = store.matrix(self.weight).clone();
        let b = store.vector(self.bias).clone();
        let y = x.matmul(w.permute::<(usize, usize), Axes2<1, 0>>());
        let shape = *y.shape();
        // The bias's ops go on the same tape, so its gradient flows back to the parameter.
        let (y, tape) = y.split_tape();
        let bias = b
            .put_tape(tape)
            .broadcast_like::<(usize, usize), Axis<0>>(&shape)
            * scale;
        let (bias, tape) = bias.split_tape();
        y.put_tape(tape) + bias
    }
}

impl Linear {
    /// The first layer of an encoder in training: y = x Wᵀ + b on a batch that needs no
    /// gradient (the data). dfdx's matmul backward always computes the input gradient too —
    /// a third of this layer's backward work, thrown away — so this records its own backward
    /// op on a fresh tape: dW += gyᵀ x with the same gemm kernel dfdx uses, written straight
    /// into the gradient buffer, and db += Σ_rows gy. The result carries the tape on to the
    /// rest of the network.
    pub fn forward_input<D: Backend>(
        &self,
        x_rows: Vec<f32>,
        n: usize,
        store: &ParamStore<D>,
    ) -> Matrix<D, Tape<D>> {
        let w = store.matrix(self.weight).clone();
        let b = store.vector(self.bias).clone();
        let x: Matrix<D> = store.dev.tensor_from_vec(x_rows.clone(), (n, self.inp));
        let y = x.matmul(w.clone().permute::<(usize, usize), Axes2<1, 0>>());
        let shape = *y.shape();
        let y = y + b.clone().broadcast_like::<(usize, usize), Axis<0>>(&shape);
        let (y_ghost, w_ghost, b_ghost) = (y.ghost(), w.ghost(), b.ghost());
        let (inp, out) = (self.inp, self.out);
        let dev = store.dev.clone();
        let mut tape = Tape::<D>::default();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = dev.read(grads.get_or_alloc_mut(&y_ghost)?);
            dev.edit(grads.get_or_alloc_mut(&w_ghost)?, &mut |gw| {
                // dW (out×in) += gyᵀ (gy is n×out) · x (n×in)
                host::matmul((out, inp, n), gw, true, &gy, true, &x_rows, false);
            });
            dev.edit(grads.get_or_alloc_mut(&b_ghost)?, &mut |gb| {
                host::add_column_sums(gb, &gy)
            });
            Ok(())
        });
        y.put_tape(tape)
    }
}

/// Apply an activation.
pub fn activate<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
    x: Matrix<D, T>,
    a: Activation,
) -> Matrix<D, T> {
    match a {
        Activation::Relu => x.relu(),
        Activation::Tanh => x.tanh(),
        Activation::Gelu => x.fast_gelu(),
    }
}

/// Row mixing on tensors: row i becomes x_i + t_i (x_π(i) − x_i) with t_i = 1 − λ_i — the same
/// operations, in the same order, as [`crate::mixup::mix::mix_rows`], which tests hold it to.
pub fn mix_rows<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
    x: Matrix<D, T>,
    perm: &Tensor<(usize,), usize, D>,
    one_minus_lambda: &Vector<D>,
) -> Matrix<D, T> {
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
pub fn detach<D: Backend, T: dfdx::tensor::Tape<f32, D>>(x: &Matrix<D, T>) -> Matrix<D> {
    x.retaped::<NoneTape>() * 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mixup::mix;

    #[test]
    fn input_layer_weight_gradients_equal_the_plain_linear_path() {
        use crate::model::params::{Group, ParamTensor};
        use crate::rng::{stream, Stream};
        let dev: Cpu = Default::default();
        let mut store = ParamStore::new(dev.clone());
        let (w, b) = store.add_linear("l", 7, 5, Group::Fusion, &mut stream(3, Stream::Init, 0));
        let layer = Linear {
            weight: w,
            bias: b,
            inp: 7,
            out: 5,
        };
        let x: Vec<f32> = (0..4 * 7)
            .map(|i| ((i * 13 % 9) as f32 - 4.0) / 3.0)
            .collect();
        let grads_of = |y: Matrix<Cpu, Tape>| y.square().sum().backward();
        let mut fast = grads_of(layer.forward_input(x.clone(), 4, &store));
        let mut plain =
            grads_of(layer.forward(dev.tensor_from_vec(x, (4, 7)).retaped::<Tape>(), &store));
        for id in [w, b] {
            let (a, e) = match &store.params[id].tensor {
                ParamTensor::Matrix(t) => (
                    fast.get_or_alloc_mut(t).unwrap().to_vec(),
                    plain.get_or_alloc_mut(t).unwrap().to_vec(),
                ),
                ParamTensor::Vector(t) => (
                    fast.get_or_alloc_mut(t).unwrap().to_vec(),
                    plain.get_or_alloc_mut(t).unwrap().to_vec(),
                ),
            };
            assert!(a.iter().any(|v| *v != 0.0));
            for (p, q) in a.iter().zip(&e) {
                assert!((p - q).abs() <= 1e-5 * q.abs().max(1.0), "{p} vs {q}");
            }
        }
    }

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

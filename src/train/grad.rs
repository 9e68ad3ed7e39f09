//! Whole-model gradient checks between backward and the update: the global norm (which also
//! detects a non-finite gradient) and global-norm clipping, as PyTorch's `clip_grad_norm_`.

use super::optim::edit_grad;
use crate::model::{Backend, ParamStore};
use dfdx::tensor::Gradients;

/// The 2-norm of every parameter's gradient taken together (accumulated in f64). NaN or
/// infinite when any gradient value is.
pub fn global_norm<D: Backend>(store: &ParamStore<D>, grads: &mut Gradients<f32, D>) -> f64 {
    let mut sum = 0.0f64;
    for p in &store.params {
        edit_grad(&store.dev, grads, &p.tensor, &mut |g| {
            sum += g.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
        });
    }
    sum.sqrt()
}

/// The factor `clip_grad_norm_` multiplies gradients by: `max_norm / (norm + 1e-6)`, capped
/// at 1.
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

/// Multiply every gradient by `factor`.
pub fn scale<D: Backend>(store: &ParamStore<D>, grads: &mut Gradients<f32, D>, factor: f64) {
    let f = factor as f32;
    for p in &store.params {
        edit_grad(&store.dev, grads, &p.tensor, &mut |g| {
            g.iter_mut().for_each(|v| *v *= f);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_factor_caps_at_one_and_scales_a_large_norm_down_to_the_limit() {
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
        // norm 10, limit 1: factor 1/(10 + 1e-6), so the clipped norm is just under 1.
        let f = clip_factor(10.0, 1.0);
        assert!((f * 10.0 - 1.0).abs() < 1e-6 && f * 10.0 < 1.0);
    }
}

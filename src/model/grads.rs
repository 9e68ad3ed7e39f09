//! Gradients of a parameter store between backward and the update: host edits of one
//! parameter's gradient, the global norm (which also detects a non-finite gradient) and
//! global-norm clipping, as PyTorch's `clip_grad_norm_`.

use super::params::{Group, ParamStore, ParamTensor};
use super::Backend;
use dfdx::tensor::Gradients;

/// Edit the gradient of a parameter on the host (gradient modulation changes it in place
/// before the update). A parameter without a gradient gets a zero one first.
pub fn edit_grad<D: Backend>(
    dev: &D,
    grads: &mut Gradients<f32, D>,
    p: &ParamTensor<D>,
    f: &mut dyn FnMut(&mut [f32]),
) {
    match p {
        ParamTensor::Matrix(t) => {
            dev.edit(grads.get_or_alloc_mut(t).expect("gradient allocation"), f)
        }
        ParamTensor::Vector(t) => {
            dev.edit(grads.get_or_alloc_mut(t).expect("gradient allocation"), f)
        }
    }
}

/// The 2-norm of the gradients of the parameters whose group `include` accepts, taken
/// together (accumulated in f64). NaN or infinite when any of those gradient values is.
pub fn global_norm<D: Backend>(
    store: &ParamStore<D>,
    grads: &mut Gradients<f32, D>,
    include: &dyn Fn(Group) -> bool,
) -> f64 {
    let mut sum = 0.0f64;
    for p in store.trainable().filter(|p| include(p.group)) {
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

/// Multiply the gradients of the groups `include` accepts by `factor`.
pub fn scale<D: Backend>(
    store: &ParamStore<D>,
    grads: &mut Gradients<f32, D>,
    factor: f64,
    include: &dyn Fn(Group) -> bool,
) {
    let f = factor as f32;
    for p in store.trainable().filter(|p| include(p.group)) {
        edit_grad(&store.dev, grads, &p.tensor, &mut |g| {
            g.iter_mut().for_each(|v| *v *= f);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The global norm is the 2-norm of every included gradient taken together, and scaling
    /// touches only the included groups: grads 3 and 4 (two 1-element biases) give norm 5.
    #[test]
    fn global_norm_is_the_two_norm_over_the_included_groups() {
        use crate::model::params::Group;
        let dev = dfdx::tensor::Cpu::default();
        let mut store = ParamStore::new(dev.clone());
        let mut rng = rand::rngs::mock::StepRng::new(0, 1);
        store.add_linear("a", 1, 1, Group::Encoder(0), &mut rng);
        store.add_linear("b", 1, 1, Group::Fusion, &mut rng);
        let mut grads = Gradients::leaky();
        for (p, v) in store.params.iter().zip([0.0f32, 3.0, 0.0, 4.0]) {
            edit_grad(&dev, &mut grads, &p.tensor, &mut |g| g.fill(v));
        }
        assert_eq!(global_norm(&store, &mut grads, &|_| true), 5.0);
        assert_eq!(
            global_norm(&store, &mut grads, &|g| g == Group::Fusion),
            4.0
        );
        scale(&store, &mut grads, 0.5, &|g| g == Group::Fusion);
        assert_eq!(
            global_norm(&store, &mut grads, &|_| true),
            (9.0f64 + 4.0).sqrt()
        );
    }

    #[test]
    fn clip_factor_caps_at_one_and_scales_a_large_norm_down_to_the_limit() {
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
        // norm 10, limit 1: factor 1/(10 + 1e-6), so the clipped norm is just under 1.
        let f = clip_factor(10.0, 1.0);
        assert!((f * 10.0 - 1.0).abs() < 1e-6 && f * 10.0 < 1.0);
    }
}

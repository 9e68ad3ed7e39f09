//! Optimisers over the named parameter store, driving dfdx's own update kernels per tensor
//! (SGD with classic momentum, Adam, AdamW) with state kept in per-parameter host-visible
//! buffers so it can be checkpointed.

use crate::model::params::{Dev, ParamStore, ParamTensor};
use crate::recipe::file::{OptimKind, OptimSection};
use dfdx::prelude::*;
use dfdx::tensor::Gradients;

/// An optimiser and its state.
pub struct Optimizer {
    kind: OptimKind,
    momentum: f64,
    weight_decay: f64,
    betas: [f64; 2],
    eps: f64,
    /// Steps taken (Adam's t).
    pub steps: u64,
    /// First moment / velocity, per parameter, keyed by the parameter tensor.
    first: Gradients<f32, Dev>,
    /// Second moment (Adam), per parameter.
    second: Gradients<f32, Dev>,
}

impl Optimizer {
    /// A fresh optimiser for the recipe's `[optim]`.
    pub fn new(cfg: &OptimSection) -> Self {
        Self {
            kind: cfg.kind,
            momentum: cfg.momentum.unwrap_or(0.0),
            weight_decay: cfg.weight_decay,
            betas: cfg.betas.unwrap_or([0.9, 0.999]),
            eps: cfg.eps.unwrap_or(1e-8),
            steps: 0,
            first: Gradients::leaky(),
            second: Gradients::leaky(),
        }
    }

    /// Apply one update with learning rate `lr` from `grads`.
    pub fn step(&mut self, store: &mut ParamStore, grads: &mut Gradients<f32, Dev>, lr: f64) {
        self.steps += 1;
        for p in &mut store.params {
            match &mut p.tensor {
                ParamTensor::Matrix(t) => self.update(t, grads, lr),
                ParamTensor::Vector(t) => self.update(t, grads, lr),
            }
        }
    }

    fn update<S: Shape>(
        &mut self,
        t: &mut Tensor<S, f32, Dev>,
        grads: &mut Gradients<f32, Dev>,
        lr: f64,
    ) {
        let grad = grads.get_or_alloc_mut(t).expect("cpu allocation");
        let first = self.first.get_or_alloc_mut(t).expect("cpu allocation");
        let decay = (self.weight_decay > 0.0).then_some(self.weight_decay);
        match self.kind {
            OptimKind::Sgd => {
                let cfg = SgdConfig {
                    lr,
                    momentum: (self.momentum > 0.0).then_some(Momentum::Classic(self.momentum)),
                    weight_decay: decay.map(WeightDecay::L2),
                };
                cfg.try_update(t, first, grad).expect("cpu sgd kernel");
            }
            OptimKind::Adam | OptimKind::Adamw => {
                let second = self.second.get_or_alloc_mut(t).expect("cpu allocation");
                let cfg = AdamConfig {
                    lr,
                    betas: self.betas,
                    eps: self.eps,
                    weight_decay: decay.map(if self.kind == OptimKind::Adam {
                        WeightDecay::L2
                    } else {
                        WeightDecay::Decoupled
                    }),
                };
                cfg.try_update(self.steps as i32, t, first, second, grad)
                    .expect("cpu adam kernel");
            }
        }
    }

    /// State buffers of every parameter as `(name, first, second)` host copies, for
    /// checkpoints. Missing buffers (before the first step) are zeros.
    pub fn export(&mut self, store: &ParamStore) -> Vec<(String, Vec<f32>, Vec<f32>)> {
        store
            .params
            .iter()
            .map(|p| {
                let (a, b) = match &p.tensor {
                    ParamTensor::Matrix(t) => (read(&mut self.first, t), read(&mut self.second, t)),
                    ParamTensor::Vector(t) => (read(&mut self.first, t), read(&mut self.second, t)),
                };
                (p.name.clone(), a, b)
            })
            .collect()
    }

    /// Restore buffers exported by [`Optimizer::export`] (same parameter order).
    pub fn import(&mut self, store: &ParamStore, state: &[(Vec<f32>, Vec<f32>)], steps: u64) {
        self.steps = steps;
        self.first = Gradients::leaky();
        self.second = Gradients::leaky();
        for (p, (a, b)) in store.params.iter().zip(state) {
            match &p.tensor {
                ParamTensor::Matrix(t) => {
                    write(&mut self.first, t, a);
                    write(&mut self.second, t, b);
                }
                ParamTensor::Vector(t) => {
                    write(&mut self.first, t, a);
                    write(&mut self.second, t, b);
                }
            }
        }
    }
}

fn read<S: Shape>(g: &mut Gradients<f32, Dev>, t: &Tensor<S, f32, Dev>) -> Vec<f32> {
    g.get_or_alloc_mut(t).expect("cpu allocation").to_vec()
}

fn write<S: Shape>(g: &mut Gradients<f32, Dev>, t: &Tensor<S, f32, Dev>, values: &[f32]) {
    g.get_or_alloc_mut(t)
        .expect("cpu allocation")
        .copy_from_slice(values);
}

/// Mutable access to the gradient buffer of a parameter (gradient modulation edits it in
/// place before the update).
pub fn grad_mut<'a>(grads: &'a mut Gradients<f32, Dev>, p: &ParamTensor) -> &'a mut [f32] {
    match p {
        ParamTensor::Matrix(t) => grads.get_or_alloc_mut(t).expect("cpu allocation"),
        ParamTensor::Vector(t) => grads.get_or_alloc_mut(t).expect("cpu allocation"),
    }
}

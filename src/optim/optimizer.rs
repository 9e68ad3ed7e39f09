//! Optimisers over the named parameter store, driving dfdx's own update kernels per tensor
//! (SGD with classic momentum, Adam, AdamW) with state kept in per-parameter host-visible
//! buffers so it can be checkpointed.

use super::config::{self as typed, UpdateRule};
use super::updater::{Updater, UpdaterState};
use crate::model::params::{Group, ParamStore, ParamTensor};
use crate::model::Backend;
use dfdx::prelude::*;
use dfdx::tensor::Gradients;

/// An optimiser and its state.
pub struct Optimizer<D: Backend> {
    rule: UpdateRule,
    weight_decay: f64,
    /// Steps taken (Adam's t).
    pub steps: u64,
    /// First moment / velocity, per parameter, keyed by the parameter tensor.
    first: Gradients<f32, D>,
    /// Second moment (Adam), per parameter.
    second: Gradients<f32, D>,
}

impl<D: Backend> Optimizer<D> {
    /// A fresh optimiser for the recipe's `[optim]`.
    pub fn new(cfg: &typed::Optimizer) -> Self {
        Self {
            rule: cfg.rule,
            weight_decay: cfg.weight_decay,
            steps: 0,
            first: Gradients::leaky(),
            second: Gradients::leaky(),
        }
    }

    /// Apply one update with learning rate `lr` from `grads` to every parameter.
    pub fn step(&mut self, store: &mut ParamStore<D>, grads: &mut Gradients<f32, D>, lr: f64) {
        self.step_groups(store, grads, lr, &|_| true);
    }

    /// Apply one update to the parameters whose group `include` accepts. The others are not
    /// touched at all — no momentum, no weight decay — so a group a method leaves out has no
    /// gradient rather than a zero one.
    pub fn step_groups(
        &mut self,
        store: &mut ParamStore<D>,
        grads: &mut Gradients<f32, D>,
        lr: f64,
        include: &dyn Fn(Group) -> bool,
    ) {
        self.steps += 1;
        for p in store
            .params
            .iter_mut()
            .filter(|p| !p.buffer && include(p.group))
        {
            match &mut p.tensor {
                ParamTensor::Matrix(t) => self.update(t, grads, lr),
                ParamTensor::Vector(t) => self.update(t, grads, lr),
            }
        }
    }

    fn update<S: Shape>(
        &mut self,
        t: &mut Tensor<S, f32, D>,
        grads: &mut Gradients<f32, D>,
        lr: f64,
    ) {
        let grad = grads.get_or_alloc_mut(t).expect("gradient allocation");
        let first = self.first.get_or_alloc_mut(t).expect("gradient allocation");
        let decay = (self.weight_decay > 0.0).then_some(self.weight_decay);
        match self.rule {
            UpdateRule::Sgd { momentum } => {
                let cfg = SgdConfig {
                    lr,
                    momentum: (momentum > 0.0).then_some(Momentum::Classic(momentum)),
                    weight_decay: decay.map(WeightDecay::L2),
                };
                cfg.try_update(t, first, grad).expect("sgd kernel");
            }
            UpdateRule::Adam { betas, eps } | UpdateRule::AdamW { betas, eps } => {
                let second = self
                    .second
                    .get_or_alloc_mut(t)
                    .expect("gradient allocation");
                let cfg = AdamConfig {
                    lr,
                    betas,
                    eps,
                    weight_decay: decay.map(if matches!(self.rule, UpdateRule::Adam { .. }) {
                        WeightDecay::L2
                    } else {
                        WeightDecay::Decoupled
                    }),
                };
                cfg.try_update(self.steps as i32, t, first, second, grad)
                    .expect("adam kernel");
            }
        }
    }

    /// State buffers of every parameter as `(name, first, second)` host copies, for
    /// checkpoints. Missing buffers (before the first step) are zeros.
    pub fn export(&mut self, store: &ParamStore<D>) -> Vec<(String, Vec<f32>, Vec<f32>)> {
        let dev = &store.dev;
        store
            .params
            .iter()
            .map(|p| {
                if p.buffer {
                    // Never optimised: no state (and no entry in the state maps).
                    let n = p.tensor.dims().iter().product();
                    return (p.name.clone(), vec![0.0; n], vec![0.0; n]);
                }
                let (a, b) = match &p.tensor {
                    ParamTensor::Matrix(t) => (
                        read(dev, &mut self.first, t),
                        read(dev, &mut self.second, t),
                    ),
                    ParamTensor::Vector(t) => (
                        read(dev, &mut self.first, t),
                        read(dev, &mut self.second, t),
                    ),
                };
                (p.name.clone(), a, b)
            })
            .collect()
    }

    /// Restore buffers exported by [`Optimizer::export`] (same parameter order).
    pub fn import(&mut self, store: &ParamStore<D>, state: &[(Vec<f32>, Vec<f32>)], steps: u64) {
        self.steps = steps;
        self.first = Gradients::leaky();
        self.second = Gradients::leaky();
        let dev = &store.dev;
        for (p, (a, b)) in store.params.iter().zip(state) {
            if p.buffer {
                continue;
            }
            match &p.tensor {
                ParamTensor::Matrix(t) => {
                    write(dev, &mut self.first, t, a);
                    write(dev, &mut self.second, t, b);
                }
                ParamTensor::Vector(t) => {
                    write(dev, &mut self.first, t, a);
                    write(dev, &mut self.second, t, b);
                }
            }
        }
    }
}

fn read<D: Backend, S: Shape>(
    dev: &D,
    g: &mut Gradients<f32, D>,
    t: &Tensor<S, f32, D>,
) -> Vec<f32> {
    dev.read(g.get_or_alloc_mut(t).expect("gradient allocation"))
}

fn write<D: Backend, S: Shape>(
    dev: &D,
    g: &mut Gradients<f32, D>,
    t: &Tensor<S, f32, D>,
    values: &[f32],
) {
    dev.edit(
        g.get_or_alloc_mut(t).expect("gradient allocation"),
        &mut |buf| buf.copy_from_slice(values),
    );
}

impl<D: Backend> Updater<D> for Optimizer<D> {
    fn update(
        &mut self,
        store: &mut ParamStore<D>,
        grads: &mut Gradients<f32, D>,
        lr: f64,
        include: &dyn Fn(Group) -> bool,
    ) {
        self.step_groups(store, grads, lr, include);
    }

    fn export_state(&mut self, store: &ParamStore<D>) -> UpdaterState {
        let (first, second) = self
            .export(store)
            .into_iter()
            .map(|(_, a, b)| (a, b))
            .unzip();
        UpdaterState {
            steps: self.steps,
            first,
            second,
        }
    }

    fn import_state(&mut self, store: &ParamStore<D>, state: &UpdaterState) {
        let buffers: Vec<(Vec<f32>, Vec<f32>)> = state
            .first
            .iter()
            .cloned()
            .zip(state.second.iter().cloned())
            .collect();
        self.import(store, &buffers, state.steps);
    }
}

pub use crate::model::grads::edit_grad;

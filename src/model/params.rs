//! The parameter store: every trainable tensor with a stable hierarchical name
//! (`encoder.audio.layers.0.weight`), initialised on the host from the `init` stream and
//! uploaded, so that every device starts from identical weights.

use super::backend::Backend;
use dfdx::prelude::*;
use rand::Rng;

/// The default compute device.
pub type Dev = Cpu;
/// A runtime-width matrix on device `D`, optionally carrying a gradient tape.
pub type Matrix<D = Dev, T = NoneTape> = Tensor<(usize, usize), f32, D, T>;
/// A runtime-width vector on device `D`.
pub type Vector<D = Dev, T = NoneTape> = Tensor<(usize,), f32, D, T>;
/// The gradient tape used in training on device `D`.
pub type Tape<D = Dev> = OwnedTape<f32, D>;

/// A parameter tensor: a weight matrix (out × in) or a bias vector.
#[derive(Debug, Clone)]
pub enum ParamTensor<D: Backend = Dev> {
    /// Weight, PyTorch layout `(out, in)`.
    Matrix(Matrix<D>),
    /// Bias.
    Vector(Vector<D>),
}

impl<D: Backend> ParamTensor<D> {
    /// Values, row-major.
    pub fn to_host(&self) -> Vec<f32> {
        match self {
            ParamTensor::Matrix(t) => t.as_vec(),
            ParamTensor::Vector(t) => t.as_vec(),
        }
    }

    /// Shape as a list of dimensions.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            ParamTensor::Matrix(t) => vec![t.shape().0, t.shape().1],
            ParamTensor::Vector(t) => vec![t.shape().0],
        }
    }
}

/// What a tensor added by [`ParamStore::add_values`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A trainable weight or bias.
    Trainable,
    /// A trainable convolution filter bank `(c_out, c_in·k·k)`.
    ConvWeight,
    /// A buffer (running statistic).
    Buffer,
}

/// Which part of the model a parameter belongs to (gradient modulation scales encoder groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The encoder of modality `m` (index into the recipe's modalities).
    Encoder(usize),
    /// Fusion layers and the head.
    Fusion,
    /// A unimodal probe head (trained on detached features).
    Probe(usize),
    /// Trainable parameters a training method owns (added by
    /// [`crate::method::Method::add_parameters`]; names start with `method.`).
    Method,
}

/// One named parameter.
#[derive(Debug, Clone)]
pub struct Param<D: Backend = Dev> {
    /// Stable hierarchical name.
    pub name: String,
    /// Owning part of the model.
    pub group: Group,
    /// The tensor.
    pub tensor: ParamTensor<D>,
    /// Whether this is a convolution's filter bank (tagged explicitly, never matched by name).
    pub conv: bool,
    /// Whether this is a buffer (a batch norm's running mean or variance): saved and restored
    /// with the parameters, never given a gradient, never optimised or modulated.
    pub buffer: bool,
}

/// Index of a parameter in its store.
pub type ParamId = usize;

/// A host tensor with its name and shape: `(name, shape, values)`, as checkpoints and saved
/// models store them.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// All parameters of a model, in creation order.
#[derive(Debug, Clone)]
pub struct ParamStore<D: Backend = Dev> {
    /// The parameters.
    pub params: Vec<Param<D>>,
    /// The device they live on.
    pub dev: D,
    /// Running-statistics updates recorded by training-mode forward passes, applied in order
    /// by [`ParamStore::apply_running_updates`] after the step.
    pub running: RunningUpdates,
    /// Running-statistics updates applied over the store's life (one per buffer per
    /// training-mode pass): how the tests count a method's batch-norm passes.
    pub running_applied: u64,
}

/// One exponential-average update of a buffer: `r ← (1 − momentum)·r + momentum·value`.
#[derive(Debug, Clone)]
pub struct RunningUpdate {
    /// The buffer.
    pub id: ParamId,
    /// PyTorch's momentum (0.1 for batch norm).
    pub momentum: f32,
    /// This batch's statistic.
    pub value: Vec<f32>,
}

/// The queue of [`RunningUpdate`]s of the step in progress. A forward pass takes `&self`, so
/// the queue is behind a lock; a cloned store starts with an empty queue of its own.
#[derive(Debug, Default)]
pub struct RunningUpdates(std::sync::Mutex<Vec<RunningUpdate>>);

impl Clone for RunningUpdates {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl RunningUpdates {
    /// Record an update (applied after the step, in recording order).
    pub fn push(&self, update: RunningUpdate) {
        self.0
            .lock()
            .expect("running-statistics queue")
            .push(update);
    }

    /// Take every recorded update.
    pub fn take(&self) -> Vec<RunningUpdate> {
        std::mem::take(&mut *self.0.lock().expect("running-statistics queue"))
    }
}

impl<D: Backend> ParamStore<D> {
    /// Every tensor as `(name, shape, values)` in host memory, in the store's order (what a
    /// checkpoint or a saved model stores).
    pub fn named_host_tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.tensor.dims(), p.tensor.to_host()))
            .collect()
    }

    /// Every parameter's name, in the store's order (what a checkpoint is read against).
    pub fn names(&self) -> Vec<String> {
        self.params.iter().map(|p| p.name.clone()).collect()
    }

    /// An empty store on `dev`.
    pub fn new(dev: D) -> Self {
        Self {
            params: Vec::new(),
            dev,
            running: RunningUpdates::default(),
            running_applied: 0,
        }
    }

    /// Add a tensor with given values: a trainable vector or matrix (`dims` of length 1 or
    /// 2), or a buffer.
    pub fn add_values(
        &mut self,
        name: String,
        dims: (usize, Option<usize>),
        values: Vec<f32>,
        group: Group,
        kind: ValueKind,
    ) -> ParamId {
        let tensor = match dims {
            (rows, Some(cols)) => {
                ParamTensor::Matrix(self.dev.tensor_from_vec(values, (rows, cols)))
            }
            (len, None) => ParamTensor::Vector(self.dev.tensor_from_vec(values, (len,))),
        };
        self.params.push(Param {
            name,
            group,
            tensor,
            conv: kind == ValueKind::ConvWeight,
            buffer: kind == ValueKind::Buffer,
        });
        self.params.len() - 1
    }

    /// The trainable parameters (every one but the buffers).
    pub fn trainable(&self) -> impl Iterator<Item = &Param<D>> {
        self.params.iter().filter(|p| !p.buffer)
    }

    /// Apply the running-statistics updates recorded since the last call, in order (after a
    /// training step); returns how many were applied.
    pub fn apply_running_updates(&mut self) -> usize {
        let updates = self.running.take();
        for u in &updates {
            let mut r = self.params[u.id].tensor.to_host();
            assert_eq!(
                r.len(),
                u.value.len(),
                "running statistic of {}",
                self.params[u.id].name
            );
            let keep = 1.0 - u.momentum;
            for (r, v) in r.iter_mut().zip(&u.value) {
                *r = keep * *r + u.momentum * v;
            }
            self.set_values(u.id, r);
        }
        self.running_applied += updates.len() as u64;
        updates.len()
    }

    /// Drop the recorded running-statistics updates (a step that was refused).
    pub fn discard_running_updates(&self) {
        self.running.take();
    }

    /// Add a PyTorch-default-initialised linear layer's weight `(out, in)` and bias `(out)`:
    /// both U(−1/√in, 1/√in), weight drawn first, row-major.
    pub fn add_linear(
        &mut self,
        prefix: &str,
        inp: usize,
        out: usize,
        group: Group,
        rng: &mut impl Rng,
    ) -> (ParamId, ParamId) {
        let bound = 1.0 / (inp as f64).sqrt();
        let mut uniform = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| rng.gen_range(-bound..bound) as f32)
                .collect()
        };
        let w = uniform(out * inp);
        let b = uniform(out);
        let wt = self.dev.tensor_from_vec(w, (out, inp));
        let bt = self.dev.tensor_from_vec(b, (out,));
        self.params.push(Param {
            name: format!("{prefix}.weight"),
            group,
            tensor: ParamTensor::Matrix(wt),
            conv: false,
            buffer: false,
        });
        self.params.push(Param {
            name: format!("{prefix}.bias"),
            group,
            tensor: ParamTensor::Vector(bt),
            conv: false,
            buffer: false,
        });
        (self.params.len() - 2, self.params.len() - 1)
    }

    /// The matrix parameter `id`.
    pub fn matrix(&self, id: ParamId) -> &Matrix<D> {
        match &self.params[id].tensor {
            ParamTensor::Matrix(t) => t,
            ParamTensor::Vector(_) => panic!("parameter {} is a vector", self.params[id].name),
        }
    }

    /// The vector parameter `id`.
    pub fn vector(&self, id: ParamId) -> &Vector<D> {
        match &self.params[id].tensor {
            ParamTensor::Vector(t) => t,
            ParamTensor::Matrix(_) => panic!("parameter {} is a matrix", self.params[id].name),
        }
    }

    /// Number of scalar trainable parameters (buffers not counted).
    pub fn count(&self) -> usize {
        self.trainable()
            .map(|p| p.tensor.dims().iter().product::<usize>())
            .sum()
    }

    /// Replace parameter `id`'s values (same shape).
    pub fn set_values(&mut self, id: ParamId, values: Vec<f32>) {
        let dev = self.dev.clone();
        let p = &mut self.params[id];
        p.tensor = match &p.tensor {
            ParamTensor::Matrix(t) => ParamTensor::Matrix(dev.tensor_from_vec(values, *t.shape())),
            ParamTensor::Vector(t) => ParamTensor::Vector(dev.tensor_from_vec(values, *t.shape())),
        };
    }
}

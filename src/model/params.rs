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

/// Which part of the model a parameter belongs to (gradient modulation scales encoder groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The encoder of modality `m` (index into the recipe's modalities).
    Encoder(usize),
    /// Fusion layers and the head.
    Fusion,
    /// A unimodal probe head (trained on detached features).
    Probe(usize),
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
}

/// Index of a parameter in its store.
pub type ParamId = usize;

/// All parameters of a model, in creation order.
#[derive(Debug, Clone)]
pub struct ParamStore<D: Backend = Dev> {
    /// The parameters.
    pub params: Vec<Param<D>>,
    /// The device they live on.
    pub dev: D,
}

impl<D: Backend> ParamStore<D> {
    /// An empty store on `dev`.
    pub fn new(dev: D) -> Self {
        Self {
            params: Vec::new(),
            dev,
        }
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
        });
        self.params.push(Param {
            name: format!("{prefix}.bias"),
            group,
            tensor: ParamTensor::Vector(bt),
            conv: false,
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

    /// Number of scalar parameters.
    pub fn count(&self) -> usize {
        self.params
            .iter()
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

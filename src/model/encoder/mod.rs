//! Encoders build themselves from their resolved recipe spec, one file per kind: `mlp` and
//! `conv` ([`stack`]), `resnet18` ([`crate::model::resnet`]). The model builder only asks
//! for "modality m's encoder".

pub mod stack;

use super::backend::Backend;
use super::exchange::StageShape;
use super::params::{Group, Matrix, ParamStore, Tape};
use super::resnet::{Mode, ResNet18};
use crate::model::config::{self as typed, EncoderBody};
use rand::Rng;
use stack::Stack;

/// One modality's encoder.
#[derive(Debug, Clone)]
pub struct Encoder<D: Backend> {
    body: Body<D>,
    /// Output (feature) width.
    pub out: usize,
}

#[derive(Debug, Clone)]
enum Body<D: Backend> {
    Stack(Stack<D>),
    ResNet18(Box<ResNet18>),
}

impl<D: Backend> Encoder<D> {
    /// Modality `m`'s (`name`) encoder on inputs `width` wide, its weights drawn from `rng`.
    pub fn build(
        store: &mut ParamStore<D>,
        name: &str,
        m: usize,
        spec: &typed::Encoder,
        width: usize,
        rng: &mut impl Rng,
    ) -> Encoder<D> {
        let body = match &spec.body {
            EncoderBody::Mlp | EncoderBody::Conv { .. } => {
                Body::Stack(Stack::new(store, name, m, spec, width, rng))
            }
            &EncoderBody::ResNet18 {
                shape: [_, h, w],
                in_channels,
                width: base,
                frames,
            } => Body::ResNet18(Box::new(ResNet18::new(
                store,
                &format!("encoder.{name}"),
                in_channels,
                (h, w),
                frames,
                base,
                Group::Encoder(m),
                rng,
            ))),
        };
        Encoder {
            body,
            out: spec.out,
        }
    }

    /// Features of `(n, width)` rows; layers with a mode (batch norm) train when the pass
    /// records a tape and evaluate otherwise ([`Mode::of_tape`]).
    pub fn forward<T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        self.forward_mode(x, store, Mode::of_tape::<D, T>())
    }

    /// Features of `(n, width)` rows in an explicit mode.
    pub fn forward_mode<T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
        mode: Mode,
    ) -> Matrix<D, T> {
        match &self.body {
            Body::Stack(s) => s.forward(x, store),
            Body::ResNet18(r) => r.forward(x, store, mode),
        }
    }

    /// Features in training from host rows of data (`n` of them), the tape starting here;
    /// batch norms in `mode` ([`Mode::Train`] for a step's forward).
    pub fn forward_input(
        &self,
        rows: Vec<f32>,
        n: usize,
        store: &ParamStore<D>,
        mode: Mode,
    ) -> Matrix<D, Tape<D>> {
        if let Body::Stack(s) = &self.body {
            if let Some(h) = s.forward_input(&rows, n, store) {
                return h;
            }
        }
        let width = rows.len() / n.max(1);
        let x: Matrix<D> = store.dev.tensor_from_vec(rows, (n, width));
        self.forward_mode(x.retaped::<Tape<D>>(), store, mode)
    }

    /// Number of stages for cross-modal blocks ([`crate::model::exchange`]).
    pub fn stages(&self) -> usize {
        match &self.body {
            Body::Stack(s) => s.stages(),
            Body::ResNet18(_) => super::resnet::STAGES,
        }
    }

    /// Apply stage `s`; layers with a mode (batch norm) train when the pass records a tape.
    pub fn forward_stage<T: dfdx::tensor::Tape<f32, D>>(
        &self,
        s: usize,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        match &self.body {
            Body::Stack(stack) => stack.forward_stage(s, x, store),
            Body::ResNet18(r) => r.forward_stage(s, x, store, Mode::of_tape::<D, T>()),
        }
    }

    /// The features from the last stage's output: ResNet-18's pooling; the output itself
    /// for a stack.
    pub fn finish_stages<T: dfdx::tensor::Tape<f32, D>>(&self, h: Matrix<D, T>) -> Matrix<D, T> {
        match &self.body {
            Body::Stack(_) => h,
            Body::ResNet18(r) => r.pool_features(h),
        }
    }

    /// The layout of stage `s`'s output.
    pub fn stage_shape(&self, s: usize) -> StageShape {
        match &self.body {
            Body::Stack(stack) => stack.stage_shape(s),
            Body::ResNet18(r) => r.stage_shape(s),
        }
    }

    /// Matrix products per sample as `(rows, inner, cols)`.
    pub fn matmul_shapes(&self) -> Vec<(usize, usize, usize)> {
        match &self.body {
            Body::Stack(s) => s.matmul_shapes(),
            Body::ResNet18(r) => r.matmul_shapes(),
        }
    }
}

//! The `mlp` and `conv` encoder kinds: conv blocks (conv only; k × k "same" convolution,
//! ReLU, 2 × 2 max pooling) then fully connected layers, each followed by the activation.

use super::super::backend::Backend;
use super::super::conv::ConvBlock;
use super::super::exchange::StageShape;
use super::super::layers::{activate, Linear};
use super::super::params::{Group, Matrix, ParamStore, Tape};
use crate::model::config::{self as typed, Activation, EncoderBody};
use rand::Rng;

/// Conv blocks (possibly none) and fully connected layers.
#[derive(Debug, Clone)]
pub struct Stack<D: Backend> {
    convs: Vec<ConvBlock<D>>,
    layers: Vec<Linear>,
    activation: Activation,
}

impl<D: Backend> Stack<D> {
    /// Build modality `m`'s (`name`) encoder on inputs `width` wide, weights from `rng` in
    /// layer order.
    pub fn new(
        store: &mut ParamStore<D>,
        name: &str,
        m: usize,
        spec: &typed::Encoder,
        width: usize,
        rng: &mut impl Rng,
    ) -> Stack<D> {
        let mut inp = width;
        let mut convs = Vec::new();
        if let EncoderBody::Conv {
            shape: [c, h, w],
            channels,
            kernel,
        } = &spec.body
        {
            let mut dims = (*c, *h, *w);
            for (i, &c_out) in channels.iter().enumerate() {
                let block = ConvBlock::new(
                    store,
                    &format!("encoder.{name}.conv.{i}"),
                    dims,
                    i == 0,
                    c_out,
                    *kernel,
                    Group::Encoder(m),
                    rng,
                );
                let (ph, pw, pc) = block.out_shape;
                dims = (pc, ph, pw);
                inp = ph * pw * pc;
                convs.push(block);
            }
        }
        let mut layers = Vec::new();
        for (l, &out) in spec
            .hidden
            .iter()
            .chain(std::iter::once(&spec.out))
            .enumerate()
        {
            let (w, b) = store.add_linear(
                &format!("encoder.{name}.layers.{l}"),
                inp,
                out,
                Group::Encoder(m),
                rng,
            );
            layers.push(Linear {
                weight: w,
                bias: b,
                inp,
                out,
            });
            inp = out;
        }
        Stack {
            convs,
            layers,
            activation: spec.activation,
        }
    }

    /// Apply to `(n, width)` rows.
    pub fn forward<T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        let x = self
            .convs
            .iter()
            .fold(x, |h, block| block.forward(h, store));
        self.layers.iter().fold(x, |h, layer| {
            activate(layer.forward(h, store), self.activation)
        })
    }

    /// Number of stages: conv blocks, then fully connected layers
    /// ([`crate::model::exchange`]).
    pub fn stages(&self) -> usize {
        self.convs.len() + self.layers.len()
    }

    /// The layout of stage `s`'s output: a conv block's pooled map, position by position
    /// (`h·w·c`), or a fully connected layer's width.
    pub fn stage_shape(&self, s: usize) -> StageShape {
        let (channels, positions) = match self.convs.get(s) {
            Some(block) => {
                let (h, w, c) = block.out_shape;
                (c, h * w)
            }
            None => (self.layers[s - self.convs.len()].out, 1),
        };
        StageShape {
            frames: 1,
            channels,
            positions,
            channels_first: false,
        }
    }

    /// Apply stage `s` (a conv block, or a layer and its activation).
    pub fn forward_stage<T: dfdx::tensor::Tape<f32, D>>(
        &self,
        s: usize,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        match self.convs.get(s) {
            Some(block) => block.forward(x, store),
            None => activate(
                self.layers[s - self.convs.len()].forward(x, store),
                self.activation,
            ),
        }
    }

    /// Apply in training to host rows: an MLP starts with [`Linear::forward_input`] (no
    /// gradient for the data) on devices with host memory; `None` when that does not apply.
    pub fn forward_input(
        &self,
        rows: &[f32],
        n: usize,
        store: &ParamStore<D>,
    ) -> Option<Matrix<D, Tape<D>>> {
        let (true, Some((first, rest))) = (
            D::HOST_INPUT_LAYER && self.convs.is_empty(),
            self.layers.split_first(),
        ) else {
            return None;
        };
        let h = activate(
            first.forward_input(rows.to_vec(), n, store),
            self.activation,
        );
        Some(rest.iter().fold(h, |h, layer| {
            activate(layer.forward(h, store), self.activation)
        }))
    }

    /// Matrix products per sample: (positions, patch, filters) per conv block, (1, in, out)
    /// per layer.
    pub fn matmul_shapes(&self) -> Vec<(usize, usize, usize)> {
        self.convs
            .iter()
            .map(|c| c.matmul_shape())
            .chain(self.layers.iter().map(|l| (1, l.inp, l.out)))
            .collect()
    }
}

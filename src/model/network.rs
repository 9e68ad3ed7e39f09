//! The multimodal network built from a recipe: one encoder per modality, a fusion, a linear
//! head, and (for film/gated) unimodal probes. Building blocks are exposed separately so the
//! training loop can mix between them.

use super::backend::Backend;
use super::config::{ModelSettings, UnimodalLogits};
use super::encoder::Encoder;
pub use super::fusion::Fusion;
use super::layers::Linear;
use super::params::{Dev, Group, Matrix, ParamStore, Tape};
use super::resnet::Mode;
use crate::mixup::mix;
use crate::rng::{stream, Stream};
use dfdx::prelude::*;

/// A built model and its parameters.
#[derive(Debug, Clone)]
pub struct Model<D: Backend = Dev> {
    /// All parameters.
    pub store: ParamStore<D>,
    /// Encoders, in modality order.
    pub encoders: Vec<Encoder<D>>,
    /// Fusion.
    pub fusion: Fusion,
    /// Linear head on the fused feature: one for every fusion except
    /// [`Fusion::SumHeads`], which has one per modality (each on its modality's columns).
    pub heads: Vec<Linear>,
    /// Probes (film/gated), one per modality.
    pub probes: Vec<Linear>,
    /// Unimodal heads trained with their encoders (`unimodal_head.<modality>`, group
    /// [`Group::Fusion`]), one per modality: MMPareto's released model. Empty otherwise.
    pub unimodal_heads: Vec<Linear>,
    /// Number of classes.
    pub classes: usize,
}

impl<D: Backend> Model<D> {
    /// Build the recipe's model, initialising every weight from the `init` stream of `seed`
    /// in creation order: encoders (modality order, layer order), fusion, head, probes,
    /// unimodal heads.
    pub fn build(
        settings: &ModelSettings,
        widths: &[usize],
        classes: usize,
        seed: u64,
        dev: D,
    ) -> Model<D> {
        let mut rng = stream(seed, Stream::Init, 0);
        let mut store = ParamStore::new(dev);
        let names = &settings.modalities;
        let spec = &settings.model;
        let encoders: Vec<Encoder<D>> = names
            .iter()
            .zip(&spec.encoders)
            .enumerate()
            .map(|(m, (name, enc))| Encoder::build(&mut store, name, m, enc, widths[m], &mut rng))
            .collect();
        let widths_out: Vec<usize> = encoders.iter().map(|e| e.out).collect();
        let (fusion, fused_width) = Fusion::build(&spec.fusion, &widths_out, &mut store, &mut rng);
        let heads = match fusion {
            Fusion::SumHeads => names
                .iter()
                .zip(&encoders)
                .map(|(n, e)| {
                    Linear::new(
                        &mut store,
                        &format!("head.{n}"),
                        (e.out, classes),
                        Group::Fusion,
                        &mut rng,
                    )
                })
                .collect(),
            _ => vec![Linear::new(
                &mut store,
                "head",
                (fused_width, classes),
                Group::Fusion,
                &mut rng,
            )],
        };
        let probes = match spec.unimodal_logits {
            UnimodalLogits::Decompose => Vec::new(),
            UnimodalLogits::Probe => names
                .iter()
                .enumerate()
                .map(|(m, n)| {
                    Linear::new(
                        &mut store,
                        &format!("probe.{n}"),
                        (encoders[m].out, classes),
                        Group::Probe(m),
                        &mut rng,
                    )
                })
                .collect(),
        };
        let unimodal_heads = match settings.unimodal_heads {
            true => names
                .iter()
                .zip(&encoders)
                .map(|(n, e)| {
                    Linear::new(
                        &mut store,
                        &format!("unimodal_head.{n}"),
                        (e.out, classes),
                        Group::Fusion,
                        &mut rng,
                    )
                })
                .collect(),
            false => Vec::new(),
        };
        Model {
            store,
            encoders,
            fusion,
            heads,
            probes,
            unimodal_heads,
            classes,
        }
    }

    /// Encode modality `m`: a pass that records a tape trains (batch norms use and record
    /// batch statistics), one that does not evaluates ([`super::resnet::Mode::of_tape`]).
    pub fn encode<T: dfdx::tensor::Tape<f32, D>>(&self, m: usize, x: Matrix<D, T>) -> Matrix<D, T> {
        self.encoders[m].forward(x, &self.store)
    }

    /// Encode modality `m` in training, from host rows of data: MLP encoders start with
    /// [`super::layers::Linear::forward_input`] (no gradient for the data); conv and ResNet
    /// encoders start the tape on the input.
    pub fn encode_input(&self, m: usize, rows: Vec<f32>, n: usize) -> Matrix<D, Tape<D>> {
        self.encode_input_mode(m, rows, n, Mode::Train)
    }

    /// [`Model::encode_input`] with batch norms in an explicit mode: [`Mode::Eval`] for a
    /// taped pass under PyTorch's `eval()` (AGM's masked passes), [`Mode::TrainUnrecorded`]
    /// for a repeated forward of the step's batch (one running update per step, as one
    /// forward with several backwards).
    pub fn encode_input_mode(
        &self,
        m: usize,
        rows: Vec<f32>,
        n: usize,
        mode: Mode,
    ) -> Matrix<D, Tape<D>> {
        self.encoders[m].forward_input(rows, n, &self.store, mode)
    }

    /// Encode every modality stage by stage, side by side, running `blocks` after the stages
    /// it names ([`super::exchange`]). With blocks that change nothing this is
    /// [`Model::encode`] of each modality.
    pub fn encode_exchanging<T: dfdx::tensor::Tape<f32, D>, X: super::exchange::Exchange<D>>(
        &self,
        xs: Vec<Matrix<D, T>>,
        blocks: &X,
    ) -> Result<Vec<Matrix<D, T>>, super::exchange::ExchangeError> {
        use super::exchange::ExchangeError;
        let stages: Vec<usize> = self.encoders.iter().map(|e| e.stages()).collect();
        let after = blocks.after();
        for &stage in &after {
            if let Some(m) = stages.iter().position(|&s| stage >= s) {
                return Err(ExchangeError::NoSuchStage {
                    stage,
                    modality: format!("modality {m}"),
                    stages: stages[m],
                });
            }
        }
        let mut hs = xs;
        for s in 0..stages.iter().copied().max().unwrap_or(0) {
            hs = hs
                .into_iter()
                .enumerate()
                .map(|(m, h)| match s < stages[m] {
                    true => self.encoders[m].forward_stage(s, h, &self.store),
                    false => h,
                })
                .collect();
            if after.contains(&s) {
                hs = blocks.exchange(s, hs, &self.store);
            }
        }
        Ok(hs
            .into_iter()
            .zip(&self.encoders)
            .map(|(h, e)| e.finish_stages(h))
            .collect())
    }

    /// Fuse encoder features (modality order).
    pub fn fuse<T: dfdx::tensor::Tape<f32, D>>(&self, zs: Vec<Matrix<D, T>>) -> Matrix<D, T> {
        self.fusion.fuse(zs, &self.store)
    }

    /// The head's logits. With one head per modality ([`Fusion::SumHeads`]) each head reads its
    /// modality's columns of the concatenated feature and the logits are summed.
    pub fn head<T: dfdx::tensor::Tape<f32, D>>(&self, h: Matrix<D, T>) -> Matrix<D, T> {
        let [head] = self.heads.as_slice() else {
            let (h, tape) = h.split_tape();
            let mut tape = Some(tape);
            let mut offset = 0;
            let mut total: Option<Matrix<D, T>> = None;
            for (head, enc) in self.heads.iter().zip(&self.encoders) {
                // The slice is taken on the taped feature, so its backward reaches the encoders.
                let taped = match tape.take() {
                    Some(t) => h.clone().put_tape(t),
                    None => h.clone().retaped::<T>(),
                };
                let part = taped.slice((.., offset..offset + enc.out));
                offset += enc.out;
                let logits = head.forward(part, &self.store);
                total = Some(match total {
                    None => logits,
                    Some(acc) => acc + logits,
                });
            }
            return total.expect("one head per modality");
        };
        head.forward(h, &self.store)
    }

    /// Probe logits of modality `m` (probe mode only).
    pub fn probe<T: dfdx::tensor::Tape<f32, D>>(&self, m: usize, z: Matrix<D, T>) -> Matrix<D, T> {
        self.probes[m].forward(z, &self.store)
    }

    /// Every matrix product of one forward pass per sample, as `(rows per sample, inner,
    /// cols)`: linear layers are (1, in, out); a conv block is (positions, patch, filters).
    pub fn matmul_shapes(&self) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for e in &self.encoders {
            out.extend(e.matmul_shapes());
        }
        out.extend(self.fusion.matmul_shapes());
        out.extend(self.heads.iter().map(|h| (1, h.inp, h.out)));
        out.extend(self.probes.iter().map(|p| (1, p.inp, p.out)));
        out.extend(self.unimodal_heads.iter().map(|p| (1, p.inp, p.out)));
        out
    }

    /// Whether unimodal logits come from probes.
    pub fn uses_probes(&self) -> bool {
        !self.probes.is_empty()
    }

    /// Each modality's unimodal logits on clean features `zs` (no gradient): probe logits in
    /// probe mode, else the decomposed head ([`Model::decompose`]).
    pub fn unimodal<T: dfdx::tensor::Tape<f32, D>>(&self, zs: &[Matrix<D, T>]) -> Vec<Vec<f32>> {
        if self.uses_probes() {
            zs.iter()
                .enumerate()
                .map(|(m, z)| self.probe(m, super::layers::detach(z)).as_vec())
                .collect()
        } else {
            let n = zs.first().map_or(0, |z| z.shape().0);
            let host: Vec<Vec<f32>> = zs.iter().map(|z| z.as_vec()).collect();
            self.decompose(&host, n)
        }
    }

    /// Modality `m`'s decomposed unimodal logits u_m = z_m W_mᵀ + b/M as a trainable output
    /// (gradients reach the encoder and the head): concat fusion pads z_m with zeros at the
    /// other modalities' columns, sum fusion uses z_m as is; with one head per modality u_m is
    /// that head's output with its full bias. `None` for fusions without a decomposable head
    /// (film, gated).
    pub fn unimodal_taped(
        &self,
        m: usize,
        z: Matrix<D, Tape<D>>,
        modalities: usize,
    ) -> Option<Matrix<D, Tape<D>>> {
        let scale = 1.0 / modalities as f32;
        let head = &self.heads[0];
        match self.fusion {
            Fusion::SumHeads => Some(self.heads[m].forward(z, &self.store)),
            Fusion::Sum => Some(head.forward_scaled_bias(z, &self.store, scale)),
            Fusion::Concat => {
                let n = z.shape().0;
                let dev = &self.store.dev;
                let zeros = |d: usize| -> Matrix<D, Tape<D>> { dev.zeros_like(&(n, d)).retaped() };
                let before: usize = self.encoders[..m].iter().map(|e| e.out).sum();
                let after: usize = self.encoders[m + 1..].iter().map(|e| e.out).sum();
                let mut padded = z;
                if before > 0 {
                    padded = (zeros(before), padded).concat_along(Axis::<1>);
                }
                if after > 0 {
                    padded = (padded, zeros(after)).concat_along(Axis::<1>);
                }
                Some(head.forward_scaled_bias(padded, &self.store, scale))
            }
            Fusion::Film { .. } | Fusion::Gated { .. } => None,
        }
    }

    /// Unimodal logits by decomposing the linear head (concat/sum): u_m = z_m W_mᵀ + b/M, from
    /// host copies of the clean features `zs` (each `n × d_m`); with one head per modality
    /// (sum-heads) u_m = z_m W_mᵀ + b_m, that head's output. Σ_m u_m equals the fused logits.
    pub fn decompose(&self, zs: &[Vec<f32>], n: usize) -> Vec<Vec<f32>> {
        let k = self.classes;
        let m_count = zs.len() as f32;
        let mut offset = 0;
        zs.iter()
            .enumerate()
            .map(|(m, z)| {
                let d = self.encoders[m].out;
                // Which head, at which column, with which share of its bias.
                let (head, col, share) = match self.fusion {
                    Fusion::SumHeads => (&self.heads[m], 0, 1.0),
                    Fusion::Concat => (&self.heads[0], offset, m_count),
                    _ => (&self.heads[0], 0, m_count),
                };
                offset += d;
                let w = self.store.matrix(head.weight).as_vec();
                let b = self.store.vector(head.bias).as_vec();
                let width = head.inp;
                let mut u = vec![0f32; n * k];
                for i in 0..n {
                    let zi = &z[i * d..(i + 1) * d];
                    for c in 0..k {
                        let wr = &w[c * width + col..c * width + col + d];
                        let dot: f32 = zi.iter().zip(wr).map(|(a, b)| a * b).sum();
                        u[i * k + c] = dot + b[c] / share;
                    }
                }
                u
            })
            .collect()
    }
}

/// Accuracy of argmax predictions.
pub fn accuracy(logits: &[f32], labels: &[usize], classes: usize) -> f64 {
    let hits = labels
        .iter()
        .enumerate()
        .filter(|(i, &y)| {
            crate::mixup::contribution::argmax(&logits[i * classes..(i + 1) * classes]) == y
        })
        .count();
    hits as f64 / labels.len().max(1) as f64
}

/// Soft-label cross-entropy of host logits (used for reporting, not training).
pub fn mean_cross_entropy(logits: &[f32], labels: &[usize], classes: usize) -> f64 {
    let ce = mix::soft_cross_entropy(logits, &mix::one_hot(labels, classes), classes);
    ce.iter().sum::<f64>() / ce.len().max(1) as f64
}

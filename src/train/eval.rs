//! Evaluation of the fused model (through the method's `predict`) and of each modality's own
//! logits on a set of samples.

use super::batch;
use super::metrics::macro_f1;
use crate::data::Dataset;
use crate::method::Method;
use crate::mixup::contribution::argmax;
use crate::model::{Backend, Model};

/// Scores on one split.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Fused accuracy.
    pub accuracy: f64,
    /// Fused macro-F1.
    pub macro_f1: f64,
    /// Accuracy of each modality's unimodal logits.
    pub modality_accuracy: Vec<f64>,
}

/// Evaluate on samples `idx` in chunks of 1024 (no tape, no randomness).
pub fn evaluate<D: Backend>(
    model: &Model<D>,
    method: &dyn Method<D>,
    data: &Dataset,
    idx: &[usize],
) -> Evaluation {
    let k = model.classes;
    let m_count = data.modalities.len();
    let mut pred = Vec::with_capacity(idx.len());
    let mut hits = vec![0usize; m_count];
    let labels = batch::labels(data, idx);
    for (c, chunk) in idx.chunks(1024).enumerate() {
        let n = chunk.len();
        let xs = batch::upload(&model.store.dev, batch::gather_host(data, chunk), data, n);
        let zs: Vec<_> = xs
            .into_iter()
            .enumerate()
            .map(|(m, x)| model.encode(m, x))
            .collect();
        let unimodal = model.unimodal(&zs);
        let logits = method.predict(model, zs);
        let y = &labels[c * 1024..c * 1024 + n];
        for i in 0..n {
            pred.push(argmax(&logits[i * k..(i + 1) * k]));
            for (m, u) in unimodal.iter().enumerate() {
                if argmax(&u[i * k..(i + 1) * k]) == y[i] {
                    hits[m] += 1;
                }
            }
        }
    }
    let correct = pred.iter().zip(&labels).filter(|(p, y)| p == y).count();
    let n = idx.len().max(1) as f64;
    Evaluation {
        accuracy: correct as f64 / n,
        macro_f1: macro_f1(&pred, &labels, k),
        modality_accuracy: hits.iter().map(|&h| h as f64 / n).collect(),
    }
}

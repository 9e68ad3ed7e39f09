//! Evaluation of the fused model (through the method's `predict`) and of each modality's own
//! logits on a set of samples.

use super::batch;
use crate::data::error::MediaReadError;
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
    /// Confusion matrix of the fused predictions: `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Evaluate on samples `idx` in chunks of 1024 (no tape, no randomness).
pub fn evaluate<D: Backend>(
    model: &Model<D>,
    method: &dyn Method<D>,
    data: &Dataset,
    idx: &[usize],
) -> Result<Evaluation, MediaReadError> {
    evaluate_inputs(model, method, data, idx, &|_, _| {})
}

/// A change of a chunk's host rows (one `n × width` vector per modality) given the chunk's
/// sample indices.
pub type InputTransform<'a> = dyn Fn(&mut [Vec<f32>], &[usize]) + 'a;

/// [`evaluate`] with the host rows of each chunk (one `n × width` vector per modality) passed
/// through `transform` with the chunk's sample indices before the model sees them (test-time
/// corruptions).
pub fn evaluate_inputs<D: Backend>(
    model: &Model<D>,
    method: &dyn Method<D>,
    data: &Dataset,
    idx: &[usize],
    transform: &InputTransform,
) -> Result<Evaluation, MediaReadError> {
    let k = model.classes;
    let m_count = data.modalities.len();
    let mut pred = Vec::with_capacity(idx.len());
    let mut hits = vec![0usize; m_count];
    let labels = batch::labels(data, idx);
    let size = data.chunk();
    for (c, chunk) in idx.chunks(size).enumerate() {
        let n = chunk.len();
        let mut rows = batch::gather_host(data, chunk)?;
        transform(&mut rows, chunk);
        let xs = batch::upload(&model.store.dev, rows, data, n);
        let zs = method.encode_eval(model, xs);
        let unimodal = method.unimodal_eval(model, &zs);
        let logits = method.predict(model, zs);
        let y = &labels[c * size..c * size + n];
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
    let mut confusion = vec![vec![0usize; k]; k];
    for (&p, &y) in pred.iter().zip(&labels) {
        confusion[y][p] += 1;
    }
    Ok(Evaluation {
        accuracy: correct as f64 / n,
        macro_f1: macro_f1(&pred, &labels, k),
        modality_accuracy: hits.iter().map(|&h| h as f64 / n).collect(),
        confusion,
    })
}

/// Macro-averaged F1 over `classes` from predictions and labels.
pub fn macro_f1(pred: &[usize], labels: &[usize], classes: usize) -> f64 {
    let mut tp = vec![0usize; classes];
    let mut fp = vec![0usize; classes];
    let mut fneg = vec![0usize; classes];
    for (&p, &y) in pred.iter().zip(labels) {
        if p == y {
            tp[y] += 1;
        } else {
            fp[p] += 1;
            fneg[y] += 1;
        }
    }
    let f1: f64 = (0..classes)
        .map(|c| {
            let denom = 2 * tp[c] + fp[c] + fneg[c];
            if denom == 0 {
                0.0
            } else {
                2.0 * tp[c] as f64 / denom as f64
            }
        })
        .sum();
    f1 / classes as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_of_known_confusion() {
        // class 0: tp 1, fn 1 → F1 2/3; class 1: tp 1, fp 1 → F1 2/3.
        assert!((macro_f1(&[0, 1, 1], &[0, 0, 1], 2) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(macro_f1(&[0, 1], &[0, 1], 2), 1.0);
    }
}

//! Evaluation of a trained model under the recipe's test-time corruptions
//! (`train.eval.robustness`): every kind, corrupted modality and severity, on the test split.

use super::eval::evaluate_inputs;
use crate::data::corrupt::{Corruption, TrainStats};
use crate::data::error::MediaReadError;
use crate::data::{Dataset, Splits};
use crate::kind_name::kind_name;
use crate::method::Method;
use crate::model::{Backend, Model};
use crate::recipe::typed::Robustness;
use crate::record::RobustnessRow;

/// Scores of `model` (predicting through `method`) on the test split under every corruption of
/// `spec`, in recipe order: for each kind, each modality, each severity. `shapes` holds each
/// modality's image shape (for occlusion and blur). Severity 0 is the clean evaluation itself.
pub fn evaluate_robustness<D: Backend>(
    model: &Model<D>,
    method: &dyn Method<D>,
    data: &Dataset,
    splits: &Splits,
    shapes: &[Option<[usize; 3]>],
    spec: &Robustness,
) -> Result<Vec<RobustnessRow>, MediaReadError> {
    let stats = TrainStats::of(data, &splits.train)?;
    let names: Vec<String> = data.modalities.iter().map(|m| m.name.clone()).collect();
    let mut rows = Vec::new();
    for (kind, severities) in &spec.corruptions {
        for &modality in &spec.modalities {
            for &severity in severities {
                let c = Corruption {
                    kind: *kind,
                    modality,
                    severity,
                };
                let e = evaluate_inputs(model, method, data, &splits.test, &|rows, samples| {
                    c.apply(
                        &mut rows[modality],
                        samples,
                        shapes[modality],
                        &stats,
                        spec.seed,
                    )
                })?;
                rows.push(RobustnessRow {
                    corruption: kind_name(kind),
                    modality: names[modality].clone(),
                    severity,
                    accuracy: e.accuracy,
                    macro_f1: e.macro_f1,
                    modality_accuracy: names.iter().cloned().zip(e.modality_accuracy).collect(),
                });
            }
        }
    }
    Ok(rows)
}

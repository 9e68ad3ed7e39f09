//! Per-epoch metrics and the `metrics.csv` layout.

use crate::method::metrics::{MetricColumn, MetricValue};
use serde::{Deserialize, Serialize};

/// One row of `metrics.csv`. Per-modality vectors follow the recipe's modality order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, 1-based.
    pub epoch: usize,
    /// Learning rate used in the epoch.
    pub lr: f64,
    /// Mean training loss (the mixed soft-label CE of the fused head) over samples.
    pub train_loss: f64,
    /// Validation accuracy (`None` without a validation split).
    pub val_accuracy: Option<f64>,
    /// Test accuracy of the fused model.
    pub test_accuracy: f64,
    /// Test macro-F1 of the fused model.
    pub test_macro_f1: f64,
    /// Test accuracy of each modality's own (unimodal) logits.
    pub modality_accuracy: Vec<f64>,
    /// The method's metrics of the epoch, in the method's column order
    /// ([`crate::method::Method::metric_columns`]; e.g. contribution, λ and gradient
    /// coefficients per modality).
    pub method: Vec<MetricValue>,
    /// Wall-clock seconds of the epoch (training and evaluation). Not a result: excluded from
    /// determinism comparisons.
    pub seconds: f64,
    /// Training steps per second in the epoch. Not a result, like `seconds`.
    pub steps_per_second: f64,
    /// Resident memory of the process at the end of the epoch, MiB (Linux `VmRSS`; 0 when
    /// unknown). Shows that memory stays flat across epochs. Not a result.
    #[serde(default)]
    pub memory_mib: f64,
}

/// Header of `metrics.csv` for these modalities and the method's metric columns.
pub fn header(modalities: &[String], method: &[MetricColumn]) -> Vec<String> {
    let mut h: Vec<String> = [
        "epoch",
        "lr",
        "train_loss",
        "val_accuracy",
        "test_accuracy",
        "test_macro_f1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(modalities.iter().map(|m| format!("accuracy_{m}")));
    h.extend(method.iter().map(|c| c.name.clone()));
    h.push("seconds".into());
    h.push("steps_per_second".into());
    h.push("memory_mib".into());
    h
}

impl EpochMetrics {
    /// The CSV cells, in [`header`] order. Floats use the shortest round-trip form.
    pub fn cells(&self) -> Vec<String> {
        let mut c = vec![
            self.epoch.to_string(),
            self.lr.to_string(),
            self.train_loss.to_string(),
            self.val_accuracy.map(|v| v.to_string()).unwrap_or_default(),
            self.test_accuracy.to_string(),
            self.test_macro_f1.to_string(),
        ];
        c.extend(self.modality_accuracy.iter().map(f64::to_string));
        c.extend(
            self.method
                .iter()
                .map(|v| v.value.map(|x| x.to_string()).unwrap_or_default()),
        );
        c.push(format!("{:.3}", self.seconds));
        c.push(format!("{:.1}", self.steps_per_second));
        c.push(format!("{:.1}", self.memory_mib));
        c
    }
}

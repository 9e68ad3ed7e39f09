//! Per-epoch metrics and the `metrics.csv` layout.

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
    /// Mean contribution c_m over training samples.
    pub contribution: Vec<f64>,
    /// Contribution EMA ĉ_m at the end of the epoch (B-MM only).
    pub contribution_ema: Option<Vec<f64>>,
    /// Mean λ_m over training samples (1 for unmixed samples).
    pub lambda_modality: Vec<f64>,
    /// Mean label ratio λ_y over training samples.
    pub lambda_label: f64,
    /// Mean gradient coefficient k_m of each modality over steps, as the method's gradient
    /// editors report it (OGM-GE's k_m; 1 when nothing scales the gradients).
    pub grad_k: Vec<f64>,
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

/// Header of `metrics.csv` for these modalities.
pub fn header(modalities: &[String]) -> Vec<String> {
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
    for prefix in ["accuracy", "contribution", "contribution_ema", "lambda"] {
        h.extend(modalities.iter().map(|m| format!("{prefix}_{m}")));
    }
    h.push("lambda_label".into());
    h.extend(modalities.iter().map(|m| format!("grad_k_{m}")));
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
        c.extend(self.contribution.iter().map(f64::to_string));
        match &self.contribution_ema {
            Some(e) => c.extend(e.iter().map(f64::to_string)),
            None => c.extend(self.contribution.iter().map(|_| String::new())),
        }
        c.extend(self.lambda_modality.iter().map(f64::to_string));
        c.push(self.lambda_label.to_string());
        c.extend(self.grad_k.iter().map(f64::to_string));
        c.push(format!("{:.3}", self.seconds));
        c.push(format!("{:.1}", self.steps_per_second));
        c.push(format!("{:.1}", self.memory_mib));
        c
    }
}

//! `robustness.csv`: a run's test scores under each corruption, modality and severity.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// File name inside a run directory.
pub const ROBUSTNESS: &str = "robustness.csv";

/// Test scores of the reported model under one corruption of one modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustnessRow {
    /// Corruption kind (`missing-zero`, `gaussian`, …).
    pub corruption: String,
    /// The corrupted modality.
    pub modality: String,
    /// Severity (the kind's unit).
    pub severity: f64,
    /// Fused test accuracy.
    pub accuracy: f64,
    /// Fused test macro-F1.
    pub macro_f1: f64,
    /// Each modality's own test accuracy.
    pub modality_accuracy: BTreeMap<String, f64>,
}

/// Write `rows` to `path` (atomically; a run's own is `<run>/robustness.csv`): corruption,
/// modality, severity, accuracy, macro-F1, then one `acc_<modality>` column per modality.
pub fn write_robustness(
    path: &Path,
    modalities: &[String],
    rows: &[RobustnessRow],
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["corruption", "modality", "severity", "accuracy", "macro_f1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(modalities.iter().map(|m| format!("acc_{m}")));
    w.write_record(&header)?;
    for r in rows {
        let mut cells = vec![
            r.corruption.clone(),
            r.modality.clone(),
            format!("{}", r.severity),
            format!("{:.6}", r.accuracy),
            format!("{:.6}", r.macro_f1),
        ];
        cells.extend(modalities.iter().map(|m| {
            format!(
                "{:.6}",
                r.modality_accuracy.get(m).copied().unwrap_or(f64::NAN)
            )
        }));
        w.write_record(&cells)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    super::write_atomic(path, &bytes)
}

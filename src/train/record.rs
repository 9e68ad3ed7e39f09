//! Run records: the run directory, atomic writes, `metrics.csv`, `summary.json` and
//! `model.safetensors`.

use super::metrics::{self, EpochMetrics};
use crate::model::{Backend, ParamStore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File names inside a run directory.
pub const RESOLVED_RECIPE: &str = "recipe.resolved.toml";
/// Per-epoch metrics.
pub const METRICS: &str = "metrics.csv";
/// Final summary; its presence marks a complete run.
pub const SUMMARY: &str = "summary.json";
/// Final (selected) weights.
pub const MODEL: &str = "model.safetensors";
/// Resumable state, rewritten after every epoch.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// Written instead of a summary when training diverged (a non-finite loss or gradient).
pub const DIVERGED: &str = "diverged.json";

/// `<out>/<recipe name>/seed-<seed>`.
pub fn run_dir(out: &Path, name: &str, seed: u64) -> PathBuf {
    out.join(name).join(format!("seed-{seed}"))
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, flushed to disk,
/// then renamed over `path`. A crash leaves either the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Rewrite `metrics.csv` with `rows` (used at start and on resume, so rows of an epoch that
/// was cut off before its checkpoint disappear).
pub fn write_metrics(
    dir: &Path,
    modalities: &[String],
    rows: &[EpochMetrics],
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(metrics::header(modalities))?;
    for r in rows {
        w.write_record(r.cells())?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    write_atomic(&dir.join(METRICS), &bytes)
}

/// Append one row to `metrics.csv` and flush it.
pub fn append_metrics(dir: &Path, row: &EpochMetrics) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(METRICS))?;
    let mut w = csv::Writer::from_writer(f);
    w.write_record(row.cells())?;
    w.flush()?;
    Ok(())
}

/// Parameters as safetensors bytes (F32, names as in the store, plus optional metadata).
pub fn safetensors_bytes(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .expect("shape matches data");
            (n.clone(), view)
        })
        .collect();
    safetensors::serialize(views, &metadata).expect("safetensors serialisation")
}

/// The store's tensors as `(name, shape, values)`.
pub fn store_tensors<D: Backend>(store: &ParamStore<D>) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    store
        .params
        .iter()
        .map(|p| (p.name.clone(), p.tensor.dims(), p.tensor.to_host()))
        .collect()
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Recipe name.
    pub name: String,
    /// Master seed.
    pub seed: u64,
    /// [`crate::recipe::Recipe::result_hash`].
    pub recipe_hash: String,
    /// [`crate::code_fingerprint`] of the binary that trained the run.
    #[serde(default)]
    pub code_fingerprint: String,
    /// [`crate::data::fingerprint::fingerprint`] of the data the run read.
    #[serde(default)]
    pub data_fingerprint: String,
    /// balmix version that produced the run.
    pub code_version: String,
    /// Epochs trained.
    pub epochs: usize,
    /// `last` or `best-val`.
    pub select: String,
    /// The epoch whose model is reported (1-based).
    pub selected_epoch: usize,
    /// Test accuracy of the selected model.
    pub test_accuracy: f64,
    /// Test macro-F1 of the selected model.
    pub test_macro_f1: f64,
    /// Validation accuracy of the selected model.
    pub val_accuracy: Option<f64>,
    /// Test accuracy of each modality's own logits.
    pub modality_accuracy: BTreeMap<String, f64>,
    /// Training loss of the last epoch.
    pub final_train_loss: f64,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Trainable scalars.
    pub parameters: usize,
    /// Wall-clock seconds of training and evaluation (all invocations). Not a result.
    pub seconds: f64,
    /// Peak resident memory of the process in bytes (Linux `VmHWM`), when known. Not a result.
    pub peak_memory_bytes: Option<u64>,
}

impl Summary {
    /// The identity of the run this summary completes.
    pub fn identity(&self) -> Identity {
        Identity {
            recipe_hash: self.recipe_hash.clone(),
            code_fingerprint: self.code_fingerprint.clone(),
            data_fingerprint: self.data_fingerprint.clone(),
        }
    }
}

/// What makes two runs the same experiment: equal identity ⇒ a complete run is reused;
/// anything else ⇒ it is trained again.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// Hash of the resolved recipe (without runtime-only keys).
    pub recipe_hash: String,
    /// Hash of the sources that can change a result, taken at build time.
    pub code_fingerprint: String,
    /// Hash of the data files read.
    pub data_fingerprint: String,
}

impl Identity {
    /// What differs from `older`, in words (empty when nothing does).
    pub fn changes_from(&self, older: &Identity) -> Vec<String> {
        let mut out = Vec::new();
        let short = |s: &str| {
            if s.is_empty() {
                "none recorded".to_string()
            } else {
                s.chars().take(12).collect()
            }
        };
        if self.recipe_hash != older.recipe_hash {
            out.push(format!(
                "the resolved recipe changed ({} -> {})",
                short(&older.recipe_hash),
                short(&self.recipe_hash)
            ));
        }
        if self.code_fingerprint != older.code_fingerprint {
            out.push(format!(
                "the code changed (fingerprint {} -> {})",
                short(&older.code_fingerprint),
                short(&self.code_fingerprint)
            ));
        }
        if self.data_fingerprint != older.data_fingerprint {
            out.push(format!(
                "the data changed (fingerprint {} -> {})",
                short(&older.data_fingerprint),
                short(&self.data_fingerprint)
            ));
        }
        out
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), in bytes.
pub fn peak_memory_bytes() -> Option<u64> {
    proc_status_kb("VmHWM:").map(|kb| kb * 1024)
}

/// Current resident set size of this process (Linux `VmRSS`), in bytes.
pub fn resident_memory_bytes() -> Option<u64> {
    proc_status_kb("VmRSS:").map(|kb| kb * 1024)
}

fn proc_status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `diverged.json`: the identity of a run that diverged, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivergedRecord {
    /// The run's identity.
    pub identity: Identity,
    /// Where and how.
    pub divergence: super::trainer::Divergence,
}

/// Read a run's divergence record, if it diverged.
pub fn read_diverged(dir: &Path) -> Option<DivergedRecord> {
    let text = std::fs::read_to_string(dir.join(DIVERGED)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Remove what an earlier process left half-done: temporary files of atomic writes (named
/// `.<file>.tmp-<pid>`), and the checkpoint of a run whose summary exists (a kill between the
/// summary and the checkpoint's removal). Call only while holding the run's lock.
pub fn clean_leftovers(dir: &Path) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp-") {
            std::fs::remove_file(entry.path())?;
        }
    }
    if dir.join(SUMMARY).is_file() && dir.join(CHECKPOINT).is_file() {
        std::fs::remove_file(dir.join(CHECKPOINT))?;
    }
    Ok(())
}

/// Remove everything in a run directory but its lock file (for `--force` and retraining).
pub fn clear_run_dir(dir: &Path) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name() == super::lock::LOCK_FILE {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Read a run's summary, if the run completed.
pub fn read_summary(dir: &Path) -> Option<Summary> {
    let text = std::fs::read_to_string(dir.join(SUMMARY)).ok()?;
    serde_json::from_str(&text).ok()
}

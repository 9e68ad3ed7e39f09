//! The run directory: its files' names, atomic writes, `metrics.csv`, the safetensors layout,
//! and the clean-up of what a killed process left.

use super::metrics::{self, EpochMetrics};
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

/// Write `bytes` to `path` atomically ([`crate::atomic_file::write`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::atomic_file::write(path, bytes)
}

/// Rewrite `metrics.csv` with `rows` (used at start and on resume, so rows of an epoch that
/// was cut off before its checkpoint disappear).
pub fn write_metrics(
    dir: &Path,
    modalities: &[String],
    method: &[crate::method::metrics::MetricColumn],
    rows: &[EpochMetrics],
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(metrics::header(modalities, method))?;
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

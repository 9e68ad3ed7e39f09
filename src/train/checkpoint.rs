//! Checkpoints: everything needed to continue a run bit-identically, in one safetensors file
//! written atomically after every epoch.
//!
//! Tensors: `param/<name>` (weights), `optim.first/<name>`, `optim.second/<name>` (optimiser
//! buffers), `best/<name>` (weights of the best validation epoch, when selecting by val).
//! Metadata key `balmix` holds [`CheckpointState`] as JSON: epochs done, global step, stream
//! positions, contribution EMA, best epoch and every metrics row so far.

use super::metrics::EpochMetrics;
use super::record::{safetensors_bytes, write_atomic};
use crate::mixup::contribution::ContributionEma;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use thiserror::Error;

/// Scalar state of a run between epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Format version of this layout.
    pub format: u32,
    /// Hash of the resolved recipe; resuming under another recipe is refused.
    pub recipe_hash: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Global steps completed (= optimiser steps).
    pub step: u64,
    /// Index of every random stream's next use. Streams are re-derived from (seed, purpose,
    /// index), so these indices are their complete positions (see [`crate::rng`]).
    pub streams: BTreeMap<String, u64>,
    /// B-MM contribution EMA.
    pub ema: Option<ContributionEma>,
    /// Best validation epoch so far (1-based) and its metrics, when selecting by val.
    pub best: Option<EpochMetrics>,
    /// Metrics of every completed epoch.
    pub metrics: Vec<EpochMetrics>,
    /// Seconds spent so far (all invocations). Not a result.
    pub seconds: f64,
}

/// Tensors of a checkpoint, by role, each `(name, shape, values)` in parameter order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointTensors {
    /// Current weights.
    pub params: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// Optimiser first buffers.
    pub first: Vec<Vec<f32>>,
    /// Optimiser second buffers.
    pub second: Vec<Vec<f32>>,
    /// Best-validation weights, if any.
    pub best: Option<Vec<Vec<f32>>>,
}

/// A checkpoint that cannot be used.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum CheckpointError {
    #[error("{path}: cannot read checkpoint: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: checkpoint was written for another recipe (hash {found}, this recipe {expected}); use --force to start over")]
    RecipeMismatch {
        path: String,
        found: String,
        expected: String,
    },
    #[error("{path}: checkpoint lacks tensor `{name}` of this model")]
    MissingTensor { path: String, name: String },
}

/// Write a checkpoint atomically.
pub fn save(path: &Path, state: &CheckpointState, t: &CheckpointTensors) -> std::io::Result<()> {
    let mut all = Vec::new();
    for (i, (name, shape, values)) in t.params.iter().enumerate() {
        all.push((format!("param/{name}"), shape.clone(), values.clone()));
        all.push((
            format!("optim.first/{name}"),
            vec![t.first[i].len()],
            t.first[i].clone(),
        ));
        all.push((
            format!("optim.second/{name}"),
            vec![t.second[i].len()],
            t.second[i].clone(),
        ));
        if let Some(best) = &t.best {
            all.push((format!("best/{name}"), shape.clone(), best[i].clone()));
        }
    }
    let meta = HashMap::from([(
        "balmix".to_string(),
        serde_json::to_string(state).expect("state serialises"),
    )]);
    write_atomic(path, &safetensors_bytes(&all, Some(meta)))
}

/// Read a checkpoint for a model whose parameters are `names`, refusing one written for a
/// different recipe hash.
pub fn load(
    path: &Path,
    names: &[String],
    recipe_hash: &str,
) -> Result<(CheckpointState, CheckpointTensors), CheckpointError> {
    let shown = path.display().to_string();
    let unreadable = |reason: String| CheckpointError::Unreadable {
        path: shown.clone(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("balmix"))
        .ok_or_else(|| unreadable("no balmix metadata".into()))?;
    let state: CheckpointState =
        serde_json::from_str(json).map_err(|e| unreadable(e.to_string()))?;
    if state.recipe_hash != recipe_hash {
        return Err(CheckpointError::RecipeMismatch {
            path: shown,
            found: state.recipe_hash,
            expected: recipe_hash.to_string(),
        });
    }
    let st =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let get = |name: &str| -> Result<(Vec<usize>, Vec<f32>), CheckpointError> {
        let view = st
            .tensor(name)
            .map_err(|_| CheckpointError::MissingTensor {
                path: shown.clone(),
                name: name.to_string(),
            })?;
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((view.shape().to_vec(), values))
    };
    let mut t = CheckpointTensors::default();
    let has_best = st.names().iter().any(|n| n.starts_with("best/"));
    let mut best = Vec::new();
    for name in names {
        let (shape, values) = get(&format!("param/{name}"))?;
        t.params.push((name.clone(), shape, values));
        t.first.push(get(&format!("optim.first/{name}"))?.1);
        t.second.push(get(&format!("optim.second/{name}"))?.1);
        if has_best {
            best.push(get(&format!("best/{name}"))?.1);
        }
    }
    t.best = has_best.then_some(best);
    Ok((state, t))
}

//! Checkpoints: everything needed to continue a run bit-identically, in one safetensors file
//! written atomically after every epoch.
//!
//! Tensors: `param/<name>` (weights), `optim.first/<name>`, `optim.second/<name>` (optimiser
//! buffers), `best/<name>` (weights of the best validation epoch, when selecting by val),
//! `method/<name>` (the training method's state tensors).
//! Metadata key `balmix` holds [`CheckpointState`] as JSON: epochs done, global step, stream
//! positions, the method's state, best epoch and every metrics row so far. Metadata key
//! `balmix.sha256` is a checksum over the state and every tensor (names and bytes, in name
//! order), so a damaged file is refused on resume instead of silently continuing; a file
//! holding NaN or infinite values is refused too.

use crate::record::metrics::EpochMetrics;
use crate::record::{safetensors_bytes, write_atomic, Identity};
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
    /// Code fingerprint of the binary that wrote it; resuming with other code is refused.
    #[serde(default)]
    pub code_fingerprint: String,
    /// Data fingerprint of the run; resuming on other data is refused.
    #[serde(default)]
    pub data_fingerprint: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Global steps completed (= optimiser steps).
    pub step: u64,
    /// Index of every random stream's next use. Streams are re-derived from (seed, purpose,
    /// index), so these indices are their complete positions (see [`crate::rng`]).
    pub streams: BTreeMap<String, u64>,
    /// The training method's state ([`crate::method::Method::state`]), e.g. B-MM's
    /// contribution average.
    #[serde(default)]
    pub method: serde_json::Value,
    /// Best validation epoch so far (1-based) and its metrics, when selecting by val.
    pub best: Option<EpochMetrics>,
    /// Metrics of every completed epoch.
    pub metrics: Vec<EpochMetrics>,
    /// Seconds spent so far (all invocations). Not a result.
    pub seconds: f64,
    /// The frozen models (teachers) the method read, by their runs' identities: resuming
    /// with other teachers is refused (absent when the method reads none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frozen: Vec<crate::record::FrozenRecord>,
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
    /// The method's state tensors ([`crate::method::Method::state_tensors`]).
    pub method: Vec<crate::model::params::NamedTensor>,
}

/// A checkpoint that cannot be used.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum CheckpointError {
    #[error("{path}: the checkpoint cannot be read ({reason}); it is damaged or not a balmix checkpoint — pass --force to start this run over")]
    Unreadable { path: String, reason: String },
    #[error("{path}: the checkpoint is damaged (its checksum does not match its contents) — pass --force to start this run over")]
    Checksum { path: String },
    #[error("{path}: the checkpoint holds non-finite values (tensor `{name}`); resuming would carry them into the model — pass --force to start this run over")]
    NonFinite { path: String, name: String },
    #[error("{path}: the checkpoint belongs to another run: {changes}; resuming would mix the two — pass --force to start over")]
    IdentityMismatch { path: String, changes: String },
    #[error("{path}: the checkpoint lacks tensor `{name}` of this model — pass --force to start this run over")]
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
    for (name, shape, values) in &t.method {
        all.push((
            format!("{METHOD_PREFIX}{name}"),
            shape.clone(),
            values.clone(),
        ));
    }
    let json = serde_json::to_string(state).map_err(std::io::Error::other)?;
    let mut named: Vec<(&str, Vec<u8>)> = all
        .iter()
        .map(|(n, _, v)| (n.as_str(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    let digest = checksum(&json, named.iter().map(|(n, b)| (*n, b.as_slice())));
    let meta = HashMap::from([
        ("balmix".to_string(), json),
        (CHECKSUM_KEY.to_string(), digest),
    ]);
    write_atomic(path, &safetensors_bytes(&all, Some(meta)))
}

const CHECKSUM_KEY: &str = "balmix.sha256";
/// Name prefix of the method's state tensors.
const METHOD_PREFIX: &str = "method/";

/// sha256 over the state JSON and each `(name, bytes)` (given in name order).
fn checksum<'a>(json: &str, tensors: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((json.len() as u64).to_le_bytes());
    h.update(json.as_bytes());
    for (name, bytes) in tensors {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Read a checkpoint for a model whose parameters are `names`, refusing a damaged one, one
/// with non-finite values, and one written for another run identity or with other frozen
/// models (`frozen`: the teachers the method reads now).
pub fn load(
    path: &Path,
    names: &[String],
    identity: &Identity,
    frozen: &[crate::record::FrozenRecord],
) -> Result<(CheckpointState, CheckpointTensors), CheckpointError> {
    let shown = path.display().to_string();
    let unreadable = |reason: String| CheckpointError::Unreadable {
        path: shown.clone(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| unreadable(format!("{e:?}")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let json = meta
        .get("balmix")
        .ok_or_else(|| unreadable("no balmix metadata".into()))?;
    let st =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| unreadable(format!("{e:?}")))?;
    let mut tensor_names: Vec<String> = st.names().into_iter().cloned().collect();
    tensor_names.sort();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensor_names
        .iter()
        .map(|n| st.tensor(n).map(|v| (n.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(format!("{e:?}")))?;
    let digest = checksum(json, views.iter().map(|(n, v)| (n.as_str(), v.data())));
    if meta.get(CHECKSUM_KEY) != Some(&digest) {
        return Err(CheckpointError::Checksum { path: shown });
    }
    let state: CheckpointState =
        serde_json::from_str(json).map_err(|e| unreadable(e.to_string()))?;
    let found = Identity {
        recipe_hash: state.recipe_hash.clone(),
        code_fingerprint: state.code_fingerprint.clone(),
        data_fingerprint: state.data_fingerprint.clone(),
    };
    let mut changes = identity.changes_from(&found);
    // A student resumed with other teachers would mix two.
    changes.extend(crate::record::frozen_changes(&state.frozen, frozen));
    if !changes.is_empty() {
        return Err(CheckpointError::IdentityMismatch {
            path: shown,
            changes: changes.join("; "),
        });
    }
    let get = |name: &str| -> Result<(Vec<usize>, Vec<f32>), CheckpointError> {
        let view = st
            .tensor(name)
            .map_err(|_| CheckpointError::MissingTensor {
                path: shown.clone(),
                name: name.to_string(),
            })?;
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(CheckpointError::NonFinite {
                path: shown.clone(),
                name: name.to_string(),
            });
        }
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
    // In name order (the tensor names were sorted above), so restoring never depends on
    // the file's layout.
    for name in tensor_names.iter().filter(|n| n.starts_with(METHOD_PREFIX)) {
        let (shape, values) = get(name)?;
        t.method
            .push((name[METHOD_PREFIX.len()..].to_string(), shape, values));
    }
    Ok((state, t))
}

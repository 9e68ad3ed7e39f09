//! What a finished run records: `summary.json`, its identity (recipe, code, data), the record
//! of a diverged run, and the process's memory figures.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use super::files::{DIVERGED, SUMMARY};

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
    /// Test scores under the recipe's corruptions (`train.eval.robustness`), as in
    /// `robustness.csv`; empty without that section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub robustness: Vec<super::robustness::RobustnessRow>,
    /// The split the run used (absent in records written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitRecord>,
    /// The folder of the manifest file the run read (absent for a built-in manifest), so
    /// `balmix eval` finds a manifest kept next to the recipe from anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_dir: Option<String>,
    /// sha256 of `model.safetensors` as written, so `balmix eval` can tell an altered model
    /// file from changed data or code (absent in records written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
    /// The frozen models (unimodal teachers) the run's method read, each by its run's
    /// identity; a teacher trained again since makes this result stale. Empty (and absent)
    /// for methods without frozen models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frozen: Vec<FrozenRecord>,
}

/// A frozen model a run read: the finished run it came from, by its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrozenRecord {
    /// The run's directory, as the method named it.
    pub dir: String,
    /// The run's resolved-recipe hash.
    pub recipe_hash: String,
    /// sha256 of the run's model file.
    pub model_sha256: String,
}

/// How the frozen models `now` differ from those a checkpoint recorded (`saved`), in words:
/// empty when they are the same runs with the same models.
pub fn frozen_changes(saved: &[FrozenRecord], now: &[FrozenRecord]) -> Vec<String> {
    if saved.len() != now.len() {
        return vec![format!(
            "the method read {} frozen model(s), now {}",
            saved.len(),
            now.len()
        )];
    }
    saved
        .iter()
        .zip(now)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| {
            format!(
                "the frozen model {} changed (recipe {} -> {}, model {} -> {})",
                b.dir,
                short(&a.recipe_hash),
                short(&b.recipe_hash),
                short(&a.model_sha256),
                short(&b.model_sha256)
            )
        })
        .collect()
}

impl FrozenRecord {
    /// How the run at [`FrozenRecord::dir`] differs now from when it was read, in words:
    /// `None` when it is still the same model of the same recipe.
    pub fn changed(&self) -> Option<String> {
        let dir = &self.dir;
        let Some(now) = read_summary(Path::new(dir)) else {
            return Some(format!(
                "the frozen model {dir} is no longer a finished run"
            ));
        };
        if now.recipe_hash != self.recipe_hash {
            return Some(format!(
                "the frozen model {dir} was trained again under another recipe ({} -> {})",
                short(&self.recipe_hash),
                short(&now.recipe_hash)
            ));
        }
        match now.model_sha256 {
            Some(sha) if sha == self.model_sha256 => None,
            Some(sha) => Some(format!(
                "the frozen model {dir} was trained again (model {} -> {})",
                short(&self.model_sha256),
                short(&sha)
            )),
            None => Some(format!("the frozen model {dir} records no model hash")),
        }
    }
}

/// The split a run actually used: how it was made, its sizes and a hash of its index lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// `stratified`, `group` or `fixed` (the resolved `dataset.split.kind`).
    pub kind: String,
    /// With k-fold cross-validation: the test fold (0-based) and the number of folds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<[usize; 2]>,
    /// When the data has groups: the number of distinct groups in train, val and test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<[usize; 3]>,
    /// When the data has groups: which groups (sorted names) are in each part, so a reader
    /// can check that no group is on two sides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_names: Option<GroupNames>,
    /// Training samples.
    pub train: usize,
    /// Validation samples.
    pub val: usize,
    /// Test samples.
    pub test: usize,
    /// sha256 of the three sorted index lists (`train:`, `val:`, `test:` each followed by its
    /// indices as little-endian u64), so two runs on the same split show the same hash.
    pub sha256: String,
}

/// The distinct groups of each split part, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupNames {
    /// Groups with training samples.
    pub train: Vec<String>,
    /// Groups with validation samples.
    pub val: Vec<String>,
    /// Groups with test samples.
    pub test: Vec<String>,
}

impl SplitRecord {
    /// The record of `splits` of `data` made as `section` (resolved) says.
    pub fn of(
        section: &crate::recipe::file::SplitSection,
        data: &crate::data::Dataset,
        splits: &crate::data::Splits,
    ) -> SplitRecord {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (name, part) in [
            ("train:", &splits.train),
            ("val:", &splits.val),
            ("test:", &splits.test),
        ] {
            h.update(name.as_bytes());
            for &i in part {
                h.update((i as u64).to_le_bytes());
            }
        }
        let names = |idx: &[usize]| -> Vec<String> {
            idx.iter()
                .map(|&i| data.groups[i].as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(str::to_string)
                .collect()
        };
        let group_names = (!data.groups.is_empty()).then(|| GroupNames {
            train: names(&splits.train),
            val: names(&splits.val),
            test: names(&splits.test),
        });
        SplitRecord {
            kind: crate::kind_name::kind_name(&section.kind),
            fold: section.fold.zip(section.folds).map(|(f, k)| [f, k]),
            groups: group_names
                .as_ref()
                .map(|g| [g.train.len(), g.val.len(), g.test.len()]),
            group_names,
            train: splits.train.len(),
            val: splits.val.len(),
            test: splits.test.len(),
            sha256: h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

impl Summary {
    /// ` fold i/k` for a run of one fold of a k-fold split, else empty.
    pub fn fold_label(&self) -> String {
        self.split
            .as_ref()
            .and_then(|p| p.fold)
            .map(|[f, k]| format!(" fold {f}/{k}"))
            .unwrap_or_default()
    }

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

/// The first 12 characters of a hash for messages, or "none recorded" when it is empty.
pub fn short(hash: &str) -> String {
    if hash.is_empty() {
        "none recorded".to_string()
    } else {
        hash.chars().take(12).collect()
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
    pub divergence: crate::method::Divergence,
}

/// Read a run's divergence record, if it diverged.
pub fn read_diverged(dir: &Path) -> Option<DivergedRecord> {
    let text = std::fs::read_to_string(dir.join(DIVERGED)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Read a run's summary, if the run completed.
pub fn read_summary(dir: &Path) -> Option<Summary> {
    let text = std::fs::read_to_string(dir.join(SUMMARY)).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn teacher(dir: &str, model: char) -> FrozenRecord {
        FrozenRecord {
            dir: dir.into(),
            recipe_hash: "a".repeat(64),
            model_sha256: model.to_string().repeat(64),
        }
    }

    #[test]
    fn frozen_changes_name_each_teacher_that_differs_and_a_changed_count() {
        let saved = [teacher("t/audio", '1'), teacher("t/visual", '2')];
        assert!(frozen_changes(&saved, &saved).is_empty());
        let retrained = [teacher("t/audio", '1'), teacher("t/visual", '3')];
        let changes = frozen_changes(&saved, &retrained);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(
            changes[0].contains("t/visual")
                && changes[0].contains("model 222222222222 -> 333333333333")
        );
        assert_eq!(
            frozen_changes(&saved, &saved[..1]),
            vec!["the method read 2 frozen model(s), now 1".to_string()]
        );
        // A run without teachers resumes as before.
        assert!(frozen_changes(&[], &[]).is_empty());
    }
}

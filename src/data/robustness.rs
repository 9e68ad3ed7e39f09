//! The test-time corruption protocol's settings (`train.eval.robustness`) as a recipe writes
//! them, the typed [`Robustness`] they resolve into (each kind's default severities written
//! out) and the rules that resolve them: known modalities, each once; image corruptions on
//! image modalities only; severities in range; each kind once.

use super::config::CorruptionKind;
use crate::config_problem::ConfigProblem;
use crate::kind_name::kind_name;
use serde::{Deserialize, Serialize};

/// `train.eval.robustness`: test-time corruptions (docs/methods.md, "Robustness").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RobustnessSection {
    /// Corruption kinds, each evaluated on every modality of `modalities` at every severity.
    pub corruptions: Vec<CorruptionKind>,
    /// Severities per kind. Default: each kind's defaults (written out in the resolved recipe).
    #[serde(default)]
    pub severities: Severities,
    /// Modalities to corrupt, one at a time. Default: every modality of the recipe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    /// Seed of the `corruption` stream. The draws depend on it and on each sample's index in
    /// the dataset only — never on the run's seed, the method or the evaluation order — so every
    /// method and seed sees the same corruption of a sample. Default `0`.
    #[serde(default)]
    pub seed: u64,
}

/// Severities per corruption kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Severities {
    /// Probabilities in [0, 1] that a sample's modality is missing (zero input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_zero: Option<Vec<f64>>,
    /// Probabilities in [0, 1] that a sample's modality is missing (training-mean input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_mean: Option<Vec<f64>>,
    /// σ ≥ 0 of additive Gaussian noise, in units of each feature's training std.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaussian: Option<Vec<f64>>,
    /// Side of a zeroed square, as a fraction in [0, 1] of the image's shorter side (image
    /// modalities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occlusion: Option<Vec<f64>>,
    /// σ ≥ 0 in pixels of a Gaussian blur (image modalities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blur: Option<Vec<f64>>,
}

/// `train.eval.robustness`: which corruptions, at which severities, of which modalities.
#[derive(Debug, Clone, PartialEq)]
pub struct Robustness {
    /// Each kind with its severities, in recipe order.
    pub corruptions: Vec<(CorruptionKind, Vec<f64>)>,
    /// Modalities corrupted (one at a time), as indices in `dataset.modalities`.
    pub modalities: Vec<usize>,
    /// Seed of the `corruption` stream.
    pub seed: u64,
}

impl RobustnessSection {
    /// The section's rules for the recipe's `modalities` (in order) whose image shapes are
    /// `shapes`, defaults written back; the typed protocol.
    pub fn resolve(
        &mut self,
        modalities: &[String],
        shapes: &[Option<[usize; 3]>],
    ) -> Result<Robustness, ConfigProblem> {
        if self.corruptions.is_empty() {
            return Err(ConfigProblem::Empty {
                key: "corruptions".into(),
            });
        }
        if self.modalities.is_empty() {
            self.modalities = modalities.to_vec();
        }
        let mut chosen = Vec::with_capacity(self.modalities.len());
        for name in &self.modalities {
            let Some(index) = modalities.iter().position(|m| m == name) else {
                return Err(ConfigProblem::UnknownModality {
                    key: "modalities".into(),
                    got: name.clone(),
                    known: modalities.join(", "),
                });
            };
            if chosen.contains(&index) {
                return Err(ConfigProblem::DuplicateModality {
                    key: "modalities".into(),
                    got: name.clone(),
                });
            }
            chosen.push(index);
        }
        let mut corruptions = Vec::with_capacity(self.corruptions.len());
        for (i, &kind) in self.corruptions.iter().enumerate() {
            let name = kind_name(&kind);
            if self.corruptions[..i].contains(&kind) {
                return Err(ConfigProblem::DuplicateCorruption { kind: name });
            }
            if kind.needs_image() {
                if let Some(&m) = chosen.iter().find(|&&m| shapes[m].is_none()) {
                    return Err(ConfigProblem::CorruptionNeedsImage {
                        kind: name,
                        modality: modalities[m].clone(),
                    });
                }
            }
            let severities = self.severities.resolve(kind)?;
            corruptions.push((kind, severities));
        }
        Ok(Robustness {
            corruptions,
            modalities: chosen,
            seed: self.seed,
        })
    }
}

impl Severities {
    /// The severities of `kind`, its defaults when unset (written back): not empty, each in
    /// the kind's range.
    fn resolve(&mut self, kind: CorruptionKind) -> Result<Vec<f64>, ConfigProblem> {
        let slot = match kind {
            CorruptionKind::MissingZero => &mut self.missing_zero,
            CorruptionKind::MissingMean => &mut self.missing_mean,
            CorruptionKind::Gaussian => &mut self.gaussian,
            CorruptionKind::Occlusion => &mut self.occlusion,
            CorruptionKind::Blur => &mut self.blur,
        };
        let severities = slot
            .get_or_insert_with(|| kind.default_severities())
            .clone();
        let name = kind_name(&kind);
        let inside = |p: ConfigProblem| p.inside("severities");
        if severities.is_empty() {
            return Err(inside(ConfigProblem::Empty { key: name }));
        }
        let max = kind.max_severity().unwrap_or(f64::INFINITY);
        let range = match max.is_finite() {
            true => "[0, 1]",
            false => "[0, ∞)",
        };
        for (j, &s) in severities.iter().enumerate() {
            ConfigProblem::in_range(format!("{name}[{j}]"), s, range, |v| v >= 0.0 && v <= max)
                .map_err(inside)?;
        }
        Ok(severities)
    }
}

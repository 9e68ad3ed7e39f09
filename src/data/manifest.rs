//! Data manifests (`data-manifests/<name>.toml`): what a dataset is, where it comes from, and
//! the shape of each modality. Manifests are found by walking up from the recipe's folder to a
//! `data-manifests/` folder; the shipped ones are also embedded in the binary, so the default
//! synthetic dataset needs no files at all.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Manifests compiled into the binary: (name, TOML text).
const EMBEDDED: &[(&str, &str)] = &[(
    "synthetic-imbalance",
    include_str!("../../data-manifests/synthetic-imbalance.toml"),
)];

/// A dataset description.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name; equals the file stem.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// License of the data.
    pub license: String,
    /// How to cite the data.
    pub citation: String,
    /// Class names; labels are indices into this list.
    pub classes: Vec<String>,
    /// Where the samples come from.
    pub source: SourceSpec,
    /// The modalities, in file order.
    pub modalities: Vec<ModalitySpec>,
}

/// `[source]` of a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum SourceSpec {
    /// Generated from the `synthetic` stream of `seed`.
    Synthetic {
        /// Number of samples (balanced over classes).
        samples: usize,
        /// Master seed of the generator.
        seed: u64,
    },
}

/// `[[modalities]]` of a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModalitySpec {
    /// Modality name used by recipes.
    pub name: String,
    /// Feature width.
    pub width: usize,
    /// Generator parameters (synthetic sources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticModality>,
}

/// How one synthetic modality is generated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticModality {
    /// Norm of each class mean (a random direction scaled to this norm).
    pub mean_norm: f64,
    /// Standard deviation of the isotropic Gaussian noise.
    pub noise: f64,
    /// Groups of classes that share one mean (the modality cannot separate them).
    #[serde(default)]
    pub shared: Vec<Vec<usize>>,
}

/// Why a manifest could not be found or read.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum ManifestError {
    #[error("unknown manifest `{name}`{}", if suggestions.is_empty() { String::new() } else { format!(" (did you mean: {}?)", suggestions.join(", ")) })]
    Unknown {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("{path}: invalid manifest: {reason}")]
    Invalid { path: String, reason: String },
}

/// Where manifests are looked up.
#[derive(Debug, Clone)]
pub struct Catalog {
    dir: Option<PathBuf>,
}

impl Catalog {
    /// The catalog for a recipe in `start`: the nearest `data-manifests/` folder at or above it,
    /// then the embedded manifests.
    pub fn discover(start: &Path) -> Self {
        let dir = start
            .ancestors()
            .map(|a| a.join("data-manifests"))
            .find(|d| d.is_dir());
        Self { dir }
    }

    /// Names of every available manifest, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        if let Some(dir) = &self.dir {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().and_then(|e| e.to_str()) == Some("toml") {
                        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                            names.push(stem.to_string());
                        }
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// The manifest called `name`; a file in the folder wins over the embedded copy.
    pub fn get(&self, name: &str) -> Result<Manifest, ManifestError> {
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{name}.toml"));
            if path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(|e| ManifestError::Invalid {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                return parse(&text, &path.display().to_string());
            }
        }
        match EMBEDDED.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => parse(text, &format!("<embedded {n}.toml>")),
            None => Err(ManifestError::Unknown {
                name: name.to_string(),
                suggestions: suggest(name, &self.names()),
            }),
        }
    }
}

fn parse(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Invalid {
        path: origin.to_string(),
        reason: e.to_string(),
    })?;
    let invalid = |reason: String| ManifestError::Invalid {
        path: origin.to_string(),
        reason,
    };
    if manifest.classes.len() < 2 {
        return Err(invalid("classes: at least 2 classes are needed".into()));
    }
    if manifest.modalities.is_empty() {
        return Err(invalid(
            "modalities: at least one modality is needed".into(),
        ));
    }
    for m in &manifest.modalities {
        if m.width == 0 {
            return Err(invalid(format!("modalities.{}.width must be > 0", m.name)));
        }
        if let Some(s) = &m.synthetic {
            for &c in s.shared.iter().flatten() {
                if c >= manifest.classes.len() {
                    return Err(invalid(format!(
                        "modalities.{}.synthetic.shared: class {c} is out of range 0..{}",
                        m.name,
                        manifest.classes.len()
                    )));
                }
            }
        }
        if matches!(manifest.source, SourceSpec::Synthetic { .. }) && m.synthetic.is_none() {
            return Err(invalid(format!(
                "modalities.{}.synthetic is required for a synthetic source",
                m.name
            )));
        }
    }
    Ok(manifest)
}

/// Names within edit distance 3 of `name`, closest first.
pub fn suggest(name: &str, names: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(name, n), n))
        .filter(|(d, n)| *d <= 3 || n.contains(name) || name.contains(n.as_str()))
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, n)| n.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_parses() {
        let m = Catalog { dir: None }.get("synthetic-imbalance").unwrap();
        assert_eq!(m.classes.len(), 6);
        assert_eq!(m.modalities.len(), 2);
    }

    #[test]
    fn unknown_manifest_suggests_close_names() {
        let err = Catalog { dir: None }
            .get("synthetic-imbalanse")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown manifest `synthetic-imbalanse` (did you mean: synthetic-imbalance?)"
        );
    }
}

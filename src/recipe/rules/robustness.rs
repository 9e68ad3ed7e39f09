//! Rules of `train.eval.robustness`: known modalities, image kinds on image modalities only,
//! severities in range, each kind once; defaults written out.

use crate::kind_name::kind_name;
use crate::recipe::error::RecipeError;
use crate::recipe::file::*;
use crate::recipe::typed::Robustness;
use crate::recipe::validate::Checker;

impl Checker<'_> {
    pub(in crate::recipe) fn check_robustness(
        &self,
        r: &mut RobustnessSection,
        modalities: &[String],
    ) -> Result<Robustness, RecipeError> {
        let key = "train.eval.robustness";
        if r.corruptions.is_empty() {
            return Err(RecipeError::Empty {
                origin: self.o(&format!("{key}.corruptions")),
                key: format!("{key}.corruptions"),
            });
        }
        if r.modalities.is_empty() {
            r.modalities = modalities.to_vec();
        }
        let mut chosen = Vec::with_capacity(r.modalities.len());
        for name in &r.modalities {
            let Some(index) = modalities.iter().position(|m| m == name) else {
                return Err(RecipeError::UnknownModality {
                    origin: self.o(&format!("{key}.modalities")),
                    key: format!("{key}.modalities"),
                    got: name.clone(),
                    manifest: self.manifest.name.clone(),
                    known: modalities.join(", "),
                });
            };
            if chosen.contains(&index) {
                return Err(RecipeError::DuplicateModality {
                    origin: self.o(&format!("{key}.modalities")),
                    got: name.clone(),
                });
            }
            chosen.push(index);
        }
        let mut corruptions = Vec::with_capacity(r.corruptions.len());
        for (i, &kind) in r.corruptions.iter().enumerate() {
            let name = kind_name(&kind);
            if r.corruptions[..i].contains(&kind) {
                return Err(RecipeError::DuplicateCorruption {
                    origin: self.o(&format!("{key}.corruptions")),
                    kind: name,
                });
            }
            if kind.needs_image() {
                for &m in &chosen {
                    let shaped = self
                        .manifest
                        .modalities
                        .iter()
                        .any(|s| s.name == modalities[m] && s.shape.is_some());
                    if !shaped {
                        return Err(RecipeError::CorruptionNeedsImage {
                            origin: self.o(&format!("{key}.corruptions")),
                            kind: name,
                            modality: modalities[m].clone(),
                            manifest: self.manifest.name.clone(),
                        });
                    }
                }
            }
            let slot = match kind {
                CorruptionKind::MissingZero => &mut r.severities.missing_zero,
                CorruptionKind::MissingMean => &mut r.severities.missing_mean,
                CorruptionKind::Gaussian => &mut r.severities.gaussian,
                CorruptionKind::Occlusion => &mut r.severities.occlusion,
                CorruptionKind::Blur => &mut r.severities.blur,
            };
            let severities = slot
                .get_or_insert_with(|| kind.default_severities())
                .clone();
            let sev_key = format!("{key}.severities.{name}");
            if severities.is_empty() {
                return Err(RecipeError::Empty {
                    origin: self.o(&sev_key),
                    key: sev_key,
                });
            }
            for (j, &s) in severities.iter().enumerate() {
                let max = kind.max_severity().unwrap_or(f64::INFINITY);
                let range = if max.is_finite() {
                    "[0, 1]"
                } else {
                    "[0, ∞)"
                };
                self.in_range(&format!("{sev_key}[{j}]"), s, range, |v| {
                    v >= 0.0 && v <= max
                })?;
            }
            corruptions.push((kind, severities));
        }
        Ok(Robustness {
            corruptions,
            modalities: chosen,
            seed: r.seed,
        })
    }
}

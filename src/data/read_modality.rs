//! Read one modality of a file dataset into rows and (where the files carry them) labels.

use super::cache::Cache;
use super::error::{DataError, Location, Row};
use super::fetch::{member_bytes, member_display};
use super::read_csv;
use super::read_npy::{read_npy, read_npz};
use crate::manifest::{Manifest, ModalitySpec, Reader, SequenceRepresentation};

/// Rows of one modality before alignment.
pub struct ModalityRows {
    /// The file as errors name it.
    pub file: String,
    /// Row-major values, `width` per row, all finite.
    pub values: Vec<f32>,
    /// Labels per row, when the files carry them.
    pub labels: Vec<i64>,
    /// Sample ids per row, when the files carry them.
    pub ids: Vec<String>,
    /// Groups per row, when the files carry them.
    pub groups: Vec<String>,
    /// The 1-based line of each row in a text file (empty for binary arrays).
    pub lines: Vec<usize>,
}

/// The class index of every label cell of `t` (class names or indices); an unknown name or
/// an index outside the classes is an error naming its line, column and id.
pub fn class_labels(
    t: &read_csv::CsvTable,
    classes: &[String],
    file: &str,
) -> Result<Vec<i64>, DataError> {
    let column = t.label_column.as_deref();
    t.labels
        .iter()
        .enumerate()
        .map(|(row, cell)| {
            let class =
                read_csv::class_of(cell, classes).ok_or_else(|| DataError::UnknownClass {
                    file: file.into(),
                    at: t.at(row, column),
                    cell: cell.clone(),
                    classes: classes.join(", "),
                })?;
            if class < 0 || class as usize >= classes.len() {
                return Err(DataError::LabelOutOfRange {
                    file: file.into(),
                    at: t.at(row, column),
                    label: class,
                    classes: classes.len(),
                });
            }
            Ok(class)
        })
        .collect()
}

/// Where row `row` of `rows` is: its line (text files) or array row, and its id.
pub fn location(rows: &ModalityRows, row: usize) -> Location {
    Location {
        row: rows
            .lines
            .get(row)
            .map_or(Row::Array(row), |&l| Row::Line(l)),
        column: None,
        id: rows.ids.get(row).map(|id| id.as_str().into()),
    }
}

/// An error unless every value of a binary array (`width` per row) is finite.
fn check_finite(values: &[f32], width: usize, file: &str) -> Result<(), DataError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(DataError::NonFinite {
            file: file.into(),
            at: Location::array(i / width.max(1), Some(i % width.max(1))),
            cell: values[i].to_string(),
        }),
    }
}

/// An array's values as f32: a NaN or infinity and a finite value beyond f32's range are told
/// apart.
fn to_f32(values: &[f64], width: usize, file: &str) -> Result<Vec<f32>, DataError> {
    let w = width.max(1);
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let at = || Location::array(i / w, Some(i % w));
            let narrow = v as f32;
            if !v.is_finite() {
                Err(DataError::NonFinite {
                    file: file.into(),
                    at: at(),
                    cell: v.to_string(),
                })
            } else if !narrow.is_finite() {
                Err(DataError::Overflow {
                    file: file.into(),
                    at: at(),
                    cell: v.to_string(),
                })
            } else {
                Ok(narrow)
            }
        })
        .collect()
}

impl ModalityRows {
    /// Number of rows.
    pub fn len(&self, width: usize) -> usize {
        self.values.len() / width.max(1)
    }
}

/// Read `spec` (fetching as needed).
pub fn read(
    manifest: &Manifest,
    spec: &ModalitySpec,
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<ModalityRows, DataError> {
    let reader = spec.reader.as_ref().ok_or_else(|| DataError::Manifest {
        manifest: manifest.name.clone(),
        reason: format!("modality `{}` has no reader", spec.name),
    })?;
    let rows = match reader {
        Reader::Csv {
            file,
            header,
            label,
            id,
            group,
        } => {
            let bytes = member_bytes(manifest, file, cache, log)?;
            let shown = member_display(manifest, file, cache);
            let columns = read_csv::Columns {
                label: label.clone(),
                label_last: manifest.labels.is_none(),
                id: id.clone(),
                group: group.clone(),
            };
            let t = read_csv::read(&bytes, &shown, *header, &columns)?;
            if t.width != spec.width {
                return Err(DataError::Format {
                    file: shown,
                    reason: format!(
                        "{} feature columns, manifest says width {} (columns that are not features need a role: label, id or group)",
                        t.width, spec.width
                    ),
                });
            }
            let labels = class_labels(&t, &manifest.classes, &shown)?;
            ModalityRows {
                file: shown,
                values: t.values,
                labels,
                ids: t.ids,
                groups: t.groups,
                lines: t.lines,
            }
        }
        Reader::NpzSequences {
            file,
            features,
            lengths,
            labels,
            representation,
        } => {
            let bytes = member_bytes(manifest, file, cache, log)?;
            let x = read_npz(&bytes, &file.path, features)?;
            let len = read_npz(&bytes, &file.path, lengths)?;
            let y = read_npz(&bytes, &file.path, labels)?;
            let coeffs = *x.shape.get(1).ok_or_else(|| DataError::Format {
                file: file.path.clone(),
                reason: "features must be 2-D".into(),
            })?;
            let total: f64 = len.values.iter().sum();
            if total as usize != x.shape[0] || len.values.len() != y.values.len() {
                return Err(DataError::Format {
                    file: file.path.clone(),
                    reason: format!(
                        "lengths sum to {total} for {} frames; {} lengths for {} labels",
                        x.shape[0],
                        len.values.len(),
                        y.values.len()
                    ),
                });
            }
            let mut values = Vec::with_capacity(len.values.len() * spec.width);
            let mut start = 0usize;
            for &l in &len.values {
                let l = l as usize;
                let seq = &x.values[start * coeffs..(start + l) * coeffs];
                values.extend(represent(seq, coeffs, *representation));
                start += l;
            }
            if values.len() != len.values.len() * spec.width {
                return Err(DataError::Format {
                    file: file.path.clone(),
                    reason: format!(
                        "representation width differs from manifest width {}",
                        spec.width
                    ),
                });
            }
            check_finite(&values, spec.width, &file.path)?;
            ModalityRows {
                file: format!("{}:{labels}.npy", file.path),
                values,
                labels: y.values.iter().map(|&v| v as i64).collect(),
                ids: Vec::new(),
                groups: Vec::new(),
                lines: Vec::new(),
            }
        }
        Reader::JsonImages { files } => {
            let mut values = Vec::new();
            let mut labels = Vec::new();
            for (class, file) in files.iter().enumerate() {
                let bytes = member_bytes(manifest, file, cache, log)?;
                // Typed parse straight into f32s: several times faster than a generic JSON value.
                #[derive(serde::Deserialize)]
                struct Images {
                    data: Vec<f32>,
                }
                let doc: Images =
                    serde_json::from_slice(&bytes).map_err(|e| DataError::Format {
                        file: file.path.clone(),
                        reason: format!("expected an object with a numeric `data` array: {e}"),
                    })?;
                let data = doc.data;
                if !data.len().is_multiple_of(spec.width) {
                    return Err(DataError::Format {
                        file: file.path.clone(),
                        reason: format!(
                            "{} values is not a multiple of width {}",
                            data.len(),
                            spec.width
                        ),
                    });
                }
                check_finite(&data, spec.width, &file.path)?;
                values.extend_from_slice(&data);
                labels.extend(std::iter::repeat_n(class as i64, data.len() / spec.width));
            }
            ModalityRows {
                file: manifest.name.clone(),
                values,
                labels,
                ids: Vec::new(),
                groups: Vec::new(),
                lines: Vec::new(),
            }
        }
        Reader::Npy { file } => {
            let bytes = member_bytes(manifest, file, cache, log)?;
            let a = read_npy(&bytes, &file.path)?;
            if a.shape.len() != 2 || a.shape[1] != spec.width {
                return Err(DataError::Format {
                    file: file.path.clone(),
                    reason: format!("shape {:?}, expected (rows, {})", a.shape, spec.width),
                });
            }
            ModalityRows {
                values: to_f32(&a.values, spec.width, &file.path)?,
                file: file.path.clone(),
                labels: Vec::new(),
                ids: Vec::new(),
                groups: Vec::new(),
                lines: Vec::new(),
            }
        }
        // Media are decoded on demand by their own loader (crate::data::clips).
        Reader::AvAudio { .. } | Reader::AvFrames { .. } => {
            return Err(DataError::Manifest {
                manifest: manifest.name.clone(),
                reason: format!(
                    "modality `{}` is read from media, not into memory",
                    spec.name
                ),
            })
        }
    };
    Ok(rows)
}

/// Fixed-size representation of a `frames × coeffs` sequence (row-major).
pub fn represent(seq: &[f64], coeffs: usize, r: SequenceRepresentation) -> Vec<f32> {
    let n = seq.len() / coeffs;
    let at = |t: usize, c: usize| seq[t * coeffs + c];
    match r {
        SequenceRepresentation::StatsPooled { frames } => {
            let mut out = Vec::with_capacity(coeffs * (2 + frames));
            for c in 0..coeffs {
                out.push(((0..n).map(|t| at(t, c)).sum::<f64>() / n.max(1) as f64) as f32);
            }
            for c in 0..coeffs {
                let mean = (0..n).map(|t| at(t, c)).sum::<f64>() / n.max(1) as f64;
                let var = (0..n).map(|t| (at(t, c) - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
                out.push(var.sqrt() as f32);
            }
            // Segment s covers frames [⌊s n/F⌋, max(⌊(s+1) n/F⌋, ⌊s n/F⌋ + 1)), clamped to n.
            for s in 0..frames {
                let lo = (s * n / frames).min(n.saturating_sub(1));
                let hi = ((s + 1) * n / frames).max(lo + 1).min(n);
                for c in 0..coeffs {
                    out.push(
                        ((lo..hi).map(|t| at(t, c)).sum::<f64>() / (hi - lo).max(1) as f64) as f32,
                    );
                }
            }
            out
        }
        SequenceRepresentation::Resampled { frames } => {
            let mut out = vec![0f32; coeffs * frames];
            for f in 0..frames {
                let pos = if frames > 1 {
                    f as f64 * (n.max(1) - 1) as f64 / (frames - 1) as f64
                } else {
                    0.0
                };
                let (t0, frac) = (pos.floor() as usize, pos - pos.floor());
                let t1 = (t0 + 1).min(n.max(1) - 1);
                for c in 0..coeffs {
                    out[c * frames + f] = (at(t0, c) * (1.0 - frac) + at(t1, c) * frac) as f32;
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_pooled_of_a_known_sequence() {
        // 4 frames × 1 coefficient: 1, 2, 3, 4 → mean 2.5, std √1.25, two pooled segments 1.5, 3.5
        let out = represent(
            &[1.0, 2.0, 3.0, 4.0],
            1,
            SequenceRepresentation::StatsPooled { frames: 2 },
        );
        assert_eq!(out, vec![2.5, 1.25f64.sqrt() as f32, 1.5, 3.5]);
    }

    #[test]
    fn resampled_keeps_endpoints_and_interpolates() {
        let out = represent(
            &[0.0, 10.0, 1.0, 20.0],
            2,
            SequenceRepresentation::Resampled { frames: 3 },
        );
        // coefficient-major: c0 over 3 frames, then c1
        assert_eq!(out, vec![0.0, 0.5, 1.0, 10.0, 15.0, 20.0]);
    }
}

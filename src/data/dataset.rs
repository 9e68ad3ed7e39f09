//! In-memory datasets: one row-major feature matrix per modality and a label per sample.

use super::error::{DataError, MediaReadError};
use crate::media::source::{MediaSource, View};
use std::sync::Arc;

/// One modality's features: `values.len() == n * width`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Modality {
    /// Modality name (as in the manifest and recipes).
    pub name: String,
    /// Features per sample.
    pub width: usize,
    /// Row-major `n × width` values (empty for a media modality).
    pub values: Vec<f32>,
    /// The streaming reader of a modality decoded from media on demand (`values` is empty).
    pub media: Option<Arc<MediaSource>>,
}

impl Modality {
    /// A modality held in memory.
    pub fn in_memory(name: String, width: usize, values: Vec<f32>) -> Modality {
        Modality {
            name,
            width,
            values,
            media: None,
        }
    }

    /// The features of sample `i` of an in-memory modality.
    pub fn row(&self, i: usize) -> &[f32] {
        assert!(
            self.media.is_none(),
            "modality `{}` is read from media: use Modality::rows",
            self.name
        );
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// Rows `idx` (`idx.len() × width` values): copied from memory, or decoded from media in
    /// `view` (in-memory rows are the same in every view). A media file that cannot be read
    /// mid-run (every file was checked present at load, not decoded) is a [`MediaReadError`]
    /// naming it; a run ends with it as an error and keeps its last checkpoint.
    pub fn rows(&self, idx: &[usize], view: View) -> Result<Vec<f32>, MediaReadError> {
        match &self.media {
            Some(source) => source
                .gather(idx, view)
                .map(|b| b.as_ref().clone())
                .map_err(|e| MediaReadError(format!("reading modality `{}`: {e}", self.name))),
            None => {
                let mut v = Vec::with_capacity(idx.len() * self.width);
                for &i in idx {
                    v.extend_from_slice(self.row(i));
                }
                Ok(v)
            }
        }
    }

    /// Start decoding rows `idx` in `view` in the background (media modalities only).
    pub fn prefetch(&self, idx: &[usize], view: View) {
        if let Some(source) = &self.media {
            source.prefetch(idx, view);
        }
    }
}

/// A labelled multimodal dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Manifest name.
    pub name: String,
    /// Class names; labels index into it.
    pub classes: Vec<String>,
    /// Modalities, in the order the recipe selected them.
    pub modalities: Vec<Modality>,
    /// One label per sample.
    pub labels: Vec<usize>,
    /// The group of each sample (e.g. the subject it was recorded from), or empty when the
    /// data has none. Group splits and group-wise validation keep a group on one side.
    pub groups: Vec<String>,
    /// With the manifest's fixed lists: the first `fixed_train` samples are the training list,
    /// the rest the test list.
    pub fixed_train: Option<usize>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Whether any modality is decoded from media (rows are then read in small chunks).
    pub fn has_media(&self) -> bool {
        self.modalities.iter().any(|m| m.media.is_some())
    }

    /// Rows per chunk when a pass reads many samples: 1024 in memory, 32 from media (a
    /// 224×224 frame is 600 KB).
    pub fn chunk(&self) -> usize {
        if self.has_media() {
            32
        } else {
            1024
        }
    }

    /// Start decoding rows `idx` of every media modality in the background.
    pub fn prefetch(&self, idx: &[usize], view: View) {
        for m in &self.modalities {
            m.prefetch(idx, view);
        }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The dataset restricted to `names`, in that order.
    pub fn select(mut self, names: &[String]) -> Result<Dataset, DataError> {
        let mut chosen = Vec::with_capacity(names.len());
        for name in names {
            let pos = self
                .modalities
                .iter()
                .position(|m| &m.name == name)
                .ok_or_else(|| DataError::UnknownModality {
                    dataset: self.name.clone(),
                    modality: name.clone(),
                    known: self
                        .modalities
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            chosen.push(self.modalities[pos].clone());
        }
        self.modalities = chosen;
        Ok(self)
    }

    /// Standardise every feature with the mean and standard deviation of the `train` rows
    /// (features with zero spread are only centred). Statistics never see val/test rows.
    /// Media modalities are left as their front-ends normalise them.
    pub fn standardize(&mut self, train: &[usize]) {
        for m in self.modalities.iter_mut().filter(|m| m.media.is_none()) {
            let w = m.width;
            let mut mean = vec![0f64; w];
            let mut sq = vec![0f64; w];
            for &i in train {
                for (j, v) in m.values[i * w..(i + 1) * w].iter().enumerate() {
                    mean[j] += *v as f64;
                    sq[j] += (*v as f64) * (*v as f64);
                }
            }
            let n = train.len().max(1) as f64;
            let std: Vec<f64> = (0..w)
                .map(|j| {
                    mean[j] /= n;
                    let var = (sq[j] / n - mean[j] * mean[j]).max(0.0);
                    if var > 1e-12 {
                        var.sqrt()
                    } else {
                        1.0
                    }
                })
                .collect();
            for row in m.values.chunks_mut(w) {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = ((*v as f64 - mean[j]) / std[j]) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardize_uses_training_rows_only() {
        let mut d = Dataset {
            name: "t".into(),
            classes: vec!["a".into(), "b".into()],
            modalities: vec![Modality {
                name: "m".into(),
                width: 1,
                values: vec![1.0, 3.0, 100.0],
                media: None,
            }],
            labels: vec![0, 1, 0],
            groups: Vec::new(),
            fixed_train: None,
        };
        d.standardize(&[0, 1]);
        // train mean 2, std 1: the held-out 100 becomes 98, untouched by its own value.
        assert_eq!(d.modalities[0].values, vec![-1.0, 1.0, 98.0]);
    }
}

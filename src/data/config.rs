//! The data concern's settings: `[dataset]` as a recipe writes it (manifest, modalities, split,
//! standardisation, media front-ends), the test-time corruption kinds, and
//! [`DataSettings`], what [`super::load`] reads — never the recipe.

use crate::manifest::Manifest;
use serde::{Deserialize, Serialize};

/// `[dataset]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetSection {
    /// Manifest name: `data-manifests/<manifest>.toml`. Required.
    pub manifest: String,
    /// Modalities to use, in order. Required, non-empty; one modality trains a unimodal model.
    pub modalities: Vec<String>,
    /// Train/val/test split.
    #[serde(default)]
    pub split: SplitSection,
    /// Standardise each feature with mean/std of the training split. Default `true`.
    #[serde(default = "yes")]
    pub standardize: bool,
    /// Variants of the media readers (datasets read from media only): audio front-end,
    /// resampler, STFT padding, frames per clip, frame selection, frame size, label order.
    #[serde(
        default,
        skip_serializing_if = "crate::media::options::MediaSection::is_empty"
    )]
    pub media: crate::media::options::MediaSection,
}

fn yes() -> bool {
    true
}

/// `dataset.split`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitSection {
    /// Split strategy: `"stratified"` (per class, by the split seed), `"group"` (whole groups
    /// — e.g. subjects — on one side only; needs a group column in the manifest) or `"fixed"`
    /// (the manifest's train/test lists). Default: `"fixed"` when the manifest has fixed lists
    /// (any other kind is then an error: it would not happen), else `"stratified"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SplitKind>,
    /// stratified and group, without folds: fraction of the samples (of the groups, for
    /// `group`) held out for test. With fixed lists or folds the test set is decided
    /// otherwise and giving a fraction is an error. Default `0.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<f64>,
    /// Fraction held out of the training part for validation: of each class, or of the
    /// groups when the data has groups (validation never shares a group with training).
    /// Default `0.1`.
    #[serde(default = "default_val_fraction")]
    pub val: f64,
    /// Seed of the `split` stream; independent of the run seed so all seeds share one split.
    /// Default `0`.
    #[serde(default)]
    pub seed: u64,
    /// k-fold cross-validation (stratified or group kind): the number of folds, k ≥ 2. Fold
    /// `fold` is the test set. `balmix run` without `fold` runs every fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    /// With `folds`: which fold is the test set, 0-based (0 ≤ fold < folds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// Group split only: the groups (e.g. subject ids, as written in the group column) whose
    /// samples are the test set, instead of a random `test` fraction of the groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_groups: Option<Vec<String>>,
    /// How validation is drawn from the training part: `"group"` (whole groups, so no group
    /// is on both sides) or `"row"` (per class, whatever the group). Default: `"group"` when
    /// the manifest has groups; data without groups is always split by row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_by: Option<crate::data::split::ValBy>,
}

/// `dataset.split.test` of a stratified split when the recipe leaves it out.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

fn default_val_fraction() -> f64 {
    0.1
}

impl Default for SplitSection {
    fn default() -> Self {
        Self {
            kind: None,
            test: None,
            val: default_val_fraction(),
            seed: 0,
            folds: None,
            fold: None,
            test_groups: None,
            val_by: None,
        }
    }
}

/// How samples are split.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SplitKind {
    /// Per class, shuffle with the `split` stream and cut test, val, train.
    #[default]
    Stratified,
    /// The manifest's fixed train and test lists; validation is a fraction `val` of the
    /// training part, drawn with the `split` stream.
    Fixed,
    /// Whole groups (the manifest's group column) on one side: the groups are shuffled with
    /// the `split` stream and cut into test, val and train.
    Group,
}

/// Test-time corruptions of one modality.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptionKind {
    /// The modality is missing: zero input (as the field's masked evaluations do).
    MissingZero,
    /// The modality is missing: each feature's training mean is imputed.
    MissingMean,
    /// Additive Gaussian noise, σ relative to each feature's training std.
    Gaussian,
    /// A zeroed square at a random position of the image.
    Occlusion,
    /// Gaussian blur of the image.
    Blur,
}

impl CorruptionKind {
    /// Every kind, in declaration order.
    pub const ALL: [CorruptionKind; 5] = [
        CorruptionKind::MissingZero,
        CorruptionKind::MissingMean,
        CorruptionKind::Gaussian,
        CorruptionKind::Occlusion,
        CorruptionKind::Blur,
    ];

    /// The kind's name in recipes and flags (`missing-zero`, …).
    pub fn name(self) -> String {
        crate::kind_name::kind_name(&self)
    }

    /// Severities evaluated when the recipe gives none: missing — the probability that a
    /// sample's modality is missing; gaussian — σ in training stds; occlusion — the square's
    /// side as a fraction of the shorter image side; blur — σ in pixels.
    pub fn default_severities(self) -> Vec<f64> {
        match self {
            CorruptionKind::MissingZero | CorruptionKind::MissingMean => {
                vec![0.0, 0.25, 0.5, 0.75, 1.0]
            }
            CorruptionKind::Gaussian => vec![0.0, 0.5, 1.0, 2.0, 4.0],
            CorruptionKind::Occlusion => vec![0.0, 0.25, 0.5, 0.75],
            CorruptionKind::Blur => vec![0.0, 0.5, 1.0, 2.0],
        }
    }

    /// Whether the kind needs an image-shaped modality.
    pub fn needs_image(self) -> bool {
        matches!(self, CorruptionKind::Occlusion | CorruptionKind::Blur)
    }

    /// The largest severity that makes sense: 1 for probabilities and fractions.
    pub fn max_severity(self) -> Option<f64> {
        match self {
            CorruptionKind::MissingZero
            | CorruptionKind::MissingMean
            | CorruptionKind::Occlusion => Some(1.0),
            CorruptionKind::Gaussian | CorruptionKind::Blur => None,
        }
    }
}

/// Everything the data is loaded from, resolved by validation (`Recipe::data_settings`).
#[derive(Debug, Clone, PartialEq)]
pub struct DataSettings {
    /// The dataset's manifest (embedded or the recipe's own file), resolved.
    pub manifest: Manifest,
    /// `[dataset]`: modalities, standardisation, media front-ends (and the split as written).
    pub dataset: DatasetSection,
    /// The split, resolved.
    pub split: super::split_settings::Split,
}

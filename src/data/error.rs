//! Data errors: each says what is wrong, where (file, line, column, key) and what to do.

use thiserror::Error;

/// Data that cannot be fetched, read or used.
#[derive(Debug, Error, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum DataError {
    #[error("dataset `{dataset}`: modality `{modality}` is not in the dataset (has: {known})")]
    UnknownModality {
        dataset: String,
        modality: String,
        known: String,
    },
    #[error("dataset `{dataset}`: split `{split}` is empty ({detail})")]
    EmptySplit {
        dataset: String,
        split: &'static str,
        detail: String,
    },
    #[error("cannot use the download cache folder {cache}: {reason}; choose a writable folder with --cache-dir DIR or BALMIX_CACHE=DIR")]
    CacheUnusable { cache: String, reason: String },
    #[error("`{tool}` is not available ({reason}); {hint}")]
    ToolMissing {
        tool: String,
        reason: String,
        hint: String,
    },
    #[error("fetching {what} failed: {detail}")]
    FetchFailed { what: String, detail: String },
    #[error("checksum mismatch for {what}: expected sha256 {expected}, got {got} (the file was replaced or truncated; nothing was cached)")]
    ChecksumMismatch {
        what: String,
        expected: String,
        got: String,
    },
    #[error("{archive}: has no member `{member}`")]
    MemberMissing { archive: String, member: String },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("manifest `{manifest}`: {reason}")]
    Manifest { manifest: String, reason: String },
    #[error("{file}: line {line}, column {column}: {reason}")]
    Csv {
        file: String,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{file}: {reason}")]
    Format { file: String, reason: String },
    #[error("{file}: row {row}: label {label} is outside the class range 0..{classes}")]
    LabelOutOfRange {
        file: String,
        row: usize,
        label: i64,
        classes: usize,
    },
    #[error("dataset `{dataset}`: {what} has {got} samples, expected {expected}")]
    CountMismatch {
        dataset: String,
        what: String,
        got: usize,
        expected: usize,
    },
    #[error("dataset `{dataset}`: modality `{modality}` row {row}, column {column} is not finite ({value})")]
    NonFinite {
        dataset: String,
        modality: String,
        row: usize,
        column: usize,
        value: f32,
    },
    #[error("dataset `{dataset}`: labels of `{a}` and `{b}` disagree at {at} ({la} vs {lb}){}", if at.starts_with("row ") { "; rows are matched by position: add an id column to every file (`id = \"…\"` in the manifest) or reorder the rows" } else { "" })]
    LabelDisagreement {
        dataset: String,
        a: String,
        b: String,
        /// `row N` (rows matched by position) or `id X`.
        at: String,
        la: usize,
        lb: usize,
    },
    #[error("dataset `{dataset}`: {problem}")]
    Join { dataset: String, problem: String },
    #[error("dataset `{dataset}`: class {class} has {have} `{modality}` samples but {need} are needed to pair by label")]
    NotEnoughToPair {
        dataset: String,
        class: usize,
        modality: String,
        have: usize,
        need: usize,
    },
    #[error("dataset `{dataset}` is not present: {missing}\n{instructions}")]
    LocalMissing {
        dataset: String,
        missing: String,
        instructions: String,
    },
}

impl DataError {
    /// An I/O error at `path`.
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        DataError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

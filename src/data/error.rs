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
    /// A media file checked present at load could not be read or decoded when its rows were
    /// asked for.
    #[error(transparent)]
    MediaRead(#[from] MediaReadError),
    #[error("manifest `{manifest}`: {reason}")]
    Manifest { manifest: String, reason: String },
    #[error("{file}: {at}: {reason}")]
    Csv {
        file: String,
        at: Location,
        reason: String,
    },
    #[error("{file}: no data rows ({}); add one row per sample", match header_columns { Some(n) => format!("a header of {n} columns and nothing below it"), None => "the file is empty".to_string() })]
    NoRows {
        file: String,
        /// The header's column count (`None`: no header).
        header_columns: Option<usize>,
    },
    #[error("{file}: {reason}")]
    Format { file: String, reason: String },
    #[error("{file}: {at}: label {label} is outside the class range 0..{classes}")]
    LabelOutOfRange {
        file: String,
        at: Location,
        label: i64,
        classes: usize,
    },
    #[error("{file}: {at}: label `{cell}` is neither a class name nor a class index (classes: {classes})")]
    UnknownClass {
        file: String,
        at: Location,
        cell: String,
        /// The manifest's class names, comma-separated.
        classes: String,
    },
    #[error("{file}: {at}: the group cell is empty; give every row its group (e.g. the subject it was recorded from), or remove `group` from the manifest")]
    EmptyGroup { file: String, at: Location },
    #[error("{}", duplicate_id(id, first, second))]
    DuplicateId {
        id: String,
        /// File and 1-based line of the first occurrence.
        first: (String, usize),
        /// File and 1-based line of the second occurrence.
        second: (String, usize),
    },
    #[error("dataset `{dataset}`: {what} has {got} samples, expected {expected}")]
    CountMismatch {
        dataset: String,
        what: String,
        got: usize,
        expected: usize,
    },
    #[error("{file}: {at}: value `{cell}` is not finite; replace it (e.g. impute a missing reading) or drop the row")]
    NonFinite {
        file: String,
        at: Location,
        /// The cell as written (or the value, in binary arrays).
        cell: String,
    },
    #[error("{file}: {at}: value `{cell}` overflows f32 (|x| > 3.4e38); rescale the column (e.g. another unit)")]
    Overflow {
        file: String,
        at: Location,
        /// The cell as written (or the value, in binary arrays).
        cell: String,
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
    #[error("dataset `{dataset}`: dataset.split.test_groups names `{group}`, which is not a group of the data{hint}; its groups: {known}")]
    UnknownGroup {
        dataset: String,
        group: String,
        hint: String,
        known: String,
    },
}

/// Where in a file a problem is: a 1-based line of a text file or a 0-based row of a binary
/// array, the column (where one is at fault) and the row's sample id (where it has one).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// The line or array row.
    pub row: Row,
    /// The header name in backticks, else the 1-based column number (0-based in arrays).
    /// (Boxed strings keep [`DataError`] small.)
    pub column: Option<Box<str>>,
    /// The row's sample id.
    pub id: Option<Box<str>>,
}

/// A row of a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Row {
    /// 1-based line of a text file.
    Line(usize),
    /// 0-based row of a binary array (as numpy indexes it).
    Array(usize),
}

impl Location {
    /// Line `line` of a text file, no column, no id.
    pub fn line(line: usize) -> Self {
        Location {
            row: Row::Line(line),
            column: None,
            id: None,
        }
    }

    /// 0-based row `row` (and column `column`) of a binary array.
    pub fn array(row: usize, column: Option<usize>) -> Self {
        Location {
            row: Row::Array(row),
            column: column.map(|c| c.to_string().into()),
            id: None,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let array = match self.row {
            Row::Line(l) => {
                write!(f, "line {l}")?;
                false
            }
            Row::Array(r) => {
                write!(f, "array row {r}")?;
                true
            }
        };
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        if array {
            f.write_str(" (0-based)")?;
        }
        if let Some(id) = &self.id {
            write!(f, " (id `{id}`)")?;
        }
        Ok(())
    }
}

fn duplicate_id(id: &str, first: &(String, usize), second: &(String, usize)) -> String {
    if first.0 == second.0 {
        format!(
            "{}: id `{id}` appears twice (lines {} and {}); ids must be unique",
            first.0, first.1, second.1
        )
    } else {
        format!(
            "id `{id}` appears twice ({} line {} and {} line {}); ids must be unique",
            first.0, first.1, second.0, second.1
        )
    }
}

impl DataError {
    /// Whether the user's data or manifest is at fault (bad input, exit status 2) rather than
    /// the machine, the network or a download (exit status 1). Every variant is classified
    /// here, so a new one must be too.
    pub fn is_bad_input(&self) -> bool {
        match self {
            DataError::UnknownModality { .. }
            | DataError::EmptySplit { .. }
            | DataError::MemberMissing { .. }
            | DataError::Manifest { .. }
            | DataError::Csv { .. }
            | DataError::NoRows { .. }
            | DataError::Format { .. }
            | DataError::LabelOutOfRange { .. }
            | DataError::UnknownClass { .. }
            | DataError::EmptyGroup { .. }
            | DataError::DuplicateId { .. }
            | DataError::CountMismatch { .. }
            | DataError::NonFinite { .. }
            | DataError::Overflow { .. }
            | DataError::LabelDisagreement { .. }
            | DataError::Join { .. }
            | DataError::NotEnoughToPair { .. }
            | DataError::UnknownGroup { .. } => true,
            DataError::CacheUnusable { .. }
            | DataError::ToolMissing { .. }
            | DataError::FetchFailed { .. }
            | DataError::ChecksumMismatch { .. }
            | DataError::Io { .. }
            | DataError::MediaRead(_)
            | DataError::LocalMissing { .. } => false,
        }
    }

    /// An I/O error at `path`.
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        DataError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

/// A media file that could not be read or decoded mid-run: what, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct MediaReadError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> String {
        "x".to_string()
    }

    /// One value of every variant with its class: content of the user's data or manifest is
    /// bad input (exit 2); the machine, network, tools and downloads are not (exit 1).
    #[test]
    fn every_variant_is_classified_as_bad_input_or_not() {
        let at = || Location::line(2);
        let cases = [
            (
                DataError::UnknownModality {
                    dataset: s(),
                    modality: s(),
                    known: s(),
                },
                true,
            ),
            (
                DataError::EmptySplit {
                    dataset: s(),
                    split: "val",
                    detail: s(),
                },
                true,
            ),
            (
                DataError::CacheUnusable {
                    cache: s(),
                    reason: s(),
                },
                false,
            ),
            (
                DataError::ToolMissing {
                    tool: s(),
                    reason: s(),
                    hint: s(),
                },
                false,
            ),
            (
                DataError::FetchFailed {
                    what: s(),
                    detail: s(),
                },
                false,
            ),
            (
                DataError::ChecksumMismatch {
                    what: s(),
                    expected: s(),
                    got: s(),
                },
                false,
            ),
            (
                DataError::MemberMissing {
                    archive: s(),
                    member: s(),
                },
                true,
            ),
            (
                DataError::Io {
                    path: s(),
                    reason: s(),
                },
                false,
            ),
            (
                DataError::Manifest {
                    manifest: s(),
                    reason: s(),
                },
                true,
            ),
            (
                DataError::Csv {
                    file: s(),
                    at: at(),
                    reason: s(),
                },
                true,
            ),
            (
                DataError::NoRows {
                    file: s(),
                    header_columns: Some(4),
                },
                true,
            ),
            (
                DataError::Format {
                    file: s(),
                    reason: s(),
                },
                true,
            ),
            (
                DataError::LabelOutOfRange {
                    file: s(),
                    at: at(),
                    label: 7,
                    classes: 3,
                },
                true,
            ),
            (
                DataError::UnknownClass {
                    file: s(),
                    at: at(),
                    cell: s(),
                    classes: s(),
                },
                true,
            ),
            (
                DataError::EmptyGroup {
                    file: s(),
                    at: at(),
                },
                true,
            ),
            (
                DataError::DuplicateId {
                    id: s(),
                    first: (s(), 2),
                    second: (s(), 3),
                },
                true,
            ),
            (
                DataError::CountMismatch {
                    dataset: s(),
                    what: s(),
                    got: 1,
                    expected: 2,
                },
                true,
            ),
            (
                DataError::NonFinite {
                    file: s(),
                    at: at(),
                    cell: s(),
                },
                true,
            ),
            (
                DataError::Overflow {
                    file: s(),
                    at: at(),
                    cell: s(),
                },
                true,
            ),
            (
                DataError::LabelDisagreement {
                    dataset: s(),
                    a: s(),
                    b: s(),
                    at: s(),
                    la: 0,
                    lb: 1,
                },
                true,
            ),
            (
                DataError::Join {
                    dataset: s(),
                    problem: s(),
                },
                true,
            ),
            (
                DataError::NotEnoughToPair {
                    dataset: s(),
                    class: 0,
                    modality: s(),
                    have: 1,
                    need: 2,
                },
                true,
            ),
            (
                DataError::LocalMissing {
                    dataset: s(),
                    missing: s(),
                    instructions: s(),
                },
                false,
            ),
            (
                DataError::UnknownGroup {
                    dataset: s(),
                    group: s(),
                    hint: s(),
                    known: s(),
                },
                true,
            ),
        ];
        for (err, bad) in cases {
            assert_eq!(err.is_bad_input(), bad, "{err:?}");
        }
    }

    #[test]
    fn locations_name_line_column_and_id() {
        let at = Location {
            row: Row::Line(5),
            column: Some("`ax`".into()),
            id: Some("s01-w04".into()),
        };
        assert_eq!(at.to_string(), "line 5, column `ax` (id `s01-w04`)");
        assert_eq!(
            Location::array(3, Some(2)).to_string(),
            "array row 3, column 2 (0-based)"
        );
    }

    #[test]
    fn duplicate_id_names_both_lines() {
        let same = DataError::DuplicateId {
            id: "a".into(),
            first: ("f.csv".into(), 2),
            second: ("f.csv".into(), 9),
        };
        assert_eq!(
            same.to_string(),
            "f.csv: id `a` appears twice (lines 2 and 9); ids must be unique"
        );
        let across = DataError::DuplicateId {
            id: "a".into(),
            first: ("train.csv".into(), 2),
            second: ("test.csv".into(), 1),
        };
        assert_eq!(
            across.to_string(),
            "id `a` appears twice (train.csv line 2 and test.csv line 1); ids must be unique"
        );
    }
}

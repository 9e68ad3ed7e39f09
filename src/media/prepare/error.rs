//! Why a dataset could not be prepared (or faked).

use super::ffmpeg::INSTALL_HINT;
use std::path::Path;

/// Why a dataset could not be prepared (or faked).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A file or folder could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// ffmpeg or ffprobe is not on `PATH` but there are media to extract.
    #[error("{tool} was not found on PATH (or does not run); preparing {clips} {dataset} clip(s) needs ffmpeg and ffprobe: {INSTALL_HINT}")]
    ToolMissing {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The dataset.
        dataset: &'static str,
        /// Clips left to prepare.
        clips: usize,
    },
    /// A split list is not where it was looked for.
    #[error("split list {file} not found (looked for {looked}); {dataset} uses {origin}: pass the folder that holds them with --lists")]
    ListMissing {
        /// The list's file name.
        file: &'static str,
        /// The paths tried.
        looked: String,
        /// The dataset.
        dataset: &'static str,
        /// Where the published lists come from.
        origin: &'static str,
    },
    /// A split list's lines do not read as the dataset writes them.
    #[error("{file}: {reason}")]
    ListFormat {
        /// The list.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A split list does not hold the published number of clips.
    #[error("{file} has {got} clips, the published list has {expected}: use the unmodified lists ({origin})")]
    ListCount {
        /// The list.
        file: String,
        /// Clips in the file.
        got: usize,
        /// Clips in the published list.
        expected: usize,
        /// Where the published lists come from.
        origin: &'static str,
    },
    /// A split list is not byte-identical to the published one.
    #[error("{file}: sha256 {got}, but the published list's is {expected}; use the unmodified file ({origin}) — a copy with other line endings, a header row or other rows is a different split")]
    ListChecksum {
        /// The list.
        file: String,
        /// Its sha256.
        got: String,
        /// The published file's sha256.
        expected: &'static str,
        /// Where the published lists come from.
        origin: &'static str,
    },
    /// A clip appears twice in the lists.
    #[error("clip {clip} is listed twice (in {first} and in {second})")]
    ListDuplicate {
        /// The clip.
        clip: String,
        /// The first list naming it.
        first: &'static str,
        /// The second.
        second: &'static str,
    },
    /// Listed clips have no raw media.
    #[error("{count} clip(s) of the split lists have no raw media in {raw}; nothing was written. Missing: {shown}")]
    MediaMissing {
        /// The raw folder.
        raw: String,
        /// How many clips.
        count: usize,
        /// The first 20 and what each lacks.
        shown: String,
    },
    /// The raw folder is a fake dataset of another kind.
    #[error("{raw}/FAKE.toml describes a fake {found} dataset, not {expected}")]
    FakeMismatch {
        /// The raw folder.
        raw: String,
        /// What FAKE.toml says.
        found: &'static str,
        /// What was asked for.
        expected: &'static str,
    },
    /// The output folder holds another prepared dataset.
    #[error("{dir} holds a prepared {found} dataset (prepared.toml); prepare {expected} into another folder")]
    OtherDataset {
        /// The output folder.
        dir: String,
        /// What its record says.
        found: &'static str,
        /// What was asked for.
        expected: &'static str,
    },
    /// Another process is preparing into the same folder.
    #[error("{dir} is being prepared by another balmix process (it holds {dir}/.prepare.lock); wait for it to finish")]
    Busy {
        /// The output folder.
        dir: String,
    },
    /// Some clips failed; the others are in place.
    #[error("{count} of {total} clip(s) failed: {shown}. The other clips are in place; run the same command again to retry (finished clips are skipped)")]
    ClipsFailed {
        /// How many failed.
        count: usize,
        /// How many were attempted.
        total: usize,
        /// The first 20 failures.
        shown: String,
    },
    /// `balmix data fake --clips` out of range.
    #[error("--clips {got}: {dataset} fakes need between {min} (two per class, so that every class is in train and test) and {max} clips")]
    FakeClips {
        /// The value given.
        got: usize,
        /// The dataset.
        dataset: &'static str,
        /// Two per class.
        min: usize,
        /// The most a fake may have.
        max: usize,
    },
    /// `balmix data fake --out` is not empty.
    #[error("{dir} is not empty; `balmix data fake` writes into an empty or new folder")]
    FakeOutNotEmpty {
        /// The folder.
        dir: String,
    },
}

impl PrepareError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, e: impl std::fmt::Display) -> PrepareError {
        PrepareError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

//! `FAKE.toml`, the marker of a fake dataset's folder: written by `balmix data fake`
//! ([`super::fake`]), read by `balmix data prepare` ([`super::prepare`]) so it never prepares one
//! dataset's fake as another.

use super::layout::AvDataset;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The marker file of a fake dataset.
pub const MARKER_FILE: &str = "FAKE.toml";

/// `FAKE.toml`: this folder is a fake dataset, not the published one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeMarker {
    /// The dataset it imitates.
    pub dataset: AvDataset,
    /// Clips in its lists.
    pub clips: usize,
    /// The seed it was drawn with.
    pub seed: u64,
    /// Whether it holds videos (the raw layout) rather than the prepared layout.
    pub with_video: bool,
}

impl FakeMarker {
    /// The marker of folder `dir`, if it has one.
    pub fn read(dir: &Path) -> Result<Option<FakeMarker>, String> {
        match std::fs::read_to_string(dir.join(MARKER_FILE)) {
            Ok(text) => toml::from_str(&text).map(Some).map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The file's text: a comment saying what it is, then the fields.
    pub fn text(&self) -> String {
        format!(
            "# A fake dataset written by `balmix data fake`: its lists and clip counts are not the published ones.\n{}",
            toml::to_string(self).expect("plain fields serialise")
        )
    }
}

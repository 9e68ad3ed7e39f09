//! What a prepared folder records about itself: `prepared.toml` (which dataset, whether it is
//! a fake one, the clip counts, whether optical flow is there, the FFmpeg and balmix versions)
//! and `SHA256SUMS` (every file written, in `sha256sum` format).

use super::parallel::for_each_parallel;
use crate::atomic_file::write as write_atomic;
use crate::digest::sha256_file;
use crate::media::layout::AvDataset;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record's file name in the prepared folder.
pub const RECORD_FILE: &str = "prepared.toml";
/// The checksum list's file name in the prepared folder.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// `prepared.toml`: what `balmix data prepare` (or `balmix data fake` without ffmpeg) wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreparedRecord {
    /// The dataset.
    pub dataset: AvDataset,
    /// A fake dataset (`balmix data fake`): its clip counts are its own, not the published ones.
    pub fake: bool,
    /// Clips in the training list.
    pub train_clips: usize,
    /// Clips in the test list.
    pub test_clips: usize,
    /// Frames kept per second of video (OGM-GE's `frame_kept_per_second`, 1).
    pub frames_per_second: usize,
    /// Whether optical flow (`u/`, `v/`) was prepared (UCF-101 only).
    pub flow: bool,
    /// `ffmpeg -version`'s first line, when ffmpeg extracted the media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ffmpeg: Option<String>,
    /// The balmix version that wrote the folder.
    pub balmix: String,
}

impl PreparedRecord {
    /// The record of the prepared folder `dir`; `None` when it has none (a folder prepared by
    /// other means).
    pub fn read(dir: &Path) -> Result<Option<PreparedRecord>, String> {
        let path = dir.join(RECORD_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Write the record into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let body = toml::to_string(self).map_err(|e| e.to_string())?;
        let text = format!(
            "# A prepared folder (`balmix data prepare`, or `balmix data fake` without video);\n\
             # SHA256SUMS lists its files.\n{body}"
        );
        let path = dir.join(RECORD_FILE);
        write_atomic(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// `path` relative to `dir`, with `/` separators.
pub fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The plain files of a folder, sorted by name.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Every media file of `clips` in the prepared folder `dir` (frames, audio, flow when
/// `flow`), plus the files `extra` (relative names) that exist.
pub fn prepared_files(
    dataset: AvDataset,
    dir: &Path,
    clips: &[String],
    flow: bool,
    extra: &[&str],
) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for clip in clips {
        files.extend(files_in(&dataset.frame_dir(dir, clip))?);
        if dataset.has_audio() {
            files.push(dataset.audio_path(dir, clip));
        }
        if let (true, Some(dirs)) = (flow, dataset.flow_dirs(dir, clip)) {
            for d in dirs {
                files.extend(files_in(&d)?);
            }
        }
    }
    files.extend(extra.iter().map(|e| dir.join(e)).filter(|p| p.is_file()));
    Ok(files)
}

/// Write `dir/SHA256SUMS` for `files` (`<hex>  <relative path>` lines sorted by path, as
/// `sha256sum -c` reads them), hashing on `jobs` threads. Returns how many files it lists.
pub fn write_sums(dir: &Path, files: &[PathBuf], jobs: usize) -> Result<usize, String> {
    let mut rel: Vec<(String, &PathBuf)> = files.iter().map(|p| (relative(dir, p), p)).collect();
    rel.sort();
    rel.dedup_by(|a, b| a.0 == b.0);
    let hashes = std::sync::Mutex::new(vec![String::new(); rel.len()]);
    let failed = for_each_parallel(rel.len(), jobs, &|i| {
        let h = sha256_file(rel[i].1).map_err(|e| format!("{}: {e}", rel[i].1.display()))?;
        hashes.lock().expect("no panics while held")[i] = h;
        Ok(())
    });
    if let Some((_, e)) = failed.into_iter().next() {
        return Err(e);
    }
    let hashes = hashes.into_inner().expect("no panics while held");
    let text: String = rel
        .iter()
        .zip(&hashes)
        .map(|((name, _), h)| format!("{h}  {name}\n"))
        .collect();
    let sums = dir.join(SUMS_FILE);
    write_atomic(&sums, text.as_bytes()).map_err(|e| format!("{}: {e}", sums.display()))?;
    Ok(rel.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_an_absent_one_is_none() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(PreparedRecord::read(tmp.path()).unwrap(), None);
        let r = PreparedRecord {
            dataset: AvDataset::KineticsSounds,
            fake: true,
            train_clips: 10,
            test_clips: 5,
            frames_per_second: 1,
            flow: false,
            ffmpeg: Some("ffmpeg version 5.1".into()),
            balmix: "0.1.0".into(),
        };
        r.write(tmp.path()).unwrap();
        assert_eq!(PreparedRecord::read(tmp.path()).unwrap(), Some(r));
        std::fs::write(tmp.path().join(RECORD_FILE), "dataset = \"nope\"\n").unwrap();
        let e = PreparedRecord::read(tmp.path()).unwrap_err();
        assert!(e.contains(RECORD_FILE), "{e}");
    }

    #[test]
    fn sums_are_sorted_relative_paths_in_sha256sum_format() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("b")).unwrap();
        std::fs::write(tmp.path().join("b/x"), b"abc").unwrap();
        std::fs::write(tmp.path().join("a"), b"").unwrap();
        let files = [tmp.path().join("b/x"), tmp.path().join("a")];
        assert_eq!(write_sums(tmp.path(), &files, 2).unwrap(), 2);
        let text = std::fs::read_to_string(tmp.path().join(SUMS_FILE)).unwrap();
        assert_eq!(
            text,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  b/x\n"
        );
    }
}

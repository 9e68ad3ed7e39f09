//! What `balmix data prepare` reads: the split lists (checked against the published counts and
//! checksums unless the folder is a fake dataset) and the raw media of every listed clip,
//! found before any work starts so that a missing clip fails the whole run, never silently
//! shrinks the dataset (spec §9, item 20).

use super::error::PrepareError;
use crate::digest::sha256_hex;
use crate::media::layout::{AvDataset, Entry};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// UCF-101 ships its lists in this folder, beside `UCF-101/`.
pub const UCF_LIST_FOLDER: &str = "ucfTrainTestlist";
/// Where fake (and user-computed) UCF-101 optical flow sits in the raw folder:
/// `flow/u/<id>/frame000001.jpg`, `flow/v/<id>/…`.
pub const RAW_FLOW_FOLDER: &str = "flow";

/// The split lists as read.
#[derive(Debug)]
pub struct Lists {
    /// Train entries, then test entries.
    pub splits: [Vec<Entry>; 2],
    /// Every list file to copy into the prepared folder: (name there, where it was read).
    pub files: Vec<(&'static str, PathBuf)>,
}

impl Lists {
    /// Every clip id, train first, in list order.
    pub fn clips(&self) -> Vec<String> {
        self.splits
            .iter()
            .flatten()
            .map(|e| e.clip.clone())
            .collect()
    }
}

fn find_list(dataset: AvDataset, dir: &Path, file: &'static str) -> Result<PathBuf, PrepareError> {
    let mut looked = vec![dir.join(file)];
    if dataset == AvDataset::Ucf101 {
        looked.push(dir.join(UCF_LIST_FOLDER).join(file));
    }
    looked
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| PrepareError::ListMissing {
            file,
            looked: looked
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            dataset: dataset.name(),
            origin: dataset.list_origin(),
        })
}

/// Read the lists of `dataset` from `dir`. Unless `fake`, each must hold the published number
/// of clips and (where recorded) be byte-identical to the published file.
pub fn read_lists(dataset: AvDataset, dir: &Path, fake: bool) -> Result<Lists, PrepareError> {
    let mut splits: [Vec<Entry>; 2] = [Vec::new(), Vec::new()];
    let mut files = Vec::new();
    let mut seen: HashMap<String, &'static str> = HashMap::new();
    for (spec, entries) in dataset.lists().iter().zip(splits.iter_mut()) {
        let path = find_list(dataset, dir, spec.file)?;
        let bytes = std::fs::read(&path).map_err(|e| PrepareError::io(&path, e))?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| PrepareError::ListFormat {
            file: path.display().to_string(),
            reason: "not UTF-8 text".into(),
        })?;
        *entries = dataset
            .parse_list(&text)
            .map_err(|reason| PrepareError::ListFormat {
                file: path.display().to_string(),
                reason,
            })?;
        if !fake {
            if entries.len() != spec.clips {
                return Err(PrepareError::ListCount {
                    file: path.display().to_string(),
                    got: entries.len(),
                    expected: spec.clips,
                    origin: dataset.list_origin(),
                });
            }
            if let Some(expected) = spec.sha256 {
                let got = sha256_hex(&bytes);
                if got != expected {
                    return Err(PrepareError::ListChecksum {
                        file: path.display().to_string(),
                        got,
                        expected,
                        origin: dataset.list_origin(),
                    });
                }
            }
        }
        for e in entries.iter() {
            if let Some(first) = seen.insert(e.clip.clone(), spec.file) {
                return Err(PrepareError::ListDuplicate {
                    clip: e.clip.clone(),
                    first,
                    second: spec.file,
                });
            }
        }
        files.push((spec.file, path));
    }
    for &extra in dataset.extra_lists() {
        files.push((extra, find_list(dataset, dir, extra)?));
    }
    Ok(Lists { splits, files })
}

/// `RAW/flow/`, when it holds `u/` and `v/` (UCF-101 only).
pub fn flow_root(dataset: AvDataset, root: &Path) -> Option<PathBuf> {
    (dataset == AvDataset::Ucf101)
        .then(|| root.join(RAW_FLOW_FOLDER))
        .filter(|f| f.join("u").is_dir() && f.join("v").is_dir())
}

/// One clip's raw media.
#[derive(Debug, Clone)]
pub struct RawClip {
    /// The video.
    pub video: PathBuf,
    /// A distributed WAV to copy (CREMA-D); otherwise audio comes from the video.
    pub audio: Option<PathBuf>,
    /// Optical-flow folders (u, v) to copy (UCF-101, when the raw folder has `flow/`).
    pub flow: Option<[PathBuf; 2]>,
}

/// The raw folder, indexed once: videos by file stem (Kinetics-Sounds, UCF-101).
pub struct RawTree {
    root: PathBuf,
    dataset: AvDataset,
    videos: HashMap<String, PathBuf>,
    /// Stems found more than once (the first path in sorted order is used).
    pub duplicates: Vec<String>,
    /// `flow/` of the raw folder, when it has one (UCF-101).
    pub flow: Option<PathBuf>,
}

impl RawTree {
    /// Index `root` for `dataset`, never descending into the folders `skip` (the output
    /// folder, when it lies inside the raw one) or into `flow` (see [`flow_root`]).
    pub fn index(
        dataset: AvDataset,
        root: &Path,
        skip: &[PathBuf],
        flow: Option<PathBuf>,
    ) -> RawTree {
        let mut videos = HashMap::new();
        let mut duplicates = Vec::new();
        if dataset != AvDataset::CremaD {
            let skip: HashSet<PathBuf> = skip
                .iter()
                .chain(flow.iter())
                .filter_map(|p| p.canonicalize().ok())
                .collect();
            let ext = dataset.video_extension();
            let mut stack = vec![(root.to_path_buf(), 0usize)];
            while let Some((dir, depth)) = stack.pop() {
                let Ok(read) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut entries: Vec<PathBuf> =
                    read.filter_map(|e| e.ok().map(|e| e.path())).collect();
                entries.sort();
                // Depth-first in sorted order: push folders reversed so the first is next.
                let mut subdirs = Vec::new();
                for p in entries {
                    if p.is_dir() {
                        let hidden = p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                        let skipped = p.canonicalize().is_ok_and(|c| skip.contains(&c));
                        if !hidden && !skipped && depth < 16 {
                            subdirs.push(p);
                        }
                    } else if p
                        .extension()
                        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case(ext))
                    {
                        let stem = p
                            .file_stem()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned();
                        match videos.entry(stem) {
                            std::collections::hash_map::Entry::Occupied(e) => {
                                duplicates.push(e.key().clone())
                            }
                            std::collections::hash_map::Entry::Vacant(e) => {
                                e.insert(p);
                            }
                        }
                    }
                }
                stack.extend(subdirs.into_iter().rev().map(|d| (d, depth + 1)));
            }
        }
        RawTree {
            root: root.to_path_buf(),
            dataset,
            videos,
            duplicates,
            flow,
        }
    }

    /// The raw media of `clip`, or what is missing (paths relative to the raw folder).
    pub fn locate(&self, clip: &str) -> Result<RawClip, String> {
        let mut missing = Vec::new();
        let (video, audio) = match self.dataset {
            AvDataset::CremaD => {
                let video = self.root.join("VideoFlash").join(format!("{clip}.flv"));
                let audio = self.dataset.raw_audio(&self.root, clip);
                if !video.is_file() {
                    missing.push(format!("VideoFlash/{clip}.flv"));
                }
                if let Some(a) = audio.as_ref().filter(|a| !a.is_file()) {
                    missing.push(super::record::relative(&self.root, a));
                }
                (video, audio)
            }
            _ => match self.videos.get(clip) {
                Some(v) => (v.clone(), None),
                None => {
                    missing.push(format!(
                        "{clip}.{} anywhere below",
                        self.dataset.video_extension()
                    ));
                    (PathBuf::new(), None)
                }
            },
        };
        let flow = self
            .flow
            .as_ref()
            .map(|f| [f.join("u").join(clip), f.join("v").join(clip)]);
        for d in flow.iter().flatten().filter(|d| !d.is_dir()) {
            missing.push(super::record::relative(&self.root, d) + "/");
        }
        if missing.is_empty() {
            Ok(RawClip { video, audio, flow })
        } else {
            Err(format!("{clip} ({})", missing.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists_in(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Lists, PrepareError>) {
        let tmp = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(tmp.path().join(name), text).unwrap();
        }
        let r = read_lists(AvDataset::CremaD, tmp.path(), true);
        (tmp, r)
    }

    /// A missing list names the file and where the published one comes from; a bad line and a
    /// clip listed twice are errors naming them.
    #[test]
    fn missing_malformed_and_duplicated_lists_are_errors_that_name_the_problem() {
        let (_t, r) = lists_in(&[("train.csv", "1001_DFA_ANG_XX,ANG\r\n")]);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("split list test.csv not found"), "{e}");
        assert!(
            e.contains("data/CREMAD/train.csv") && e.contains("--lists"),
            "{e}"
        );
        let (_t, r) = lists_in(&[("train.csv", "no comma\r\n"), ("test.csv", "")]);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("train.csv: line 1: expected `clip,EMOTION`"),
            "{e}"
        );
        let (_t, r) = lists_in(&[
            ("train.csv", "1001_DFA_ANG_XX,ANG\r\n"),
            ("test.csv", "1001_DFA_ANG_XX,ANG\r\n"),
        ]);
        let e = r.unwrap_err().to_string();
        assert_eq!(
            e,
            "clip 1001_DFA_ANG_XX is listed twice (in train.csv and in test.csv)"
        );
        let (_t, r) = lists_in(&[
            ("train.csv", "1001_DFA_ANG_XX,ANG\r\n"),
            ("test.csv", "1002_DFA_ANG_XX,ANG\r\n"),
        ]);
        assert_eq!(r.unwrap().clips(), ["1001_DFA_ANG_XX", "1002_DFA_ANG_XX"]);
    }

    /// Kinetics-Sounds videos are found by stem anywhere below the raw folder, never inside the
    /// output folder; a second copy is reported, and the message for a missing one names it.
    #[test]
    fn videos_are_found_by_stem_anywhere_below_except_in_the_output_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for p in [
            "a/b/x_1.mp4",
            "a/y_2.MP4",
            "c/x_1.mp4",
            "out/z_3.mp4",
            "a/w.txt",
        ] {
            std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
            std::fs::write(root.join(p), b"").unwrap();
        }
        let tree = RawTree::index(AvDataset::KineticsSounds, root, &[root.join("out")], None);
        assert_eq!(tree.locate("x_1").unwrap().video, root.join("a/b/x_1.mp4"));
        assert_eq!(tree.locate("y_2").unwrap().video, root.join("a/y_2.MP4"));
        assert_eq!(tree.duplicates, ["x_1"]);
        assert_eq!(
            tree.locate("z_3").unwrap_err(),
            "z_3 (z_3.mp4 anywhere below)"
        );
    }
}

//! A paper dataset read from its prepared folder (`balmix data prepare`): the split lists give
//! the clips (train then test) and their labels; each media modality is a [`MediaSource`] that
//! decodes samples on demand. Every clip's files must be present: a missing one is an error
//! that lists what is missing, never a silently smaller dataset (spec §9).

use super::{Cache, DataError, Dataset, Modality};
use crate::manifest::Manifest;
use crate::media::layout::{list_frames, AvDataset, Entry};
use crate::media::options::{settings, MediaSection, MediaSettings};
use crate::media::source::{cache_dir, MediaSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The clips of the split lists and their labels.
pub struct Clips {
    /// The prepared folder.
    pub dir: PathBuf,
    /// The dataset layout.
    pub layout: AvDataset,
    /// Train clips, then test clips.
    pub clips: Vec<String>,
    /// Label of each clip.
    pub labels: Vec<usize>,
    /// How many of `clips` are training clips.
    pub train: usize,
    /// Whether the folder holds a fake dataset (`balmix data fake`).
    pub fake: bool,
}

/// The layout of a manifest read from media, if it is one.
pub fn layout(manifest: &Manifest) -> Option<AvDataset> {
    use crate::manifest::Reader;
    manifest.modalities.iter().find_map(|m| match &m.reader {
        Some(Reader::AvAudio { layout, .. }) | Some(Reader::AvFrames { layout, .. }) => {
            Some(*layout)
        }
        _ => None,
    })
}

fn missing_error(manifest: &Manifest, missing: &[String]) -> DataError {
    let shown: Vec<&str> = missing.iter().take(20).map(String::as_str).collect();
    let more = if missing.len() > 20 {
        format!("; … and {} more", missing.len() - 20)
    } else {
        String::new()
    };
    DataError::LocalMissing {
        dataset: manifest.name.clone(),
        missing: format!("{}{more}", shown.join("; ")),
        instructions: manifest.instructions.clone().unwrap_or_default(),
    }
}

/// Read and check the split lists of the prepared folder: counts as published (or as the fake
/// dataset's record says), labels known.
pub fn clips(manifest: &Manifest, cache: &Cache) -> Result<Clips, DataError> {
    let layout = layout(manifest).expect("a media manifest");
    let splits = manifest
        .fixed_splits
        .as_ref()
        .expect("media datasets have fixed splits");
    let (dir, env) = super::fetch::local_folder(manifest, cache).expect("a local source");
    if !dir.is_dir() {
        return Err(missing_error(
            manifest,
            &[format!(
                "folder {} does not exist (set {env}, or run `balmix data prepare {} --from RAW --to {}`)",
                dir.display(),
                layout.name(),
                dir.display()
            )],
        ));
    }
    let record =
        crate::media::prepare::PreparedRecord::read(&dir).map_err(|e| DataError::Format {
            file: dir.join("prepared.toml").display().to_string(),
            reason: e,
        })?;
    let fake = record.as_ref().is_some_and(|r| r.fake);
    let expected = match &record {
        Some(r) if r.fake => [Some(r.train_clips), Some(r.test_clips)],
        _ => [splits.train_count, splits.test_count],
    };
    let classes = class_names(manifest, layout, &dir)?;
    let mut missing = Vec::new();
    let mut all: Vec<Entry> = Vec::new();
    let mut train = 0;
    for (member, want) in [&splits.train, &splits.test].into_iter().zip(expected) {
        let path = dir.join(&member.path);
        let Ok(text) = std::fs::read_to_string(&path) else {
            missing.push(format!("{} is missing", path.display()));
            continue;
        };
        let entries = layout
            .parse_list(&text)
            .map_err(|reason| DataError::Format {
                file: path.display().to_string(),
                reason,
            })?;
        if let Some(want) = want.filter(|&w| w != entries.len()) {
            missing.push(format!(
                "{} has {} clips, expected {want}",
                path.display(),
                entries.len()
            ));
        }
        if member.path == splits.train.path {
            train = entries.len();
        }
        all.extend(entries);
    }
    if !missing.is_empty() {
        return Err(missing_error(manifest, &missing));
    }
    let mut labels = Vec::with_capacity(all.len());
    for e in &all {
        let class = match layout {
            AvDataset::KineticsSounds => {
                e.label.parse::<usize>().ok().filter(|&c| c < classes.len())
            }
            _ => classes.iter().position(|c| *c == e.label),
        };
        match class {
            Some(c) => labels.push(c),
            None => {
                return Err(DataError::Format {
                    file: dir.display().to_string(),
                    reason: format!(
                        "clip {}: unknown label `{}` (classes: {})",
                        e.clip,
                        e.label,
                        classes.join(", ")
                    ),
                })
            }
        }
    }
    Ok(Clips {
        dir,
        layout,
        clips: all.into_iter().map(|e| e.clip).collect(),
        labels,
        train,
        fake,
    })
}

/// Class names in label order: the manifest's, except UCF-101, whose labels index the sorted
/// names of the prepared `classInd.txt` (spec §4).
fn class_names(
    manifest: &Manifest,
    layout: AvDataset,
    dir: &Path,
) -> Result<Vec<String>, DataError> {
    if layout != AvDataset::Ucf101 {
        return Ok(manifest.classes.clone());
    }
    let path = dir.join("classInd.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::Format {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    names.sort();
    if names.is_empty() || names.len() > manifest.classes.len() {
        return Err(DataError::Format {
            file: path.display().to_string(),
            reason: format!(
                "{} classes, the manifest has {}",
                names.len(),
                manifest.classes.len()
            ),
        });
    }
    Ok(names)
}

/// Every file the modalities `names` read, checked present: a list of what is missing.
fn check_files(c: &Clips, kinds: &[(String, MediaSettings)]) -> Vec<String> {
    let mut missing = Vec::new();
    for clip in &c.clips {
        for (name, s) in kinds {
            match s {
                MediaSettings::Audio(a) => {
                    let p = a.layout.audio_path(&c.dir, clip);
                    if !p.is_file() {
                        missing.push(format!("{name}: {} is missing", p.display()));
                    }
                }
                MediaSettings::Frames(f) => {
                    let dirs = match f.stream {
                        crate::media::options::FrameStream::Rgb => {
                            vec![f.layout.frame_dir(&c.dir, clip)]
                        }
                        crate::media::options::FrameStream::Flow => f
                            .layout
                            .flow_dirs(&c.dir, clip)
                            .map(|d| d.to_vec())
                            .unwrap_or_default(),
                    };
                    for d in dirs {
                        match list_frames(&d) {
                            Ok(l) if l.len() >= f.num_frames => {}
                            Ok(l) => missing.push(format!(
                                "{name}: {} has {} frame(s), {} needed",
                                d.display(),
                                l.len(),
                                f.num_frames
                            )),
                            Err(_) => missing.push(format!("{name}: {} is missing", d.display())),
                        }
                    }
                }
            }
        }
    }
    missing
}

/// The modalities `names` of a media manifest as a [`Dataset`] whose rows are decoded on
/// demand, and the number of training clips. A fake dataset is announced on stderr.
pub fn load(
    manifest: &Manifest,
    names: &[String],
    media: &MediaSection,
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<(Dataset, usize), DataError> {
    let c = clips(manifest, cache)?;
    let _ = log;
    // A warning even under --quiet: results on a fake dataset must never pass for real ones.
    if c.fake {
        crate::term::eprint_line(&format!(
            "{}: a FAKE dataset ({} clips, `balmix data fake`), not the published one",
            manifest.name,
            c.clips.len()
        ));
    }
    let mut kinds = Vec::new();
    for name in names {
        let spec = manifest
            .modalities
            .iter()
            .find(|m| &m.name == name)
            .ok_or_else(|| DataError::UnknownModality {
                dataset: manifest.name.clone(),
                modality: name.clone(),
                known: manifest
                    .modalities
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let s = spec
            .reader
            .as_ref()
            .and_then(|r| settings(r, media))
            .ok_or_else(|| DataError::Manifest {
                manifest: manifest.name.clone(),
                reason: format!("modality `{name}` is not read from media"),
            })?;
        kinds.push((name.clone(), s));
    }
    let missing = check_files(&c, &kinds);
    if !missing.is_empty() {
        return Err(missing_error(manifest, &missing));
    }
    let clips = Arc::new(c.clips);
    let cache_folder = cache_dir(cache.root());
    let modalities = kinds
        .into_iter()
        .map(|(name, s)| {
            let source = MediaSource::new(s, c.dir.clone(), clips.clone(), cache_folder.clone());
            Modality {
                name,
                width: source.width(),
                values: Vec::new(),
                media: Some(Arc::new(source)),
            }
        })
        .collect();
    Ok((
        Dataset {
            name: manifest.name.clone(),
            classes: manifest.classes.clone(),
            modalities,
            labels: c.labels,
            groups: Vec::new(),
            fixed_train: Some(c.train),
        },
        c.train,
    ))
}

/// `balmix data verify` of a media dataset: the lists (counts, labels), every clip's files
/// for every modality under the manifest's default settings, and — when the folder was written
/// by `balmix data prepare` — every file against its `SHA256SUMS`. Returns a summary line.
pub fn verify(manifest: &Manifest, cache: &Cache) -> Result<String, DataError> {
    let c = clips(manifest, cache)?;
    let kinds: Vec<(String, MediaSettings)> = manifest
        .modalities
        .iter()
        .filter_map(|m| {
            let s = settings(m.reader.as_ref()?, &MediaSection::default())?;
            Some((m.name.clone(), s))
        })
        .collect();
    let mut missing = check_files(&c, &kinds);
    let sums = c.dir.join("SHA256SUMS");
    let mut checked = 0;
    if let Ok(text) = std::fs::read_to_string(&sums) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some((sha, rel)) = line.split_once("  ") else {
                missing.push(format!("{}: malformed line `{line}`", sums.display()));
                continue;
            };
            let path = c.dir.join(rel);
            match super::cache::sha256_file(&path) {
                Ok(got) if got == sha => checked += 1,
                Ok(_) => missing.push(format!("{} does not match SHA256SUMS", path.display())),
                Err(_) => missing.push(format!("{} is missing", path.display())),
            }
        }
    }
    if !missing.is_empty() {
        return Err(missing_error(manifest, &missing));
    }
    Ok(format!(
        "{}: {} clips ({} train, {} test){}, every file present; {}",
        manifest.name,
        c.clips.len(),
        c.train,
        c.clips.len() - c.train,
        if c.fake { ", FAKE" } else { "" },
        if checked > 0 {
            format!("{checked} files match SHA256SUMS")
        } else {
            "no SHA256SUMS (not written by balmix data prepare)".into()
        }
    ))
}

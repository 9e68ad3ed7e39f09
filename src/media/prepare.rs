//! `balmix data prepare`: a dataset as distributed (the raw layout of [`super::layout`]) to the
//! prepared layout the readers use (`../shared/specs/av-datasets.md` §2.4, §3.3, §4).
//!
//! * The split lists are read (from `--lists`, default the raw folder) and, for a real dataset,
//!   checked against the published clip counts and checksums; a raw folder with `FAKE.toml`
//!   (`balmix data fake`) takes the counts of its own lists.
//! * Every listed clip must have its raw media: missing ones are listed and nothing is written.
//! * Frames follow OGM-GE's `video_preprocessing.py` with one frame kept per second: the frame
//!   rate truncated to an integer (`fps`), frames whose index is a multiple of `fps` kept,
//!   decoded by ffmpeg to RGB and encoded here as JPEG at OpenCV's default quality (95).
//! * Audio: CREMA-D's WAVs are copied byte for byte; Kinetics-Sounds' is extracted from the
//!   video as 16-bit PCM at 16 kHz with the source's channel count; UCF-101 has none, and its
//!   optical flow is copied from `RAW/flow/{u,v}/<id>/` when present.
//! * Each output is built as `<name>.partial` and renamed when complete ([`clip`]), so a rerun
//!   skips finished clips and redoes interrupted ones; clips run on `jobs` threads.
//! * The folder gets copies of the lists, `prepared.toml` ([`PreparedRecord`]) and
//!   `SHA256SUMS`.

mod clip;
mod ffmpeg;
mod jpeg;
mod raw;
mod record;

pub use clip::partial;
pub use ffmpeg::{which, Ffmpeg, VideoInfo, INSTALL_HINT};
pub use jpeg::{encode_grey, encode_rgb, QUALITY};
pub use raw::{RAW_FLOW_FOLDER, UCF_LIST_FOLDER};
pub use record::{prepared_files, relative, write_sums, PreparedRecord, RECORD_FILE, SUMS_FILE};

use super::fake_marker::{FakeMarker, MARKER_FILE};
use super::layout::AvDataset;
use clip::{prepare_clip, Outputs};
use raw::{flow_root, read_lists, RawTree};
use std::path::{Path, PathBuf};

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

/// The first 20 of `items`, `; `-separated, and how many more there are.
pub fn first_twenty(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(20)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > 20 {
        s.push_str(&format!("; … and {} more", items.len() - 20));
    }
    s
}

/// Run `work(i)` for `i` in `0..n` on up to `jobs` threads; the failures, by index.
pub fn for_each_parallel(
    n: usize,
    jobs: usize,
    work: &(dyn Fn(usize) -> Result<(), String> + Sync),
) -> Vec<(usize, String)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if let Err(e) = work(i) {
                    failed.lock().expect("no panics while held").push((i, e));
                }
            });
        }
    });
    let mut failed = failed.into_inner().expect("no panics while held");
    failed.sort_by_key(|f| f.0);
    failed
}

/// What `balmix data prepare` is asked to do.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// The raw (distributed) folder.
    pub raw: PathBuf,
    /// The prepared folder to write.
    pub out: PathBuf,
    /// The folder of the split lists (default: `raw`).
    pub lists: Option<PathBuf>,
    /// Clips prepared at once.
    pub jobs: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// What a finished `prepare` did.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The record written.
    pub record: PreparedRecord,
    /// Clips prepared by this run (the others were already in place).
    pub done_now: usize,
    /// Files listed in `SHA256SUMS`.
    pub files: usize,
    /// Things the user should know (no flow, duplicate videos).
    pub notes: Vec<String>,
}

/// Holds `<out>/.prepare.lock` while preparing.
struct OutLock(#[allow(dead_code)] std::fs::File);

fn lock(out: &Path) -> Result<OutLock, PrepareError> {
    let path = out.join(".prepare.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| PrepareError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(OutLock(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(PrepareError::Busy {
            dir: out.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(PrepareError::io(&path, e)),
    }
}

fn progress_bar(
    show: bool,
    dataset: AvDataset,
    total: usize,
    done: usize,
) -> Option<indicatif::ProgressBar> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if !show {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "prepare {} [{{bar:30}}] {{pos}}/{{len}} clips, ETA {{eta}}",
            dataset.name()
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(done as u64);
    bar.reset_eta();
    Some(bar)
}

/// Prepare `dataset` from `opts.raw` into `opts.out`.
pub fn prepare(dataset: AvDataset, opts: &PrepareOptions) -> Result<Prepared, PrepareError> {
    let raw = &opts.raw;
    let marker = FakeMarker::read(raw).map_err(|e| PrepareError::io(&raw.join(MARKER_FILE), e))?;
    if let Some(m) = marker.as_ref().filter(|m| m.dataset != dataset) {
        return Err(PrepareError::FakeMismatch {
            raw: raw.display().to_string(),
            found: m.dataset.name(),
            expected: dataset.name(),
        });
    }
    let fake = marker.is_some();
    let lists = read_lists(dataset, opts.lists.as_deref().unwrap_or(raw), fake)?;
    let previous = PreparedRecord::read(&opts.out).map_err(|e| PrepareError::io(&opts.out, e))?;
    if let Some(p) = previous.as_ref().filter(|p| p.dataset != dataset) {
        return Err(PrepareError::OtherDataset {
            dir: opts.out.display().to_string(),
            found: p.dataset.name(),
            expected: dataset.name(),
        });
    }

    // What is left to do, and whether its raw media are all there, before writing anything.
    let mut notes = Vec::new();
    let flow = flow_root(dataset, raw);
    if dataset == AvDataset::Ucf101 && flow.is_none() {
        notes.push(format!(
            "{} has no {RAW_FLOW_FOLDER}/u and {RAW_FLOW_FOLDER}/v folders: optical flow is not prepared \
             (prepared.toml says flow = false). balmix cannot compute TV-L1 flow; write it as \
             {RAW_FLOW_FOLDER}/u/<id>/frame000001.jpg … (and v) with another tool and run prepare again",
            raw.display()
        ));
    }
    let clips = lists.clips();
    let outputs: Vec<Outputs> = clips
        .iter()
        .map(|c| Outputs::of(dataset, &opts.out, c, flow.is_some()))
        .collect();
    let todo: Vec<usize> = (0..clips.len())
        .filter(|&i| !outputs[i].complete())
        .collect();
    let tree = if todo.is_empty() {
        None
    } else {
        Some(RawTree::index(
            dataset,
            raw,
            std::slice::from_ref(&opts.out),
            flow.clone(),
        ))
    };
    let mut sources = Vec::with_capacity(todo.len());
    let mut missing = Vec::new();
    if let Some(tree) = &tree {
        for &i in &todo {
            match tree.locate(&clips[i]) {
                Ok(r) => sources.push(r),
                Err(m) => missing.push(m),
            }
        }
        if !tree.duplicates.is_empty() {
            notes.push(format!(
                "{} video(s) found more than once in {} (the first found, in sorted folder order, was used; remove the others): {}",
                tree.duplicates.len(),
                raw.display(),
                first_twenty(&tree.duplicates)
            ));
        }
    }
    if !missing.is_empty() {
        return Err(PrepareError::MediaMissing {
            raw: raw.display().to_string(),
            count: missing.len(),
            shown: first_twenty(&missing),
        });
    }
    let needs_ffmpeg = todo.iter().any(|&i| outputs[i].needs_ffmpeg(dataset));
    let ffmpeg = if needs_ffmpeg {
        Some(Ffmpeg::find().map_err(|tool| PrepareError::ToolMissing {
            tool,
            dataset: dataset.name(),
            clips: todo.len(),
        })?)
    } else {
        None
    };

    std::fs::create_dir_all(&opts.out).map_err(|e| PrepareError::io(&opts.out, e))?;
    let _lock = lock(&opts.out)?;
    for (name, from) in &lists.files {
        let bytes = std::fs::read(from).map_err(|e| PrepareError::io(from, e))?;
        crate::data::cache::write_atomic(&opts.out.join(name), &bytes)
            .map_err(|e| PrepareError::io(&opts.out.join(name), e))?;
    }
    let bar = progress_bar(
        opts.progress,
        dataset,
        clips.len(),
        clips.len() - todo.len(),
    );
    let failed = for_each_parallel(todo.len(), opts.jobs, &|k| {
        let i = todo[k];
        let r = prepare_clip(dataset, &outputs[i], &sources[k], ffmpeg.as_ref())
            .map_err(|e| format!("{}: {e}", clips[i]));
        if let Some(b) = &bar {
            b.inc(1);
        }
        r
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !failed.is_empty() {
        let shown: Vec<String> = failed.into_iter().map(|(_, e)| e).collect();
        return Err(PrepareError::ClipsFailed {
            count: shown.len(),
            total: todo.len(),
            shown: first_twenty(&shown),
        });
    }

    let record = PreparedRecord {
        dataset,
        fake,
        train_clips: lists.splits[0].len(),
        test_clips: lists.splits[1].len(),
        frames_per_second: 1,
        flow: flow.is_some(),
        ffmpeg: ffmpeg
            .map(|f| f.version)
            .or_else(|| previous.and_then(|p| p.ffmpeg)),
        balmix: env!("CARGO_PKG_VERSION").to_string(),
    };
    record
        .write(&opts.out)
        .map_err(|e| PrepareError::io(&opts.out, e))?;
    let mut extra: Vec<&str> = lists.files.iter().map(|f| f.0).collect();
    extra.push(RECORD_FILE);
    let files = prepared_files(dataset, &opts.out, &clips, record.flow, &extra)
        .and_then(|f| write_sums(&opts.out, &f, opts.jobs))
        .map_err(|e| PrepareError::io(&opts.out, e))?;
    Ok(Prepared {
        record,
        done_now: todo.len(),
        files,
        notes,
    })
}

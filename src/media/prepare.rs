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
mod error;
mod ffmpeg;
mod jpeg;
mod parallel;
mod raw;
mod record;

pub use clip::partial;
pub use error::PrepareError;
pub use ffmpeg::{which, Ffmpeg, VideoInfo, INSTALL_HINT};
pub use jpeg::{encode_grey, encode_rgb, QUALITY};
pub use parallel::for_each_parallel;
pub use raw::{RAW_FLOW_FOLDER, UCF_LIST_FOLDER};
pub use record::{prepared_files, relative, write_sums, PreparedRecord, RECORD_FILE, SUMS_FILE};

use super::fake_marker::{FakeMarker, MARKER_FILE};
use super::layout::AvDataset;
use clip::{prepare_clip, Outputs};
use raw::{flow_root, read_lists, RawTree};
use std::path::{Path, PathBuf};

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
        crate::atomic_file::write(&opts.out.join(name), &bytes)
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

//! Tiny fake datasets in the real layouts (`balmix data fake`), so that prepare → run works end
//! to end in seconds without the data.
//!
//! With ffmpeg, the distribution (raw) layout of [`super::layout`]: videos encoded from raw
//! frames piped to ffmpeg (CREMA-D `VideoFlash/<clip>.flv` at 30 fps beside 16 kHz mono
//! `AudioWAV/<clip>.wav`; Kinetics-Sounds `train|test/<id>.mp4` at 30000/1001 fps with an AAC
//! 44.1 kHz stereo track, since its audio comes from the video; UCF-101
//! `UCF-101/<Class>/<id>.avi` at 25 fps, with fake optical flow in `flow/{u,v}/<id>/`, which
//! prepare copies), the split lists in their published formats, and `FAKE.toml`. Without
//! ffmpeg (or with `--no-video`), the prepared layout directly, as prepare would write it, with
//! `prepared.toml` and `SHA256SUMS`.
//!
//! Durations vary per clip: CREMA-D 2.0–3.4 s (shorter than OGM-GE's 3 s audio window, so its
//! tiling runs, and at least 3 kept frames), Kinetics-Sounds 2–4 s (the real clips are 10 s,
//! too slow for CI), UCF-101 6–8 s (its loader reads 6 frames). Same seed, same bytes (the
//! ffmpeg-encoded videos aside, which depend on the ffmpeg build).

mod names;
mod synth;

pub use super::fake_marker::{FakeMarker, MARKER_FILE};
use super::layout::AvDataset;
use super::prepare::{
    encode_grey, encode_rgb, for_each_parallel, prepared_files, write_sums, Ffmpeg, PrepareError,
    PreparedRecord, RECORD_FILE, UCF_LIST_FOLDER,
};
use crate::rng::{stream, Stream};
use names::{FakeClass, FakeClip};
use std::path::{Path, PathBuf};
use synth::Look;

/// The most clips a fake dataset may have.
pub const MAX_CLIPS: usize = 1000;

/// Write `marker` into `dir`.
fn write_marker(marker: &FakeMarker, dir: &Path) -> Result<(), PrepareError> {
    write(&dir.join(MARKER_FILE), marker.text().as_bytes())
}

/// What to fake.
#[derive(Debug, Clone, Copy)]
pub struct FakeSpec {
    /// The dataset imitated.
    pub dataset: AvDataset,
    /// Clips (train + test).
    pub clips: usize,
    /// Seed of the ids, durations, tones and frames.
    pub seed: u64,
}

impl FakeSpec {
    /// A spec with `clips` (default [`FakeSpec::default_clips`]) checked: at least two per
    /// class (every class in train and test), at most [`MAX_CLIPS`].
    pub fn new(
        dataset: AvDataset,
        clips: Option<usize>,
        seed: u64,
    ) -> Result<FakeSpec, PrepareError> {
        let clips = clips.unwrap_or_else(|| Self::default_clips(dataset));
        let min = 2 * names::classes(dataset).len();
        if !(min..=MAX_CLIPS).contains(&clips) {
            return Err(PrepareError::FakeClips {
                got: clips,
                dataset: dataset.name(),
                min,
                max: MAX_CLIPS,
            });
        }
        Ok(FakeSpec {
            dataset,
            clips,
            seed,
        })
    }

    /// Clips by default: CREMA-D 24 (6 classes × 4), Kinetics-Sounds 15 (5 × 3), UCF-101 12
    /// (4 × 3).
    pub fn default_clips(dataset: AvDataset) -> usize {
        match dataset {
            AvDataset::CremaD => 24,
            AvDataset::KineticsSounds => 15,
            AvDataset::Ucf101 => 12,
        }
    }
}

/// How a fake dataset's videos look and sound.
struct Video {
    width: usize,
    height: usize,
    /// ffmpeg's `-r`.
    rate: &'static str,
    fps: f64,
    codec: &'static str,
    frames: std::ops::RangeInclusive<usize>,
    /// Sample rate and channels of the audio track in the video (Kinetics-Sounds).
    track: Option<(u32, u16)>,
}

fn video(dataset: AvDataset) -> Video {
    match dataset {
        AvDataset::CremaD => Video {
            width: 96,
            height: 72,
            rate: "30",
            fps: 30.0,
            codec: "flv",
            frames: 61..=102,
            track: None,
        },
        AvDataset::KineticsSounds => Video {
            width: 112,
            height: 84,
            rate: "30000/1001",
            fps: 30000.0 / 1001.0,
            codec: "mpeg4",
            frames: 60..=120,
            track: Some((44_100, 2)),
        },
        AvDataset::Ucf101 => Video {
            width: 81,
            height: 61,
            rate: "25",
            fps: 25.0,
            codec: "mpeg4",
            frames: 150..=200,
            track: None,
        },
    }
}

/// The ffmpeg encoders a raw fake of `dataset` needs.
pub fn encoders(dataset: AvDataset) -> &'static [&'static str] {
    match dataset {
        AvDataset::CremaD => &["flv"],
        AvDataset::KineticsSounds => &["mpeg4", "aac"],
        AvDataset::Ucf101 => &["mpeg4"],
    }
}

/// Which layout a fake was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeLayout {
    /// Videos, for `balmix data prepare`.
    Raw,
    /// Frames and WAVs, ready for the readers.
    Prepared,
}

/// What `write_fake` wrote.
#[derive(Debug, Clone)]
pub struct FakeSummary {
    /// The layout.
    pub layout: FakeLayout,
    /// Clips in the train list.
    pub train: usize,
    /// Clips in the test list.
    pub test: usize,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PrepareError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| PrepareError::io(parent, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| PrepareError::io(path, e))
}

fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let err = |e: hound::Error| format!("{}: {e}", path.display());
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in samples {
        w.write_sample(s).map_err(err)?;
    }
    w.finalize().map_err(err)
}

fn write_jpeg(path: &Path, jpeg: Result<Vec<u8>, String>) -> Result<(), String> {
    write(path, &jpeg?).map_err(|e| e.to_string())
}

/// Flow frames of a UCF-101 clip: two per second of video.
fn flow_frames(v: &Video, clip: &FakeClip) -> usize {
    2 * (clip.frames as f64 / v.fps).ceil() as usize
}

fn write_flow(v: &Video, look: &Look, clip: &FakeClip, dirs: [PathBuf; 2]) -> Result<(), String> {
    for (d, vertical) in dirs.iter().zip([false, true]) {
        for t in 0..flow_frames(v, clip) {
            let grey = synth::flow(look, t, v.width, v.height, vertical);
            let path = d.join(format!("frame{:06}.jpg", t + 1));
            write_jpeg(&path, encode_grey(v.width, v.height, &grey))?;
        }
    }
    Ok(())
}

/// Audio samples for a clip of `frames` video frames.
fn samples(v: &Video, clip: &FakeClip, rate: u32) -> usize {
    (clip.frames as f64 / v.fps * rate as f64).round() as usize
}

/// One clip in the raw layout.
fn raw_clip(
    dataset: AvDataset,
    out: &Path,
    class: &FakeClass,
    clip: &FakeClip,
    look: &Look,
    ffmpeg: &Ffmpeg,
) -> Result<(), String> {
    let v = video(dataset);
    let mk = |p: &Path| {
        std::fs::create_dir_all(p.parent().expect("a parent")).map_err(|e| e.to_string())
    };
    let mut track = None;
    let video_path = match dataset {
        AvDataset::CremaD => {
            let wav = out.join("AudioWAV").join(format!("{}.wav", clip.id));
            write_wav(
                &wav,
                16_000,
                1,
                &synth::tone(look, samples(&v, clip, 16_000), 16_000, 1),
            )?;
            out.join("VideoFlash").join(format!("{}.flv", clip.id))
        }
        AvDataset::KineticsSounds => {
            let (rate, channels) = v.track.expect("Kinetics-Sounds videos carry audio");
            let wav = out.join(".fake-tmp").join(format!("{}.wav", clip.id));
            write_wav(
                &wav,
                rate,
                channels,
                &synth::tone(look, samples(&v, clip, rate), rate, channels),
            )?;
            track = Some(wav);
            let split = if clip.test { "test" } else { "train" };
            out.join(split).join(format!("{}.mp4", clip.id))
        }
        AvDataset::Ucf101 => {
            let flow = out.join(super::prepare::RAW_FLOW_FOLDER);
            write_flow(
                &v,
                look,
                clip,
                [flow.join("u").join(&clip.id), flow.join("v").join(&clip.id)],
            )?;
            out.join("UCF-101")
                .join(class.name)
                .join(format!("{}.avi", clip.id))
        }
    };
    mk(&video_path)?;
    let audio = track.as_deref().map(|wav| (wav, "aac"));
    let result = ffmpeg.encode_video(
        &video_path,
        (v.width, v.height),
        v.rate,
        v.codec,
        clip.frames,
        &mut |t| synth::frame(look, t, v.width, v.height),
        audio,
    );
    if let Some(wav) = track {
        let _ = std::fs::remove_file(wav);
    }
    result.map_err(|e| format!("{}: {e}", clip.id))
}

/// One clip in the prepared layout: the frames prepare would keep (the first of every second
/// at the rate truncated to an integer), the audio it would write.
fn prepared_clip(
    dataset: AvDataset,
    out: &Path,
    clip: &FakeClip,
    look: &Look,
) -> Result<(), String> {
    let v = video(dataset);
    let fps = v.fps as usize;
    let dir = dataset.frame_dir(out, &clip.id);
    for (k, t) in (0..clip.frames).step_by(fps).enumerate() {
        let rgb = synth::frame(look, t, v.width, v.height);
        write_jpeg(
            &dir.join(dataset.frame_name(k, fps)),
            encode_rgb(v.width, v.height, &rgb),
        )?;
    }
    if dataset.has_audio() {
        // Prepare keeps Kinetics-Sounds' channel count at 16 kHz.
        let channels = v.track.map_or(1, |t| t.1);
        let tone = synth::tone(look, samples(&v, clip, 16_000), 16_000, channels);
        write_wav(&dataset.audio_path(out, &clip.id), 16_000, channels, &tone)?;
    }
    if let Some(dirs) = dataset.flow_dirs(out, &clip.id) {
        write_flow(&v, look, clip, dirs)?;
    }
    Ok(())
}

/// Write a fake dataset into `out` (empty or new): the raw layout with `ffmpeg`, else the
/// prepared layout. Clips are written on `jobs` threads.
pub fn write_fake(
    spec: &FakeSpec,
    out: &Path,
    ffmpeg: Option<&Ffmpeg>,
    jobs: usize,
) -> Result<FakeSummary, PrepareError> {
    let dataset = spec.dataset;
    if std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(PrepareError::FakeOutNotEmpty {
            dir: out.display().to_string(),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| PrepareError::io(out, e))?;
    // One stream for the ids and durations, one per clip for its look.
    const TAG: u64 = 0xFA4E << 32;
    let classes = names::classes(dataset);
    let clips = names::clips(
        dataset,
        &classes,
        spec.clips,
        video(dataset).frames,
        &mut stream(spec.seed, Stream::Synthetic, TAG),
    );
    let looks: Vec<Look> = clips
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut rng = stream(spec.seed, Stream::Synthetic, TAG + 1 + i as u64);
            Look::draw(&mut rng, c.class, classes.len())
        })
        .collect();
    let failed = for_each_parallel(clips.len(), jobs, &|i| match ffmpeg {
        Some(ff) => raw_clip(
            dataset,
            out,
            &classes[clips[i].class],
            &clips[i],
            &looks[i],
            ff,
        ),
        None => prepared_clip(dataset, out, &clips[i], &looks[i]),
    });
    let _ = std::fs::remove_dir(out.join(".fake-tmp"));
    if let Some((_, e)) = failed.into_iter().next() {
        return Err(PrepareError::Io {
            path: out.display().to_string(),
            reason: e,
        });
    }
    let lists = names::lists(dataset, &classes, &clips);
    let list_dir = match (ffmpeg, dataset) {
        (Some(_), AvDataset::Ucf101) => out.join(UCF_LIST_FOLDER),
        _ => out.to_path_buf(),
    };
    for (name, text) in &lists {
        write(&list_dir.join(name), text.as_bytes())?;
    }
    let marker = FakeMarker {
        dataset,
        clips: clips.len(),
        seed: spec.seed,
        with_video: ffmpeg.is_some(),
    };
    write_marker(&marker, out)?;
    let test = clips.iter().filter(|c| c.test).count();
    let summary = FakeSummary {
        layout: if ffmpeg.is_some() {
            FakeLayout::Raw
        } else {
            FakeLayout::Prepared
        },
        train: clips.len() - test,
        test,
    };
    if ffmpeg.is_none() {
        let record = PreparedRecord {
            dataset,
            fake: true,
            train_clips: summary.train,
            test_clips: summary.test,
            frames_per_second: 1,
            flow: dataset.flow_dirs(out, "").is_some(),
            ffmpeg: None,
            balmix: env!("CARGO_PKG_VERSION").to_string(),
        };
        record.write(out).map_err(|e| PrepareError::io(out, e))?;
        let ids: Vec<String> = clips.iter().map(|c| c.id.clone()).collect();
        let mut extra: Vec<&str> = lists.iter().map(|l| l.0).collect();
        extra.extend([MARKER_FILE, RECORD_FILE]);
        prepared_files(dataset, out, &ids, record.flow, &extra)
            .and_then(|f| write_sums(out, &f, jobs))
            .map_err(|e| PrepareError::io(out, e))?;
    }
    Ok(summary)
}

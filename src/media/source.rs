//! The streaming loader: one media modality of a prepared dataset, decoded and transformed
//! sample by sample on worker threads, never held whole in memory.
//!
//! A sample's tensor is a pure function of (clip, settings, view): the training view's random
//! frame choice and crops come from the run's `frame-select` and `frame-augment` streams keyed
//! by (epoch, sample, frame), so the result is the same for any worker count and any order of
//! decoding. Memory is bounded by two batches per modality: the one being used and the next,
//! decoded in the background while the model trains ([`MediaSource::prefetch`]), and at most
//! one more that nobody asked for. The audio
//! front-ends' outputs (deterministic) can be kept in an on-disk cache keyed by the settings and
//! the source file's sha256 (`BALMIX_MEDIA_CACHE`).

use super::frame::{normalise, read_frame, resize_bilinear, Rgb};
use super::layout::list_frames;
use super::options::{AudioFrontend, AudioSettings, FrameSettings, FrameStream, MediaSettings};
use super::random_crop::{draw, draw_index, mirror, resized_crop};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Which transform a read uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// Evaluation: deterministic frame choice and the test transform.
    Eval,
    /// Training in `epoch` of the run seeded `seed`: random frames (where the rule draws),
    /// crops and flips.
    Train {
        /// The run's master seed.
        seed: u64,
        /// The epoch (0-based).
        epoch: usize,
    },
}

/// Why a sample could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("sample {sample} (clip {clip}): {reason}")]
pub struct MediaError {
    /// Dataset row.
    pub sample: usize,
    /// Clip id.
    pub clip: String,
    /// What went wrong.
    pub reason: String,
}

type Batch = Result<Arc<Vec<f32>>, MediaError>;

/// A batch's rows and view.
type Key = (Vec<usize>, View);

/// A batch being decoded in the background.
struct Pending {
    key: Key,
    handle: std::thread::JoinHandle<Batch>,
}

/// One media modality of a prepared dataset.
pub struct MediaSource {
    /// The resolved settings.
    pub settings: MediaSettings,
    /// The prepared folder.
    pub dir: PathBuf,
    /// Clip id of every dataset row.
    pub clips: Arc<Vec<String>>,
    width: usize,
    cache: Option<PathBuf>,
    pending: Mutex<Vec<Pending>>,
    last: Mutex<Option<(Key, Arc<Vec<f32>>)>>,
}

impl std::fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSource")
            .field("settings", &self.settings)
            .field("dir", &self.dir)
            .field("clips", &self.clips.len())
            .finish()
    }
}

/// Worker threads that decode samples: `BALMIX_LOADER_WORKERS`, else the available cores.
/// Results do not depend on it.
pub fn workers() -> usize {
    std::env::var("BALMIX_LOADER_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&w| w > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(workers())
            .thread_name(|i| format!("balmix-loader-{i}"))
            .build()
            .expect("loader threads")
    })
}

impl MediaSource {
    /// A source over `clips` in the prepared folder `dir`; `cache` is the folder of the
    /// on-disk cache of deterministic outputs, if any.
    pub fn new(
        settings: MediaSettings,
        dir: PathBuf,
        clips: Arc<Vec<String>>,
        cache: Option<PathBuf>,
    ) -> MediaSource {
        MediaSource {
            width: settings.shape().iter().product(),
            settings,
            dir,
            clips,
            cache,
            pending: Mutex::new(Vec::new()),
            last: Mutex::new(None),
        }
    }

    /// Values per sample.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows `idx` in `view`, `idx.len() × width` values, decoded in parallel (or taken from
    /// the background batch when it is this one).
    pub fn gather(&self, idx: &[usize], view: View) -> Result<Arc<Vec<f32>>, MediaError> {
        let key = (idx.to_vec(), view);
        if let Some((k, v)) = self.last.lock().expect("loader memo").as_ref() {
            if *k == key {
                return Ok(v.clone());
            }
        }
        let pending = {
            let mut queue = self.pending.lock().expect("loader queue");
            queue
                .iter()
                .position(|p| p.key == key)
                .map(|at| queue.remove(at))
        };
        let batch = match pending {
            Some(p) => p.handle.join().expect("loader thread panicked")?,
            None => Arc::new(self.decode(idx, view)?),
        };
        *self.last.lock().expect("loader memo") = Some((key, batch.clone()));
        Ok(batch)
    }

    /// Start decoding rows `idx` in `view` in the background, for the next [`gather`].
    ///
    /// [`gather`]: MediaSource::gather
    pub fn prefetch(self: &Arc<Self>, idx: &[usize], view: View) {
        let key = (idx.to_vec(), view);
        let mut pending = self.pending.lock().expect("loader queue");
        if pending.iter().any(|p| p.key == key) {
            return;
        }
        // At most two batches wait; one nobody asked for any more is finished and dropped.
        if pending.len() >= 2 {
            let _ = pending.remove(0).handle.join();
        }
        let me = self.clone();
        let rows = idx.to_vec();
        let handle = std::thread::Builder::new()
            .name("balmix-prefetch".into())
            .spawn(move || me.decode(&rows, view).map(Arc::new))
            .expect("prefetch thread");
        pending.push(Pending { key, handle });
    }

    fn decode(&self, idx: &[usize], view: View) -> Result<Vec<f32>, MediaError> {
        use rayon::prelude::*;
        let rows: Vec<Vec<f32>> = pool().install(|| {
            idx.par_iter()
                .map(|&i| self.sample(i, view))
                .collect::<Result<_, _>>()
        })?;
        Ok(rows.concat())
    }

    /// The tensor of dataset row `i` in `view`.
    pub fn sample(&self, i: usize, view: View) -> Result<Vec<f32>, MediaError> {
        let clip = &self.clips[i];
        let err = |reason: String| MediaError {
            sample: i,
            clip: clip.clone(),
            reason,
        };
        let out = match &self.settings {
            MediaSettings::Audio(a) => self.audio(a, clip).map_err(err)?,
            MediaSettings::Frames(f) => self.frames(f, clip, i, view).map_err(err)?,
        };
        debug_assert_eq!(out.len(), self.width);
        Ok(out)
    }

    fn audio(&self, a: &AudioSettings, clip: &str) -> Result<Vec<f32>, String> {
        let path = a.layout.audio_path(&self.dir, clip);
        let settings = format!("{a:?}");
        cached(self.cache.as_deref(), &settings, &path, self.width, || {
            audio_frontend(a, &path)
        })
    }

    fn frames(
        &self,
        f: &FrameSettings,
        clip: &str,
        sample: usize,
        view: View,
    ) -> Result<Vec<f32>, String> {
        let dirs: Vec<PathBuf> = match f.stream {
            FrameStream::Rgb => vec![f.layout.frame_dir(&self.dir, clip)],
            FrameStream::Flow => f
                .layout
                .flow_dirs(&self.dir, clip)
                .ok_or("only UCF-101 has optical flow")?
                .to_vec(),
        };
        let listing = list_frames(&dirs[0]).map_err(|e| format!("{}: {e}", dirs[0].display()))?;
        let train = match view {
            View::Train { seed, epoch } => Some((seed, epoch, sample)),
            View::Eval => None,
        };
        let picks = f
            .select
            .pick(listing.len(), f.num_frames, train)
            .map_err(|e| format!("{}: {e}", dirs[0].display()))?;
        let size = f.size as u32;
        let mut out = Vec::with_capacity(self.width);
        for (t, &p) in picks.iter().enumerate() {
            match f.stream {
                FrameStream::Rgb => {
                    let img = read_frame(&dirs[0].join(&listing[p])).map_err(|e| e.to_string())?;
                    out.extend(normalise(&rgb_transform(&img, f, size, sample, t, view)?));
                }
                FrameStream::Flow => {
                    // u and v: independent flips, grey values in [0, 1] (spec §4).
                    for (c, dir) in dirs.iter().enumerate() {
                        let img = read_frame(&dir.join(&listing[p])).map_err(|e| e.to_string())?;
                        let mut r = resize_bilinear(&img, size, size).map_err(|e| e.to_string())?;
                        if let View::Train { seed, epoch } = view {
                            let index = draw_index(epoch, sample, 2 * t + c);
                            if draw(seed, index, img.width, img.height).1 {
                                mirror(&mut r);
                            }
                        }
                        out.extend(r.data.chunks_exact(3).map(|px| px[0] as f32 / 255.0));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// One RGB frame's transform: training crops (or only resizes, for UCF-101) and flips with
/// the frame's own draw; evaluation resizes.
fn rgb_transform(
    img: &Rgb,
    f: &FrameSettings,
    size: u32,
    sample: usize,
    t: usize,
    view: View,
) -> Result<Rgb, String> {
    let out = match view {
        View::Eval => resize_bilinear(img, size, size),
        View::Train { seed, epoch } => {
            let (b, flip) = draw(seed, draw_index(epoch, sample, t), img.width, img.height);
            if f.crop {
                resized_crop(img, b, size, flip)
            } else {
                let r = resize_bilinear(img, size, size);
                r.map(|mut r| {
                    if flip {
                        mirror(&mut r);
                    }
                    r
                })
            }
        }
    };
    out.map_err(|e| e.to_string())
}

/// The audio front-end of one clip.
fn audio_frontend(a: &AudioSettings, path: &Path) -> Result<Vec<f32>, String> {
    match a.frontend {
        AudioFrontend::StftOgm => {
            let audio = super::wav::read_wav(path).map_err(|e| e.to_string())?;
            let samples = super::resample::resample(
                &audio.samples,
                audio.rate,
                super::options::STFT_OGM_RATE,
                a.resample,
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
            super::spectrogram::LogStft {
                pad: a.pad,
                ..super::spectrogram::LogStft::OGM_GE
            }
            .compute(&samples)
            .ok_or_else(|| {
                format!(
                    "{}: {} samples at {} Hz are too short for 3 s after the three-fold tile",
                    path.display(),
                    audio.samples.len(),
                    audio.rate
                )
            })
        }
        AudioFrontend::FbankKaldi | AudioFrontend::FbankKaldiRaw => {
            let audio = super::wav::read_wav_channels(path).map_err(|e| e.to_string())?;
            let fbank = if a.frontend == AudioFrontend::FbankKaldi {
                super::fbank::KaldiFbank::OGM_GE
            } else {
                super::fbank::KaldiFbank::MLA
            };
            fbank
                .compute(&audio.channels, audio.rate)
                .map_err(|e| format!("{}: {e}", path.display()))
        }
    }
}

/// `compute()`, or its earlier result from the cache folder: the key is the sha256 of the
/// settings and the source file's bytes, so a changed file or setting is a new entry.
fn cached(
    cache: Option<&Path>,
    settings: &str,
    source: &Path,
    width: usize,
    compute: impl FnOnce() -> Result<Vec<f32>, String>,
) -> Result<Vec<f32>, String> {
    let Some(dir) = cache else {
        return compute();
    };
    let bytes = std::fs::read(source).map_err(|e| format!("{}: {e}", source.display()))?;
    let mut text = settings.as_bytes().to_vec();
    text.extend_from_slice(&crate::digest::sha256_hex(&bytes).into_bytes());
    let key = crate::digest::sha256_hex(&text);
    let path = dir.join(&key[..2]).join(format!("{key}.f32"));
    if let Ok(b) = std::fs::read(&path) {
        if b.len() == width * 4 {
            return Ok(b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect());
        }
    }
    let values = compute()?;
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    // A cache that cannot be written only costs time.
    let _ = crate::atomic_file::write_creating_folder(&path, &raw);
    Ok(values)
}

/// The on-disk cache folder when `BALMIX_MEDIA_CACHE` is set (`1` for `<cache>/media`, or a
/// path).
pub fn cache_dir(cache_root: &Path) -> Option<PathBuf> {
    match std::env::var("BALMIX_MEDIA_CACHE").ok()?.as_str() {
        "" | "0" => None,
        "1" => Some(cache_root.join("media")),
        p => Some(PathBuf::from(p)),
    }
}

impl PartialEq for MediaSource {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings && self.dir == other.dir && self.clips == other.clips
    }
}

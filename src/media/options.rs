//! The media readers' variants: what a manifest declares as its default (`reader = { kind =
//! "av-audio" | "av-frames", … }`), what a recipe may override (`[dataset.media]`), and the
//! resolved settings with the tensor shape they produce. Every variant carries the name
//! `../shared/specs/av-datasets.md` §1 gives it.

use super::layout::AvDataset;
use super::resample::Resampler;
use super::select::FrameSelect;
use super::spectrogram::CenterPad;
pub use super::vocabulary::{AudioFrontend, FrameStream};
use serde::{Deserialize, Serialize};

/// Class index orders (`label_order`, spec §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelOrder {
    /// The manifest's order (for CREMA-D OGM-GE's dictionary NEU, HAP, SAD, FEA, DIS, ANG).
    OgmGe,
    /// Class names sorted (MMPareto, D&R, Remix, MLA).
    Alphabetical,
}

/// `[dataset.media]`: overrides of the manifest's media defaults. None of these is needed for
/// a feature dataset; giving one there is an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSection {
    /// Audio front-end: `stft_ogm`, `fbank_kaldi` or `fbank_kaldi_raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_frontend: Option<AudioFrontend>,
    /// Resampler of `stft_ogm`'s load at 22,050 Hz: `resampy_kaiser_best` (librosa ≤ 0.9) or
    /// `soxr_hq` (librosa ≥ 0.10). Default `resampy_kaiser_best` (OGM-GE's 2022 environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resample: Option<Resampler>,
    /// `stft_ogm`'s centre padding: `reflect` (librosa < 0.9) or `constant` (≥ 0.9).
    /// Default `reflect` (OGM-GE's 2022 environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stft_pad: Option<CenterPad>,
    /// Frames per clip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_frames: Option<usize>,
    /// Frame selection: `listdir_first_k`, `segment` or `fixed_offsets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_select: Option<FrameSelect>,
    /// Side of the square frames fed to the model. Default 224.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_size: Option<usize>,
    /// Class index order: `ogm_ge` or `alphabetical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_order: Option<LabelOrder>,
}

/// A resolved audio modality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioSettings {
    /// The dataset layout.
    pub layout: AvDataset,
    /// The front-end.
    pub frontend: AudioFrontend,
    /// The resampler (only `stft_ogm` resamples).
    pub resample: Resampler,
    /// `stft_ogm`'s centre padding.
    pub pad: CenterPad,
}

/// A resolved frames modality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSettings {
    /// The dataset layout.
    pub layout: AvDataset,
    /// RGB or flow.
    pub stream: FrameStream,
    /// Frames per clip.
    pub num_frames: usize,
    /// Selection rule.
    pub select: FrameSelect,
    /// Output side.
    pub size: usize,
    /// Whether training crops (RandomResizedCrop); UCF-101's loader only resizes and flips.
    pub crop: bool,
}

/// A resolved media modality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MediaSettings {
    /// An audio front-end.
    Audio(AudioSettings),
    /// Video frames.
    Frames(FrameSettings),
}

/// The sample rate `stft_ogm` loads at.
pub const STFT_OGM_RATE: u32 = 22_050;
/// Frames of the Kaldi fbank after padding or cutting (spec §3.4 step 4).
pub const FBANK_FRAMES: usize = 1024;
/// Mel bins of the Kaldi fbank.
pub const FBANK_MELS: usize = 128;

impl MediaSettings {
    /// `[channels, height, width]` of one sample. Several frames are stacked on channels
    /// (frame-major) until the encoders average over time (issue 14).
    pub fn shape(&self) -> [usize; 3] {
        match self {
            MediaSettings::Audio(a) => match a.frontend {
                AudioFrontend::StftOgm => {
                    let (bins, frames) = super::spectrogram::LogStft::OGM_GE.shape();
                    [1, bins, frames]
                }
                AudioFrontend::FbankKaldi | AudioFrontend::FbankKaldiRaw => {
                    [1, FBANK_FRAMES, FBANK_MELS]
                }
            },
            MediaSettings::Frames(f) => {
                let per = match f.stream {
                    FrameStream::Rgb => 3,
                    FrameStream::Flow => 2,
                };
                [per * f.num_frames, f.size, f.size]
            }
        }
    }

    /// The dataset layout it reads.
    pub fn layout(&self) -> AvDataset {
        match self {
            MediaSettings::Audio(a) => a.layout,
            MediaSettings::Frames(f) => f.layout,
        }
    }
}

impl MediaSection {
    /// Whether any override is given.
    pub fn is_empty(&self) -> bool {
        self == &MediaSection::default()
    }
}

/// The settings of a manifest's media reader under the recipe's overrides; `None` for a
/// feature reader.
pub fn settings(reader: &crate::manifest::Reader, media: &MediaSection) -> Option<MediaSettings> {
    use crate::manifest::Reader;
    match reader {
        Reader::AvAudio { layout, frontend } => Some(MediaSettings::Audio(AudioSettings {
            layout: *layout,
            frontend: media.audio_frontend.unwrap_or(*frontend),
            resample: media.resample.unwrap_or(Resampler::ResampyKaiserBest),
            pad: media.stft_pad.unwrap_or(CenterPad::Reflect),
        })),
        Reader::AvFrames {
            layout,
            stream,
            num_frames,
            frame_select,
            crop,
        } => Some(MediaSettings::Frames(FrameSettings {
            layout: *layout,
            stream: *stream,
            num_frames: media.num_frames.unwrap_or(*num_frames),
            select: media.frame_select.unwrap_or(*frame_select),
            size: media.frame_size.unwrap_or(224),
            crop: *crop,
        })),
        _ => None,
    }
}

/// Fill in the width and shape of every media modality of `manifest` from the recipe's
/// `[dataset.media]`, and order the classes as `label_order` asks. An override given for a
/// dataset without media readers, or a frame count or size of zero, is an error.
pub fn resolve(
    manifest: &mut crate::manifest::Manifest,
    media: &MediaSection,
) -> Result<(), String> {
    let mut any = false;
    for m in &mut manifest.modalities {
        let Some(s) = m.reader.as_ref().and_then(|r| settings(r, media)) else {
            continue;
        };
        any = true;
        if let MediaSettings::Frames(f) = s {
            if f.num_frames == 0 || f.size < 8 {
                return Err(format!(
                    "dataset.media: `{}` needs num_frames ≥ 1 and frame_size ≥ 8 (got {} and {})",
                    m.name, f.num_frames, f.size
                ));
            }
        }
        let shape = s.shape();
        m.shape = Some(shape);
        m.width = shape.iter().product();
    }
    if !any && !media.is_empty() {
        return Err(format!(
            "dataset.media is for datasets read from media, but manifest `{}` has no media reader",
            manifest.name
        ));
    }
    if media.label_order == Some(LabelOrder::Alphabetical) {
        manifest.classes.sort();
    }
    Ok(())
}

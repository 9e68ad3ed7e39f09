//! The media vocabulary that manifests, recipes and the readers share: which of the paper's
//! datasets a folder holds, which audio front-end and which frame stream a modality is read
//! with, and which frames are selected. Their behaviour lives with the readers
//! ([`super::layout`], [`super::select`]). A leaf (it imports nothing of the crate), so
//! the manifest can name these without depending on the readers ([`super::options`]), which
//! read the manifest.

use serde::{Deserialize, Serialize};

/// Audio front-ends (`audio_frontend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioFrontend {
    /// OGM-GE's CREMA-D log-magnitude STFT at 22,050 Hz → 1 × 257 × 188 (spec §2.5 A-OGM).
    StftOgm,
    /// The Kaldi fbank of OGM-GE's Kinetics-Sounds script, normalised → 1 × 1024 × 128 (§3.4).
    FbankKaldi,
    /// The same fbank without the normalisation (MLA's `extract_fbank.py`).
    FbankKaldiRaw,
}

/// Which frames a visual modality reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameStream {
    /// RGB frames (ImageNet-normalised).
    Rgb,
    /// UCF-101's optical flow: u and v grey JPEGs stacked on channels, values in [0, 1].
    Flow,
}

/// One of the paper's datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AvDataset {
    /// CREMA-D (6 emotions, OGM-GE's split).
    CremaD,
    /// Kinetics-Sounds (31 classes, OGM-GE's split).
    KineticsSounds,
    /// UCF-101 split 1 (101 classes; RGB + optical flow).
    #[serde(rename = "ucf-101")]
    Ucf101,
}

/// A frame-selection rule (`dataset.media.frame_select`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameSelect {
    /// OGM-GE's and PMR's loaders as released: the first k files of the listing, in training
    /// and test alike (the random index they compute is never used; OGM-GE#41). The listing
    /// is sorted here, since the unsorted `os.listdir` order cannot be reproduced.
    ListdirFirstK,
    /// k equal segments of ⌊files/k⌋ frames; training reads a uniformly random frame of each
    /// segment (its own `frame-select` draw per epoch and sample), test its middle frame
    /// i·seg + ⌊seg/2⌋ (MMPareto, BalanceBenchmark).
    Segment,
    /// k equal segments, always their first frame i·seg (OGM-GE's Kinetics-Sounds loader:
    /// frames 1, 4, 7 of 10), training and test alike.
    FixedOffsets,
}

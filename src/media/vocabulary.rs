//! The media vocabulary that manifests, recipes and the readers share: which audio front-end
//! and which frame stream a modality is read with. A leaf (it imports nothing of the crate), so
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

//! Named, seeded random streams (docs/methods.md §6).
//!
//! Every random decision of a run draws from a ChaCha8 generator that is a pure function of
//! `(master seed, purpose, index)`: the 256-bit key is `SHA-256("balmix/rng/v1" ‖ seed ‖ purpose)`
//! and the ChaCha *stream id* is the index (the epoch for `shuffle`, the global step for `mixup`
//! and `noise`, 0 for one-off uses such as `init`). Two consequences:
//!
//! * using one stream more or less never shifts another (they have different keys), and
//! * the position of every stream is fully described by its index, so a checkpoint that stores
//!   the epoch and step restores every stream exactly; resume is bit-identical by construction.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// The purposes a run draws randomness for. Each has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    /// Train/val/test split of a dataset.
    Split,
    /// Initial weights.
    Init,
    /// Order of training samples, indexed by epoch.
    Shuffle,
    /// Mixup pairing and λ draws, indexed by global step.
    Mixup,
    /// Gradient noise (OGM-GE), indexed by global step.
    Noise,
    /// Dropout masks, indexed by global step.
    Dropout,
    /// Synthetic data generation.
    Synthetic,
    /// Pairing samples of different sources by label when a dataset is assembled.
    Pairing,
    /// The sample order of a method's extra pass over the training data (PMR's prototypes),
    /// indexed by epoch.
    Prototype,
    /// The sample order of the model copies G-Blending trains to estimate its weights.
    Blending,
    /// Test-time corruptions, indexed by sample, kind and modality.
    Corruption,
    /// Random crops and flips of video frames in training, indexed by epoch, sample and frame
    /// ([`crate::media::random_crop::draw_index`]).
    FrameAugment,
    /// Which frames of a clip a training sample reads (segment-random selection), indexed by
    /// epoch and sample ([`crate::media::select::draw_index`]).
    FrameSelect,
    /// Initial values of the trainable parameters a training method owns
    /// ([`crate::method::Method::add_parameters`]).
    MethodInit,
    /// A method's per-epoch rebuild of the training list (resampling, per-sample modality
    /// zeroing: [`crate::method::Method::epoch_samples`]), indexed by epoch.
    Resample,
    /// A method's per-epoch order of the modalities (CML's removal order), indexed by epoch.
    ModalityOrder,
    /// A method's per-step class mask (AMCo's masked classes), indexed by global step.
    ClassMask,
    /// A method's per-step feature drop (OPM's whether-to-drop draw and per-sample masks),
    /// indexed by global step.
    ModalityDrop,
    /// A method's k-means seedings (Re-learning's diagnosis), indexed by epoch.
    Cluster,
}

impl Stream {
    /// The stable name that enters the key derivation. Never change these strings: doing so
    /// changes every result.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Split => "split",
            Stream::Init => "init",
            Stream::Shuffle => "shuffle",
            Stream::Mixup => "mixup",
            Stream::Noise => "noise",
            Stream::Dropout => "dropout",
            Stream::Synthetic => "synthetic",
            Stream::Pairing => "pairing",
            Stream::Prototype => "prototype",
            Stream::Blending => "blending",
            Stream::Corruption => "corruption",
            Stream::FrameAugment => "frame-augment",
            Stream::FrameSelect => "frame-select",
            Stream::MethodInit => "method-init",
            Stream::Resample => "resample",
            Stream::ModalityOrder => "modality-order",
            Stream::ClassMask => "class-mask",
            Stream::ModalityDrop => "modality-drop",
            Stream::Cluster => "cluster",
        }
    }
}

/// The generator for `purpose` at `index` under master seed `seed`.
pub fn stream(seed: u64, purpose: Stream, index: u64) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    hasher.update(b"balmix/rng/v1");
    hasher.update(seed.to_le_bytes());
    hasher.update(purpose.name().as_bytes());
    let key: [u8; 32] = hasher.finalize().into();
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(index);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_are_pure_functions_of_seed_purpose_and_index() {
        let a = stream(7, Stream::Mixup, 3).next_u64();
        let b = stream(7, Stream::Mixup, 3).next_u64();
        assert_eq!(a, b);
        assert_ne!(a, stream(7, Stream::Mixup, 4).next_u64());
        assert_ne!(a, stream(8, Stream::Mixup, 3).next_u64());
        assert_ne!(a, stream(7, Stream::Shuffle, 3).next_u64());
    }

    #[test]
    fn drawing_from_one_stream_does_not_shift_another() {
        let mut init = stream(1, Stream::Init, 0);
        let before = stream(1, Stream::Mixup, 0).next_u64();
        for _ in 0..1000 {
            init.next_u64();
        }
        assert_eq!(before, stream(1, Stream::Mixup, 0).next_u64());
    }
}

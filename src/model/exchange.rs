//! Cross-modal blocks between the encoders (seam hook (g)): the encoders run stage by stage
//! side by side, and after chosen stages every modality's features go through a block that
//! may mix them (Greedy's MMTM exchanges squeezed features between the two networks). The
//! model offers the staged forward ([`crate::model::Model::encode_exchanging`]); a method
//! that switches blocks on implements [`Exchange`] — usually with parameters of its own —
//! and encodes through it in its step and in [`crate::method::Method::encode_eval`].
//!
//! Stages: each conv block, then each fully connected layer (after its activation) of an
//! `mlp` or `conv` encoder; for `resnet18`, the stem with layer1, then layer2, layer3 and
//! layer4 (Greedy's MMTM blocks sit after layers 2–4: stages 1–3), the pooling after the last.
//! A stage's rows are laid out as [`StageShape`] says: a conv block's `(n, h·w·c)` rows as the
//! next block reads them, a ResNet-18 stage's `(n·frames, c·h·w)` rows, one per frame.

use super::backend::Backend;
use super::params::{Matrix, ParamStore};

/// A cross-modal block run between encoder stages.
pub trait Exchange<D: Backend> {
    /// The stages (0-based) after which the block runs; each must exist in every encoder.
    fn after(&self) -> Vec<usize>;

    /// The features of every modality after `stage`, changed; on the tape `T` of the pass
    /// (a training pass records one, an evaluation pass none).
    fn exchange<T: dfdx::tensor::Tape<f32, D>>(
        &self,
        stage: usize,
        hs: Vec<Matrix<D, T>>,
        store: &ParamStore<D>,
    ) -> Vec<Matrix<D, T>>;
}

/// How a stage's features are laid out, so that a block can squeeze them per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageShape {
    /// Rows per sample: a ResNet-18's frames, 1 otherwise.
    pub frames: usize,
    /// Channels (a fully connected layer's width).
    pub channels: usize,
    /// Positions per channel: h·w of a map, 1 after a fully connected layer.
    pub positions: usize,
    /// Whether a row holds each channel's positions together (`c·h·w`, ResNet-18) rather
    /// than each position's channels together (`h·w·c`, conv blocks).
    pub channels_first: bool,
}

/// Why a model cannot run cross-modal blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// A block after a stage some encoder does not have.
    #[error("a cross-modal block after stage {stage}, but the encoder of {modality} has {stages} stages")]
    NoSuchStage {
        /// The stage asked for.
        stage: usize,
        /// The encoder without it.
        modality: String,
        /// Its number of stages.
        stages: usize,
    },
}

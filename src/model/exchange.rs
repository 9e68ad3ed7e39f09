//! Cross-modal blocks between the encoders (seam hook (g)): the encoders run stage by stage
//! side by side, and after chosen stages every modality's features go through a block that
//! may mix them (Greedy's MMTM exchanges squeezed features between the two networks). The
//! model offers the staged forward ([`crate::model::Model::encode_exchanging`]); a method
//! that switches blocks on implements [`Exchange`] — usually with parameters of its own —
//! and encodes through it in its step and in [`crate::method::Method::encode_eval`].
//!
//! Stages: each conv block, then each fully connected layer (after its activation) of an
//! `mlp` or `conv` encoder. A conv block's features are its `(n, h·w·c)` rows as the next
//! block reads them. ResNet-18 encoders have no stages here yet: asking for them is an error.

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

/// Why a model cannot run cross-modal blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// An encoder kind without stages (ResNet-18, for now).
    #[error("the {0} encoder has no stages for cross-modal blocks (mlp and conv encoders do)")]
    NoStages(String),
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

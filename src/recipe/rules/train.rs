//! Rules of `[train]`: epochs, batch size, threads, clipping, modality dropout, input noise.

use crate::recipe::checker::Checker;
use crate::recipe::error::RecipeError;
use crate::recipe::file::*;

impl Checker<'_> {
    pub(in crate::recipe) fn check_train(&self, t: &TrainSection) -> Result<(), RecipeError> {
        self.positive_int("train.epochs", t.epochs)?;
        self.positive_int("train.batch_size", t.batch_size)?;
        self.positive_int("train.threads", t.threads)?;
        if let Some(clip) = t.grad_clip {
            self.positive("train.grad_clip", clip)?;
        }
        self.in_range(
            "train.modality_dropout",
            t.modality_dropout,
            "[0, 1)",
            |v| (0.0..1.0).contains(&v),
        )?;
        self.in_range("train.input_noise", t.input_noise, "[0, ∞)", |v| v >= 0.0)?;
        Ok(())
    }
}

//! Rules of `[train]`, the recipe's own section: epochs, batch size, threads, clipping,
//! modality dropout, input noise; reported like every concern's ([`ConfigProblem`]).

use crate::config_problem::ConfigProblem;
use crate::recipe::file::TrainSection;

impl TrainSection {
    /// The section's ranges; keys relative to `[train]`.
    pub(in crate::recipe) fn check(&self) -> Result<(), ConfigProblem> {
        ConfigProblem::positive_int("epochs", self.epochs)?;
        ConfigProblem::positive_int("batch_size", self.batch_size)?;
        ConfigProblem::positive_int("threads", self.threads)?;
        if let Some(clip) = self.grad_clip {
            ConfigProblem::positive("grad_clip", clip)?;
        }
        ConfigProblem::in_range("modality_dropout", self.modality_dropout, "[0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        ConfigProblem::in_range("input_noise", self.input_noise, "[0, ∞)", |v| v >= 0.0)
    }
}

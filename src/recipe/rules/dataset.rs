//! Rules of `[dataset]`: modalities known to the manifest and unique, split fractions, and
//! best-val selection needing a validation split.

use crate::recipe::error::RecipeError;
use crate::recipe::file::*;
use crate::recipe::validate::Checker;

impl Checker<'_> {
    pub(in crate::recipe) fn check_dataset(
        &self,
        d: &DatasetSection,
        t: &TrainSection,
    ) -> Result<(), RecipeError> {
        if d.modalities.is_empty() {
            return Err(RecipeError::Empty {
                origin: self.o("dataset.modalities"),
                key: "dataset.modalities".into(),
            });
        }
        let known: Vec<&str> = self
            .manifest
            .modalities
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        for (i, m) in d.modalities.iter().enumerate() {
            if !known.contains(&m.as_str()) {
                return Err(RecipeError::UnknownModality {
                    origin: self.o("dataset.modalities"),
                    key: "dataset.modalities".into(),
                    got: m.clone(),
                    manifest: self.manifest.name.clone(),
                    known: known.join(", "),
                });
            }
            if d.modalities[..i].contains(m) {
                return Err(RecipeError::DuplicateModality {
                    origin: self.o("dataset.modalities"),
                    got: m.clone(),
                });
            }
        }
        let s = &d.split;
        self.in_range("dataset.split.test", s.test, "(0, 1)", |v| {
            v > 0.0 && v < 1.0
        })?;
        self.in_range("dataset.split.val", s.val, "[0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        if s.test + s.val >= 1.0 {
            return Err(RecipeError::SplitTooLarge {
                origin: self.o("dataset.split"),
                test: s.test,
                val: s.val,
            });
        }
        if t.eval.select == EvalSelect::BestVal && s.val <= 0.0 {
            return Err(RecipeError::BestValWithoutVal {
                origin: self.o("train.eval.select"),
            });
        }
        Ok(())
    }
}

//! A broken rule of a concern's config ([`ConfigProblem`]), as the concern states it: the rule
//! and the key relative to the concern's section (`"gamma"` of `[method]`, `"encoders.audio.out"`
//! of `[model]`), without the recipe's wording or the key's origin — `recipe/` adds both. A
//! leaf, so that every concern (mixup, model, optimiser, method, data) checks its own config
//! and `recipe/` only reports.

use crate::epoch_window::EpochWindow;

/// A broken rule of a concern's config. Keys are relative to the concern's section; the recipe
/// reports them as `<section>.<key>` with their origin.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigProblem {
    /// `key` must be > 0.
    NotPositive {
        /// The key.
        key: String,
        /// Its value.
        got: f64,
    },
    /// The integer `key` must be > 0.
    NotPositiveInt {
        /// The key.
        key: String,
        /// Its value.
        got: usize,
    },
    /// `key` must be in `range`.
    OutOfRange {
        /// The key.
        key: String,
        /// Its value.
        got: f64,
        /// The allowed range, as written in messages, e.g. `[0, ∞)`.
        range: &'static str,
    },
    /// The epoch window `key` must satisfy start < stop ≤ `train.epochs`.
    EpochWindow {
        /// The key.
        key: String,
        /// The window.
        window: EpochWindow,
    },
    /// `key` is set, but only `applies_to` takes it (the section's `kind_key` is `kind`).
    KeyNotForKind {
        /// The key.
        key: String,
        /// The kinds that take it, as messages write them.
        applies_to: &'static str,
        /// The kind field, as the recipe writes it (`model.encoders.*.kind`).
        kind_key: &'static str,
        /// The kind set.
        kind: String,
    },
    /// `key` is required with the kind `kind` of `kind_key`.
    KeyRequiredForKind {
        /// The key.
        key: String,
        /// The kind field, as the recipe writes it.
        kind_key: &'static str,
        /// The kind set.
        kind: String,
    },
    /// A geometry rule of `key` (an image encoder's layers against its input's shape).
    Geometry {
        /// The key.
        key: String,
        /// What is wrong, in words.
        detail: String,
    },
    /// `key` names a modality the recipe does not use.
    UnknownModality {
        /// The key.
        key: String,
        /// The name given.
        got: String,
        /// The modalities it may name, comma-separated.
        known: String,
    },
    /// No encoder for a modality of `dataset.modalities`.
    MissingEncoder {
        /// The modality.
        modality: String,
    },
    /// The fusion needs exactly `needs` modalities.
    FusionArity {
        /// The fusion, as the recipe writes it.
        fusion: String,
        /// How many it needs.
        needs: usize,
        /// How many the recipe has.
        got: usize,
    },
    /// Sum fusion over encoders of different output widths.
    SumWidthMismatch {
        /// `name: width` for each modality, comma-separated.
        widths: String,
    },
    /// An image encoder (conv, resnet18) on a modality with no image shape; reported at `key`.
    NeedsImageShape {
        /// The key.
        key: String,
        /// The modality.
        modality: String,
    },
    /// `unimodal_logits = "decompose"` with a fusion whose head does not split.
    DecomposeNeedsLinearFusion {
        /// The fusion, as the recipe writes it.
        fusion: String,
    },
    /// B-MM without folded λ.
    BmmWithoutFold,
    /// B-MM with fewer than two modalities.
    BmmNeedsModalities {
        /// How many the recipe has.
        got: usize,
    },
    /// `key` must list one entry per modality.
    OnePerModality {
        /// The key.
        key: String,
        /// How many it lists.
        got: usize,
        /// How many modalities the recipe has.
        modalities: usize,
    },
    /// `key` must not be empty.
    Empty {
        /// The key.
        key: String,
    },
    /// `key` lists the modality `got` twice.
    DuplicateModality {
        /// The key.
        key: String,
        /// The modality.
        got: String,
    },
    /// An image corruption of a modality with no image shape.
    CorruptionNeedsImage {
        /// The corruption, as the recipe writes it.
        kind: String,
        /// The modality.
        modality: String,
    },
    /// A corruption listed twice.
    DuplicateCorruption {
        /// The corruption, as the recipe writes it.
        kind: String,
    },
    /// A split kind the manifest rules out (`fixed`: it has fixed lists).
    SplitKindForManifest {
        /// The kind asked for.
        kind: &'static str,
        /// Whether the manifest has fixed train/test lists.
        fixed: bool,
    },
    /// `train.eval.select = "best-val"` without a validation split.
    BestValWithoutVal,
    /// Validation by group on data without groups.
    ValByGroupWithoutGroups,
    /// A group split on data without groups.
    GroupSplitWithoutGroups,
    /// A fold outside `0..folds` (or without folds).
    BadFold {
        /// The fold.
        fold: usize,
        /// The folds, or "not set".
        folds: String,
    },
    /// test + val ≥ 1.
    SplitTooLarge {
        /// The test fraction.
        test: f64,
        /// The validation fraction.
        val: f64,
    },
    /// A split part would have no sample of a class.
    SplitEmptiesClass {
        /// The test fraction.
        test: f64,
        /// The validation fraction.
        val: f64,
        /// The class's size.
        class_size: usize,
        /// The part left without it.
        which: &'static str,
    },
    /// `train.batch_size` exceeds the training set.
    BatchLargerThanTrainingSet {
        /// The batch size.
        batch: usize,
        /// Training samples.
        train: usize,
    },
    /// The method needs a validation split (`dataset.split.val > 0`).
    NeedsValidation,
    /// The method needs sum fusion's shared head.
    NeedsSharedHead,
    /// The method needs concat fusion's head (its columns per modality).
    NeedsConcatHead,
    /// The method (with `what`, e.g. its setting) needs exactly two modalities; reported at
    /// `key` (`kind` for the method itself).
    NeedsTwoModalities {
        /// The key the rule hangs on.
        key: String,
        /// What needs them, e.g. `mla with test_fusion = "fixed"`.
        what: Option<&'static str>,
    },
    /// The setting `key` needs an encoder with convolutions (conv or resnet18).
    NeedsConvolutions {
        /// The key.
        key: String,
    },
    /// The method needs a head that splits into per-modality logits; reported at `key`.
    NeedsDecomposableHead {
        /// The key the rule hangs on.
        key: String,
        /// What needs it beyond the method itself, e.g. `unimodal_heads = "split"`.
        what: Option<&'static str>,
    },
    /// A problem of the table `table` inside the config (e.g. `[losses.pmr]` of `[losses]`,
    /// `encoders.audio` of `[model]`): its keys are the inner table's.
    In {
        /// The inner table's key.
        table: String,
        /// The problem, keys relative to `table`.
        problem: Box<ConfigProblem>,
    },
}

impl ConfigProblem {
    /// `Ok` when `v` > 0 (and finite), else [`ConfigProblem::NotPositive`].
    pub fn positive(key: impl Into<String>, v: f64) -> Result<(), ConfigProblem> {
        match v > 0.0 && v.is_finite() {
            true => Ok(()),
            false => Err(ConfigProblem::NotPositive {
                key: key.into(),
                got: v,
            }),
        }
    }

    /// The run names of `key` (one per modality, none empty), required when `kind_key` is
    /// `kind`: [`ConfigProblem::KeyRequiredForKind`], [`ConfigProblem::OnePerModality`] or
    /// [`ConfigProblem::Empty`] otherwise.
    pub fn runs_per_modality(
        key: &str,
        names: Option<&Vec<String>>,
        kind_key: &'static str,
        kind: &str,
        modalities: usize,
    ) -> Result<Vec<String>, ConfigProblem> {
        let Some(names) = names else {
            return Err(ConfigProblem::KeyRequiredForKind {
                key: key.into(),
                kind_key,
                kind: kind.into(),
            });
        };
        if names.len() != modalities {
            return Err(ConfigProblem::OnePerModality {
                key: key.into(),
                got: names.len(),
                modalities,
            });
        }
        if names.iter().any(|t| t.trim().is_empty()) {
            return Err(ConfigProblem::Empty { key: key.into() });
        }
        Ok(names.clone())
    }

    /// `Ok` when the integer `v` > 0, else [`ConfigProblem::NotPositiveInt`].
    pub fn positive_int(key: impl Into<String>, v: usize) -> Result<(), ConfigProblem> {
        match v > 0 {
            true => Ok(()),
            false => Err(ConfigProblem::NotPositiveInt {
                key: key.into(),
                got: v,
            }),
        }
    }

    /// `Ok` when `v` is finite and `ok(v)`, else [`ConfigProblem::OutOfRange`] with `range`
    /// as messages write it.
    pub fn in_range(
        key: impl Into<String>,
        v: f64,
        range: &'static str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<(), ConfigProblem> {
        match v.is_finite() && ok(v) {
            true => Ok(()),
            false => Err(ConfigProblem::OutOfRange {
                key: key.into(),
                got: v,
                range,
            }),
        }
    }

    /// `Ok` when `value` is unset, else [`ConfigProblem::KeyNotForKind`]: `key` is taken only
    /// by `applies_to`, and the section's `kind_key` is `kind`.
    pub fn not_for_kind<T>(
        key: impl Into<String>,
        value: &Option<T>,
        applies_to: &'static str,
        kind_key: &'static str,
        kind: &str,
    ) -> Result<(), ConfigProblem> {
        match value {
            Some(_) => Err(ConfigProblem::KeyNotForKind {
                key: key.into(),
                applies_to,
                kind_key,
                kind: kind.into(),
            }),
            None => Ok(()),
        }
    }

    /// This problem as one of the inner table `table`.
    pub fn inside(self, table: impl Into<String>) -> ConfigProblem {
        ConfigProblem::In {
            table: table.into(),
            problem: Box::new(self),
        }
    }

    /// The window `w`, every epoch when unset (written back into `w`); `Ok` when it lies
    /// within `epochs` epochs.
    pub fn window_or_every_epoch(
        key: impl Into<String>,
        w: &mut Option<EpochWindow>,
        epochs: usize,
    ) -> Result<EpochWindow, ConfigProblem> {
        let window = *w.get_or_insert(EpochWindow {
            start: 0,
            stop: epochs,
        });
        ConfigProblem::window(key, window, epochs)?;
        Ok(window)
    }

    /// `Ok` when the window `w` lies within `epochs` epochs.
    pub fn window(
        key: impl Into<String>,
        w: EpochWindow,
        epochs: usize,
    ) -> Result<(), ConfigProblem> {
        match w.start < w.stop && w.stop <= epochs {
            true => Ok(()),
            false => Err(ConfigProblem::EpochWindow {
                key: key.into(),
                window: w,
            }),
        }
    }

    /// The problem with its key written out in full below `prefix` (`"model."`), nested
    /// tables joined by dots, and the innermost problem.
    pub fn flatten(self, prefix: &str) -> (String, ConfigProblem) {
        match self {
            ConfigProblem::In { table, problem } => problem.flatten(&format!("{prefix}{table}.")),
            p => (prefix.to_string(), p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_must_lie_inside_training() {
        let w = |start, stop| EpochWindow { start, stop };
        assert!(ConfigProblem::window("epochs", w(0, 10), 10).is_ok());
        assert!(ConfigProblem::window("epochs", w(5, 5), 10).is_err());
        assert!(ConfigProblem::window("epochs", w(0, 11), 10).is_err());
        assert!(ConfigProblem::positive("gamma", 0.0).is_err());
        assert!(ConfigProblem::positive("gamma", f64::NAN).is_err());
        assert!(ConfigProblem::positive_int("every", 0).is_err());
    }

    #[test]
    fn nested_problems_flatten_to_their_full_key_prefix() {
        let p = ConfigProblem::positive_int("out", 0)
            .unwrap_err()
            .inside("audio")
            .inside("encoders");
        let (prefix, inner) = p.flatten("model.");
        assert_eq!(prefix, "model.encoders.audio.");
        assert_eq!(
            inner,
            ConfigProblem::NotPositiveInt {
                key: "out".into(),
                got: 0
            }
        );
    }
}

//! What a method's own config sees when validation resolves it ([`MethodContext`]: the rest
//! of the recipe a method's rules depend on) and the problems it reports ([`ConfigProblem`]:
//! the broken rule and the key, without the recipe's wording or origin — `recipe/` adds both).
//! Each method file holds its config (the `[method]` keys it takes, as written), the defaults
//! and the checks that turn it into its typed settings.

use crate::epoch_window::EpochWindow;
use crate::model::config::Fusion;

/// The parts of the recipe a method's rules read.
#[derive(Debug, Clone, Copy)]
pub struct MethodContext<'a> {
    /// `dataset.modalities`, how many.
    pub modalities: usize,
    /// `train.epochs`.
    pub epochs: usize,
    /// Whether `dataset.split.val > 0` (a validation split carved from the training data).
    pub has_val: bool,
    /// The resolved fusion.
    pub fusion: &'a Fusion,
    /// Whether some encoder has convolutions (conv or resnet18).
    pub convolutional: bool,
}

impl MethodContext<'_> {
    /// The rule of the methods that read each modality's split logits u_m = z_m W_mᵀ + b/M:
    /// `enough` modalities (the caller's count rule: two or more, or exactly two) and a fusion
    /// whose head decomposes (concat or sum); both reported at `kind`.
    pub fn needs_split_head(&self, enough: bool) -> Result<(), ConfigProblem> {
        if !enough {
            return Err(ConfigProblem::NeedsTwoModalities {
                key: "kind",
                what: None,
            });
        }
        if !self.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "kind",
                what: None,
            });
        }
        Ok(())
    }
}

/// A broken rule of a method's config. Keys are the method's own (`"gamma"`); the recipe
/// reports them as `method.<key>` with their origin.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigProblem {
    /// `key` must be > 0.
    NotPositive {
        /// The key.
        key: &'static str,
        /// Its value.
        got: f64,
    },
    /// The integer `key` must be > 0.
    NotPositiveInt {
        /// The key.
        key: &'static str,
        /// Its value.
        got: usize,
    },
    /// `key` must be in `range`.
    OutOfRange {
        /// The key.
        key: &'static str,
        /// Its value.
        got: f64,
        /// The allowed range, as written in messages, e.g. `[0, ∞)`.
        range: &'static str,
    },
    /// The epoch window `key` must satisfy start < stop ≤ `train.epochs`.
    EpochWindow {
        /// The key.
        key: &'static str,
        /// The window.
        window: EpochWindow,
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
        key: &'static str,
        /// What needs them, e.g. `mla with test_fusion = "fixed"`.
        what: Option<&'static str>,
    },
    /// The setting `key` needs an encoder with convolutions (conv or resnet18).
    NeedsConvolutions {
        /// The key.
        key: &'static str,
    },
    /// A problem of the table `table` inside the config (e.g. `[losses.pmr]` of `[losses]`):
    /// its keys are the inner table's.
    In {
        /// The inner table's key.
        table: &'static str,
        /// The problem, keys relative to `table`.
        problem: Box<ConfigProblem>,
    },
    /// The method needs a head that splits into per-modality logits; reported at `key`.
    NeedsDecomposableHead {
        /// The key the rule hangs on.
        key: &'static str,
        /// What needs it beyond the method itself, e.g. `unimodal_heads = "split"`.
        what: Option<&'static str>,
    },
}

impl ConfigProblem {
    /// `Ok` when `v` > 0 (and finite), else [`ConfigProblem::NotPositive`].
    pub fn positive(key: &'static str, v: f64) -> Result<(), ConfigProblem> {
        match v > 0.0 && v.is_finite() {
            true => Ok(()),
            false => Err(ConfigProblem::NotPositive { key, got: v }),
        }
    }

    /// `Ok` when `v` is finite and `ok(v)`, else [`ConfigProblem::OutOfRange`] with `range`
    /// as messages write it.
    pub fn in_range(
        key: &'static str,
        v: f64,
        range: &'static str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<(), ConfigProblem> {
        match v.is_finite() && ok(v) {
            true => Ok(()),
            false => Err(ConfigProblem::OutOfRange { key, got: v, range }),
        }
    }

    /// This problem as one of the inner table `table`.
    pub fn inside(self, table: &'static str) -> ConfigProblem {
        ConfigProblem::In {
            table,
            problem: Box::new(self),
        }
    }

    /// The window `w`, every epoch when unset (written back into `w`); `Ok` when it lies
    /// within `epochs` epochs.
    pub fn window_or_every_epoch(
        key: &'static str,
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
    pub fn window(key: &'static str, w: EpochWindow, epochs: usize) -> Result<(), ConfigProblem> {
        match w.start < w.stop && w.stop <= epochs {
            true => Ok(()),
            false => Err(ConfigProblem::EpochWindow { key, window: w }),
        }
    }
}

/// The field names serde reads for `T` (a struct with named fields), in declaration order:
/// a method's `[method]` keys, stated once — by its config struct.
pub fn field_names<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Fields(Option<&'static [&'static str]>);
    impl<'de> de::Deserializer<'de> for &mut Fields {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut f = Fields(None);
    let _ = T::deserialize(&mut f);
    f.0.unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Keys {
        first: f64,
        #[serde(rename = "second_key")]
        second: Option<bool>,
    }

    #[test]
    fn field_names_are_the_keys_serde_reads_in_declaration_order() {
        assert_eq!(field_names::<Keys>(), &["first", "second_key"]);
        // Not a struct: no keys.
        assert!(field_names::<f64>().is_empty());
    }

    #[test]
    fn windows_must_lie_inside_training() {
        let w = |start, stop| EpochWindow { start, stop };
        assert!(ConfigProblem::window("epochs", w(0, 10), 10).is_ok());
        assert!(ConfigProblem::window("epochs", w(5, 5), 10).is_err());
        assert!(ConfigProblem::window("epochs", w(0, 11), 10).is_err());
        assert!(ConfigProblem::positive("gamma", 0.0).is_err());
        assert!(ConfigProblem::positive("gamma", f64::NAN).is_err());
    }
}

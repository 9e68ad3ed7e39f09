//! What a method's own config sees when validation resolves it ([`MethodContext`]: the rest
//! of the recipe a method's rules depend on) and the problems it reports ([`ConfigProblem`]:
//! the broken rule and the key, without the recipe's wording or origin — `recipe/` adds both).
//! Each method file holds its config (the `[method]` keys it takes, as written), the defaults
//! and the checks that turn it into its typed settings.

pub use crate::config_problem::ConfigProblem;
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
                key: "kind".into(),
                what: None,
            });
        }
        if !self.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "kind".into(),
                what: None,
            });
        }
        Ok(())
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
}

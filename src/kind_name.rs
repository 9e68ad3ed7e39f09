//! The name a recipe, a flag or a record gives a unit enum value: the kebab-case (or
//! snake_case) name serde writes for it. A leaf.

/// The kebab-case name serde uses for a unit enum value.
pub fn kind_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

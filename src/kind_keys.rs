//! Which keys of a kinded section only some kinds take ([`KindKeys`]), stated by the concern
//! that owns the section: when a later recipe layer (`extends`, environment, `--set`) changes
//! the kind, the earlier layers' keys of other kinds are dropped (`recipe::load`).

/// A kind field and the keys of its section that only some kinds take.
#[derive(Debug, Clone, Copy)]
pub struct KindKeys {
    /// The section (`*` matches any one key, e.g. an encoder's modality).
    pub section: &'static str,
    /// The field naming the kind.
    pub field: &'static str,
    /// Keys of the section and the kinds that take them.
    pub keys: &'static [(&'static str, &'static [&'static str])],
}

/// A section's table, read as the config of the kind its `kind` key names (the recipe's
/// layered sources implement it; a concern's kinded section reads itself through it).
pub trait TableReader {
    /// Why the table does not read as `T`.
    type Error;
    /// The table as `T`.
    fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, Self::Error>;
}

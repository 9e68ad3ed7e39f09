//! What build of balmix made a result: recorded in runs and reports, and checked when a
//! saved model is read back. A leaf.

/// The code version recorded in runs and reports: crate version, git commit, whether the
/// working tree was dirty at build time, and the [`code_fingerprint`].
pub fn code_version() -> String {
    format!(
        "{} (commit {}, {}, code {})",
        env!("CARGO_PKG_VERSION"),
        env!("BALMIX_GIT"),
        env!("BALMIX_DIRTY"),
        code_fingerprint()
    )
}

/// A hash, taken at build time, of every source that can change a result (`src/`,
/// `Cargo.lock`, `Cargo.toml`, `build.rs`, the embedded data manifests), so an uncommitted
/// edit yields another fingerprint. Part of a run's identity.
pub fn code_fingerprint() -> &'static str {
    env!("BALMIX_CODE_FINGERPRINT")
}

//! The download cache: archives as fetched, and extracted members stored under their sha256.
//! Every file is verified by sha256 when fetched and before use, written atomically (a
//! temporary file renamed into place), and fetching holds an exclusive lock on `<cache>/.lock`
//! so two runs fetching at once never corrupt it.

use super::error::DataError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the cache folder.
pub const CACHE_ENV: &str = "BALMIX_CACHE";

/// The cache folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
    /// How the folder was chosen, for messages.
    origin: &'static str,
}

/// Holds the cache lock until dropped.
pub struct CacheLock {
    _file: File,
}

impl Cache {
    /// `dir` if given, else `$BALMIX_CACHE`, else `$XDG_CACHE_HOME/balmix`, else
    /// `~/.cache/balmix`.
    pub fn new(dir: Option<PathBuf>) -> Cache {
        let env = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
        let (root, origin) = if let Some(d) = dir {
            (d, "--cache-dir")
        } else if let Some(d) = env(CACHE_ENV) {
            (PathBuf::from(d), "$BALMIX_CACHE")
        } else if let Some(d) = env("XDG_CACHE_HOME") {
            (PathBuf::from(d).join("balmix"), "$XDG_CACHE_HOME/balmix")
        } else if let Some(h) = env("HOME") {
            (PathBuf::from(h).join(".cache/balmix"), "~/.cache/balmix")
        } else {
            (
                PathBuf::from(".balmix-cache"),
                "no $HOME: .balmix-cache in the working folder",
            )
        };
        Cache { root, origin }
    }

    /// The folder and how it was chosen, e.g. `/data/cache (from $BALMIX_CACHE)`.
    pub fn describe(&self) -> String {
        format!("{} (from {})", self.root.display(), self.origin)
    }

    /// The cache folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where archives are kept.
    pub fn archive_path(&self, file_name: &str) -> PathBuf {
        self.root.join("archives").join(file_name)
    }

    /// Where a verified member with this sha256 is kept.
    pub fn member_path(&self, sha256: &str) -> PathBuf {
        self.root.join("members").join(sha256)
    }

    /// Default folder of a local dataset.
    pub fn local_dir(&self, dataset: &str) -> PathBuf {
        self.root.join("local").join(dataset)
    }

    /// Take the exclusive cache lock (blocks while another process holds it).
    pub fn lock(&self) -> Result<CacheLock, DataError> {
        let unusable = |e: std::io::Error| DataError::CacheUnusable {
            cache: self.describe(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&self.root).map_err(unusable)?;
        let path = self.root.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(unusable)?;
        file.lock().map_err(unusable)?;
        Ok(CacheLock { _file: file })
    }

    /// The bytes of a cached member if present and intact. A corrupt copy is deleted.
    pub fn read_member(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.member_path(sha256);
        let bytes = std::fs::read(&path).ok()?;
        if sha256_hex(&bytes) == sha256 {
            Some(bytes)
        } else {
            let _ = std::fs::remove_file(&path);
            None
        }
    }

    /// Store verified member bytes atomically.
    pub fn write_member(&self, sha256: &str, bytes: &[u8]) -> Result<(), DataError> {
        write_atomic(&self.member_path(sha256), bytes)
    }
}

pub use crate::digest::sha256_hex;

/// Lowercase hex sha256 of a file, streamed ([`crate::digest::sha256_file`]).
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    crate::digest::sha256_file(path).map_err(|e| DataError::io(path, e))
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    crate::atomic_file::write_creating_folder(path, bytes).map_err(|e| DataError::io(path, e))
}

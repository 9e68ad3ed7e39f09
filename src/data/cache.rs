//! The download cache: archives as fetched, and extracted members stored under their sha256.
//! Every file is verified by sha256 when fetched and before use, written atomically (a
//! temporary file renamed into place), and fetching holds an exclusive lock on `<cache>/.lock`
//! so two runs fetching at once never corrupt it.

use super::error::DataError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the cache folder.
pub const CACHE_ENV: &str = "BALMIX_CACHE";

/// The cache folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

/// Holds the cache lock until dropped.
pub struct CacheLock {
    _file: File,
}

impl Cache {
    /// `dir` if given, else `$BALMIX_CACHE`, else `$XDG_CACHE_HOME/balmix`, else
    /// `~/.cache/balmix`.
    pub fn new(dir: Option<PathBuf>) -> Cache {
        let root = dir
            .or_else(|| std::env::var_os(CACHE_ENV).map(PathBuf::from))
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("balmix")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/balmix")))
            .unwrap_or_else(|| PathBuf::from(".balmix-cache"));
        Cache { root }
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
        std::fs::create_dir_all(&self.root).map_err(|e| DataError::io(&self.root, e))?;
        let path = self.root.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DataError::io(&path, e))?;
        file.lock().map_err(|e| DataError::io(&path, e))?;
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

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Lowercase hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| DataError::io(path, e))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f")
    ));
    std::fs::write(&tmp, bytes).map_err(|e| DataError::io(&tmp, e))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| DataError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
}

//! The data fingerprint: a hash of everything that decides a run's dataset, part of its
//! identity (with the resolved recipe and the code fingerprint): the manifest's resolved content
//! (classes, readers and their options, columns, alignment, split lists — everything but its
//! prose) and the sha256 of every file loading reads (modality files, the `[labels]` file, fixed
//! split lists, a prepared media folder's SHA256SUMS). Downloaded files are pinned by their declared
//! sha256 (verified whenever they are read); local files without a declared sha256 are hashed,
//! and the hash is remembered under `<cache>/file-hashes/` keyed by the file's canonical path,
//! size and modification time, so an unchanged file is not read again.

use super::cache::{sha256_file, sha256_hex, write_atomic, Cache};
use super::error::DataError;
use super::fetch::local_dir;
use crate::manifest::{Alignment, Manifest, Member, Source};
use std::path::{Path, PathBuf};

/// Fingerprint of what loading `names` of `manifest` decides on (every modality when empty):
/// the manifest's resolved content, and for data read from files every such file's sha256.
pub fn fingerprint(
    manifest: &Manifest,
    names: &[String],
    cache: &Cache,
) -> Result<String, DataError> {
    let mut text = String::from("manifest\n");
    text.push_str(&deciding_content(manifest));
    if manifest.synthetic.is_none() {
        for member in members_read(manifest, names) {
            let sha = match member_sha256(manifest, member, cache) {
                Ok(sha) => sha,
                // A local dataset that is not (completely) prepared: say what is missing and
                // how to prepare it, not just which file failed to open.
                Err(e) => {
                    if super::fetch::local_folder(manifest, cache).is_some() {
                        super::local::check(manifest, cache)?;
                    }
                    return Err(e);
                }
            };
            text.push_str(&format!("{}\t{}\t{sha}\n", member.source, member.path));
        }
        // A prepared media folder: its SHA256SUMS covers every frame and clip.
        if super::clips::layout(manifest).is_some() {
            if let Some((dir, _)) = super::fetch::local_folder(manifest, cache) {
                let sums = dir.join("SHA256SUMS");
                let sha = match std::fs::read(&sums) {
                    Ok(bytes) => sha256_hex(&bytes),
                    Err(_) => "no SHA256SUMS (media not covered)".into(),
                };
                text.push_str(&format!("media\tSHA256SUMS\t{sha}\n"));
            }
        }
    }
    Ok(sha256_hex(text.as_bytes())[..16].to_string())
}

/// The member files that loading `names` reads: the wanted modalities (plus the anchor of a
/// by-label alignment), the fixed split lists and the shared `[labels]` file.
pub fn members_read<'m>(manifest: &'m Manifest, names: &[String]) -> Vec<&'m Member> {
    let mut wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Alignment::ByLabel { anchor, .. } = &manifest.alignment {
        if !wanted.is_empty() && !wanted.contains(&anchor.as_str()) {
            wanted.push(anchor);
        }
    }
    let mut out: Vec<&Member> = manifest
        .modalities
        .iter()
        .filter(|m| wanted.is_empty() || wanted.contains(&m.name.as_str()))
        .flat_map(|m| m.files())
        .collect();
    if let Some(s) = &manifest.fixed_splits {
        out.push(&s.train);
        out.push(&s.test);
    }
    if let Some(l) = &manifest.labels {
        out.push(&l.file);
    }
    out.dedup_by(|a, b| a.path == b.path && a.source == b.source);
    out
}

/// The manifest as parsed, without the prose that cannot change a result (description,
/// license, citation, instructions) and its folder: classes and their order, readers with their options and
/// columns, alignment, expected counts, split lists, labels file and generator settings.
fn deciding_content(manifest: &Manifest) -> String {
    let mut m = manifest.clone();
    m.description.clear();
    m.license.clear();
    m.citation.clear();
    m.instructions = None;
    // Where the manifest lies is not what it says (the files' bytes are hashed below).
    m.dir = None;
    // Debug text, not TOML: it cannot fail, and it changes only with the code (which changes
    // the code fingerprint anyway).
    format!("{m:?}")
}

/// The sha256 of one member: the declared one when there is one, else the local file's,
/// computed or remembered.
pub fn member_sha256(
    manifest: &Manifest,
    member: &Member,
    cache: &Cache,
) -> Result<String, DataError> {
    if let Some(sha) = &member.sha256 {
        return Ok(sha.clone());
    }
    let path = match manifest.source(&member.source) {
        Some(Source::Local { env, .. }) => local_dir(manifest, env, cache).join(&member.path),
        _ => {
            return Err(DataError::Io {
                path: member.path.clone(),
                reason: "a downloaded member must declare its sha256 in the manifest".into(),
            })
        }
    };
    local_sha256(&path, cache).map(|(sha, _)| sha)
}

/// The sha256 of a local file and whether it was remembered (`true`) or computed now.
pub fn local_sha256(path: &Path, cache: &Cache) -> Result<(String, bool), DataError> {
    let canonical = std::fs::canonicalize(path).map_err(|e| DataError::io(path, e))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| DataError::io(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = sha256_hex(format!("{}\n{}\n{mtime}", canonical.display(), meta.len()).as_bytes());
    let memo = memo_path(cache, &key);
    if let Ok(text) = std::fs::read_to_string(&memo) {
        let text = text.trim();
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok((text.to_string(), true));
        }
    }
    let sha = sha256_file(&canonical)?;
    // A file modified in the last seconds could change again within the clock's granularity
    // without a new size or time, so only settled files are remembered (git's "racily clean"
    // rule). The memo only saves time: failing to write it is not an error.
    let settled = meta
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() >= 2);
    if settled {
        let _ = write_atomic(&memo, sha.as_bytes());
    }
    Ok((sha, false))
}

fn memo_path(cache: &Cache, key: &str) -> PathBuf {
    cache.root().join("file-hashes").join(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_local_file_changes_its_hash_and_an_unchanged_one_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Some(dir.path().join("cache")));
        let file = dir.path().join("x.csv");
        let write = |text: &str, age_secs: u64| {
            std::fs::write(&file, text).unwrap();
            let then = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(then)
                .unwrap();
        };
        write("1,2\n", 0);
        // Just written: hashed but not remembered (it could change within the clock's tick).
        assert!(!local_sha256(&file, &cache).unwrap().1);
        write("1,2\n", 60);
        let (a, remembered) = local_sha256(&file, &cache).unwrap();
        assert!(!remembered);
        assert_eq!(a, sha256_hex(b"1,2\n"));
        assert_eq!(local_sha256(&file, &cache).unwrap(), (a.clone(), true));
        write("1,3\n", 60);
        let (b, _) = local_sha256(&file, &cache).unwrap();
        assert_eq!(b, sha256_hex(b"1,3\n"));
    }
}

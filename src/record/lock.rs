//! One writer per run directory: an exclusive advisory lock on `<run dir>/.lock`, held for the
//! life of the run and released by the operating system when the process ends (however it
//! ends), so a lock can never be left behind by a crash.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Name of the lock file inside a run directory.
pub const LOCK_FILE: &str = ".lock";

/// A held run-directory lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; its pid as written in the lock file, when readable.
    Held(Option<u32>),
    /// The lock file could not be opened or locked.
    Io(std::io::Error),
}

impl RunLock {
    /// Take the lock of `dir` (created if missing). With `wait`, block until the holder ends;
    /// without, fail at once with the holder's pid.
    pub fn acquire(dir: &Path, wait: bool) -> Result<RunLock, LockError> {
        std::fs::create_dir_all(dir).map_err(LockError::Io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(LockError::Io)?;
        if wait {
            file.lock().map_err(LockError::Io)?;
        } else {
            // A lock released a moment ago can still be held for an instant by a child process
            // this program is starting (its copy of the descriptor lives from fork to exec), so
            // a refusal is retried for half a second before it is reported.
            let mut tries = 0;
            loop {
                match file.try_lock() {
                    Ok(()) => break,
                    Err(std::fs::TryLockError::WouldBlock) if tries < 10 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    Err(std::fs::TryLockError::WouldBlock) => {
                        let mut text = String::new();
                        let _ = file.read_to_string(&mut text);
                        return Err(LockError::Held(text.trim().parse().ok()));
                    }
                    Err(std::fs::TryLockError::Error(e)) => return Err(LockError::Io(e)),
                }
            }
        }
        file.set_len(0).map_err(LockError::Io)?;
        file.seek(SeekFrom::Start(0)).map_err(LockError::Io)?;
        write!(file, "{}", std::process::id()).map_err(LockError::Io)?;
        file.flush().map_err(LockError::Io)?;
        Ok(RunLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_held_directory_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let held = RunLock::acquire(dir.path(), false).unwrap();
        match RunLock::acquire(dir.path(), false) {
            Err(LockError::Held(pid)) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(held);
        assert!(RunLock::acquire(dir.path(), false).is_ok());
    }
}

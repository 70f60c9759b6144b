//! `--lock FILE`: an OS file lock, so two runs from cron never overlap. The kernel releases it
//! when the process dies, however it dies, so a crash leaves no stale lock behind.
//!
//! Lock files often sit in /tmp under root's crontab, so the file is opened as
//! [`crate::files::open_plain`] does: never through a link, created 0600.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another run holds the lock {path}{}", holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Held {
        path: String,
        holder: Option<String>,
    },
    #[error("cannot open the lock file {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Unsafe(#[from] crate::files::FileError),
}

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the lock, waiting up to `wait` for another run to release it.
pub fn acquire(path: &Path, wait: Option<Duration>) -> Result<Lock, LockError> {
    let shown = path.display().to_string();
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    let mut file = crate::files::open_plain(path, &mut options, "the lock file")?;
    let deadline = wait.map(|w| Instant::now() + w);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                if deadline.is_some_and(|d| Instant::now() < d) {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                // From the file already opened, not by its name again: the name may have been
                // replaced by a link since.
                let mut text = String::new();
                let holder = file
                    .rewind()
                    .and_then(|()| (&file).take(256).read_to_string(&mut text))
                    .ok()
                    .map(|_| text.trim().to_string())
                    .filter(|t| !t.is_empty());
                return Err(LockError::Held {
                    path: shown,
                    holder,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Open {
                    path: shown,
                    source,
                });
            }
        }
    }
    // Who holds it, for the message the next run prints.
    let _ = file.set_len(0);
    let _ = writeln!(file, "pid {}", std::process::id());
    Ok(Lock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        let first = acquire(&path, None).unwrap();
        let err = acquire(&path, Some(Duration::from_millis(200))).unwrap_err();
        assert!(
            err.to_string().contains("another run holds the lock"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        acquire(&path, None).unwrap();
    }
}

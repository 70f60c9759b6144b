//! The two ways jrun opens files it did not create itself.
//!
//! Files it writes run state into (`--lock`, `--journal`) often live in shared folders such as
//! /tmp and run from root's crontab: anyone could have put a symbolic link (or a hard link)
//! where jrun will write, to make it truncate or create a file of the victim's choosing. Those
//! are opened without following a link at the last component and refused unless they are a
//! plain file with no other name; new ones are created readable by their owner only.
//!
//! Files it reads secrets from (`token_file`, `password_file`, `ca_file`, `~/.netrc`) may be
//! links — secret stores mount them that way — but must be regular files, and are read with a
//! cap, so /dev/zero, a FIFO or a file that keeps growing cannot hang jrun or fill its memory.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

/// A secret file (token, password, `~/.netrc`) holds a line or a few: 64 KiB is plenty.
pub const SECRET_LIMIT: u64 = 64 * 1024;
/// A CA bundle holds a few certificates; the system's whole store is under 1 MiB.
pub const CA_LIMIT: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{what} {path} is a symbolic link; jrun does not follow links there: use a plain file")]
    Symlink { what: String, path: String },
    #[error("{what} {path} is not a regular file: use a plain file")]
    NotRegular { what: String, path: String },
    #[error(
        "{what} {path} has other hard links; jrun does not write through them: use a plain file"
    )]
    HardLinked { what: String, path: String },
    #[error("{what} {path} is larger than {}: jrun reads at most that much from it", size(*.limit))]
    TooLarge {
        what: String,
        path: String,
        limit: u64,
    },
    #[error("cannot open {what} {path}: {source}")]
    Io {
        what: String,
        path: String,
        source: std::io::Error,
    },
}

impl FileError {
    /// The error of the open or read itself, for callers that treat a missing file as none.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            FileError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Opens a file jrun writes state into (`options` say how), refusing a symbolic link at `path`
/// (dangling or not), anything but a regular file, and a file with other hard links. A file it
/// creates is 0600.
pub fn open_plain(path: &Path, options: &mut OpenOptions, what: &str) -> Result<File, FileError> {
    let shown = || path.display().to_string();
    // The check gives the clear message; O_NOFOLLOW closes the gap between it and the open.
    if is_symlink(path) {
        return Err(FileError::Symlink {
            what: what.to_string(),
            path: shown(),
        });
    }
    let file = no_follow(options).open(path).map_err(|source| {
        if is_symlink(path) {
            FileError::Symlink {
                what: what.to_string(),
                path: shown(),
            }
        } else {
            FileError::Io {
                what: what.to_string(),
                path: shown(),
                source,
            }
        }
    })?;
    let meta = file.metadata().map_err(|source| FileError::Io {
        what: what.to_string(),
        path: shown(),
        source,
    })?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            what: what.to_string(),
            path: shown(),
        });
    }
    if links(&meta) > 1 {
        return Err(FileError::HardLinked {
            what: what.to_string(),
            path: shown(),
        });
    }
    Ok(file)
}

/// Reads a whole secret or CA file of at most `limit` bytes. Links are followed; what they
/// lead to must be a regular file.
pub fn read_capped(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, FileError> {
    let shown = || path.display().to_string();
    let io = |source| FileError::Io {
        what: what.to_string(),
        path: shown(),
        source,
    };
    let mut options = OpenOptions::new();
    options.read(true);
    let file = non_blocking(&mut options).open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            what: what.to_string(),
            path: shown(),
        });
    }
    let too_large = || FileError::TooLarge {
        what: what.to_string(),
        path: shown(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    // The size can change between the check and the read: the read is capped too.
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io {
            what: what.to_string(),
            path: shown(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(unix)]
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
}

#[cfg(not(unix))]
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    options
}

#[cfg(unix)]
fn non_blocking(options: &mut OpenOptions) -> &mut OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(libc::O_NONBLOCK)
}

#[cfg(not(unix))]
fn non_blocking(options: &mut OpenOptions) -> &mut OpenOptions {
    options
}

#[cfg(unix)]
fn links(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.nlink()
}

#[cfg(not(unix))]
fn links(_meta: &std::fs::Metadata) -> u64 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_in_binary_units() {
        assert_eq!(size(SECRET_LIMIT), "64 KiB");
        assert_eq!(size(CA_LIMIT), "1 MiB");
        assert_eq!(size(100), "100 bytes");
    }

    #[test]
    fn a_file_at_the_limit_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "x".repeat(10)).unwrap();
        assert_eq!(read_capped(&path, 10, "token_file").unwrap().len(), 10);
        std::fs::write(&path, "x".repeat(11)).unwrap();
        let err = read_capped(&path, 10, "token_file").unwrap_err();
        assert!(
            matches!(err, FileError::TooLarge { limit: 10, .. }),
            "{err}"
        );
    }

    /// /proc files say they are empty and are not: like a file that grows after its size
    /// was looked at, only the capped read catches them.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_larger_than_its_stated_size_is_refused_by_the_capped_read() {
        let path = Path::new("/proc/self/maps");
        assert_eq!(std::fs::metadata(path).unwrap().len(), 0);
        let err = read_capped(path, 64, "token_file").unwrap_err();
        assert!(
            matches!(err, FileError::TooLarge { limit: 64, .. }),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_plain_file_is_created_0600_and_a_link_to_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        let file = open_plain(&path, &mut options, "the journal").unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let err = open_plain(&link, &mut options, "the journal").unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        let hard = dir.path().join("hard");
        std::fs::hard_link(&path, &hard).unwrap();
        let err = open_plain(&hard, &mut options, "the journal").unwrap_err();
        assert!(matches!(err, FileError::HardLinked { .. }), "{err}");
    }
}

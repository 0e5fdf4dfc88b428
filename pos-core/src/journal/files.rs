//! The journal's files must stay where the journal opened them.
//!
//! SQLite writes through the descriptors it opened. If the database file or its WAL is renamed,
//! replaced (a sync or backup tool that writes a copy and renames it over the original) or
//! deleted while the journal is open, every later commit still succeeds, into a file that is no
//! longer at the journal's path: at the next start those records are gone from it (a renamed
//! database also loses its WAL, which keeps the old name). So the writer checks, before a
//! commit, that the paths still name the files it has open, and refuses every commit once they
//! do not.
//!
//! The check compares device and inode numbers from `stat`. It never opens the database file: a
//! process that closes any descriptor of a file loses every POSIX lock it holds on it, SQLite's
//! included. It runs at most every [`FILE_CHECK_INTERVAL`] (a `stat` right after SQLite's writes
//! measured up to 70 us on ext4, a third of a single append), so the commits of the interval
//! before a move are the most that can go into a moved file. On systems other than Unix there
//! is no check. A file system whose inode numbers are not stable (some network and FUSE file
//! systems) would stop every commit here; SQLite's locking is not reliable on those either, and
//! a journal must not live on one.

use super::error::JournalError;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often, at most, the writer checks its files before a commit.
pub const FILE_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// A file's identity: device and inode numbers.
type Identity = (u64, u64);

#[cfg(unix)]
fn identity_of(metadata: &std::fs::Metadata) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn identity_of(_: &std::fs::Metadata) -> Option<Identity> {
    None
}

/// `None` if `path` names no file (or identities are not available here).
fn identity_at(path: &Path) -> Option<Identity> {
    std::fs::metadata(path).ok().as_ref().and_then(identity_of)
}

/// One file watched, and the identity it had when the journal opened it.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    /// `None` for a WAL not created yet: its first identity is taken when it appears.
    identity: Option<Identity>,
}

/// The files of an open journal, checked before commits.
#[derive(Debug)]
pub(crate) struct FileWatch {
    files: Vec<Watched>,
    last_check: Instant,
    /// The first file found moved: every commit is refused from then on.
    moved: Option<PathBuf>,
}

impl FileWatch {
    /// Watches the database at `db` (just opened by the writer's connection), its WAL, and the
    /// writer lock `lock` held at `lock_path`.
    pub(crate) fn new(db: &Path, wal: &Path, lock: &File, lock_path: &Path) -> FileWatch {
        // Absolute, as SQLite keeps them: an application that changes its working directory
        // must not make a relative path name another file.
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let lock_identity = lock.metadata().ok().as_ref().and_then(identity_of);
        FileWatch {
            files: vec![
                Watched {
                    path: absolute(db),
                    identity: identity_at(db),
                },
                Watched {
                    path: absolute(wal),
                    identity: identity_at(wal),
                },
                Watched {
                    path: absolute(lock_path),
                    identity: lock_identity,
                },
            ],
            last_check: Instant::now(),
            moved: None,
        }
    }

    /// `Err(FileMoved)` if a file was found moved, now or before; checks again once
    /// [`FILE_CHECK_INTERVAL`] has passed since the last check.
    pub(crate) fn check(&mut self) -> Result<(), JournalError> {
        if self.moved.is_none() && self.last_check.elapsed() >= FILE_CHECK_INTERVAL {
            self.last_check = Instant::now();
            self.moved = self.find_moved();
        }
        self.state()
    }

    /// What the last check found, without checking again.
    pub(crate) fn state(&self) -> Result<(), JournalError> {
        match &self.moved {
            Some(path) => Err(JournalError::FileMoved { path: path.clone() }),
            None => Ok(()),
        }
    }

    fn find_moved(&mut self) -> Option<PathBuf> {
        for file in &mut self.files {
            let now = identity_at(&file.path);
            match (file.identity, now) {
                (Some(then), Some(now)) if then == now => {}
                (None, now) => {
                    // Not there at open (a WAL not created yet): watched from when it appears.
                    file.identity = now;
                }
                _ => return Some(file.path.clone()),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_kept_absolute_and_an_untouched_file_is_not_moved() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("journal.db");
        let wal = dir.path().join("journal.db-wal");
        let lock_path = dir.path().join("journal.db.writer-lock");
        std::fs::write(&db, b"x").unwrap();
        let lock = File::create(&lock_path).unwrap();

        // A relative path (tests run in the crate's directory) is kept absolute.
        let relative = FileWatch::new(Path::new("Cargo.toml"), &wal, &lock, &lock_path);
        let kept = &relative.files[0].path;
        assert!(kept.is_absolute());
        assert_eq!(
            kept.canonicalize().unwrap(),
            Path::new("Cargo.toml").canonicalize().unwrap()
        );

        let mut watch = FileWatch::new(&db, &wal, &lock, &lock_path);
        watch.last_check -= FILE_CHECK_INTERVAL;
        assert!(watch.check().is_ok());
        std::fs::remove_file(&db).unwrap();
        watch.last_check -= FILE_CHECK_INTERVAL;
        match watch.check() {
            Err(JournalError::FileMoved { path }) => assert_eq!(path, db),
            other => panic!("{other:?}"),
        }
    }
}

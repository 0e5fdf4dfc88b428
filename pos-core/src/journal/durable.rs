//! Durability after the commit, shared between rounds.
//!
//! The writer's connection commits with `synchronous=NORMAL`: SQLite writes the round's WAL
//! frames and returns without waiting for the disk (it still syncs the WAL before every
//! checkpoint, the database after it, and a restarted WAL's header). The leader then hands the
//! lead over and makes the WAL durable itself, with one `fdatasync` of the WAL file that covers
//! every round committed before it started. Only then are the round's callers answered. So the
//! next round is sealed, signed and inserted while the disk flushes the previous one, and
//! rounds that commit while a flush is running share the next one.
//!
//! This is what `synchronous=FULL` does at commit (write the frames, then sync the WAL file),
//! moved out of the writer's critical section: nothing is answered before the same flush. The
//! WAL is checksummed frame by frame, cumulatively, so after a power loss SQLite keeps a prefix
//! of the commits; every commit answered is in that prefix.
//!
//! If a flush fails, the state of the file on disk is unknown: the callers of the rounds it
//! covered get the error, and the journal refuses everything afterwards (it must be reopened,
//! which checks its tail).

use super::JournalError;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// How the WAL file is flushed (a parameter so that a test can make it fail).
pub(crate) type Flush = fn(&File) -> std::io::Result<()>;

/// Every this many flushes, the WAL's path is checked to name the file flushed.
pub(crate) const CHECK_EVERY: u64 = 256;

/// The WAL file of an open journal, and how far it is known to be on disk.
pub(crate) struct Durability {
    wal: File,
    wal_path: PathBuf,
    /// Device and inode of `wal`: every [`CHECK_EVERY`]th flush checks that the path still
    /// names the file SQLite writes to (SQLite removes the WAL only when the last connection
    /// closes, and the writer's stays open; anything else would make a flush of `wal`
    /// meaningless). Not every flush: a `stat` of the path right after SQLite's writes took
    /// about 70 us on ext4, a third of a single append.
    identity: (u64, u64),
    check_every: u64,
    flush: Flush,
    /// Makes every flush fail from now on (for tests of what the journal does then).
    #[cfg(test)]
    pub(crate) fail: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    /// Signalled when a flush ends.
    flushed: Condvar,
}

struct State {
    /// The last seq committed to the WAL (in the page cache at least).
    written: u64,
    /// The last seq known to be on disk.
    synced: u64,
    /// Whether a thread is flushing.
    flushing: bool,
    /// Threads waiting for the running flush (woken only if there are any: waking nobody is
    /// still a system call).
    waiting: usize,
    /// Flushes done.
    flushes: u64,
    /// Why a flush failed: then nothing is durable any more.
    failed: Option<String>,
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl Durability {
    /// Opens the WAL file of the journal at `path` (it exists once the writer's connection has
    /// read the journal). Records up to `head` are already durable.
    pub(crate) fn open(path: &Path, head: u64, flush: Flush) -> Result<Durability, JournalError> {
        let mut name = path.as_os_str().to_owned();
        name.push("-wal");
        let wal_path = PathBuf::from(name);
        let io = |source| JournalError::Io {
            path: wal_path.clone(),
            source,
        };
        let wal = File::open(&wal_path).map_err(io)?;
        let identity = identity(&wal.metadata().map_err(io)?);
        // The WAL's name must outlive a power loss too (SQLite syncs the directory on a new
        // WAL's first sync; this does not depend on it).
        if let Some(dir) = wal_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(Durability {
            wal,
            wal_path,
            identity,
            check_every: CHECK_EVERY,
            flush,
            #[cfg(test)]
            fail: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(State {
                written: head,
                synced: head,
                flushing: false,
                waiting: 0,
                flushes: 0,
                failed: None,
            }),
            flushed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that records up to `seq` are committed to the WAL. Called by the writer after
    /// each commit, before it lets another round start.
    pub(crate) fn written(&self, seq: u64) {
        let mut state = self.lock();
        debug_assert!(seq >= state.written, "commits go forward");
        state.written = state.written.max(seq);
    }

    /// Why the journal can no longer make records durable, if it cannot.
    pub(crate) fn failure(&self) -> Option<JournalError> {
        self.lock().failed.clone().map(JournalError::Storage)
    }

    /// Returns once records up to `seq` are on disk: at once if a flush already covered them,
    /// after the running flush if it covers them, or after a flush of this thread's that covers
    /// everything committed so far.
    pub(crate) fn sync_through(&self, seq: u64) -> Result<(), JournalError> {
        let mut state = self.lock();
        loop {
            if let Some(why) = &state.failed {
                return Err(JournalError::Storage(why.clone()));
            }
            if state.synced >= seq {
                return Ok(());
            }
            if state.flushing {
                state.waiting += 1;
                state = self
                    .flushed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.waiting -= 1;
                continue;
            }
            debug_assert!(state.written >= seq, "a record is flushed after its commit");
            let target = state.written;
            let check = state.flushes.is_multiple_of(self.check_every);
            state.flushing = true;
            state.flushes += 1;
            drop(state);
            let result = self.flush_wal(check);
            state = self.lock();
            state.flushing = false;
            match result {
                Ok(()) => state.synced = state.synced.max(target),
                Err(e) => {
                    state.failed = Some(format!(
                        "the journal's WAL {} could not be flushed to disk ({e}); the last \
                         records may be lost, and the journal takes nothing more until it is \
                         reopened",
                        self.wal_path.display()
                    ))
                }
            }
            if state.waiting > 0 {
                self.flushed.notify_all();
            }
        }
    }

    fn flush_wal(&self, check_path: bool) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("injected flush failure"));
        }
        if check_path && identity(&std::fs::metadata(&self.wal_path)?) != self.identity {
            return Err(std::io::Error::other(
                "the WAL file was replaced while the journal was open",
            ));
        }
        (self.flush)(&self.wal)
    }
}

/// The flush used by journals: `fdatasync` (the WAL's size and content, as SQLite's own
/// commit-time sync).
pub(crate) fn fdatasync(file: &File) -> std::io::Result<()> {
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    static FLUSHES: AtomicUsize = AtomicUsize::new(0);

    fn counted(file: &File) -> std::io::Result<()> {
        FLUSHES.fetch_add(1, Ordering::SeqCst);
        // Long enough for the other threads to queue behind this flush.
        std::thread::sleep(std::time::Duration::from_millis(30));
        file.sync_data()
    }

    fn failing(_: &File) -> std::io::Result<()> {
        Err(std::io::Error::other("device gone"))
    }

    fn wal_beside(dir: &Path) -> PathBuf {
        let db = dir.join("j.db");
        std::fs::write(dir.join("j.db-wal"), b"frames").unwrap();
        db
    }

    #[test]
    fn one_flush_covers_every_commit_before_it_and_waiters_share_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let d = Arc::new(Durability::open(&wal_beside(dir.path()), 0, counted).unwrap());
        d.written(5);
        // Already durable: no flush.
        d.sync_through(0).unwrap();
        assert_eq!(FLUSHES.load(Ordering::SeqCst), 0);
        d.sync_through(3).unwrap();
        assert_eq!(FLUSHES.load(Ordering::SeqCst), 1);
        // Seq 5 was written before that flush: covered.
        d.sync_through(5).unwrap();
        assert_eq!(FLUSHES.load(Ordering::SeqCst), 1);
        // Eight rounds commit while one flush runs: they share at most one more flush.
        d.written(6);
        let first = {
            let d = d.clone();
            std::thread::spawn(move || d.sync_through(6))
        };
        std::thread::sleep(std::time::Duration::from_millis(5));
        let waiters: Vec<_> = (7..15)
            .map(|seq| {
                d.written(seq);
                let d = d.clone();
                std::thread::spawn(move || d.sync_through(seq))
            })
            .collect();
        first.join().unwrap().unwrap();
        for w in waiters {
            w.join().unwrap().unwrap();
        }
        let flushes = FLUSHES.load(Ordering::SeqCst);
        assert!((2..=3).contains(&flushes), "{flushes} flushes");
        assert_eq!(d.lock().synced, 14);
    }

    #[test]
    fn a_failed_flush_fails_its_callers_and_everything_after() {
        let dir = tempfile::tempdir().unwrap();
        let d = Durability::open(&wal_beside(dir.path()), 2, failing).unwrap();
        d.sync_through(2).unwrap();
        d.written(3);
        let e = d.sync_through(3).unwrap_err().to_string();
        assert!(e.contains("device gone") && e.contains("reopened"), "{e}");
        assert!(d.failure().is_some());
        // Even what was durable before is refused now: the journal takes nothing more.
        assert!(d.sync_through(1).is_err());
    }

    #[test]
    fn a_replaced_wal_file_is_a_failure_not_a_silent_flush_of_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = wal_beside(dir.path());
        let d = Durability {
            check_every: 2,
            ..Durability::open(&db, 0, fdatasync).unwrap()
        };
        d.written(1);
        d.sync_through(1).unwrap();
        // Not checked on the second flush.
        d.written(2);
        d.sync_through(2).unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, b"new").unwrap();
        std::fs::rename(&other, dir.path().join("j.db-wal")).unwrap();
        d.written(3);
        let e = d.sync_through(3).unwrap_err().to_string();
        assert!(e.contains("replaced"), "{e}");
    }

    #[test]
    fn a_missing_wal_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = Durability::open(&dir.path().join("none.db"), 0, fdatasync)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("none.db-wal"), "{e}");
    }
}

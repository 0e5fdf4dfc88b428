//! A commit whose flush to disk fails must not come back after a crash once its callers were
//! told it failed.
//!
//! When `fsync` fails on the write-ahead log, SQLite has already written the commit's frames,
//! commit mark included, and only leaves them unpublished: the next commit overwrites them. A
//! process that dies before that next commit leaves them in the file, and the recovery at the
//! next open brings them back. The journal therefore settles a failed flush at once, with a
//! commit of its own (the `journal_write_failed` event) over those frames; only when that commit
//! is durable are the callers told that their records were refused. When it cannot be made
//! durable either, the callers are told that the outcome is unknown, and the journal writes
//! nothing more until it is reopened, when the file says what is in it.
//!
//! The failures come from this test binary's own `fsync`, which the bundled SQLite (built without
//! `HAVE_FDATASYNC`) calls for every flush: a definition in the executable takes the place of the
//! C library's. It fails flushes of files whose name ends in `-wal` while a test asks for it. A
//! crash is the state of the files at that moment, copied by another process (`cp`: opening and
//! closing a journal file in this process would drop SQLite's locks on it).

mod common;

use common::*;
use pos_core::body::Body;
use pos_core::closure::Period;
use pos_core::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

/// Flushes of a WAL still to fail, never two in a row; [`ALWAYS`] fails every one.
static WAL_FLUSHES_TO_FAIL: AtomicU32 = AtomicU32::new(0);
/// Whether the last flush of a WAL failed.
static LAST_FLUSH_FAILED: AtomicBool = AtomicBool::new(false);
/// Flushes of a WAL asked for, failed or not.
static WAL_FLUSHES: AtomicU32 = AtomicU32::new(0);
/// Fails every flush of a WAL.
const ALWAYS: u32 = u32::MAX;
/// The tests share the flush switch: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The C library's `fsync`, failing with `EIO` the flushes of a WAL that the test asks to fail.
#[no_mangle]
pub extern "C" fn fsync(fd: libc::c_int) -> libc::c_int {
    let is_wal = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|p| p.to_string_lossy().ends_with("-wal"));
    if is_wal {
        WAL_FLUSHES.fetch_add(1, Ordering::SeqCst);
        // Counted failures never hit two flushes in a row: the one after a failure is the
        // journal's own commit that settles it, which a test of settling needs to succeed.
        let after_failure = LAST_FLUSH_FAILED.load(Ordering::SeqCst);
        let fail = WAL_FLUSHES_TO_FAIL
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                0 => None,
                ALWAYS => Some(ALWAYS),
                _ if after_failure => None,
                n => Some(n - 1),
            })
            .is_ok();
        LAST_FLUSH_FAILED.store(fail, Ordering::SeqCst);
        if fail {
            // SAFETY: errno is this thread's own.
            unsafe { *libc::__errno_location() = libc::EIO };
            return -1;
        }
    }
    // SAFETY: the system call itself, on the descriptor given.
    unsafe { libc::syscall(libc::SYS_fsync, fd) as libc::c_int }
}

/// A sale whose total tells it apart: `n` cents plus one euro.
fn sale_of(n: i64) -> SaleInput {
    simple_sale("SKU-1", 1, 100 + n, 550)
}

/// The files of the journal at `path` as a crash would leave them (the database and its WAL;
/// the shared-memory index is rebuilt from the WAL by the first process to open it), copied to
/// `into`. Returns the copy's path.
fn crash_copy(path: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let copy = into.join("journal.db");
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", path.display());
        if Path::new(&from).exists() {
            let status = std::process::Command::new("cp")
                .arg(&from)
                .arg(format!("{}{suffix}", copy.display()))
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
    copy
}

/// The totals of the sales stored in the journal at `path`, in ticket order, after checking
/// that it verifies intact.
fn stored_sale_totals(path: &Path) -> Vec<i64> {
    let (_, findings) = verify_full(path);
    assert!(findings.is_empty(), "{}: {findings:?}", path.display());
    let reader = JournalReader::open(path).unwrap();
    reader
        .records_of_kind(Kind::Sale)
        .unwrap()
        .iter()
        .map(|r| match Body::decode(Kind::Sale, &r.body) {
            Ok(Body::Sale(s)) => s.total.0,
            other => panic!("seq {}: {other:?}", r.seq),
        })
        .collect()
}

/// The `journal_write_failed` events stored in the journal at `path`.
fn write_failed_events(path: &Path) -> Vec<pos_core::body::EventBody> {
    let reader = JournalReader::open(path).unwrap();
    reader
        .records_of_kind(Kind::Event)
        .unwrap()
        .iter()
        .filter_map(|r| match Body::decode(Kind::Event, &r.body) {
            Ok(Body::Event(e)) if e.code == "journal_write_failed" => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failed_flush_is_settled_at_once_and_its_refused_record_never_comes_back() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (path, _clock, journal) = journal_on_manual_clock(dir.path());
    for n in 0..3 {
        journal.sale(&sale_of(n)).unwrap();
    }

    // The next flush fails: the sale is refused, and says why.
    WAL_FLUSHES_TO_FAIL.store(1, Ordering::SeqCst);
    let refused = journal.sale(&sale_of(3)).unwrap_err();
    assert_eq!(WAL_FLUSHES_TO_FAIL.load(Ordering::SeqCst), 0);
    let message = refused.to_string();
    assert!(
        matches!(refused, JournalError::Storage(_)) && message.contains("flushing to disk failed"),
        "{message}"
    );

    // The process dies now: the refused sale is not in what it leaves, which tells of it.
    let copy = crash_copy(&path, &dir.path().join("crash"));
    assert_eq!(stored_sale_totals(&copy), [100, 101, 102]);
    let told = write_failed_events(&copy);
    assert_eq!(told.len(), 1, "the incident is told at once");
    assert_eq!(told[0].details["records_refused"], "1");
    assert_eq!(told[0].details["commits_refused"], "1");
    assert!(told[0].details["error"].contains("flushing to disk failed"));

    // Or it goes on: the next sale takes the next ticket number, and the incident is told once.
    let next = journal.sale(&sale_of(4)).unwrap();
    assert_eq!(next.kind_seq, 4);
    assert_eq!(journal.write_failure(), None);
    assert!(!journal.needs_reopen());
    journal.close();
    assert_eq!(stored_sale_totals(&path), [100, 101, 102, 104]);
    assert_eq!(write_failed_events(&path).len(), 1);
}

#[test]
fn when_a_failed_flush_cannot_be_settled_the_outcome_is_unknown_and_nothing_more_is_written() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) = journal_on_manual_clock(dir.path());
    for n in 0..3 {
        journal.sale(&sale_of(n)).unwrap();
    }

    // The disk fails every flush: neither the sale nor the journal's own commit that would
    // settle it can be made durable.
    WAL_FLUSHES_TO_FAIL.store(ALWAYS, Ordering::SeqCst);
    let unknown = journal.sale(&sale_of(3)).unwrap_err();
    assert!(
        matches!(unknown, JournalError::OutcomeUnknown { .. }),
        "{unknown}"
    );
    let message = unknown.to_string();
    assert!(
        message.contains("flushing to disk failed") && message.contains("open the journal again"),
        "{message}"
    );

    // Nothing more is attempted, even once the disk flushes again: what is in the file is known
    // only once it is reopened.
    let flushes = WAL_FLUSHES.load(Ordering::SeqCst);
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let wal_before = std::fs::read(&wal).unwrap();
    WAL_FLUSHES_TO_FAIL.store(0, Ordering::SeqCst);
    for n in 4..6 {
        let e = journal.sale(&sale_of(n)).unwrap_err();
        assert!(matches!(e, JournalError::OutcomeUnknown { .. }), "{e}");
    }
    let e = journal.close_period(Period::Day).unwrap_err();
    assert!(matches!(e, JournalError::OutcomeUnknown { .. }), "{e}");
    assert_eq!(WAL_FLUSHES.load(Ordering::SeqCst), flushes);
    assert_eq!(std::fs::read(&wal).unwrap(), wal_before);
    assert!(journal
        .write_failure()
        .is_some_and(|f| f.contains("open the journal again")));
    assert!(journal.needs_reopen());

    // A crash now leaves an intact journal, with every acknowledged sale; whether the sale of
    // unknown outcome is in it is for the file to say.
    let copy = crash_copy(&path, &dir.path().join("crash"));
    let after_crash = stored_sale_totals(&copy);
    assert!(
        after_crash == [100, 101, 102] || after_crash == [100, 101, 102, 103],
        "{after_crash:?}"
    );
    let reopened = Journal::open(&copy, journal_key(), manual_options(&clock)).unwrap();
    reopened.sale(&sale_of(6)).unwrap();
    reopened.close();
    assert_eq!(*stored_sale_totals(&copy).last().unwrap(), 106);

    // Reopened in place, the journal goes on from what the file holds.
    journal.close();
    let journal = Journal::open(&path, journal_key(), manual_options(&clock)).unwrap();
    let next = journal.sale(&sale_of(7)).unwrap();
    journal.close();
    let stored = stored_sale_totals(&path);
    assert_eq!(&stored[..3], [100, 101, 102]);
    assert_eq!(*stored.last().unwrap(), 107);
    assert_eq!(next.kind_seq, stored.len() as u64);
}

#[test]
fn a_refused_group_commit_is_not_in_what_a_crash_right_after_the_refusal_leaves() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (path, _clock, journal) = journal_on_manual_clock(dir.path());
    journal.sale(&sale_of(0)).unwrap();
    let refused: Mutex<Vec<(i64, PathBuf)>> = Mutex::new(Vec::new());
    let committed: Mutex<Vec<i64>> = Mutex::new(Vec::new());

    // Six tills at once, so that whole batches fail together, while a WAL flush fails now and
    // then. A till told of a refusal stands for a crash at once: the files are copied then.
    const THREADS: i64 = 6;
    const SALES: i64 = 60;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (journal, refused, committed) = (&journal, &refused, &committed);
            let (path, dir) = (&path, dir.path());
            s.spawn(move || {
                for n in 0..SALES {
                    let total = 100 + 1000 * (t + 1) + n;
                    match journal.sale(&sale_of(total - 100)) {
                        Ok(_) => committed.lock().unwrap().push(total),
                        Err(JournalError::Storage(m)) => {
                            assert!(m.contains("flushing to disk failed"), "{m}");
                            let copy = crash_copy(path, &dir.join(format!("crash-{total}")));
                            refused.lock().unwrap().push((total, copy));
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        s.spawn(|| {
            for _ in 0..12 {
                WAL_FLUSHES_TO_FAIL.store(1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(15));
            }
            WAL_FLUSHES_TO_FAIL.store(0, Ordering::SeqCst);
        });
    });
    WAL_FLUSHES_TO_FAIL.store(0, Ordering::SeqCst);
    assert!(!journal.needs_reopen(), "every failed flush was settled");
    journal.close();

    let refused = refused.into_inner().unwrap();
    let committed = committed.into_inner().unwrap();
    assert!(!refused.is_empty(), "some flushes failed");
    for (total, copy) in &refused {
        assert!(
            !stored_sale_totals(copy).contains(total),
            "{}: the sale of {total} came back after its till was told it was refused",
            copy.display()
        );
    }
    // The journal holds exactly the committed sales, and tells of every refused one.
    let mut stored = stored_sale_totals(&path);
    let mut expected: Vec<i64> = committed.iter().copied().chain([100]).collect();
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected);
    let told: u64 = write_failed_events(&path)
        .iter()
        .map(|e| e.details["records_refused"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(told, refused.len() as u64);
}

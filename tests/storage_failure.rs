//! Failure to journal is loud. When the file system refuses the journal's writes (a full disk),
//! every caller whose record was in a failed commit gets an error, nothing of that record is in
//! the file, the journal's running totals do not count it, and once the writes are accepted
//! again the journal goes on from the last committed record, numbers and chain unbroken.
//!
//! The writes are refused through the process's file-size limit (`RLIMIT_FSIZE`): a write past
//! it fails with `EFBIG`, as a write to a full disk fails with `ENOSPC`, on a real file system and
//! without privileges. The limit holds for the whole process, so this file has a single test.

mod common;

use common::*;
use pos_core::closure::Period;
use pos_core::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Appending threads while writes are refused, so that whole group commits fail.
const THREADS: usize = 6;

/// Failed appends to see before writes are accepted again.
const FAILURES: usize = 40;

/// Sets the soft file-size limit (the hard limit stays, so the limit can be lifted again).
fn limit_file_size(bytes: Option<u64>) {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut current), 0);
        let wanted = libc::rlimit {
            rlim_cur: bytes.map_or(current.rlim_max, |b| b as libc::rlim_t),
            rlim_max: current.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &wanted), 0);
    }
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// A sale whose total tells it apart: `n` cents plus one euro.
fn sale_of(n: i64) -> SaleInput {
    simple_sale(&format!("SKU-{}", n % 50), 1, 100 + n, 550)
}

#[test]
fn a_refused_write_fails_its_callers_leaves_nothing_and_the_journal_goes_on_once_writes_return() {
    // A write past the limit raises SIGXFSZ, which would end the process: ignored, the write
    // fails with EFBIG instead.
    // SAFETY: setting a signal's disposition to "ignore" installs no handler.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) = journal_on_manual_clock(dir.path());

    // Committed sales by seq, with their total; and every refusal's message.
    let committed: Mutex<BTreeMap<u64, (Appended, i64)>> = Mutex::new(BTreeMap::new());
    let refusals: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let keep = |result: Result<Appended, JournalError>, total: i64| match result {
        Ok(a) => {
            let previous = committed.lock().unwrap().insert(a.seq, (a, total));
            assert!(previous.is_none(), "a seq was given twice");
            true
        }
        Err(e) => {
            refusals.lock().unwrap().push(e.to_string());
            false
        }
    };

    for n in 0..20 {
        assert!(keep(journal.sale(&sale_of(n)), 100 + n));
    }

    // The disk fills: no file of the journal may grow more than a few pages past its size now.
    let wal = dir.path().join("journal.db-wal");
    let limit = file_len(&path).max(file_len(&wal)) + 64 * 1024;
    limit_file_size(Some(limit));
    // One caller alone (each record its own commit), until a few appends fail...
    let mut n = 100;
    while refusals.lock().unwrap().len() < 5 {
        keep(journal.sale(&sale_of(n)), 100 + n);
        n += 1;
    }
    // ...then several at once (records refused together in one commit).
    let full = AtomicBool::new(true);
    std::thread::scope(|s| {
        for t in 0..THREADS as i64 {
            let (journal, keep, refusals, full) = (&journal, &keep, &refusals, &full);
            s.spawn(move || {
                let mut n = 1000 * (t + 1);
                while full.load(Ordering::Relaxed) {
                    keep(journal.sale(&sale_of(n)), 100 + n);
                    n += 1;
                    if refusals.lock().unwrap().len() >= FAILURES {
                        full.store(false, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // The night passes with the disk still full: the next attempts must close the day first,
    // and are refused with the closure.
    clock.set(T0_MS + 24 * 3600 * 1000);
    for n in 0..3 {
        assert!(!keep(journal.sale(&sale_of(n)), 100 + n));
    }
    let refused = refusals.lock().unwrap().clone();
    assert!(refused.len() >= FAILURES);
    for message in &refused {
        assert!(
            message.starts_with("journal storage error: disk I/O error")
                && message.contains("is the disk full?")
                && message.matches("storage error").count() == 1,
            "a refused write is reported as a storage error, with its likely cause: {message}"
        );
    }
    let committed_while_full = committed.lock().unwrap().len();
    assert!(journal
        .write_failure()
        .is_some_and(|f| f.contains("is the disk full?")));

    // Space returns the next morning, but the clock is first found ten years ahead: the sale
    // is refused for the clock, and the event telling of the outage is not written either (it
    // would date the journal as far ahead).
    limit_file_size(None);
    let wal_before = std::fs::read(&wal).unwrap();
    let db_before = std::fs::read(&path).unwrap();
    clock.set(T0_MS + 3654 * 24 * 3600 * 1000);
    assert!(matches!(
        journal.sale(&sale_of(7)),
        Err(JournalError::ClockAhead(_))
    ));
    assert!(
        std::fs::read(&wal).unwrap() == wal_before && std::fs::read(&path).unwrap() == db_before
    );
    clock.set(T0_MS + 24 * 3600 * 1000);

    // The manager's Z closes the day of the outage: the event telling of it waits for the
    // first sale (a day it opened would be the day the Z closed).
    let z = journal.close_period(Period::Day).unwrap();
    let closures: Vec<_> = z
        .iter()
        .filter_map(|a| match pos_core::body::Body::decode(a.kind, &a.body) {
            Ok(pos_core::body::Body::Closure(c)) => Some(c),
            _ => None,
        })
        .collect();
    let periods: Vec<_> = closures.iter().map(|c| (&c.start, c.automatic)).collect();
    assert_eq!(
        closures.len(),
        1,
        "closures (start, automatic): {periods:?}"
    );
    assert_eq!(
        (closures[0].start.as_str(), closures[0].end.as_str()),
        ("2026-03-02", "2026-03-02")
    );
    assert!(!closures[0].automatic);
    assert_eq!(journal.write_failure(), None, "a commit went through");
    for n in 0..50 {
        assert!(
            keep(journal.sale(&sale_of(10_000 + n)), 10_100 + n),
            "an append after writes returned failed: {:?}",
            refusals.lock().unwrap().last()
        );
    }
    let committed = committed.into_inner().unwrap();
    assert!(committed.len() > committed_while_full);

    // The journal's running totals (the closed day and the open one) count the committed sales
    // and nothing else.
    let expected_total: i64 = committed.values().map(|(_, total)| total).sum();
    let report = journal.x_report().unwrap();
    assert_eq!(report.month.sales, committed.len() as u64);
    assert_eq!(report.month.total, Cents(expected_total));
    assert_eq!(report.day.sales, 50);
    journal.close();

    // The file holds exactly the committed sales, numbered without a gap, and verifies intact.
    let (summary, findings) = verify_full(&path);
    assert!(findings.is_empty(), "findings: {findings:?}");
    let reader = JournalReader::open(&path).unwrap();
    let stored = reader.records_of_kind(Kind::Sale).unwrap();
    assert_eq!(stored.len(), committed.len());
    for (number, record) in stored.iter().enumerate() {
        assert_eq!(record.kind_seq, number as u64 + 1);
        let (appended, _) = &committed[&record.seq];
        assert_eq!(record.hash, appended.hash);
        assert_eq!(record.body, appended.body);
    }
    assert_eq!(summary.last_seq, Some(reader.last_seq().unwrap()));
    let from_file = reader.x_report().unwrap();
    assert_eq!(from_file.day, report.day);

    // The first sale after the writes returned came after the Z of the day of the outage and
    // the event telling of the refused commits.
    let events = reader.records_of_kind(Kind::Event).unwrap();
    let told: Vec<_> = events
        .iter()
        .filter_map(
            |r| match pos_core::body::Body::decode(Kind::Event, &r.body) {
                Ok(pos_core::body::Body::Event(e)) if e.code == "journal_write_failed" => {
                    Some((r, e))
                }
                _ => None,
            },
        )
        .collect();
    assert_eq!(told.len(), 1, "one event for the whole incident");
    let (record, event) = &told[0];
    let first_after = stored
        .iter()
        .find(|r| committed[&r.seq].1 == 10_100)
        .expect("the first sale after the writes returned");
    assert_eq!(record.seq + 1, first_after.seq);
    let kind_at = |seq: u64| reader.record(seq).unwrap().unwrap().unwrap().kind;
    assert_eq!(
        [kind_at(record.seq - 2), kind_at(record.seq - 1)],
        ["closure", "event"],
        "the Z and its closure_written event come first"
    );
    assert_eq!(
        event.details["records_refused"],
        refused.len().to_string(),
        "every refused sale is counted, once (not the closures sealed again in each attempt)"
    );
    let commits: usize = event.details["commits_refused"].parse().unwrap();
    assert!((5..=refused.len()).contains(&commits), "{commits} commits");
    let first: i64 = event.details["first_failure_ms"].parse().unwrap();
    let last: i64 = event.details["last_failure_ms"].parse().unwrap();
    assert!(first <= last && last <= record.timestamp_ms);
    assert!(event.details["error"].contains("is the disk full?"));

    // And it opens for writing again.
    let journal = Journal::open(&path, journal_key(), manual_options(&clock)).unwrap();
    journal.sale(&sale_of(99_999)).unwrap();
}

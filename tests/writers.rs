//! One writer per journal file, any number of readers: a second writer (same process or
//! another) gets the locked error naming the file; readers opened while appends go on see a
//! consistent prefix of the chain; concurrent appenders get distinct, gapless numbers.

mod common;

use common::*;
use pos_core::journal::JournalError;
use pos_core::prelude::*;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn new_journal(dir: &Path) -> (std::path::PathBuf, Journal) {
    let path = dir.join("journal.db");
    let key = journal_key();
    key.save(&key_path_of(&path)).unwrap();
    let journal = Journal::create(&path, key, sample_opening(), JournalOptions::default()).unwrap();
    (path, journal)
}

fn assert_locked(result: Result<Journal, JournalError>, path: &Path) {
    match result {
        Err(e @ JournalError::Locked { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "the error names the file: {msg}"
            );
            assert!(msg.contains("locked"), "{msg}");
        }
        Err(e) => panic!("expected the locked error, got {e}"),
        Ok(_) => panic!("a second writer opened {}", path.display()),
    }
}

#[test]
fn a_second_writer_in_the_same_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    journal.event("software_started", "first writer").unwrap();

    assert_locked(
        Journal::open(&path, journal_key(), JournalOptions::default()),
        &path,
    );
    // Creating over it is refused for the same reason (before any file check).
    assert_locked(
        Journal::create(
            &path,
            journal_key(),
            sample_opening(),
            JournalOptions::default(),
        ),
        &path,
    );
    // The refusals changed nothing and the first writer goes on.
    let a = journal.event("software_stopped", "first writer").unwrap();
    // Seq 1 is the opening, 2 its `journal_opened` event, 3 the first event above.
    assert_eq!(a.seq, 4);
    journal.close();

    // Once the writer is closed, the file can be opened again.
    let again = Journal::open(&path, journal_key(), JournalOptions::default()).unwrap();
    assert_eq!(again.event("software_started", "second").unwrap().seq, 5);
    again.close();
    assert!(verify_full(&path).1.is_empty());
}

#[test]
fn a_second_writer_in_another_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());

    // This process writes: the other process's open must fail and say which file is locked.
    let out = Command::new(fill_journal_bin())
        .arg("--db")
        .arg(&path)
        .args(["--tickets", "5", "--print-acks"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second writer ran: {err}");
    assert!(out.stdout.is_empty(), "the second writer appended");
    assert!(err.contains("locked by another writer"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    journal.close();
    // The opening and its `journal_opened` event, nothing else.
    assert_eq!(verify_full(&path).0.records, 2);

    // The other process writes: this process's open must fail.
    let mut child = Command::new(fill_journal_bin())
        .arg("--db")
        .arg(&path)
        .args(["--tickets", "100000", "--print-acks"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acks = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    acks.read_line(&mut first).unwrap();
    // The child appends after the two records of the creation (and any closure it writes first).
    let first: u64 = first.trim().parse().unwrap();
    assert!(first >= 3, "the child appends");
    assert_locked(
        Journal::open(&path, journal_key(), JournalOptions::default()),
        &path,
    );
    // Readers are not writers: they open while the child appends.
    let reader = JournalReader::open(&path).unwrap();
    assert!(reader.last_seq().unwrap() >= 2);
    child.kill().unwrap();
    child.wait().unwrap();
    // A killed writer's lock goes with it.
    Journal::open(&path, journal_key(), JournalOptions::default())
        .unwrap()
        .close();
}

#[test]
fn readers_see_a_consistent_prefix_while_threads_append() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let journal = Arc::new(journal);
    let done = Arc::new(AtomicBool::new(false));
    const THREADS: usize = 4;
    const SALES: usize = 150;
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                let mut generator = pos_workspace::TicketGenerator::new(t as u64);
                for _ in 0..SALES {
                    journal.sale(&generator.sale()).unwrap();
                }
            })
        })
        .collect();
    let watcher = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    // The sales, the opening and its `journal_opened` event.
    let total = (THREADS * SALES + 2) as u64;
    let mut snapshots = Vec::new();
    let mut cli_runs = 0;
    while !done.load(Ordering::SeqCst) {
        // A snapshot taken mid-append: every record in it checks out, seqs run from 1 with no
        // gap, and it never shrinks.
        let reader = JournalReader::open(&path).unwrap();
        let mut sink = CollectFindings::default();
        let summary = verify_journal(&reader, &VerifyOptions::default(), &mut sink).unwrap();
        assert!(sink.findings.is_empty(), "{:#?}", sink.findings);
        assert_eq!(summary.first_seq, Some(1));
        assert_eq!(summary.last_seq, Some(summary.records));
        assert!(snapshots.last().is_none_or(|&n| n <= summary.records));
        snapshots.push(summary.records);

        // The CLI is a reader too.
        if !done.load(Ordering::SeqCst) {
            let out = Command::new(pos_journal_bin())
                .args(["verify", "--json"])
                .arg(&path)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["intact"], true);
            let n = doc["summary"]["records"].as_u64().unwrap();
            assert_eq!(doc["summary"]["last_seq"].as_u64(), Some(n));
            cli_runs += 1;
        }
    }
    watcher.join().unwrap();
    let mid: Vec<_> = snapshots.iter().filter(|&&n| n < total).collect();
    assert!(
        !mid.is_empty() && cli_runs > 0,
        "no reader ran while the writers appended: {snapshots:?}"
    );
    Arc::try_unwrap(journal).unwrap().close();
    let (summary, findings) = verify_full(&path);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(summary.records, total);
}

#[test]
fn concurrent_appenders_get_distinct_gapless_numbers() {
    appenders_get_distinct_gapless_numbers(16, 200);
}

/// As many appenders as a batch holds records in the group-commit benchmark: batches are
/// sealed while the one before them commits, and every record must still come back durable,
/// in its caller's order, on an intact chain.
#[test]
fn sixty_four_appenders_get_distinct_gapless_numbers() {
    appenders_get_distinct_gapless_numbers(64, 60);
}

fn appenders_get_distinct_gapless_numbers(appenders: usize, sales: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let journal = Arc::new(journal);
    let threads: Vec<_> = (0..appenders)
        .map(|t| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                (0..sales)
                    .map(|i| {
                        let sale = simple_sale("CAFE", 1 + (i % 3) as i64, 180 + t as i64, 1000);
                        journal.sale(&sale).unwrap()
                    })
                    .collect::<Vec<Appended>>()
            })
        })
        .collect();
    let results: Vec<Vec<Appended>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    Arc::try_unwrap(journal).unwrap().close();

    let n = (appenders * sales) as u64;
    let mut seqs = BTreeSet::new();
    let mut tickets = BTreeSet::new();
    for per_thread in &results {
        // One caller's appends are sequential, so its records are in its order.
        assert!(per_thread.windows(2).all(|w| w[0].seq < w[1].seq));
        for a in per_thread {
            assert!(seqs.insert(a.seq), "seq {} given twice", a.seq);
            assert!(
                tickets.insert(a.kind_seq),
                "ticket {} given twice",
                a.kind_seq
            );
        }
    }
    // After the opening (seq 1) and its `journal_opened` event (seq 2).
    assert_eq!(
        seqs,
        (3..=n + 2).collect(),
        "seqs 3..={} without gap",
        n + 2
    );
    assert_eq!(tickets, (1..=n).collect(), "tickets 1..={n} without gap");

    // Each caller got back the record that was stored under its seq.
    let reader = JournalReader::open(&path).unwrap();
    for a in results.iter().flatten() {
        let r = reader.record(a.seq).unwrap().unwrap().unwrap();
        assert_eq!((r.hash, r.kind_seq, &r.body), (a.hash, a.kind_seq, &a.body));
    }
    let (summary, findings) = verify_full(&path);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(summary.records, n + 2);
    assert_eq!(summary.counts.get("sale"), Some(&n));
}

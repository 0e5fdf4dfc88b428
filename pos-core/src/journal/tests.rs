//! Tests of the writer and its leading callers: appends from rayon workers, many callers at once.

use super::*;
use crate::prelude::*;
use std::time::Duration;

use crate::sample::sample_sale as sale;

/// Verifies the whole file; returns how many records it holds.
fn verify_intact(path: &Path) -> u64 {
    let mut findings = CollectFindings::default();
    let reader = JournalReader::open(path).unwrap();
    let summary = verify_journal(&reader, &VerifyOptions::default(), &mut findings).unwrap();
    assert!(findings.findings.is_empty(), "{:?}", findings.findings);
    summary.records
}

fn new_journal(dir: &Path) -> (PathBuf, Journal) {
    let path = dir.join("journal.db");
    let options = JournalOptions::default();
    let journal = Journal::create(&path, KeyPair::generate(), sample_opening(), options).unwrap();
    (path, journal)
}

#[test]
fn appends_from_every_worker_of_the_global_rayon_pool_complete() {
    use rayon::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let journal = Arc::new(journal);
    let (done, finished) = std::sync::mpsc::channel();
    let appender = Arc::clone(&journal);
    // Every worker of the global pool blocks on its own append at once: the batches they form
    // must be signed on other threads. A deadlock shows as a timeout, not a hung test run.
    std::thread::spawn(move || {
        (0..400i64)
            .into_par_iter()
            .for_each(|i| drop(appender.sale(&sale(1 + i % 3)).unwrap()));
        drop(appender);
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(120))
        .expect("appends from rayon workers did not complete");
    Arc::try_unwrap(journal).unwrap().close();
    assert_eq!(verify_intact(&path), 402);
}

#[test]
fn new_journals_have_large_pages_and_old_ones_keep_theirs() {
    let page_size = |p: &Path| -> i64 {
        let conn = rusqlite::Connection::open(p).unwrap();
        conn.pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let key = KeyPair::generate();
    let options = JournalOptions::default;
    let journal = Journal::create(&path, key.clone(), sample_opening(), options()).unwrap();
    journal.sale(&sale(2)).unwrap();
    journal.close();
    assert_eq!(page_size(&path), crate::store::PAGE_SIZE);

    // The same journal rewritten with SQLite's default 4 KiB pages, as files made before the
    // larger pages are: it opens, takes appends, keeps its page size and verifies intact.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM;")
        .unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    drop(conn);
    assert_eq!(page_size(&path), 4096);
    let journal = Journal::open(&path, key, options()).unwrap();
    journal.sale(&sale(3)).unwrap();
    journal.close();
    assert_eq!(page_size(&path), 4096);
    assert_eq!(verify_intact(&path), 4);
}

/// Many callers at once, appends mixed with reports, anchors and a closure: every call is
/// answered, the records have distinct, gapless numbers, and the journal verifies.
#[test]
fn callers_at_once_are_all_served_in_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let journal = Arc::new(journal);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..40i64 {
                    match (t + i) % 10 {
                        0 => drop(journal.x_report().unwrap()),
                        1 => drop(journal.write_anchor().unwrap()),
                        _ => seqs.push(journal.sale(&sale(1 + i % 3)).unwrap().seq),
                    }
                }
                seqs
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let sales = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), sales, "two sales got the same seq");
    let closed = journal.close_period(Period::Day).unwrap();
    assert!(!closed.is_empty());
    Arc::try_unwrap(journal).unwrap().close();
    // The opening and the start event, the sales, the closure and its event.
    assert_eq!(verify_intact(&path), 2 + sales as u64 + closed.len() as u64);
}

#[test]
fn callers_beyond_the_pending_limit_wait_for_room_and_are_all_served() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    journal.max_pending = 4;
    let journal = Arc::new(journal);
    let pending = |j: &Journal| j.lock_queue().pending.len();
    // Holding the writer stalls the leader after it has taken its own request: the others
    // queue behind it, four at most, and the rest wait for room.
    let writer = journal.writer.lock().unwrap();
    let callers: Vec<_> = (0..16i64)
        .map(|i| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || journal.sale(&sale(1 + i % 3)).map(|a| a.seq))
        })
        .collect();
    let waited = std::time::Instant::now();
    while pending(&journal) < 4 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "callers did not queue"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(pending(&journal), 4, "the queue went past its limit");
    assert!(callers.iter().all(|c| !c.is_finished()));
    drop(writer);
    let mut seqs: Vec<u64> = callers
        .into_iter()
        .map(|c| c.join().unwrap().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (3..19).collect::<Vec<u64>>());
    Arc::try_unwrap(journal).unwrap().close();
    assert_eq!(verify_intact(&path), 18);
}

/// `f`'s result and the virtual-machine steps SQLite ran on the reader's connection meanwhile
/// (counted by a progress handler, in eights).
fn sqlite_steps<T>(
    reader: &mut JournalReader,
    f: impl FnOnce(&mut JournalReader) -> T,
) -> (T, u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    const EVERY: i32 = 8;
    let steps = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&steps);
    let count = move || {
        counter.fetch_add(EVERY as u64, Ordering::Relaxed);
        false
    };
    let conn = reader.connection_mut();
    conn.progress_handler(EVERY, Some(count)).unwrap();
    let out = f(reader);
    let conn = reader.connection_mut();
    conn.progress_handler(0, None::<fn() -> bool>).unwrap();
    (out, steps.load(Ordering::Relaxed))
}

/// A journal of 10,005 sales, an event, a day closure and a key change.
fn journal_of_many_sales(dir: &Path) -> (PathBuf, KeyPair) {
    let (path, journal) = new_journal(dir);
    let journal = Arc::new(journal);
    std::thread::scope(|s| {
        for t in 0..10i64 {
            let journal = Arc::clone(&journal);
            s.spawn(move || {
                for i in 0..1000i64 {
                    journal.sale(&sale(1 + (t + i) % 3)).unwrap();
                }
            });
        }
    });
    for i in 0..5 {
        journal.sale(&sale(1 + i % 3)).unwrap();
    }
    journal
        .event(crate::events::PRINTER_FAILURE, "paper out")
        .unwrap();
    journal.close_period(Period::Day).unwrap();
    let new_key = KeyPair::generate();
    journal.rotate_key(new_key.clone(), "scheduled").unwrap();
    Arc::try_unwrap(journal).unwrap().close();
    (path, new_key)
}

/// Opening a journal and looking records up by kind or ticket number read a bounded part of
/// it: sales, the bulk of a journal, are not in the kind index (one page less in every sale's
/// commit), so a query that forgot to repeat that index's terms would scan every record.
#[test]
fn lookups_by_kind_and_ticket_number_do_not_scan_the_sales() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = journal_of_many_sales(dir.path());
    let mut reader = JournalReader::open(&path).unwrap();
    let (_, full_scan) = sqlite_steps(&mut reader, |r| {
        let sql = "SELECT SUM(length(body)) FROM records";
        let conn = r.connection_mut();
        conn.query_row(sql, [], |row| row.get::<_, i64>(0)).unwrap()
    });
    let bounded = |what: &str, steps: u64| {
        assert!(
            steps * 8 < full_scan,
            "{what}: {steps} SQLite steps, a full scan takes {full_scan}"
        )
    };

    // What opening a journal reads.
    let ((opening, key_id), steps) = sqlite_steps(&mut reader, |r| {
        recovery::load_identity(r.connection_mut()).unwrap()
    });
    bounded("identity", steps);
    assert_eq!(key_id, key.id());
    let (head, steps) = sqlite_steps(&mut reader, |r| {
        recovery::load_head(r.connection_mut(), std::sync::Arc::new(key.clone())).unwrap()
    });
    bounded("head", steps);
    let last_sale: (i64, Vec<u8>) = reader
        .connection_mut()
        .query_row(
            "SELECT kind_seq, hash FROM records WHERE kind = 'sale' ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let (number, hash) = head.kinds[&Kind::Sale];
    assert_eq!((number as i64, hash.to_vec()), last_sale);
    assert_eq!(number, 10_005);
    assert_eq!(head.kinds[&Kind::KeyChange].0, 1);
    let (_, steps) = sqlite_steps(&mut reader, |r| {
        recovery::load_rates(r.connection_mut(), &opening).unwrap()
    });
    bounded("rates", steps);
    let (_, steps) = sqlite_steps(&mut reader, |r| {
        recovery::load_closures(r.connection_mut(), &opening, &crate::rules::France).unwrap()
    });
    bounded("closures", steps);

    // Sales by number, against a scan.
    let by_scan = |n: u64| -> Option<u64> {
        let plain = rusqlite::Connection::open(&path).unwrap();
        let sql = "SELECT seq FROM records WHERE kind = 'sale' AND kind_seq = ?1";
        let seq = plain.query_row(sql, [n as i64], |r| r.get::<_, i64>(0));
        seq.ok().map(|s| s as u64)
    };
    let numbers = [
        0,
        1,
        2,
        255,
        256,
        257,
        511,
        512,
        9_983,
        10_000,
        10_005,
        10_006,
        u64::MAX,
    ];
    for n in numbers {
        let (found, steps) = sqlite_steps(&mut reader, |r| r.sale_by_number(n).unwrap());
        bounded(&format!("ticket {n}"), steps);
        assert_eq!(found.as_ref().map(|r| r.seq), by_scan(n), "ticket {n}");
        if let Some(r) = found {
            assert_eq!((r.kind.as_str(), r.kind_seq), ("sale", n));
        }
    }

    // The other lookups by kind.
    let (changes, steps) = sqlite_steps(&mut reader, |r| r.records_of_kind(Kind::KeyChange));
    bounded("key changes", steps);
    assert_eq!(changes.unwrap().len(), 1);
    let code = crate::events::PRINTER_FAILURE;
    let (event, steps) = sqlite_steps(&mut reader, |r| r.last_event(code).unwrap());
    bounded("last event", steps);
    assert_eq!(event.unwrap().code, code);
    let last = reader.last_seq().unwrap();
    let (_, steps) = sqlite_steps(&mut reader, |r| r.context_seqs(last).unwrap());
    bounded("context of the last record", steps);
    let (sales, steps) = sqlite_steps(&mut reader, |r| r.records_of_kind(Kind::Sale).unwrap());
    assert_eq!(sales.len(), 10_005);
    assert!(
        steps >= full_scan / 2,
        "every sale was read ({steps} steps)"
    );
    drop(reader);

    // It reopens for writing.
    Journal::open(&path, key, JournalOptions::default())
        .unwrap()
        .close();
    verify_intact(&path);
}

/// A journal made when every record was in the kind index is read as it is, and gets this
/// version's indexes once opened for writing with its key (not before: a refused open changes
/// nothing).
#[test]
fn journals_with_the_former_kind_index_get_the_new_indexes_when_opened_for_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let key = KeyPair::generate();
    let journal = Journal::create(
        &path,
        key.clone(),
        sample_opening(),
        JournalOptions::default(),
    )
    .unwrap();
    for i in 0..300 {
        journal.sale(&sale(1 + i % 3)).unwrap();
    }
    journal.close();
    let indexes = || -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.map(Result::unwrap).collect()
    };
    let current = indexes();
    let former = "CREATE INDEX records_by_kind ON records (kind, kind_seq)";
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "DROP INDEX records_by_kind; DROP INDEX sales_marked; {former};"
        ))
        .unwrap();
    let before = indexes();
    assert!(before.contains(&("records_by_kind".into(), former.into())));

    let reader = JournalReader::open(&path).unwrap();
    assert_eq!(reader.sale_by_number(299).unwrap().unwrap().kind_seq, 299);
    assert_eq!(reader.records_of_kind(Kind::Opening).unwrap().len(), 1);
    drop(reader);

    let refused = Journal::open(&path, KeyPair::generate(), JournalOptions::default());
    assert!(matches!(refused, Err(JournalError::KeyMismatch { .. })));
    assert_eq!(indexes(), before);

    let journal = Journal::open(&path, key, JournalOptions::default()).unwrap();
    assert_eq!(journal.sale(&sale(2)).unwrap().kind_seq, 301);
    journal.close();
    assert_eq!(indexes(), current);
    assert!(current.contains(&("records_by_kind".into(), crate::store::KIND_INDEX.into())));
    assert!(current.contains(&("sales_marked".into(), crate::store::SALE_MARK_INDEX.into())));
    assert_eq!(verify_intact(&path), 303);
}

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

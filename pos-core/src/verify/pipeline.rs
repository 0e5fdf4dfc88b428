//! The pipeline: reader threads fetch chunks of records while the pool checks each record on
//! its own and the calling thread checks the previous chunk in order.

use super::findings::{Finding, FindingSink, Item, Lookup, Problem, Summary, VerifyOptions};
use super::prepare::{prepare, Pre};
use super::rules::Verifier;
use crate::reader::{JournalReader, ReadError};
use crate::record::{Hash, Record};
use std::ops::ControlFlow;

/// Records fetched and checked together.
pub const CHUNK_RECORDS: usize = 4096;
/// Reader threads, each fetching every other chunk. A third one for chain-only verifications
/// (where the readers are the whole cost) was measured: faster alone in 18 of 23 interleaved
/// pairs (about 3 % at the median), not inside the benchmark run (5 pairs, 2 % slower at the
/// median), for 6 MB more. Within the noise, so two.
const READERS: u64 = 2;

/// Feeds a verifier chunk after chunk, checking each chunk's records on their own (hashes,
/// bodies, signatures: the rayon pool) while the calling thread checks the previous chunk in
/// order. The in-order phase is about a seventh of the work; run after the parallel phases,
/// it left a core idle.
pub(crate) struct Overlapped {
    held: Option<(Vec<Item>, Vec<Pre>)>,
}

impl Overlapped {
    /// Nothing held yet.
    pub(crate) fn new() -> Overlapped {
        Overlapped { held: None }
    }

    /// Starts on `chunk` and checks the chunk held before it in order. On return, every
    /// record before `chunk` has been reported; `chunk` is held until the next call.
    /// `hashes` are the items' hashes when the reader computed them (else empty); `beside`
    /// runs on the pool at the same time (an archive's next lines are parsed there). The
    /// caller may itself be a pool worker: it helps with the pool's jobs while it waits, so
    /// nothing it waits for may block outside the pool.
    pub(crate) fn feed(
        &mut self,
        verifier: &mut Verifier,
        chunk: Vec<Item>,
        hashes: Vec<Option<Hash>>,
        beside: impl FnOnce() + Send,
        lookup: &dyn Lookup,
        sink: &mut dyn FindingSink,
    ) {
        let keys = verifier.assign_keys(&chunk);
        let bodies = verifier.options.bodies;
        let held = self.held.take();
        let mut pre = Vec::new();
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| beside());
            scope.spawn(|_| pre = prepare(&chunk, &hashes, keys, bodies));
            if let Some((items, pre)) = held {
                verifier.check_in_order(&items, pre, lookup, sink);
                // Freed on the pool: the records were allocated by other threads, and freeing
                // them here would lengthen the in-order path.
                rayon::spawn(move || drop(items));
            }
        });
        self.held = Some((chunk, pre));
    }

    /// Checks the chunk still held in order.
    pub(crate) fn flush(
        &mut self,
        verifier: &mut Verifier,
        lookup: &dyn Lookup,
        sink: &mut dyn FindingSink,
    ) {
        if let Some((items, pre)) = self.held.take() {
            verifier.check_in_order(&items, pre, lookup, sink);
        }
    }
}

/// Verifies the journal file at `path`, streaming. Returns `Err` only when the file cannot be
/// read at all; problems in its content are findings.
pub fn verify_journal(
    reader: &JournalReader,
    options: &VerifyOptions,
    sink: &mut dyn FindingSink,
) -> Result<Summary, ReadError> {
    verify_in_chunks(reader, options, sink, CHUNK_RECORDS)
}

/// [`verify_journal`] with chunks of `chunk_records` records.
fn verify_in_chunks(
    reader: &JournalReader,
    options: &VerifyOptions,
    sink: &mut dyn FindingSink,
    chunk_records: usize,
) -> Result<Summary, ReadError> {
    let last = reader.last_seq()?;
    let start = match options.tail {
        Some(n) if n < last => last - n + 1,
        _ => 1,
    };
    let mut verifier = if start > 1 {
        Verifier::resume(options.clone(), &context_before(reader, start)?)
    } else {
        Verifier::new(options.clone())
    };
    let total = last.saturating_sub(start) + 1;
    let path = reader.path().to_path_buf();
    // `READERS` reader threads, each on its own connection and snapshot, read chunks (ranges
    // of seqs) in turn: one SQLite reader cannot keep up with the chain check. Records are
    // never changed once written, so snapshots taken a moment apart agree on every seq up to
    // `last`; only the last range, read by one thread, reaches past it. Chain only: the
    // readers hash each record from SQLite's row buffer (beside the SQLite work they do
    // anyway) and keep no body.
    let hash_only = !options.bodies && !options.signatures;
    let span = chunk_records.max(1) as u64;
    let ranges = total.div_ceil(span).max(1);
    let range = |k: u64| {
        let from = start + k * span;
        let to = (k + 1 < ranges).then(|| from + span);
        (from, to)
    };
    std::thread::scope(|scope| -> Result<(), ReadError> {
        let mut receivers = Vec::new();
        let mut producers = Vec::new();
        for parity in 0..READERS {
            // A rendezvous channel: each reader holds at most the chunk it is building or
            // handing over.
            let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Item>, Vec<Option<Hash>>)>(0);
            let path = &path;
            let producer = scope.spawn(move || -> Result<(), ReadError> {
                let stream = JournalReader::open(path)?;
                let mine = (parity..ranges).step_by(READERS as usize).map(range);
                let mut chunk = Vec::with_capacity(span as usize);
                let mut hashes = Vec::new();
                // One message per range, empty ones included, so that the consumer can take
                // them from the readers in turn.
                stream.for_each_in_ranges(mine, hash_only, |item| match item {
                    Some((item, hash)) => {
                        chunk.push(item);
                        if hash_only {
                            hashes.push(hash);
                        }
                        ControlFlow::Continue(())
                    }
                    None => {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(span as usize));
                        match tx.send((full, std::mem::take(&mut hashes))) {
                            Ok(()) => ControlFlow::Continue(()),
                            Err(_) => ControlFlow::Break(()),
                        }
                    }
                })?;
                Ok(())
            });
            receivers.push(rx);
            producers.push(producer);
        }
        let mut done = 0u64;
        let mut overlapped = Overlapped::new();
        // Each reader's chunk is checked as it comes (not joined to the other's: that moved
        // every record once more).
        for k in 0..ranges {
            let Ok((chunk, hashes)) = receivers[(k % READERS) as usize].recv() else {
                break;
            };
            if chunk.is_empty() {
                continue;
            }
            let n = chunk.len() as u64;
            overlapped.feed(&mut verifier, chunk, hashes, || {}, reader, sink);
            done += n;
            sink.progress(done, total);
        }
        overlapped.flush(&mut verifier, reader, sink);

        drop(receivers);
        let mut result = Ok(());
        for producer in producers {
            let r = producer.join().unwrap_or_else(|_| {
                Err(ReadError::Storage {
                    path: reader.path().to_path_buf(),
                    reason: "reader thread panicked".into(),
                })
            });
            if result.is_ok() {
                result = r;
            }
        }
        result
    })?;
    let mut summary = verifier.finish_with(sink);
    if summary.records == 0 {
        summary.findings += 1;
        sink.finding(Finding {
            seq: 0,
            kind: String::new(),
            kind_seq: 0,
            timestamp_ms: 0,
            problem: Problem::BadOpening,
            detail: "the journal holds no record".into(),
        });
    }
    Ok(summary)
}

/// The records a tail verification needs from before `start`: the opening, the key changes, and
/// the last record of each kind (which includes the record just before `start`).
fn context_before(reader: &JournalReader, start: u64) -> Result<Vec<Record>, ReadError> {
    let mut seqs = reader.context_seqs(start)?;
    seqs.sort_unstable();
    seqs.dedup();
    let mut out = Vec::with_capacity(seqs.len());
    for s in seqs {
        if let Some(Ok(r)) = reader.record(s)? {
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod chunk_tests {
    use super::super::prepare::{balanced_batch, SIGNATURE_BATCH};
    use super::*;
    use crate::prelude::*;

    #[test]
    fn signature_batches_are_shared_evenly_and_never_too_large() {
        for threads in 1..=8 {
            for jobs in (0..5000).step_by(7) {
                let size = balanced_batch(jobs, threads);
                let batches = jobs.div_ceil(size);
                assert!(
                    size <= SIGNATURE_BATCH.max(1),
                    "{jobs} on {threads}: {size}"
                );
                // As many batches for each thread (when there are enough signatures to share).
                if jobs >= 64 * threads {
                    assert!(
                        batches % threads == 0,
                        "{jobs} on {threads}: {batches} batches of {size}"
                    );
                }
            }
        }
        assert_eq!(balanced_batch(2400, 2), 1200);
        assert_eq!(balanced_batch(4096, 2), 2048);
        assert_eq!(balanced_batch(5000, 2), 1250);
    }

    use crate::sample::sample_sale as sale;

    /// Findings of a full check, or of a chain-only one.
    fn findings_in(
        path: &std::path::Path,
        tail: Option<u64>,
        chunk: usize,
        chain_only: bool,
    ) -> (u64, Vec<String>) {
        let reader = JournalReader::open(path).unwrap();
        let options = VerifyOptions {
            tail,
            bodies: !chain_only,
            signatures: !chain_only,
            ..VerifyOptions::default()
        };
        let mut sink = CollectFindings::default();
        let summary = verify_in_chunks(&reader, &options, &mut sink, chunk).unwrap();
        let found = sink.findings.iter().map(|f| f.to_string()).collect();
        (summary.records, found)
    }

    /// The readers split the journal into ranges of seqs read by their connections in turn:
    /// any chunk size, gaps and damage included, finds exactly what one chunk finds, in a full
    /// check and chain only (where the readers also hash the records).
    #[test]
    fn chunks_read_by_several_readers_find_the_same_as_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let options = JournalOptions::default();
        let journal = Journal::create(&path, KeyPair::generate(), sample_opening(), options);
        let journal = journal.unwrap();
        let sold: Vec<_> = (0..40)
            .map(|i| journal.sale(&sale(1 + i % 4)).unwrap())
            .collect();
        let refund = crate::sample::sample_refund_one_piece();
        journal.refund(sold[3].seq, &refund).unwrap();
        journal.close();
        for chain_only in [false, true] {
            let intact = findings_in(&path, None, CHUNK_RECORDS, chain_only);
            assert_eq!(intact, (43, vec![]));
            for chunk in [1, 2, 3, 7, 42, 43, 44] {
                let found = findings_in(&path, None, chunk, chain_only);
                assert_eq!(found, intact, "chunk {chunk}, chain only {chain_only}");
            }
        }

        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;
             DELETE FROM records WHERE seq IN (17, 18, 30);
             UPDATE records SET timestamp_ms = timestamp_ms + 1 WHERE seq = 25;",
        )
        .unwrap();
        drop(conn);
        for chain_only in [false, true] {
            let damaged = findings_in(&path, None, CHUNK_RECORDS, chain_only);
            assert!(damaged.1.len() >= 3, "{damaged:?}");
            for chunk in [1, 2, 3, 5, 16, 17, 40] {
                let found = findings_in(&path, None, chunk, chain_only);
                assert_eq!(found, damaged, "chunk {chunk}, chain only {chain_only}");
            }
            let tail = findings_in(&path, Some(12), CHUNK_RECORDS, chain_only);
            for chunk in [1, 3, 4] {
                let found = findings_in(&path, Some(12), chunk, chain_only);
                assert_eq!(found, tail, "tail, chunk {chunk}, chain only {chain_only}");
            }
        }
    }
}

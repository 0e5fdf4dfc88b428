//! Concurrent appenders: batches are sealed while the previous one commits, yet the chain stays
//! strict, every append gets its own place, and refunds racing for one ticket cannot take more
//! than it holds.

use pos_core::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

use pos_core::sample::{sample_refund_one_piece as refund_one_piece, sample_sale as sale};

#[test]
fn concurrent_appends_and_racing_refunds_keep_the_chain_strict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = Journal::create(
        &path,
        KeyPair::generate(),
        sample_opening(),
        JournalOptions::default(),
    )
    .unwrap();
    // A ticket of three pieces that many threads try to refund piece by piece at once.
    let contested = journal.sale(&sale(3)).unwrap();
    let refunded = AtomicU64::new(0);
    let seqs = std::sync::Mutex::new(vec![contested.seq]);
    std::thread::scope(|s| {
        for t in 0..24 {
            let (journal, refunded, seqs) = (&journal, &refunded, &seqs);
            s.spawn(move || {
                for i in 0..20 {
                    let appended = if t % 3 == 0 && i % 4 == 0 {
                        match journal.refund(contested.seq, &refund_one_piece()) {
                            Ok(a) => {
                                refunded.fetch_add(1, Ordering::Relaxed);
                                a
                            }
                            Err(JournalError::Ticket(_)) => continue,
                            Err(e) => panic!("unexpected refusal: {e}"),
                        }
                    } else {
                        journal.sale(&sale(1 + (i % 3))).unwrap()
                    };
                    seqs.lock().unwrap().push(appended.seq);
                }
            });
        }
    });
    journal.close();
    assert_eq!(refunded.load(Ordering::Relaxed), 3);

    // Every append that returned has its own sequence number, and they leave no gap (the
    // journal's own records, written before the contested sale, come first).
    let mut seqs = seqs.into_inner().unwrap();
    seqs.sort_unstable();
    let expected: Vec<u64> = (contested.seq..contested.seq + seqs.len() as u64).collect();
    assert_eq!(seqs, expected);

    let mut findings = CollectFindings::default();
    let summary = verify_journal(
        &JournalReader::open(&path).unwrap(),
        &VerifyOptions::default(),
        &mut findings,
    )
    .unwrap();
    assert!(findings.findings.is_empty(), "{:?}", findings.findings);
    assert_eq!(summary.last_seq, seqs.last().copied());
    assert_eq!(summary.counts.get("refund"), Some(&3));
}

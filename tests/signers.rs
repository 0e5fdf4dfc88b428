//! The journal signs through the `Signer` seam: ECDSA P-256 end to end (sales, closures, an
//! archive, the verifier, receipt strings), key changes between algorithms in one journal, a
//! device that takes 100 ms a signature and signs one message at a time, and one that fails
//! (the commit is refused, nothing is written, an event tells of it once it signs again).

mod common;

use common::*;
use pos_core::archive::{export_archive, verify_archives, ArchiveInput, ArchiveSelection};
use pos_core::body::{Body, EventBody};
use pos_core::closure::Period;
use pos_core::journal::JournalError;
use pos_core::keys::{
    Algorithm, FailingSigner, KeyPair, PublicKey, SignError, SignatureBytes, Signer, SlowSigner,
};
use pos_core::prelude::*;
use pos_core::receipt::{verify_receipt, ReceiptError};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

fn p256_key(seed: u8) -> KeyPair {
    KeyPair::from_secret(Algorithm::EcdsaP256Sha256, [seed; 32]).unwrap()
}

fn verify_archive_file(path: &Path, trusted: Vec<PublicKey>) -> Vec<Finding> {
    let mut sink = CollectFindings::default();
    verify_archives(
        &[ArchiveInput {
            path: path.to_path_buf(),
        }],
        &VerifyOptions {
            trusted_keys: trusted,
            ..VerifyOptions::default()
        },
        &mut sink,
    )
    .unwrap();
    sink.findings
}

/// The events of a journal with `code`, in order.
fn events_with(path: &Path, code: &str) -> Vec<EventBody> {
    let reader = JournalReader::open(path).unwrap();
    reader
        .records_of_kind(Kind::Event)
        .unwrap()
        .into_iter()
        .filter_map(|r| match Body::decode(Kind::Event, &r.body) {
            Ok(Body::Event(e)) if e.code == code => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn a_p256_journal_sells_closes_archives_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let clock = Arc::new(pos_workspace::ManualClock::new(T0_MS));
    let key = p256_key(0x31);
    let journal =
        Journal::create(&path, key.clone(), sample_opening(), manual_options(&clock)).unwrap();
    assert_eq!(journal.opening().key.algorithm, Algorithm::EcdsaP256Sha256);
    let sale = journal.sale(&simple_sale("BAG", 2, 130, 550)).unwrap();
    journal.refund(sale.seq, &simple_refund(0, 1, 130)).unwrap();
    journal.duplicate(sale.seq, "alice", "copie").unwrap();
    let code = journal.receipt_code(&sale).unwrap();
    clock.set(T0_MS + 10 * HOUR_MS);
    journal.close_period(Period::Day).unwrap();
    // Another day, then the next month: March closes automatically.
    clock.set(T0_MS + DAY_MS);
    journal.sale(&simple_sale("CRO", 3, 125, 550)).unwrap();
    clock.set(T0_MS + 31 * DAY_MS);
    journal.sale(&simple_sale("CAFE", 1, 180, 1000)).unwrap();
    drop(journal);

    let (summary, findings) = verify_full(&path);
    assert_eq!(findings, vec![]);
    assert_eq!(summary.signatures_checked, summary.records);
    assert!(summary.counts["closure"] >= 3, "{:?}", summary.counts);

    // The receipt string verifies with the P-256 key only, and not once altered.
    let fields = verify_receipt(&code, &key.verifying_key()).unwrap();
    assert_eq!((fields.seq, fields.total_cents), (sale.seq, 260));
    assert_eq!(
        verify_receipt(&code, &p256_key(0x32).verifying_key()),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        verify_receipt(&code.replace("*260*", "*250*"), &key.verifying_key()),
        Err(ReceiptError::BadSignature)
    );

    // March's archive: its manifest is signed with P-256, and it verifies with the key trusted.
    let archive = dir.path().join("2026-03.zip");
    let reader = JournalReader::open(&path).unwrap();
    let selection = ArchiveSelection::Month {
        year: 2026,
        month: 3,
    };
    let (manifest, _) = export_archive(&reader, &key, &selection, &archive).unwrap();
    assert_eq!(manifest.manifest_key.algorithm, Algorithm::EcdsaP256Sha256);
    assert_eq!(
        verify_archive_file(&archive, vec![key.verifying_key()]),
        vec![]
    );
    let others = verify_archive_file(&archive, vec![p256_key(0x33).verifying_key()]);
    assert!(
        others.iter().any(|f| f.problem == Problem::BadOpening),
        "{others:?}"
    );
}

#[test]
fn a_p256_signature_altered_in_the_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = Journal::create(
        &path,
        p256_key(0x41),
        sample_opening(),
        JournalOptions::default(),
    )
    .unwrap();
    let sale = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    journal.sale(&simple_sale("BAG", 2, 130, 550)).unwrap();
    drop(journal);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update;")
        .unwrap();
    // The same signature with s replaced by n - s is also valid ECDSA: flip a bit instead.
    let mut signature: Vec<u8> = conn
        .query_row(
            "SELECT signature FROM records WHERE seq = ?1",
            [sale.seq as i64],
            |r| r.get(0),
        )
        .unwrap();
    signature[40] ^= 0x01;
    conn.execute(
        "UPDATE records SET signature = ?1 WHERE seq = ?2",
        rusqlite::params![signature, sale.seq as i64],
    )
    .unwrap();
    drop(conn);
    let (_, findings) = verify_full(&path);
    assert_eq!(
        seq_problems(&findings),
        vec![(sale.seq, Problem::BadSignature)]
    );
}

#[test]
fn keys_change_from_ed25519_to_p256_and_back_in_one_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) = journal_on_manual_clock(dir.path());
    let opening_key = journal_key();
    let p256 = p256_key(0x51);
    let back = other_key();
    journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    journal.rotate_key(p256.clone(), "certification").unwrap();
    let signed_p256 = journal.sale(&simple_sale("BAG", 2, 130, 550)).unwrap();
    let p256_code = journal.receipt_code(&signed_p256).unwrap();
    clock.set(T0_MS + HOUR_MS);
    journal.rotate_key(back.clone(), "back to Ed25519").unwrap();
    let last = journal.sale(&simple_sale("BAG", 3, 130, 550)).unwrap();
    let ed_code = journal.receipt_code(&last).unwrap();
    drop(journal);

    let reader = JournalReader::open(&path).unwrap();
    let by_seq = |seq| reader.record(seq).unwrap().unwrap().unwrap();
    assert_eq!(by_seq(signed_p256.seq).key_id, p256.id());
    assert_eq!(by_seq(last.seq).key_id, back.id());
    assert_eq!(
        reader.current_public_key().unwrap(),
        Some(back.verifying_key())
    );
    let (summary, findings) = verify_full(&path);
    assert_eq!(findings, vec![]);
    assert_eq!(summary.signatures_checked, summary.records);
    // With the opening key trusted the whole chain of keys is accepted; with another it is not.
    let trusted = |keys: Vec<PublicKey>| {
        let mut sink = CollectFindings::default();
        let options = VerifyOptions {
            trusted_keys: keys,
            ..VerifyOptions::default()
        };
        verify_journal(&reader, &options, &mut sink).unwrap();
        sink.findings
    };
    assert_eq!(trusted(vec![opening_key.verifying_key()]), vec![]);
    assert!(!trusted(vec![p256.verifying_key()]).is_empty());
    assert!(verify_receipt(&p256_code, &p256.verifying_key()).is_ok());
    assert!(verify_receipt(&ed_code, &back.verifying_key()).is_ok());

    // An archive across both changes verifies; reopening the journal needs the last key.
    let archive = dir.path().join("all.zip");
    let selection = ArchiveSelection::Range {
        from: 1,
        to: last.seq,
    };
    export_archive(&reader, &back, &selection, &archive).unwrap();
    // Its manifest is signed by the third key: trusted through the opening key, whose chain of
    // key changes leads to it; given alone, the third key is not enough (the opening's is not).
    let keys = vec![opening_key.verifying_key(), back.verifying_key()];
    assert_eq!(verify_archive_file(&archive, keys), vec![]);
    assert_eq!(
        verify_archive_file(&archive, vec![opening_key.verifying_key()]),
        vec![]
    );
    let alone = verify_archive_file(&archive, vec![back.verifying_key()]);
    assert!(
        alone.iter().any(|f| f.problem == Problem::BadOpening),
        "{alone:#?}"
    );
    assert!(matches!(
        Journal::open(&path, p256, JournalOptions::default()),
        Err(JournalError::KeyMismatch { .. })
    ));
    Journal::open(&path, back, JournalOptions::default()).unwrap();
}

/// A signer that counts how many signatures are being made at once.
#[derive(Debug)]
struct Probe<S> {
    inner: S,
    now: AtomicUsize,
    most: AtomicUsize,
    made: AtomicUsize,
}

impl<S: Signer> Signer for Probe<S> {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }
    fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let result = self.inner.sign(message);
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.made.fetch_add(1, Ordering::SeqCst);
        result
    }
}

#[test]
fn a_slow_device_signs_every_record_of_concurrent_sales_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    // The probe sits outside the device: the device's own lock would hide overlapping calls.
    let probe = Arc::new(Probe {
        inner: SlowSigner::new(p256_key(0x61), Duration::from_millis(100)),
        now: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        made: AtomicUsize::new(0),
    });
    let journal = Arc::new(
        Journal::create(
            &path,
            probe.clone(),
            sample_opening(),
            JournalOptions::default(),
        )
        .unwrap(),
    );
    let tills = 6;
    let start = Arc::new(Barrier::new(tills));
    let handles: Vec<_> = (0..tills)
        .map(|i| {
            let (journal, start) = (journal.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                journal
                    .sale(&simple_sale("BAG", i as i64 + 1, 130, 550))
                    .unwrap()
                    .seq
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), tills);
    drop(journal);
    assert_eq!(probe.most.load(Ordering::SeqCst), 1, "signed two at once");
    // The opening, its event and the six sales.
    assert_eq!(probe.made.load(Ordering::SeqCst), 2 + tills);
    let (summary, findings) = verify_full(&path);
    assert_eq!((summary.records, findings), (2 + tills as u64, vec![]));
}

#[test]
fn a_failing_device_refuses_commits_whole_and_sales_resume_when_it_signs_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let clock = Arc::new(pos_workspace::ManualClock::new(T0_MS));
    let device = Arc::new(FailingSigner::new(p256_key(0x71)));
    let journal = Arc::new(
        Journal::create(
            &path,
            device.clone(),
            sample_opening(),
            manual_options(&clock),
        )
        .unwrap(),
    );
    let first = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    let before = journal.last_seq();

    device.set_failing(true);
    assert!(matches!(
        journal.receipt_code(&first),
        Err(JournalError::Signer(_))
    ));
    // The next day: the day closure due before the sale is refused with it.
    clock.set(T0_MS + DAY_MS);
    let refused = journal.sale(&simple_sale("BAG", 2, 130, 550));
    assert!(
        matches!(
            refused,
            Err(JournalError::Signer(SignError::Unavailable(_)))
        ),
        "{refused:?}"
    );
    // Several tills at once: every caller of the batch is refused.
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let journal = journal.clone();
            std::thread::spawn(move || journal.sale(&simple_sale("CRO", i + 1, 125, 550)))
        })
        .collect();
    for h in handles {
        assert!(matches!(h.join().unwrap(), Err(JournalError::Signer(_))));
    }
    assert_eq!(
        journal.last_seq(),
        before,
        "a refused commit wrote something"
    );
    assert_eq!(
        JournalReader::open(&path).unwrap().last_seq().unwrap(),
        before
    );
    let failure = journal.write_failure().expect("the refusal is told");
    assert!(failure.contains("sign"), "{failure}");

    device.set_failing(false);
    let resumed = journal.sale(&simple_sale("BAG", 3, 130, 550)).unwrap();
    assert!(journal.write_failure().is_none());
    drop(journal);

    let told = events_with(&path, pos_core::events::SIGNING_FAILED);
    assert_eq!(told.len(), 1, "{told:?}");
    let refused: u64 = told[0].details["records_refused"].parse().unwrap();
    assert_eq!(refused, 1 + 4);
    // The day closure, its event and the event telling of the refusal come before the sale.
    let reader = JournalReader::open(&path).unwrap();
    let before_sale = reader.record(resumed.seq - 1).unwrap().unwrap().unwrap();
    assert_eq!(before_sale.kind, "event");
    let (_, findings) = verify_full(&path);
    assert_eq!(findings, vec![]);
}

#[test]
fn the_command_verifies_a_p256_journal_and_its_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let key = p256_key(0x81);
    let journal = Journal::create(
        &path,
        key.clone(),
        sample_opening(),
        JournalOptions::default(),
    )
    .unwrap();
    let sale = journal.sale(&simple_sale("BAG", 2, 130, 550)).unwrap();
    let code = journal.receipt_code(&sale).unwrap();
    drop(journal);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(pos_journal_bin())
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text)
    };
    let db = path.to_str().unwrap();
    let public = dir.path().join("register.pub");
    let public = public.to_str().unwrap();
    let (status, _) = run(&["public-key", "--db", db, "--out", public]);
    assert_eq!(status, Some(0));
    let file = std::fs::read_to_string(public).unwrap();
    assert!(
        file.starts_with("pos-core ecdsa-p256-sha256 public key v1\n"),
        "{file}"
    );
    let (status, text) = run(&["verify", db, "--public-key", public]);
    assert_eq!(status, Some(0), "{text}");
    // The key given as its 130 hex digits, and a receipt string checked against the journal.
    let hex_key = hex::encode(key.verifying_key().to_bytes());
    let (status, text) = run(&[
        "verify-receipt",
        &code,
        "--public-key",
        &hex_key,
        "--journal",
        db,
    ]);
    assert_eq!(status, Some(0), "{text}");
    assert!(text.contains("Receipt    VALID"), "{text}");
    // The key is named by its id and algorithm.
    let id = key.key_id();
    assert!(
        text.contains(&format!("by key {id} (ecdsa-p256-sha256)")),
        "{text}"
    );
    let other = hex::encode(p256_key(0x82).verifying_key().to_bytes());
    let (status, text) = run(&["verify-receipt", &code, "--public-key", &other]);
    assert_eq!(status, Some(1), "{text}");
    let (status, text) = run(&["verify", db, "--public-key", &other]);
    assert_eq!(status, Some(1), "{text}");
    // `show --key` prints a ticket's receipt string: the same as the journal gave at the sale.
    let key_file = dir.path().join("register.key");
    key.save(&key_file).unwrap();
    let seq = sale.seq.to_string();
    let (status, text) = run(&[
        "show",
        db,
        "--seq",
        &seq,
        "--key",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains(&format!("receipt verification string: {code}")),
        "{text}"
    );
}

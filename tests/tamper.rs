//! Tamper matrix: someone with write access to the SQLite file drops the append-only triggers
//! and edits the journal. Each edit must be reported by the verifier with the right sequence
//! number and kind of finding, the writer must refuse to open a journal whose tail is damaged,
//! and the `pos-journal` CLI must say so with exit code 1.

mod common;

use common::*;
use pos_core::canonical::to_canonical;
use pos_core::journal::JournalError;
use pos_core::keys::KeyId;
use pos_core::prelude::*;
use pos_core::record::Record;
use pos_core::sample::FRENCH_VAT_RATES;
use pos_core::store::{row_to_record, RECORD_COLUMNS};
use pos_core::ticket::{compute_sale, SaleBody};
use pos_workspace::ManualClock;
use rusqlite::{params, Connection};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// A journal of about 60 records (sales, refunds, an event), written once per test process and
/// copied for each case.
struct Sample {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// The kind of each record, indexed by seq (index 0 unused).
    kinds: Vec<Kind>,
    /// Seqs of sales that have a refund (their neighbours' findings would include refund checks).
    refunded: BTreeSet<u64>,
}

fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (path, clock, journal) = journal_on_manual_clock(dir.path());
        // Index 0 is unused; seq 1 is the opening and seq 2 its `journal_opened` event.
        let mut kinds = vec![Kind::Opening, Kind::Opening, Kind::Event];
        let mut refunded = BTreeSet::new();
        let mut now = T0_MS;
        let mut tick = || {
            now += 1_000;
            clock.set(now);
        };
        let skus = ["BAG", "CROISSANT", "CAFE", "VIN", "JOURNAL"];
        let rates = [550, 550, 1000, 2000, 210];
        for i in 0..50usize {
            tick();
            let pieces = (i % 3) as i64 + 1;
            let price = 100 + (i as i64 * 37) % 900;
            let sale = journal
                .sale(&simple_sale(skus[i % 5], pieces, price, rates[i % 5]))
                .unwrap();
            assert_eq!(sale.seq as usize, kinds.len());
            kinds.push(Kind::Sale);
            if i % 11 == 3 {
                tick();
                let r = journal
                    .refund(sale.seq, &simple_refund(0, 1, price))
                    .unwrap();
                assert_eq!(r.seq as usize, kinds.len());
                kinds.push(Kind::Refund);
                refunded.insert(sale.seq);
            }
            if i == 25 {
                tick();
                let e = journal.event("operator_signed_in", "bruno").unwrap();
                assert_eq!(e.seq as usize, kinds.len());
                kinds.push(Kind::Event);
            }
        }
        journal.close();
        // Closing the last connection checkpoints the WAL, so the main file is the whole
        // journal and a plain copy is a faithful snapshot.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        assert!(
            !Path::new(&wal).exists() || std::fs::metadata(&wal).unwrap().len() == 0,
            "the WAL should be checkpointed after close"
        );
        Sample {
            _dir: dir,
            path,
            kinds,
            refunded,
        }
    })
}

impl Sample {
    fn last_seq(&self) -> u64 {
        (self.kinds.len() - 1) as u64
    }

    /// A seq near 17 where T-1..=T+2 are sales and T, T+1 have no refunds, so that the findings of
    /// each case are exactly the ones the edit causes.
    fn target(&self) -> u64 {
        (17..self.last_seq() - 2)
            .find(|&t| {
                (t - 1..=t + 2).all(|s| self.kinds[s as usize] == Kind::Sale)
                    && !self.refunded.contains(&t)
                    && !self.refunded.contains(&(t + 1))
            })
            .expect("a target with sale neighbours")
    }
}

/// A fresh copy of the sample journal in its own directory, opened with rusqlite, triggers
/// checked and then dropped.
struct Copy {
    _dir: tempfile::TempDir,
    path: PathBuf,
    conn: Connection,
}

fn tampered_copy() -> Copy {
    let s = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::copy(&s.path, &path).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;")
        .unwrap();
    Copy {
        _dir: dir,
        path,
        conn,
    }
}

impl Copy {
    fn record(&self, seq: u64) -> Record {
        self.conn
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM records WHERE seq = ?1"),
                [seq as i64],
                |row| Ok(row_to_record(row)),
            )
            .unwrap()
            .unwrap()
    }

    /// Rewrites every stored column of the record at `seq` from `r` (seq included).
    fn put(&self, seq: u64, r: &Record) {
        let n = self
            .conn
            .execute(
                "UPDATE records SET seq = ?1, format_version = ?2, kind = ?3, kind_seq = ?4, \
                 timestamp_ms = ?5, prev_hash = ?6, prev_kind_hash = ?7, key_id = ?8, body = ?9, \
                 hash = ?10, signature = ?11 WHERE seq = ?12",
                params![
                    r.seq as i64,
                    r.format_version,
                    r.kind,
                    r.kind_seq as i64,
                    r.timestamp_ms,
                    &r.prev_hash[..],
                    &r.prev_kind_hash[..],
                    &r.key_id.0[..],
                    r.body,
                    &r.hash[..],
                    &r.signature[..],
                    seq as i64,
                ],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Closes the connection (checkpointing) and returns the path.
    fn done(self) -> (tempfile::TempDir, PathBuf) {
        drop(self.conn);
        (self._dir, self.path)
    }
}

/// A sale body that is valid and consistent (what a careful attacker writes).
fn consistent_sale_body(sku: &str, pieces: i64, price: i64, vat: u32) -> Vec<u8> {
    let body = compute_sale(&simple_sale(sku, pieces, price, vat), &FRENCH_VAT_RATES).unwrap();
    to_canonical(&body).unwrap()
}

/// Re-seals `r` the way the writer would, with `signer`.
fn reseal(r: &mut Record, signer: &KeyPair) {
    r.hash = r.computed_hash().unwrap();
    r.signature = signer.sign_hash(&r.hash);
}

/// Runs one case: applies `edit` to a fresh copy, then checks that the verifier reports exactly
/// `expected`, that the writer refuses to open it naming the first damaged seq, and returns the
/// copy for further checks.
fn case(
    name: &str,
    edit: impl FnOnce(&Copy),
    expected: &[(u64, Problem)],
) -> (tempfile::TempDir, PathBuf) {
    let copy = tampered_copy();
    edit(&copy);
    let (dir, path) = copy.done();
    let (_, findings) = verify_full(&path);
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(
        seq_problems(&findings),
        want,
        "case {name:?}: findings were {findings:#?}"
    );
    // Chain only (the readers hash each record from SQLite's buffer and keep no body): the
    // same findings about hashes, links, numbers and time, and nothing the full check lacks.
    let chain_problems = [
        Problem::HashMismatch,
        Problem::BrokenLink,
        Problem::BrokenKindLink,
        Problem::SequenceGap,
        Problem::SequenceDuplicate,
        Problem::KindSequenceGap,
        Problem::TimestampBackwards,
    ];
    let chain = verify_chain_only(&path);
    let of_chain: Vec<_> = want
        .iter()
        .filter(|(_, p)| chain_problems.contains(p))
        .copied()
        .collect();
    let chain_found = seq_problems(&chain);
    assert!(
        chain_found.iter().all(|f| want.contains(f)),
        "case {name:?}: chain only found {chain_found:?}, the full check {want:?}"
    );
    assert_eq!(
        chain_found
            .iter()
            .filter(|(_, p)| chain_problems.contains(p))
            .copied()
            .collect::<Vec<_>>(),
        of_chain,
        "case {name:?}: chain only"
    );
    // Every case damages records within the writer's tail check (the journal is shorter than
    // TAIL_CHECK_RECORDS), so the writer must refuse it.
    match Journal::open(&path, journal_key(), JournalOptions::default()) {
        Err(JournalError::Damaged(msgs)) => {
            let first = want[0].0;
            assert!(
                msgs.iter().any(|m| m.contains(&format!("seq {first} "))),
                "case {name:?}: the refusal should name seq {first}: {msgs:?}"
            );
        }
        Err(e) => panic!("case {name:?}: expected Damaged, got {e}"),
        Ok(_) => panic!("case {name:?}: a damaged journal was opened for writing"),
    }
    (dir, path)
}

#[test]
fn untouched_journal_is_intact_and_opens() {
    let s = sample();
    let (summary, findings) = verify_full(&s.path);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(summary.records, s.last_seq());
    assert_eq!(summary.last_seq, Some(s.last_seq()));
    assert!(
        s.last_seq() >= 55,
        "the sample should hold ~60 records, has {}",
        s.last_seq()
    );
    assert_eq!(summary.signatures_checked, s.last_seq());
    // A copy opens for writing and takes a record.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::copy(&s.path, &path).unwrap();
    // The same business day as the sample, so that no automatic closure comes first.
    let clock = Arc::new(ManualClock::new(T0_MS + 3_600_000));
    let j = Journal::open(&path, journal_key(), manual_options(&clock)).unwrap();
    let a = j.event("software_started", "tamper test").unwrap();
    assert_eq!(a.seq, s.last_seq() + 1);
    j.close();
    assert!(verify_full(&path).1.is_empty());
}

#[test]
fn triggers_refuse_update_and_delete() {
    let s = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::copy(&s.path, &path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let before: Vec<u8> = conn
        .query_row("SELECT body FROM records WHERE seq = 5", [], |r| r.get(0))
        .unwrap();
    let update = conn
        .execute("UPDATE records SET timestamp_ms = 0 WHERE seq = 5", [])
        .unwrap_err()
        .to_string();
    assert!(update.contains("append-only"), "{update}");
    assert!(update.contains("UPDATE"), "{update}");
    let delete = conn
        .execute("DELETE FROM records WHERE seq = 5", [])
        .unwrap_err()
        .to_string();
    assert!(delete.contains("append-only"), "{delete}");
    assert!(delete.contains("DELETE"), "{delete}");
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count as u64, s.last_seq());
    let after: Vec<u8> = conn
        .query_row("SELECT body FROM records WHERE seq = 5", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, after);
    drop(conn);
    assert!(verify_full(&path).1.is_empty());
}

#[test]
fn replace_cannot_bypass_the_triggers() {
    // `INSERT OR REPLACE` deletes the conflicting row without firing DELETE triggers (unless
    // recursive_triggers is on): an ordinary connection must not be able to rewrite a record
    // that way either.
    let s = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::copy(&s.path, &path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let result = conn.execute(
        "INSERT OR REPLACE INTO records (seq, format_version, kind, kind_seq, timestamp_ms, \
         prev_hash, prev_kind_hash, key_id, body, hash, signature) \
         SELECT seq, format_version, kind, kind_seq, 0, prev_hash, prev_kind_hash, key_id, body, \
         hash, signature FROM records WHERE seq = 5",
        [],
    );
    let ts: i64 = conn
        .query_row("SELECT timestamp_ms FROM records WHERE seq = 5", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_ne!(ts, 0, "INSERT OR REPLACE rewrote record 5");
    let err = result.unwrap_err().to_string();
    assert!(err.contains("append-only"), "{err}");
}

#[test]
fn one_byte_of_a_body() {
    let t = sample().target();
    case(
        "one byte of a body",
        |c| {
            let mut r = c.record(t);
            // "alice" -> "blice": still canonical JSON and a consistent ticket, so only the hash
            // and the signature can tell.
            let at = r
                .body
                .windows(7)
                .position(|w| w == b"\"alice\"")
                .expect("operator in body");
            r.body[at + 1] = b'b';
            c.put(t, &r);
        },
        &[(t, Problem::HashMismatch), (t, Problem::BadSignature)],
    );
}

#[test]
fn one_byte_that_breaks_the_json() {
    let t = sample().target();
    case(
        "one byte that breaks the json",
        |c| {
            let mut r = c.record(t);
            let last = r.body.len() - 1;
            assert_eq!(r.body[last], b'}');
            r.body[last] = b' ';
            c.put(t, &r);
        },
        &[
            (t, Problem::HashMismatch),
            (t, Problem::BadSignature),
            (t, Problem::NonCanonicalBody),
        ],
    );
}

#[test]
fn an_amount_alone() {
    // A naive edit of the total: the body stays canonical JSON but no longer adds up.
    let t = sample().target();
    case(
        "total edited alone",
        |c| {
            let mut r = c.record(t);
            let mut v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let total = v["total"].as_i64().unwrap();
            v["total"] = (total - 100).into();
            r.body = to_canonical(&v).unwrap();
            c.put(t, &r);
        },
        &[
            (t, Problem::HashMismatch),
            (t, Problem::BadSignature),
            (t, Problem::TicketInconsistent),
        ],
    );
}

/// The sale at `t` rewritten as a cheaper, internally consistent ticket.
fn cheaper_body(c: &Copy, t: u64) -> Vec<u8> {
    let r = c.record(t);
    let sale: SaleBody = serde_json::from_slice(&r.body).unwrap();
    let line = &sale.lines[0];
    let body = consistent_sale_body(
        &line.sku,
        line.quantity.0 / 1000,
        line.unit_price.0 - 50,
        line.vat_rate.0,
    );
    assert_ne!(body, r.body);
    body
}

#[test]
fn an_amount_consistently() {
    // The attacker lowers the price and rewrites lines, VAT, total and payments to match: the
    // ticket is consistent, only the hash and the signature catch it.
    let t = sample().target();
    case(
        "consistent cheaper ticket",
        |c| {
            let mut r = c.record(t);
            r.body = cheaper_body(c, t);
            c.put(t, &r);
        },
        &[(t, Problem::HashMismatch), (t, Problem::BadSignature)],
    );
}

#[test]
fn an_amount_with_the_hash_recomputed() {
    // The attacker also recomputes the hash: the signature fails, and the next record's links
    // (global, and of the same kind) no longer match.
    let t = sample().target();
    case(
        "cheaper ticket, hash recomputed",
        |c| {
            let mut r = c.record(t);
            r.body = cheaper_body(c, t);
            r.hash = r.computed_hash().unwrap();
            c.put(t, &r);
        },
        &[
            (t, Problem::BadSignature),
            (t + 1, Problem::BrokenLink),
            (t + 1, Problem::BrokenKindLink),
        ],
    );
}

#[test]
fn the_last_record_with_the_hash_recomputed() {
    // On the newest record there is no later link: only the signature can tell.
    let s = sample();
    let last = s.last_seq();
    assert_eq!(s.kinds[last as usize], Kind::Sale);
    case(
        "last ticket rewritten, hash recomputed",
        |c| {
            let mut r = c.record(last);
            r.body = cheaper_body(c, last);
            r.hash = r.computed_hash().unwrap();
            c.put(last, &r);
        },
        &[(last, Problem::BadSignature)],
    );
}

#[test]
fn a_timestamp_backwards() {
    let t = sample().target();
    case(
        "timestamp an hour earlier",
        |c| {
            let mut r = c.record(t);
            r.timestamp_ms -= 3_600_000;
            c.put(t, &r);
        },
        &[
            (t, Problem::HashMismatch),
            (t, Problem::BadSignature),
            (t, Problem::TimestampBackwards),
        ],
    );
}

#[test]
fn a_timestamp_by_one_millisecond() {
    // Still in order with its neighbours: only the hash and the signature can tell.
    let t = sample().target();
    case(
        "timestamp one ms later",
        |c| {
            let mut r = c.record(t);
            r.timestamp_ms += 1;
            c.put(t, &r);
        },
        &[(t, Problem::HashMismatch), (t, Problem::BadSignature)],
    );
}

#[test]
fn a_stored_hash() {
    // The signature is checked against the recomputed hash, so it stays valid; the stored hash
    // no longer matches the content nor the next record's links.
    let t = sample().target();
    case(
        "stored hash changed",
        |c| {
            let mut r = c.record(t);
            r.hash[0] ^= 0x80;
            c.put(t, &r);
        },
        &[
            (t, Problem::HashMismatch),
            (t + 1, Problem::BrokenLink),
            (t + 1, Problem::BrokenKindLink),
        ],
    );
}

#[test]
fn a_signature_by_another_key_with_the_journal_key_id() {
    let t = sample().target();
    case(
        "signature by another key, journal key id",
        |c| {
            let mut r = c.record(t);
            reseal(&mut r, &other_key());
            c.put(t, &r);
        },
        &[(t, Problem::BadSignature)],
    );
}

#[test]
fn a_forged_ticket_signed_by_another_key_with_the_journal_key_id() {
    let t = sample().target();
    case(
        "forged ticket, another key, journal key id",
        |c| {
            let mut r = c.record(t);
            r.body = cheaper_body(c, t);
            reseal(&mut r, &other_key());
            c.put(t, &r);
        },
        &[
            (t, Problem::BadSignature),
            (t + 1, Problem::BrokenLink),
            (t + 1, Problem::BrokenKindLink),
        ],
    );
}

#[test]
fn a_signature_by_another_key_with_its_own_key_id() {
    let t = sample().target();
    case(
        "another key with its own key id",
        |c| {
            let mut r = c.record(t);
            r.key_id = other_key().id();
            reseal(&mut r, &other_key());
            c.put(t, &r);
        },
        &[
            (t, Problem::UnknownKey),
            (t + 1, Problem::BrokenLink),
            (t + 1, Problem::BrokenKindLink),
        ],
    );
}

#[test]
fn a_middle_record_deleted() {
    let t = sample().target();
    case(
        "middle record deleted",
        |c| {
            assert_eq!(
                c.conn
                    .execute("DELETE FROM records WHERE seq = ?1", [t as i64])
                    .unwrap(),
                1
            );
        },
        &[
            (t + 1, Problem::SequenceGap),
            (t + 1, Problem::BrokenLink),
            (t + 1, Problem::KindSequenceGap),
            (t + 1, Problem::BrokenKindLink),
        ],
    );
}

#[test]
fn two_records_swapped() {
    let t = sample().target();
    case(
        "records t and t+1 swapped",
        |c| {
            let a = c.record(t);
            let b = c.record(t + 1);
            c.put(
                t,
                &Record {
                    seq: 0,
                    ..a.clone()
                },
            );
            c.put(t + 1, &Record { seq: t, ..b });
            c.put(0, &Record { seq: t + 1, ..a });
        },
        &[
            // Record t+1 now stored at seq t: its seq is hashed, it links to the old t.
            (t, Problem::HashMismatch),
            (t, Problem::BadSignature),
            (t, Problem::BrokenLink),
            (t, Problem::KindSequenceGap),
            (t, Problem::BrokenKindLink),
            // Record t now at seq t+1: also dated before its predecessor.
            (t + 1, Problem::HashMismatch),
            (t + 1, Problem::BadSignature),
            (t + 1, Problem::BrokenLink),
            (t + 1, Problem::TimestampBackwards),
            (t + 1, Problem::KindSequenceGap),
            (t + 1, Problem::BrokenKindLink),
            // Record t+2 links to the old t+1, which is no longer its predecessor.
            (t + 2, Problem::BrokenLink),
            (t + 2, Problem::KindSequenceGap),
            (t + 2, Problem::BrokenKindLink),
        ],
    );
}

/// A forged sale appended after the last record, correctly linked and hashed.
fn forged_after_last(c: &Copy, key_id: KeyId, signer: &KeyPair) -> Record {
    let last_seq = sample().last_seq();
    let last = c.record(last_seq);
    assert_eq!(last.kind, "sale");
    let mut r = Record {
        format_version: 1,
        seq: last_seq + 1,
        kind: "sale".into(),
        kind_seq: last.kind_seq + 1,
        timestamp_ms: last.timestamp_ms + 1_000,
        prev_hash: last.hash,
        prev_kind_hash: last.hash,
        key_id,
        body: consistent_sale_body("VIN", 2, 895, 2000),
        hash: [0; 32],
        signature: [0; 64],
    };
    reseal(&mut r, signer);
    r
}

#[test]
fn a_forged_record_appended() {
    let n = sample().last_seq() + 1;
    case(
        "forged record appended with the journal key id",
        |c| {
            let r = forged_after_last(c, journal_key().id(), &other_key());
            pos_core::store::insert(&c.conn, &r, None).unwrap();
        },
        &[(n, Problem::BadSignature)],
    );
    case(
        "forged record appended with its own key id",
        |c| {
            let r = forged_after_last(c, other_key().id(), &other_key());
            pos_core::store::insert(&c.conn, &r, None).unwrap();
        },
        &[(n, Problem::UnknownKey)],
    );
}

#[test]
fn a_refund_placed_before_its_sale() {
    // After the last record: a refund that names the sale written after it (a copy of a sale
    // the sample refunded, with its refund's lines), both sealed with the journal key.
    let s = sample();
    let last_seq = s.last_seq();
    let original = *s.refunded.first().unwrap();
    let last_refund = (1..=last_seq)
        .rev()
        .find(|&seq| s.kinds[seq as usize] == Kind::Refund)
        .unwrap();
    let (refund_seq, sale_seq) = (last_seq + 1, last_seq + 2);
    let (_dir, path) = case(
        "refund placed before its sale",
        |c| {
            let last = c.record(last_seq);
            assert_eq!(last.kind, "sale");
            let sale = c.record(original);
            let mut refund = c.record(original + 1);
            assert_eq!(refund.kind, "refund");
            let named = format!(
                "\"original\":{{\"seq\":{original},\"ticket\":{}}}",
                sale.kind_seq
            );
            let later = format!(
                "\"original\":{{\"seq\":{sale_seq},\"ticket\":{}}}",
                last.kind_seq + 1
            );
            let body = String::from_utf8(refund.body.clone()).unwrap();
            assert!(body.contains(&named), "{body}");
            refund.body = body.replace(&named, &later).into_bytes();
            let previous_refund = c.record(last_refund);
            refund.seq = refund_seq;
            refund.kind_seq = previous_refund.kind_seq + 1;
            refund.timestamp_ms = last.timestamp_ms + 1_000;
            refund.prev_hash = last.hash;
            refund.prev_kind_hash = previous_refund.hash;
            reseal(&mut refund, &journal_key());
            let mut later_sale = sale;
            later_sale.seq = sale_seq;
            later_sale.kind_seq = last.kind_seq + 1;
            later_sale.timestamp_ms = refund.timestamp_ms + 1_000;
            later_sale.prev_hash = refund.hash;
            later_sale.prev_kind_hash = last.hash;
            reseal(&mut later_sale, &journal_key());
            pos_core::store::insert(&c.conn, &refund, Some(sale_seq)).unwrap();
            pos_core::store::insert(&c.conn, &later_sale, None).unwrap();
        },
        // One finding: the refund is checked no further (nor taken from the sale).
        &[(refund_seq, Problem::RefundInvalid)],
    );
    let (_, findings) = verify_full(&path);
    assert_eq!(
        findings[0].detail,
        format!("original seq {sale_seq} is not earlier")
    );
}

#[test]
fn a_forged_record_inserted_in_the_middle() {
    // Renumber every record after t to make room, then insert a well-linked forged sale at t+1.
    let s = sample();
    let t = s.target();
    let last = s.last_seq();
    let copy = tampered_copy();
    copy.conn
        .execute_batch(&format!(
            "UPDATE records SET seq = -(seq + 1) WHERE seq > {t};
             UPDATE records SET seq = -seq WHERE seq < 0;"
        ))
        .unwrap();
    let prev = copy.record(t);
    let mut forged = Record {
        format_version: 1,
        seq: t + 1,
        kind: "sale".into(),
        kind_seq: prev.kind_seq + 1,
        timestamp_ms: prev.timestamp_ms + 1,
        prev_hash: prev.hash,
        prev_kind_hash: prev.hash,
        key_id: journal_key().id(),
        body: consistent_sale_body("VIN", 3, 895, 2000),
        hash: [0; 32],
        signature: [0; 64],
    };
    reseal(&mut forged, &other_key());
    pos_core::store::insert(&copy.conn, &forged, None).unwrap();
    let (_dir, path) = copy.done();
    let (_, findings) = verify_full(&path);
    let found = seq_problems(&findings);
    let at = |seq: u64| -> Vec<Problem> {
        found
            .iter()
            .filter(|(s, _)| *s == seq)
            .map(|(_, p)| *p)
            .collect()
    };
    assert!(
        found.iter().all(|(s, _)| *s > t),
        "nothing before the insertion: {findings:#?}"
    );
    assert_eq!(at(t + 1), vec![Problem::BadSignature], "{findings:#?}");
    let next = at(t + 2);
    for p in [
        Problem::HashMismatch,
        Problem::BadSignature,
        Problem::BrokenLink,
        Problem::KindSequenceGap,
        Problem::BrokenKindLink,
    ] {
        assert!(next.contains(&p), "seq {}: {p:?} in {next:?}", t + 2);
    }
    // Every renumbered record's seq is hashed: each one is reported.
    for seq in t + 2..=last + 1 {
        let here = at(seq);
        assert!(
            here.contains(&Problem::HashMismatch) && here.contains(&Problem::BadSignature),
            "seq {seq}: {here:?}"
        );
    }
    assert!(matches!(
        Journal::open(&path, journal_key(), JournalOptions::default()),
        Err(JournalError::Damaged(_))
    ));
}

fn run_cli(args: &[&str], path: &Path) -> (i32, String, String) {
    let out = Command::new(pos_journal_bin())
        .args(args)
        .arg(path)
        .output()
        .expect("run pos-journal");
    (
        out.status.code().expect("pos-journal exited normally"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn cli_verify_exit_codes_and_output() {
    let s = sample();
    let t = s.target();

    let (code, out, err) = run_cli(&["verify"], &s.path);
    assert_eq!(code, 0, "untouched journal: {out}{err}");
    assert!(out.contains("INTACT"), "{out}");
    assert!(
        out.contains("CAISSE-01"),
        "the report names the register: {out}"
    );

    let (_dir, path) = case(
        "cli copy",
        |c| {
            let mut r = c.record(t);
            r.body = cheaper_body(c, t);
            c.put(t, &r);
        },
        &[(t, Problem::HashMismatch), (t, Problem::BadSignature)],
    );
    let (code, out, err) = run_cli(&["verify"], &path);
    assert_eq!(code, 1, "tampered journal: {out}{err}");
    assert!(out.contains(&format!("seq {t} ")), "names the seq: {out}");
    assert!(out.contains("2 FINDING(S)"), "{out}");

    let (code, out, err) = run_cli(&["verify", "--json"], &path);
    assert_eq!(code, 1, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(doc["intact"], false);
    let listed: Vec<(u64, String)> = doc["findings"]
        .as_array()
        .expect("a findings array")
        .iter()
        .map(|f| {
            (
                f["seq"].as_u64().unwrap(),
                f["problem"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (t, "hash_mismatch".to_string()),
            (t, "bad_signature".to_string())
        ]
    );
    assert_eq!(doc["summary"]["findings"], 2);

    let (code, out, _) = run_cli(&["verify", "--json"], &s.path);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["intact"], true);
    assert_eq!(doc["findings"].as_array().map(Vec::len), Some(0));
}

#[test]
fn cli_verify_exits_2_on_what_is_not_a_journal() {
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a journal\n".repeat(100)).unwrap();
    let (code, out, err) = run_cli(&["verify"], &text);
    assert_eq!(code, 2, "text file: {out}{err}");
    assert!(err.contains("notes.txt"), "names the file: {err}");

    let other_db = dir.path().join("other.db");
    let conn = Connection::open(&other_db).unwrap();
    conn.execute_batch(
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, body BLOB);
         INSERT INTO records VALUES (1, x'00');",
    )
    .unwrap();
    drop(conn);
    let (code, out, err) = run_cli(&["verify"], &other_db);
    assert_eq!(code, 2, "plain SQLite db: {out}{err}");
    assert!(err.contains("not a journal"), "{err}");

    let (code, out, err) = run_cli(&["verify", "--json"], &dir.path().join("missing.db"));
    assert_eq!(code, 2, "missing file: {out}{err}");
}

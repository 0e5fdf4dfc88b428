//! The journal's rules seen from outside: bad input gets a typed error and changes nothing,
//! refunds never take more than what remains (even when two race), key rotation, corrupt
//! files and key files, timestamps that never go backwards, and files moved while open.

mod common;

use common::*;
use pos_core::journal::JournalError;
use pos_core::keys::KeyError;
use pos_core::prelude::*;
use pos_core::ticket::TicketError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

fn new_journal(dir: &Path) -> (PathBuf, Journal) {
    let path = dir.join("journal.db");
    let journal = Journal::create(
        &path,
        journal_key(),
        sample_opening(),
        JournalOptions::default(),
    )
    .unwrap();
    (path, journal)
}

fn last_seq(path: &Path) -> u64 {
    JournalReader::open(path).unwrap().last_seq().unwrap()
}

/// Asserts that `result` is the ticket error `want` (compared by variant) and that nothing was
/// written.
fn refused(
    path: &Path,
    before: u64,
    result: Result<Appended, JournalError>,
    want: fn(&JournalError) -> bool,
) {
    match result {
        Err(e) if want(&e) => {}
        Err(e) => panic!("unexpected error: {e:?}"),
        Ok(a) => panic!("accepted: seq {}", a.seq),
    }
    assert_eq!(last_seq(path), before, "a refused append wrote something");
}

#[test]
fn an_invalid_sale_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let first = journal.sale(&simple_sale("BAG", 2, 130, 550)).unwrap();
    // Seq 1 is the opening, seq 2 the `journal_opened` event.
    assert_eq!((first.seq, first.kind_seq), (3, 1));
    let before = last_seq(&path);

    let empty = SaleInput {
        lines: vec![],
        ..simple_sale("BAG", 1, 130, 550)
    };
    refused(&path, before, journal.sale(&empty), |e| {
        matches!(e, JournalError::Ticket(TicketError::Empty))
    });

    let mut zero = simple_sale("BAG", 1, 130, 550);
    zero.lines[0].quantity = Qty(0);
    refused(&path, before, journal.sale(&zero), |e| {
        matches!(
            e,
            JournalError::Ticket(TicketError::BadQuantity { quantity: 0, .. })
        )
    });

    let mut negative = simple_sale("BAG", 1, 130, 550);
    negative.lines[0].quantity = Qty(-1000);
    refused(&path, before, journal.sale(&negative), |e| {
        matches!(e, JournalError::Ticket(TicketError::BadQuantity { .. }))
    });

    // 19.6 %: a former French rate, not configured in this journal.
    let unknown_rate = simple_sale("BAG", 1, 130, 1960);
    refused(&path, before, journal.sale(&unknown_rate), |e| {
        matches!(
            e,
            JournalError::Ticket(TicketError::UnknownVatRate { rate: 1960, .. })
        )
    });

    let mut short = simple_sale("BAG", 2, 130, 550);
    short.payments[0].amount = Cents(259);
    refused(&path, before, journal.sale(&short), |e| {
        matches!(
            e,
            JournalError::Ticket(TicketError::PaymentsShort {
                total: 260,
                paid: 259
            })
        )
    });

    let mut change_on_card = simple_sale("BAG", 2, 130, 550);
    change_on_card.payments = vec![Payment {
        method: PaymentMethod::Card,
        amount: Cents(500),
    }];
    refused(&path, before, journal.sale(&change_on_card), |e| {
        matches!(e, JournalError::Ticket(TicketError::ChangeOnNonCash { .. }))
    });

    let mut zero_payment = simple_sale("BAG", 2, 130, 550);
    zero_payment.payments.push(Payment {
        method: PaymentMethod::Card,
        amount: Cents(0),
    });
    refused(&path, before, journal.sale(&zero_payment), |e| {
        matches!(e, JournalError::Ticket(TicketError::BadPayment { .. }))
    });

    let mut too_many = simple_sale("BAG", 1, 1, 550);
    too_many.lines = vec![too_many.lines[0].clone(); pos_core::ticket::MAX_LINES_PER_TICKET + 1];
    refused(&path, before, journal.sale(&too_many), |e| {
        matches!(e, JournalError::Ticket(TicketError::TooManyLines { .. }))
    });

    refused(&path, before, journal.event("no_such_code", "typo"), |e| {
        matches!(e, JournalError::Invalid(_))
    });

    // No number was consumed by the refusals: the next ticket follows the first.
    let next = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    assert_eq!((next.seq, next.kind_seq), (first.seq + 1, 2));
    journal.close();
    assert!(verify_full(&path).1.is_empty());
}

#[test]
fn an_invalid_refund_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let sale = journal.sale(&simple_sale("VIN", 2, 895, 2000)).unwrap();
    let event = journal.event("operator_signed_in", "alice").unwrap();
    let before = last_seq(&path);

    refused(
        &path,
        before,
        journal.refund(sale.seq, &simple_refund(0, 3, 3 * 895)),
        |e| {
            matches!(
                e,
                JournalError::Ticket(TicketError::RefundExceedsRemaining {
                    requested: 3000,
                    remaining: 2000,
                    ..
                })
            )
        },
    );
    refused(
        &path,
        before,
        journal.refund(sale.seq, &simple_refund(1, 1, 895)),
        |e| {
            matches!(
                e,
                JournalError::Ticket(TicketError::UnknownOriginalLine { .. })
            )
        },
    );
    refused(
        &path,
        before,
        journal.refund(sale.seq, &simple_refund(0, 1, 800)),
        |e| {
            matches!(
                e,
                JournalError::Ticket(TicketError::RefundPaymentsMismatch { .. })
            )
        },
    );
    for not_a_sale in [1, event.seq] {
        refused(
            &path,
            before,
            journal.refund(not_a_sale, &simple_refund(0, 1, 895)),
            |e| matches!(e, JournalError::OriginalNotFound { .. }),
        );
    }
    refused(
        &path,
        before,
        journal.refund(9_999, &simple_refund(0, 1, 895)),
        |e| matches!(e, JournalError::OriginalNotFound { seq: 9_999 }),
    );

    // What remains can be refunded, and then nothing more.
    journal
        .refund(sale.seq, &simple_refund(0, 2, 2 * 895))
        .unwrap();
    let before = last_seq(&path);
    refused(
        &path,
        before,
        journal.refund(sale.seq, &simple_refund(0, 1, 895)),
        |e| {
            matches!(
                e,
                JournalError::Ticket(TicketError::RefundExceedsRemaining { remaining: 0, .. })
            )
        },
    );
    journal.close();
    assert!(verify_full(&path).1.is_empty());
}

#[test]
fn two_concurrent_refunds_of_the_last_unit_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let journal = Arc::new(journal);
    // Several rounds, so that the two refunds land sometimes in one commit batch and sometimes
    // in two.
    for round in 0..20 {
        let sale = journal
            .sale(&simple_sale("CROISSANT", 2, 125, 550))
            .unwrap();
        journal.refund(sale.seq, &simple_refund(0, 1, 125)).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let journal = Arc::clone(&journal);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    journal.refund(sale.seq, &simple_refund(0, 1, 125))
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(
                        e,
                        JournalError::Ticket(TicketError::RefundExceedsRemaining {
                            remaining: 0,
                            ..
                        })
                    ),
                    "round {round}: {e:?}"
                );
            }
        }
    }
    Arc::try_unwrap(journal).unwrap().close();
    // 20 sales, 20 first refunds, 20 winners: the verifier recomputes what remains.
    let (summary, findings) = verify_full(&path);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(summary.counts.get("refund"), Some(&40));
    assert_eq!(summary.refunds_total, Cents(-40 * 125));
}

#[test]
fn key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let (old, new) = (journal_key(), other_key());
    journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    let change = journal
        .rotate_key(new.clone(), "scheduled rotation")
        .unwrap();
    let after = journal.sale(&simple_sale("BAG", 2, 130, 550)).unwrap();
    journal.close();

    let reader = JournalReader::open(&path).unwrap();
    let stored = |seq| reader.record(seq).unwrap().unwrap().unwrap();
    // The change is signed by the old key and names the new one; what follows uses the new.
    let c = stored(change.seq);
    assert_eq!(c.kind, "key_change");
    assert_eq!(c.key_id, old.id());
    assert!(std::str::from_utf8(&c.body)
        .unwrap()
        .contains(&new.id().to_hex()));
    assert_eq!(stored(after.seq).key_id, new.id());
    let (_, findings) = verify_full(&path);
    assert!(findings.is_empty(), "{findings:#?}");

    match Journal::open(&path, old.clone(), JournalOptions::default()) {
        Err(JournalError::KeyMismatch { expected, given }) => {
            assert_eq!((expected, given), (new.id(), old.id()));
        }
        other => panic!("expected KeyMismatch, got {other:?}"),
    }
    let reopened = Journal::open(&path, new.clone(), JournalOptions::default()).unwrap();
    let later = reopened.sale(&simple_sale("BAG", 3, 130, 550)).unwrap();
    reopened.close();
    assert_eq!(later.seq, after.seq + 1);
    assert_eq!(
        JournalReader::open(&path)
            .unwrap()
            .record(later.seq)
            .unwrap()
            .unwrap()
            .unwrap()
            .key_id,
        new.id()
    );
    let (summary, findings) = verify_full(&path);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(summary.signatures_checked, later.seq);
}

/// Opens `path` for writing and reading; both must fail with an error (not a panic), and the
/// file must be byte-for-byte unchanged.
fn refuses_to_open(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let write = Journal::open(path, journal_key(), JournalOptions::default());
    let msg = match write {
        Err(e @ (JournalError::NotAJournal { .. } | JournalError::Damaged(_))) => e.to_string(),
        Err(e) => panic!("{}: unexpected error {e:?}", path.display()),
        Ok(_) => panic!("{} opened as a journal", path.display()),
    };
    let read = JournalReader::open(path).map(|r| {
        let mut sink = CollectFindings::default();
        let result = verify_journal(&r, &VerifyOptions::default(), &mut sink);
        (result.is_ok(), sink.findings.len())
    });
    assert!(
        !matches!(read, Ok((true, 0))),
        "{}: a corrupt file verified as intact",
        path.display()
    );
    assert_eq!(
        std::fs::read(path).unwrap(),
        bytes,
        "{}: opening a bad file changed it",
        path.display()
    );
    msg
}

#[test]
fn corrupt_files_get_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();

    let random = dir.path().join("random.db");
    let noise: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, &noise).unwrap();
    let msg = refuses_to_open(&random);
    assert!(msg.contains("random.db"), "{msg}");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let msg = refuses_to_open(&empty);
    assert!(msg.contains("not a journal"), "{msg}");

    let plain = dir.path().join("plain.db");
    let conn = rusqlite::Connection::open(&plain).unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    let msg = refuses_to_open(&plain);
    assert!(msg.contains("not a journal"), "{msg}");

    // A real journal cut in half (a bad copy, a full disk).
    let (path, journal) = new_journal(dir.path());
    for i in 0..300 {
        journal
            .sale(&simple_sale("CAFE", 1, 180 + i, 1000))
            .unwrap();
    }
    journal.close();
    let whole = std::fs::read(&path).unwrap();
    let truncated = dir.path().join("truncated.db");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let msg = refuses_to_open(&truncated);
    assert!(!msg.is_empty());

    assert!(matches!(
        Journal::open(
            &dir.path().join("missing.db"),
            journal_key(),
            JournalOptions::default()
        ),
        Err(JournalError::NotAJournal { .. })
    ));
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("journal.db.key");
    journal_key().save(&key_file).unwrap();
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
        match KeyPair::load(&key_file) {
            Err(e @ KeyError::TooOpen { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("journal.db.key"), "{msg}");
                assert!(msg.contains("chmod 600"), "{msg}");
            }
            other => panic!("mode {mode:o}: expected TooOpen, got {other:?}"),
        }
    }
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(KeyPair::load(&key_file).unwrap().id(), journal_key().id());
    // Saving never overwrites an existing key.
    assert!(other_key().save(&key_file).is_err());
    assert_eq!(KeyPair::load(&key_file).unwrap().id(), journal_key().id());
}

#[test]
fn timestamps_never_go_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) = journal_on_manual_clock(dir.path());
    clock.set(T0_MS + 60_000);
    let a = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    assert!(!a.clock_went_back);
    assert_eq!(a.timestamp_ms, T0_MS + 60_000);

    // The clock is put back an hour (a bad NTP step, a dead RTC battery).
    assert_eq!(journal.clock_behind_ms(), None);
    clock.set(T0_MS + 60_000 - 3_600_000);
    assert_eq!(journal.clock_behind_ms(), Some(3_600_000));
    let b = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    assert!(b.clock_went_back);
    assert_eq!(b.timestamp_ms, a.timestamp_ms);
    let c = journal
        .event("clock_anomaly", "clock went back an hour")
        .unwrap();
    assert!(c.clock_went_back);
    assert_eq!(c.timestamp_ms, a.timestamp_ms);

    // The same instant is not "backwards".
    clock.set(a.timestamp_ms);
    assert!(
        !journal
            .sale(&simple_sale("BAG", 1, 130, 550))
            .unwrap()
            .clock_went_back
    );
    clock.set(T0_MS + 120_000);
    let d = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    assert!(!d.clock_went_back);
    assert_eq!(d.timestamp_ms, T0_MS + 120_000);
    journal.close();

    // Reopened with a clock still behind, the journal keeps the last timestamp.
    clock.set(T0_MS);
    let journal = Journal::open(&path, journal_key(), manual_options(&clock)).unwrap();
    let e = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    assert!(e.clock_went_back);
    assert_eq!(e.timestamp_ms, d.timestamp_ms);
    journal.close();

    let (_, findings) = verify_full(&path);
    assert!(findings.is_empty(), "{findings:#?}");
    let reader = JournalReader::open(&path).unwrap();
    let mut prev = i64::MIN;
    reader
        .for_each_from(1, |r| {
            let r = r.unwrap();
            assert!(r.timestamp_ms >= prev, "seq {} goes back", r.seq);
            prev = r.timestamp_ms;
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
}

/// Appends after the writer's next check of its files is due.
fn sale_after_check(journal: &Journal) -> Result<Appended, JournalError> {
    std::thread::sleep(
        pos_core::journal::FILE_CHECK_INTERVAL + std::time::Duration::from_millis(50),
    );
    journal.sale(&simple_sale("PAIN", 1, 120, 550))
}

fn moved(result: Result<Appended, JournalError>, path: &Path) {
    match result {
        Err(JournalError::FileMoved { path: p }) => assert_eq!(p, path),
        other => panic!("expected FileMoved for {}: {other:?}", path.display()),
    }
}

#[test]
fn a_file_moved_replaced_or_deleted_while_open_stops_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let sibling = |path: &Path, suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };

    // Renamed: refused (and from then on), nothing written; the file put back, the journal
    // reopens with every record acknowledged.
    let (path, journal) = new_journal(dir.path());
    let first = journal.sale(&simple_sale("PAIN", 1, 120, 550)).unwrap();
    let elsewhere = dir.path().join("elsewhere.db");
    std::fs::rename(&path, &elsewhere).unwrap();
    moved(sale_after_check(&journal), &path);
    std::fs::rename(&elsewhere, &path).unwrap();
    moved(sale_after_check(&journal), &path);
    let message = journal
        .sale(&simple_sale("PAIN", 1, 120, 550))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("moved, replaced or deleted") && message.contains("journal.db"),
        "{message}"
    );
    assert_eq!(journal.write_failure(), Some(message));
    journal.close();
    let journal = Journal::open(&path, journal_key(), JournalOptions::default()).unwrap();
    assert_eq!(last_seq(&path), first.seq);
    let second = journal.sale(&simple_sale("PAIN", 1, 120, 550)).unwrap();
    assert_eq!(second.seq, first.seq + 1);

    // Replaced by a copy renamed over it, as sync and backup tools do.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::rename(&copy, &path).unwrap();
    moved(sale_after_check(&journal), &path);
    drop(journal);

    // The WAL or the writer lock deleted.
    for suffix in ["-wal", ".writer-lock"] {
        let dir = tempfile::tempdir().unwrap();
        let (path, journal) = new_journal(dir.path());
        journal.sale(&simple_sale("PAIN", 1, 120, 550)).unwrap();
        let file = sibling(&path, suffix);
        std::fs::remove_file(&file).unwrap();
        moved(sale_after_check(&journal), &file);
    }

    // Untouched files: appends after a check go on.
    let dir = tempfile::tempdir().unwrap();
    let (_, journal) = new_journal(dir.path());
    sale_after_check(&journal).unwrap();
    sale_after_check(&journal).unwrap();
}

/// Whether `result` is a refusal because the clock reads too far ahead.
fn clock_ahead_refusal<T: std::fmt::Debug>(result: Result<T, JournalError>) -> bool {
    match result {
        Err(JournalError::ClockAhead(ahead)) => {
            let message = JournalError::ClockAhead(ahead).to_string();
            assert!(
                message.contains("days after the journal's last record"),
                "{message}"
            );
            true
        }
        other => panic!("not refused for the clock: {other:?}"),
    }
}

#[test]
fn a_clock_far_ahead_of_the_last_record_stops_records_until_corrected_or_confirmed() {
    const DAY: i64 = 24 * 3600 * 1000;
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) = journal_on_manual_clock(dir.path());
    let first = journal.sale(&simple_sale("BAG", 2, 130, 550)).unwrap();

    // Back from a month's holiday: within the limit, sales go on (and close the days before).
    clock.set(first.timestamp_ms + 40 * DAY);
    assert_eq!(journal.clock_ahead(), None);
    let back = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();

    // Someone types the year wrong: ten years ahead. Nothing can be written, not even the
    // closures that such a date would make due, and the application can tell before a sale.
    clock.set(back.timestamp_ms + 3653 * DAY);
    let ahead = journal.clock_ahead().expect("the clock is far ahead");
    assert_eq!((ahead.last_ms, ahead.days()), (back.timestamp_ms, 3653));
    let before = last_seq(&path);
    let report = journal.x_report().unwrap();
    assert!(clock_ahead_refusal(
        journal.sale(&simple_sale("BAG", 1, 130, 550))
    ));
    assert!(clock_ahead_refusal(
        journal.refund(first.seq, &simple_refund(0, 1, 130))
    ));
    assert!(clock_ahead_refusal(
        journal.training(&simple_sale("BAG", 1, 130, 550))
    ));
    assert!(clock_ahead_refusal(journal.event("export", "an export")));
    assert!(clock_ahead_refusal(
        journal.close_period(pos_core::closure::Period::Day)
    ));
    assert_eq!(last_seq(&path), before, "a refused record wrote something");
    assert_eq!(journal.x_report().unwrap(), report);

    // The clock is corrected: sales go on, dated right, with nothing to confirm.
    clock.set(back.timestamp_ms + 5 * 60_000);
    assert_eq!(journal.clock_ahead(), None);
    let corrected = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    assert_eq!(corrected.timestamp_ms, back.timestamp_ms + 5 * 60_000);
    let nothing = journal.confirm_clock("marie");
    assert!(
        matches!(nothing, Err(JournalError::Invalid(ref m)) if m.contains("nothing to confirm")),
        "{nothing:?}"
    );

    // A seasonal shop reopens after two months: a manager confirms the date; the closures of
    // the days and month before come first, then the confirmation, then the sales.
    let reopening = corrected.timestamp_ms + 60 * DAY;
    clock.set(reopening);
    assert!(clock_ahead_refusal(
        journal.sale(&simple_sale("BAG", 1, 130, 550))
    ));
    let confirmed = journal.confirm_clock("marie").unwrap();
    assert_eq!(confirmed.timestamp_ms, reopening);
    let event = match pos_core::body::Body::decode(Kind::Event, &confirmed.body).unwrap() {
        pos_core::body::Body::Event(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(event.code, "clock_confirmed");
    assert_eq!(event.operator.as_deref(), Some("marie"));
    assert_eq!(event.details["clock_ms"], reopening.to_string());
    assert_eq!(event.details["last_ms"], corrected.timestamp_ms.to_string());
    let reader = JournalReader::open(&path).unwrap();
    let kind_at = |seq: u64| reader.record(seq).unwrap().unwrap().unwrap().kind;
    assert_eq!(
        kind_at(corrected.seq + 1),
        "closure",
        "the day closes first"
    );
    assert!((corrected.seq + 1..confirmed.seq)
        .all(|seq| ["closure", "event"].contains(&kind_at(seq).as_str())));
    let sale = journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    assert_eq!(sale.timestamp_ms, reopening);
    assert_eq!(journal.last_seq(), sale.seq);
    journal.close();
    let (_, findings) = verify_full(&path);
    assert!(findings.is_empty(), "{findings:#?}");

    // Without a limit, the journal takes any date.
    let free_dir = tempfile::tempdir().unwrap();
    let free_path = free_dir.path().join("journal.db");
    let options = JournalOptions {
        clock_ahead_limit_ms: None,
        ..manual_options(&clock)
    };
    let free = Journal::create(&free_path, journal_key(), sample_opening(), options).unwrap();
    clock.set(reopening + 3653 * DAY);
    assert_eq!(free.clock_ahead(), None);
    free.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
}

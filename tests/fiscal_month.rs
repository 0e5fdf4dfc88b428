//! A simulated month of trading with closures, checked against an independent recomputation,
//! and the closure rules: automatic closure after midnight, refusal of records in closed days,
//! and tampering with closures or closed days.

use pos_core::body::Body;
use pos_core::closure::{ClosureBody, Period, Totals};
use pos_core::journal::{JournalError, JournalOptions};
use pos_core::prelude::*;
use pos_core::record::{record_hash, Header};
use pos_core::ticket::{RefundBody, SaleBody};
use pos_core::verify::Problem;
use pos_workspace::{ManualClock, TicketGenerator};
use rand::Rng;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-03-02 00:00 Europe/Paris (23:00 UTC the day before).
const MARCH_2_MIDNIGHT_PARIS: i64 = 1_772_406_000_000;

fn local_date(ms: i64) -> String {
    use chrono::TimeZone;
    let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    chrono_tz::Europe::Paris
        .from_utc_datetime(&utc.naive_utc())
        .format("%Y-%m-%d")
        .to_string()
}

/// Totals recomputed by the test from the tickets it wrote: per rate (net, vat, gross), per
/// payment method, counts, total and absolute total.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    sales: u64,
    refunds: u64,
    vat: BTreeMap<u32, (i64, i64, i64)>,
    payments: BTreeMap<String, i64>,
    total: i64,
    absolute: i64,
}

impl Expected {
    fn sale(&mut self, s: &SaleBody) {
        self.sales += 1;
        for v in &s.vat {
            let e = self.vat.entry(v.rate.0).or_default();
            e.0 += v.net.0;
            e.1 += v.vat.0;
            e.2 += v.gross.0;
        }
        for p in &s.payments {
            *self.payments.entry(p.method.as_str().into()).or_default() += p.amount.0;
        }
        *self.payments.entry("cash".into()).or_default() -= s.change.0;
        self.total += s.total.0;
        self.absolute += s.total.0.abs();
    }

    fn refund(&mut self, r: &RefundBody) {
        self.refunds += 1;
        for v in &r.vat {
            let e = self.vat.entry(v.rate.0).or_default();
            e.0 += v.net.0;
            e.1 += v.vat.0;
            e.2 += v.gross.0;
        }
        for p in &r.payments {
            *self.payments.entry(p.method.as_str().into()).or_default() += p.amount.0;
        }
        self.total += r.total.0;
        self.absolute += r.total.0.abs();
    }

    fn add(&mut self, o: &Expected) {
        self.sales += o.sales;
        self.refunds += o.refunds;
        for (rate, (n, v, g)) in &o.vat {
            let e = self.vat.entry(*rate).or_default();
            e.0 += n;
            e.1 += v;
            e.2 += g;
        }
        for (m, a) in &o.payments {
            *self.payments.entry(m.clone()).or_default() += a;
        }
        self.total += o.total;
        self.absolute += o.absolute;
    }

    fn assert_matches(&self, t: &Totals, what: &str) {
        assert_eq!(t.sales, self.sales, "{what}: sales count");
        assert_eq!(t.refunds, self.refunds, "{what}: refunds count");
        assert_eq!(t.total.0, self.total, "{what}: total");
        assert_eq!(t.absolute_total.0, self.absolute, "{what}: absolute total");
        let vat: BTreeMap<u32, (i64, i64, i64)> = t
            .vat
            .iter()
            .map(|v| (v.rate.0, (v.net.0, v.vat.0, v.gross.0)))
            .collect();
        assert_eq!(vat, self.vat, "{what}: VAT per rate");
        let payments: BTreeMap<String, i64> = t
            .payments
            .iter()
            .map(|p| (p.method.as_str().to_string(), p.amount.0))
            .collect();
        let expected: BTreeMap<String, i64> = self
            .payments
            .iter()
            .filter(|(m, a)| **a != 0 || payments.contains_key(*m))
            .map(|(m, a)| (m.clone(), *a))
            .collect();
        assert_eq!(payments, expected, "{what}: payments per method");
    }
}

fn all_records(path: &Path) -> Vec<Record> {
    let reader = JournalReader::open(path).unwrap();
    let mut out = Vec::new();
    reader
        .for_each_from(1, |r| {
            out.push(r.unwrap());
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    out
}

fn verify(path: &Path) -> Vec<Finding> {
    let mut sink = CollectFindings::default();
    verify_journal(
        &JournalReader::open(path).unwrap(),
        &VerifyOptions::default(),
        &mut sink,
    )
    .unwrap();
    sink.findings
}

fn opening() -> OpeningBody {
    sample_opening()
}

#[test]
fn a_month_of_trading_closes_day_by_day_and_by_month() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let clock = Arc::new(ManualClock::new(MARCH_2_MIDNIGHT_PARIS + 8 * HOUR));
    let options = JournalOptions {
        clock: clock.clone(),
        ..JournalOptions::default()
    };
    let first_key = KeyPair::from_seed([3; 32]);
    let second_key = KeyPair::from_seed([4; 32]);
    let journal = Journal::create(&path, first_key, opening(), options).unwrap();
    let mut gen = TicketGenerator::new(7);

    let mut per_day: BTreeMap<String, Expected> = BTreeMap::new();
    let mut training_written = 0;
    let mut duplicates_written = 0;
    let mut clock_went_back_seen = false;

    // 2 March to 2 April: the month of March closes automatically on 1 April.
    for day in 0..32i64 {
        let opening_ms = MARCH_2_MIDNIGHT_PARIS + day * DAY + 8 * HOUR;
        let mut sales: Vec<(u64, SaleBody)> = Vec::new();
        for i in 0..15i64 {
            let mut now = opening_ms + i * 20 * 60_000;
            if day == 9 && i == 10 {
                // The system clock jumps back an hour: the record keeps the last timestamp.
                now -= 2 * HOUR;
            }
            clock.set(now);
            let a = journal.sale(&gen.sale()).unwrap();
            if a.clock_went_back {
                clock_went_back_seen = true;
            }
            let body: SaleBody = serde_json::from_slice(&a.body).unwrap();
            per_day
                .entry(local_date(a.timestamp_ms))
                .or_default()
                .sale(&body);
            sales.push((a.seq, body));
        }
        // A partial refund, a void, a duplicate and a training ticket on some days.
        if day % 3 == 0 {
            let (seq, body) = &sales[2];
            let refund = gen.refund_line(body);
            let a = journal.refund(*seq, &refund).unwrap();
            let r: RefundBody = serde_json::from_slice(&a.body).unwrap();
            per_day
                .entry(local_date(a.timestamp_ms))
                .or_default()
                .refund(&r);
        }
        if day % 4 == 1 {
            let (seq, body) = &sales[5];
            let void = RefundInput {
                operator: "manager".into(),
                reason: "erreur de saisie".into(),
                lines: (0..body.lines.len() as u32)
                    .map(|i| RefundLineInput {
                        original_line: i,
                        quantity: body.lines[i as usize].quantity,
                    })
                    .collect(),
                payments: if body.total.0 > 0 {
                    vec![Payment {
                        method: PaymentMethod::Cash,
                        amount: body.total,
                    }]
                } else {
                    vec![]
                },
                void: true,
            };
            let a = journal.refund(*seq, &void).unwrap();
            let r: RefundBody = serde_json::from_slice(&a.body).unwrap();
            assert!(r.void);
            assert_eq!(r.total.0, -body.total.0, "a void cancels the whole ticket");
            per_day
                .entry(local_date(a.timestamp_ms))
                .or_default()
                .refund(&r);
        }
        if day % 2 == 0 {
            let first = journal.duplicate(sales[0].0, "alice", "client").unwrap();
            let second = journal.duplicate(sales[0].0, "alice", "bourrage").unwrap();
            let copy = |a: &Appended| match Body::decode(Kind::Duplicate, &a.body).unwrap() {
                Body::Duplicate(d) => d.copy,
                _ => unreachable!(),
            };
            assert_eq!((copy(&first), copy(&second)), (1, 2));
            duplicates_written += 2;
        }
        if day % 5 == 0 {
            journal.training(&gen.sale()).unwrap();
            training_written += 1;
        }
        if day == 14 {
            journal
                .rotate_key(second_key.clone(), "scheduled rotation")
                .unwrap();
        }
        // Most evenings the shop closes the day itself; other days close automatically the
        // next morning.
        if gen.rng().gen_ratio(2, 3) {
            clock.set(opening_ms + 11 * HOUR);
            let written = journal.close_period(Period::Day).unwrap();
            assert_eq!(written[0].kind, Kind::Closure);
        }
    }
    assert!(clock_went_back_seen, "the clock anomaly was exercised");
    journal.close();

    // The journal verifies intact.
    let findings = verify(&path);
    assert!(findings.is_empty(), "{findings:#?}");

    // Every closure equals the test's own recomputation from the tickets.
    let records = all_records(&path);
    let mut perpetual = Expected::default();
    let mut month = Expected::default();
    let (mut days, mut months) = (0, 0);
    let mut seen_days = std::collections::BTreeSet::new();
    for r in &records {
        let Some(Kind::Closure) = r.known_kind() else {
            continue;
        };
        let Body::Closure(c) = Body::decode(Kind::Closure, &r.body).unwrap() else {
            unreachable!()
        };
        match c.period {
            Period::Day => {
                days += 1;
                let expected = per_day.get(&c.start).cloned().unwrap_or_default();
                expected.assert_matches(&c.totals, &format!("day {}", c.start));
                assert!(
                    seen_days.insert(c.start.clone()),
                    "day {} closed twice",
                    c.start
                );
                perpetual.add(&expected);
                month.add(&expected);
                assert_eq!(
                    c.perpetual_total.0, perpetual.total,
                    "perpetual at {}",
                    c.start
                );
                assert_eq!(c.perpetual_absolute_total.0, perpetual.absolute);
            }
            Period::Month => {
                months += 1;
                month.assert_matches(&c.totals, &format!("month {}", c.start));
                assert_eq!(
                    (c.start.as_str(), c.end.as_str()),
                    ("2026-03-01", "2026-03-31")
                );
                assert!(c.automatic, "March closes automatically on 1 April");
                month = Expected::default();
            }
            Period::Year => panic!("no fiscal year ends in this month"),
            Period::Week => panic!("the French rules close no week"),
        }
    }
    assert!(days >= 31, "one closure per trading day, got {days}");
    assert_eq!(months, 1);
    let kinds = |k: Kind| records.iter().filter(|r| r.kind == k.as_str()).count();
    assert_eq!(kinds(Kind::Training), training_written);
    assert_eq!(kinds(Kind::Duplicate), duplicates_written);
    assert_eq!(kinds(Kind::KeyChange), 1);
    let events: Vec<String> = records
        .iter()
        .filter(|r| r.kind == "event")
        .map(|r| match Body::decode(Kind::Event, &r.body).unwrap() {
            Body::Event(e) => e.code,
            _ => unreachable!(),
        })
        .collect();
    for code in [
        "journal_opened",
        "closure_written",
        "clock_anomaly",
        "key_rotated",
    ] {
        assert!(
            events.iter().any(|e| e == code),
            "event {code} is journaled"
        );
    }

    // The X report of the reopened journal shows the open day and the perpetual total.
    let journal = Journal::open(
        &path,
        second_key,
        JournalOptions {
            clock: clock.clone(),
            ..JournalOptions::default()
        },
    )
    .unwrap();
    // A start with another version is journaled as a version change.
    journal
        .software_started(&pos_core::body::Software {
            name: "pos-core".into(),
            version: "9.9.9".into(),
        })
        .unwrap();
    let reader = JournalReader::open(&path).unwrap();
    let change = reader
        .last_event("software_version_changed")
        .unwrap()
        .unwrap();
    assert_eq!(change.details["new"], "9.9.9");
    assert_eq!(change.details["old"], env!("CARGO_PKG_VERSION"));
    let x = journal.x_report().unwrap();
    // The open day holds the tickets after the last day closure: none when the shop closed its
    // last day itself (the part after that Z), the last day's when it was left open.
    let last_day_closed = records
        .iter()
        .filter_map(|r| match Body::decode(Kind::Closure, &r.body) {
            Ok(Body::Closure(c)) if r.kind == "closure" && c.period == Period::Day => {
                Some(c.last_seq)
            }
            _ => None,
        })
        .max()
        .unwrap();
    let open_day_total: i64 = records
        .iter()
        .filter(|r| r.seq > last_day_closed)
        .filter_map(|r| match r.known_kind().map(|k| Body::decode(k, &r.body)) {
            Some(Ok(Body::Sale(s))) if r.kind == "sale" => Some(s.total.0),
            Some(Ok(Body::Refund(f))) => Some(f.total.0),
            _ => None,
        })
        .sum();
    assert_eq!(x.day.total.0, open_day_total);
    assert_eq!(
        x.perpetual_total.0,
        per_day.values().map(|e| e.total).sum::<i64>()
    );
}

fn small_journal(dir: &Path, key: &KeyPair) -> (std::path::PathBuf, Arc<ManualClock>) {
    let path = dir.join("journal.db");
    let clock = Arc::new(ManualClock::new(MARCH_2_MIDNIGHT_PARIS + 9 * HOUR));
    let journal = Journal::create(
        &path,
        key.clone(),
        opening(),
        JournalOptions {
            clock: clock.clone(),
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let mut gen = TicketGenerator::new(11);
    for day in 0..3 {
        for i in 0..6 {
            clock.set(MARCH_2_MIDNIGHT_PARIS + day * DAY + 9 * HOUR + i * 60_000);
            journal.sale(&gen.sale()).unwrap();
        }
        clock.set(MARCH_2_MIDNIGHT_PARIS + day * DAY + 19 * HOUR);
        journal.close_period(Period::Day).unwrap();
    }
    journal.close();
    (path, clock)
}

#[test]
fn a_sale_after_midnight_closes_the_previous_day_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let clock = Arc::new(ManualClock::new(MARCH_2_MIDNIGHT_PARIS + 20 * HOUR));
    let journal = Journal::create(
        &path,
        KeyPair::from_seed([5; 32]),
        opening(),
        JournalOptions {
            clock: clock.clone(),
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let mut gen = TicketGenerator::new(1);
    let evening = journal.sale(&gen.sale()).unwrap();
    clock.set(MARCH_2_MIDNIGHT_PARIS + DAY + 5 * 60_000); // 00:05 the next day
    let after_midnight = journal.sale(&gen.sale()).unwrap();
    journal.close();

    let records = all_records(&path);
    let closure = &records[after_midnight.seq as usize - 3];
    assert_eq!(closure.kind, "closure", "the closure comes before the sale");
    let Body::Closure(c) = Body::decode(Kind::Closure, &closure.body).unwrap() else {
        unreachable!()
    };
    assert_eq!(c.period, Period::Day);
    assert_eq!(c.start, "2026-03-02");
    assert!(c.automatic);
    assert_eq!(c.last_seq, evening.seq);
    assert_eq!(c.totals.sales, 1);
    assert_eq!(records[after_midnight.seq as usize - 2].kind, "event");
    assert!(verify(&path).is_empty());
}

/// The day closures of a journal, in order.
fn day_closures(path: &Path) -> Vec<ClosureBody> {
    all_records(path)
        .iter()
        .filter_map(|r| match Body::decode(Kind::Closure, &r.body) {
            Ok(Body::Closure(c)) if r.kind == "closure" && c.period == Period::Day => Some(c),
            _ => None,
        })
        .collect()
}

/// A journal `journal.db` in `dir`, signed with `key`, on a manual clock set to `at_ms`.
fn journal_at(
    dir: &Path,
    key: KeyPair,
    at_ms: i64,
) -> (std::path::PathBuf, Arc<ManualClock>, Journal) {
    let path = dir.join("journal.db");
    let clock = Arc::new(ManualClock::new(at_ms));
    let options = JournalOptions {
        clock: clock.clone(),
        ..JournalOptions::default()
    };
    let journal = Journal::create(&path, key, opening(), options).unwrap();
    (path, clock, journal)
}

#[test]
fn a_day_closed_during_the_day_goes_on_and_a_month_closed_early_refuses_sales() {
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) = journal_at(
        dir.path(),
        KeyPair::from_seed([6; 32]),
        MARCH_2_MIDNIGHT_PARIS + 9 * HOUR,
    );
    let mut gen = TicketGenerator::new(2);
    let morning = journal.sale(&gen.sale()).unwrap();
    // A Z at the afternoon's shift change: the day goes on.
    clock.set(MARCH_2_MIDNIGHT_PARIS + 15 * HOUR);
    let z = journal.close_period(Period::Day).unwrap();
    let Body::Closure(first) = Body::decode(Kind::Closure, &z[0].body).unwrap() else {
        unreachable!()
    };
    assert!(first.continues && !first.automatic, "{first:?}");
    // A second Z right away has nothing to close, and writes nothing.
    let written = all_records(&path).len();
    let again = journal.close_period(Period::Day).unwrap_err();
    assert!(again.to_string().contains("no open day"), "{again}");
    assert_eq!(all_records(&path).len(), written);
    // The afternoon sells into another part of the same day; a refund of the morning too.
    clock.set(MARCH_2_MIDNIGHT_PARIS + 16 * HOUR);
    let afternoon = journal.sale(&gen.sale()).unwrap();
    let refund = gen.refund_line(&serde_json::from_slice(&morning.body).unwrap());
    journal.refund(morning.seq, &refund).unwrap();
    // The evening Z closes that part; the next morning sells on 3 March.
    clock.set(MARCH_2_MIDNIGHT_PARIS + 19 * HOUR);
    journal.close_period(Period::Day).unwrap();
    journal.event("software_stopped", "evening stop").unwrap();
    clock.set(MARCH_2_MIDNIGHT_PARIS + DAY + 9 * HOUR);
    journal.sale(&gen.sale()).unwrap();
    let days = day_closures(&path);
    assert_eq!(
        days.iter()
            .map(|c| (
                c.start.as_str(),
                c.totals.sales,
                c.totals.refunds,
                c.continues
            ))
            .collect::<Vec<_>>(),
        [("2026-03-02", 1, 0, true), ("2026-03-02", 1, 1, true)],
        "two parts of 2 March; the evening's events are the first records of 3 March"
    );
    // The second part starts with the first Z's own event and holds the afternoon.
    assert_eq!(days[1].first_seq, z[0].seq + 1);
    assert!(days[1].last_seq > afternoon.seq);

    // The month closed on demand on 3 March closes it whole: no more sales in March.
    clock.set(MARCH_2_MIDNIGHT_PARIS + DAY + 12 * HOUR);
    let month = journal.close_period(Period::Month).unwrap();
    let Body::Closure(m) = Body::decode(Kind::Closure, &month[1].body).unwrap() else {
        unreachable!()
    };
    assert_eq!(
        (m.period, m.totals.sales, m.totals.refunds),
        (Period::Month, 3, 1)
    );
    let mut sum = Totals::default();
    for d in day_closures(&path) {
        sum.add(&d.totals).unwrap();
    }
    assert_eq!(m.totals, sum, "the month sums every part of every day");
    let last = all_records(&path).len();
    clock.set(MARCH_2_MIDNIGHT_PARIS + DAY + 13 * HOUR);
    let err = journal.sale(&gen.sale()).unwrap_err();
    assert!(matches!(err, JournalError::Closure(_)), "{err}");
    assert!(err.to_string().contains("closed month"), "{err}");
    assert!(journal.close_period(Period::Day).is_err());
    assert_eq!(all_records(&path).len(), last, "nothing was written");
    // Technical events are still journaled, and April trades normally.
    journal.event("software_stopped", "evening stop").unwrap();
    clock.set(MARCH_2_MIDNIGHT_PARIS + 31 * DAY + 9 * HOUR);
    journal.sale(&gen.sale()).unwrap();
    journal.close();
    assert!(verify(&path).is_empty(), "{:#?}", verify(&path));
}

#[test]
fn a_z_on_the_last_evening_of_a_month_leaves_the_month_to_close_before_the_next_sale() {
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) = journal_at(
        dir.path(),
        KeyPair::from_seed([6; 32]),
        MARCH_2_MIDNIGHT_PARIS + 29 * DAY + 10 * HOUR,
    );
    let mut gen = TicketGenerator::new(4);
    journal.sale(&gen.sale()).unwrap();
    // The Z of 31 March at 19:00; the shop opens again on 2 April.
    clock.set(MARCH_2_MIDNIGHT_PARIS + 29 * DAY + 19 * HOUR);
    journal.close_period(Period::Day).unwrap();
    clock.set(MARCH_2_MIDNIGHT_PARIS + 31 * DAY + 9 * HOUR);
    journal.sale(&gen.sale()).unwrap();
    journal.close();
    let months: Vec<(String, bool)> = all_records(&path)
        .iter()
        .filter_map(|r| match Body::decode(Kind::Closure, &r.body) {
            Ok(Body::Closure(c)) if r.kind == "closure" && c.period == Period::Month => {
                Some((c.end, c.automatic))
            }
            _ => None,
        })
        .collect();
    assert_eq!(months, [("2026-03-31".to_string(), true)]);
    assert_eq!(
        day_closures(&path).len(),
        1,
        "the Z's own events close with no day of their own"
    );
    assert!(verify(&path).is_empty(), "{:#?}", verify(&path));
}

#[test]
fn a_day_of_an_earlier_month_closed_on_demand_brings_its_month_closure() {
    let dir = tempfile::tempdir().unwrap();
    // 31 March, then nothing until a Z asked for on 7 April.
    let (path, clock, journal) = journal_at(
        dir.path(),
        KeyPair::from_seed([6; 32]),
        MARCH_2_MIDNIGHT_PARIS + 29 * DAY + 9 * HOUR,
    );
    let mut gen = TicketGenerator::new(3);
    journal.sale(&gen.sale()).unwrap();
    clock.set(MARCH_2_MIDNIGHT_PARIS + 36 * DAY + 10 * HOUR);
    let written = journal.close_period(Period::Day).unwrap();
    let closures: Vec<(Period, bool, String)> = written
        .iter()
        .filter_map(|a| match Body::decode(a.kind, &a.body) {
            Ok(Body::Closure(c)) => Some((c.period, c.automatic, c.end)),
            _ => None,
        })
        .collect();
    assert_eq!(
        closures,
        [
            (Period::Day, false, "2026-03-31".to_string()),
            (Period::Month, true, "2026-03-31".to_string())
        ],
        "the month of 31 March was due before the Z's own events"
    );
    journal.sale(&gen.sale()).unwrap();
    journal.close();
    assert!(verify(&path).is_empty(), "{:#?}", verify(&path));
}

/// Drops the append-only triggers, as an attacker with the file would.
fn open_for_tampering(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;")
        .unwrap();
    conn
}

/// Recomputes links, hashes and signatures of every record from `from_seq` on, as an attacker
/// holding the signing key would after editing the journal.
fn rechain(conn: &rusqlite::Connection, from_seq: u64, key: &KeyPair) {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM records ORDER BY seq",
            pos_core::store::RECORD_COLUMNS
        ))
        .unwrap();
    let records: Vec<Record> = stmt
        .query_map([], |row| Ok(pos_core::store::row_to_record(row).unwrap()))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = [0u8; 32];
    let mut prev_of_kind: BTreeMap<String, [u8; 32]> = BTreeMap::new();
    for mut r in records {
        if r.seq >= from_seq {
            r.prev_hash = prev;
            r.prev_kind_hash = prev_of_kind.get(&r.kind).copied().unwrap_or([0; 32]);
            let header = Header {
                format_version: r.format_version,
                seq: r.seq,
                kind: &r.kind,
                kind_seq: r.kind_seq,
                timestamp_ms: r.timestamp_ms,
                prev_hash: &r.prev_hash,
                prev_kind_hash: &r.prev_kind_hash,
                key_id: &r.key_id,
            };
            r.hash = record_hash(&header, &r.body).unwrap();
            r.signature = key.sign_hash(&r.hash);
            conn.execute(
                "UPDATE records SET prev_hash = ?1, prev_kind_hash = ?2, hash = ?3, signature = ?4 WHERE seq = ?5",
                rusqlite::params![&r.prev_hash[..], &r.prev_kind_hash[..], &r.hash[..], &r.signature[..], r.seq as i64],
            )
            .unwrap();
        }
        prev = r.hash;
        prev_of_kind.insert(r.kind.clone(), r.hash);
    }
}

fn first_closure(path: &Path) -> (Record, ClosureBody) {
    let r = all_records(path)
        .into_iter()
        .find(|r| r.kind == "closure")
        .unwrap();
    let Body::Closure(c) = Body::decode(Kind::Closure, &r.body).unwrap() else {
        unreachable!()
    };
    (r, c)
}

/// Rewrites the closure at `record` with `change` and re-signs everything after it, as a
/// writer with the key would.
fn rewrite_closure(path: &Path, key: &KeyPair, record: &Record, change: impl Fn(&mut ClosureBody)) {
    let Body::Closure(mut closure) = Body::decode(Kind::Closure, &record.body).unwrap() else {
        unreachable!()
    };
    change(&mut closure);
    let body = pos_core::canonical::to_canonical(&closure).unwrap();
    let conn = open_for_tampering(path);
    conn.execute(
        "UPDATE records SET body = ?1 WHERE seq = ?2",
        rusqlite::params![body, record.seq as i64],
    )
    .unwrap();
    rechain(&conn, record.seq, key);
}

#[test]
fn a_day_continued_only_by_a_closure_during_it_and_journals_without_the_flag_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::from_seed([8; 32]);
    let (path, _) = small_journal(dir.path(), &key);
    let record = all_records(&path)
        .into_iter()
        .rfind(|r| r.kind == "closure")
        .unwrap();
    let Body::Closure(closure) = Body::decode(Kind::Closure, &record.body).unwrap() else {
        unreachable!()
    };
    assert!(closure.continues, "the evening Z is written during its day");
    // Without the flag (as a writer before it wrote the same evening Z: the day closed for
    // good), the closure is accepted as it is. (The last one: re-signing changes the hashes
    // that later closures name. `tests/golden.rs` keeps a whole journal of that version.)
    rewrite_closure(&path, &key, &record, |c| c.continues = false);
    assert!(verify(&path).is_empty(), "{:#?}", verify(&path));

    // A day closed automatically, the next morning, cannot claim to go on.
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) =
        journal_at(dir.path(), key.clone(), MARCH_2_MIDNIGHT_PARIS + 9 * HOUR);
    let mut gen = TicketGenerator::new(12);
    journal.sale(&gen.sale()).unwrap();
    clock.set(MARCH_2_MIDNIGHT_PARIS + DAY + 9 * HOUR);
    journal.sale(&gen.sale()).unwrap();
    journal.close();
    let (record, closure) = first_closure(&path);
    assert!(closure.automatic && !closure.continues);
    rewrite_closure(&path, &key, &record, |c| c.continues = true);
    let findings = verify(&path);
    assert!(
        findings.iter().any(|f| f.seq == record.seq
            && f.problem == Problem::ClosureMismatch
            && f.detail.contains("continues")),
        "{findings:#?}"
    );
}

#[test]
fn altered_closure_totals_are_reported_even_when_rechained_and_resigned() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::from_seed([8; 32]);
    let (path, _) = small_journal(dir.path(), &key);
    assert!(verify(&path).is_empty());
    let (record, mut closure) = first_closure(&path);
    closure.totals.total.0 -= 1000;
    closure.perpetual_total.0 -= 1000;
    let body = pos_core::canonical::to_canonical(&closure).unwrap();
    let conn = open_for_tampering(&path);
    conn.execute(
        "UPDATE records SET body = ?1 WHERE seq = ?2",
        rusqlite::params![body, record.seq as i64],
    )
    .unwrap();
    rechain(&conn, record.seq, &key);
    drop(conn);

    let findings = verify(&path);
    assert!(
        findings
            .iter()
            .any(|f| f.seq == record.seq && f.problem == Problem::ClosureMismatch),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .all(|f| f.problem == Problem::ClosureMismatch),
        "only the recomputation can catch a re-signed chain: {findings:#?}"
    );
}

#[test]
fn a_ticket_deleted_from_a_closed_day_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::from_seed([9; 32]);
    let (path, _) = small_journal(dir.path(), &key);
    let (closure_record, closure) = first_closure(&path);
    let victim = all_records(&path)
        .into_iter()
        .find(|r| r.kind == "sale" && r.seq < closure_record.seq)
        .unwrap();

    // Plain deletion: the gap and the broken link show.
    let plain = dir.path().join("plain.db");
    std::fs::copy(&path, &plain).unwrap();
    let conn = open_for_tampering(&plain);
    conn.execute("DELETE FROM records WHERE seq = ?1", [victim.seq as i64])
        .unwrap();
    drop(conn);
    let findings = verify(&plain);
    assert!(
        findings
            .iter()
            .any(|f| f.seq == victim.seq + 1 && f.problem == Problem::SequenceGap),
        "{findings:#?}"
    );
    assert!(findings
        .iter()
        .any(|f| f.problem == Problem::ClosureMismatch));

    // Deletion by someone with the key who renumbers, relinks and re-signs everything after
    // it: the day closure no longer matches the tickets it covers.
    let conn = open_for_tampering(&path);
    conn.execute("DELETE FROM records WHERE seq = ?1", [victim.seq as i64])
        .unwrap();
    conn.execute(
        "UPDATE records SET seq = seq - 1 WHERE seq > ?1",
        [victim.seq as i64],
    )
    .unwrap();
    conn.execute(
        "UPDATE records SET kind_seq = kind_seq - 1 WHERE kind = 'sale' AND kind_seq > ?1",
        [victim.kind_seq as i64],
    )
    .unwrap();
    rechain(&conn, victim.seq, &key);
    drop(conn);
    let findings = verify(&path);
    assert!(
        findings
            .iter()
            .any(|f| f.problem == Problem::ClosureMismatch && f.seq == closure_record.seq - 1),
        "{findings:#?}"
    );
    let _ = closure;
}

#[test]
fn closures_write_the_head_to_the_anchor_file_and_a_truncated_tail_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let anchors = dir.path().join("other-medium").join("anchors.jsonl");
    std::fs::create_dir_all(anchors.parent().unwrap()).unwrap();
    let clock = Arc::new(ManualClock::new(MARCH_2_MIDNIGHT_PARIS + 9 * HOUR));
    let journal = Journal::create(
        &path,
        KeyPair::from_seed([12; 32]),
        opening(),
        JournalOptions {
            clock: clock.clone(),
            anchor_path: Some(anchors.clone()),
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let mut gen = TicketGenerator::new(5);
    for day in 0..3 {
        for i in 0..5 {
            clock.set(MARCH_2_MIDNIGHT_PARIS + day * DAY + 9 * HOUR + i * 60_000);
            journal.sale(&gen.sale()).unwrap();
        }
        clock.set(MARCH_2_MIDNIGHT_PARIS + day * DAY + 19 * HOUR);
        journal.close_period(Period::Day).unwrap();
    }
    journal
        .event("software_stopped", "end of the third day")
        .unwrap();
    let on_demand = journal.write_anchor().unwrap();
    assert!(journal.anchor_error().is_none());
    journal.close();

    let written = pos_core::anchor::read_anchors(&anchors).unwrap();
    assert_eq!(written.len(), 4, "one anchor per Z, one on demand");
    let last = all_records(&path).last().unwrap().clone();
    assert_eq!(written[3], on_demand);
    assert_eq!(
        (written[3].seq, written[3].hash.clone()),
        (last.seq, hex::encode(last.hash))
    );
    let check = |p: &Path| {
        let mut sink = CollectFindings::default();
        let options = VerifyOptions {
            anchors: written.clone(),
            ..VerifyOptions::default()
        };
        verify_journal(&JournalReader::open(p).unwrap(), &options, &mut sink).unwrap();
        sink.findings
    };
    assert!(check(&path).is_empty(), "the journal reaches every anchor");

    // Deleting the newest records leaves a valid shorter chain: only the anchors show it.
    let conn = open_for_tampering(&path);
    let cut = written[2].seq - 3;
    conn.execute("DELETE FROM records WHERE seq > ?1", [cut as i64])
        .unwrap();
    drop(conn);
    let findings = check(&path);
    assert!(!findings.is_empty());
    assert!(
        findings
            .iter()
            .all(|f| f.problem == Problem::AnchorNotReached),
        "{findings:#?}"
    );
    let missed: Vec<u64> = findings.iter().map(|f| f.seq).collect();
    assert_eq!(missed, vec![written[2].seq, written[3].seq]);
}

#[test]
fn a_month_closed_on_demand_late_is_not_closed_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    // 1 April 2026, 09:00 Paris (07:00 UTC).
    let april_first = MARCH_2_MIDNIGHT_PARIS + 30 * DAY + 9 * HOUR - HOUR;
    let clock = Arc::new(ManualClock::new(april_first));
    let journal = Journal::create(
        &path,
        KeyPair::from_seed([13; 32]),
        opening(),
        JournalOptions {
            clock: clock.clone(),
            ..JournalOptions::default()
        },
    )
    .unwrap();
    let mut gen = TicketGenerator::new(8);
    journal.sale(&gen.sale()).unwrap();
    // The month is closed on demand on the evening of 30 April, with nothing sold since the 1st.
    clock.set(april_first + 29 * DAY + 10 * HOUR);
    journal.close_period(Period::Month).unwrap();
    // The first sale of May closes the day of the closure's own events, not April again.
    clock.set(april_first + 30 * DAY);
    journal.sale(&gen.sale()).unwrap();
    journal.close();
    let months: Vec<ClosureBody> = all_records(&path)
        .iter()
        .filter(|r| r.kind == "closure")
        .filter_map(|r| match Body::decode(Kind::Closure, &r.body).unwrap() {
            Body::Closure(c) if c.period == Period::Month => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(months.len(), 1, "{months:#?}");
    assert_eq!(months[0].start, "2026-04-01");
    assert!(verify(&path).is_empty());
}

//! The fiscal rules are a seam: a second policy, written here outside pos-core (weekly closures
//! instead of monthly ones, a merchant number of any form), is named in a journal's opening,
//! followed by the writer and by the verifier, and a verifier that does not know it says so.
//! The French rules stay the default and write the same bytes as ever (`tests/golden.rs`).

mod common;

use chrono::{Datelike, NaiveDate, Weekday};
use common::*;
use pos_core::body::{Body, OpeningBody};
use pos_core::closure::{ClosureError, Period};
use pos_core::journal::JournalError;
use pos_core::keys::Signer;
use pos_core::prelude::*;
use pos_core::receipt::{ReceiptError, ReceiptFields};
use pos_core::rules::{
    local_date, validate_identity, validate_terms, Calendar, FiscalRules, PeriodKey, RuleBook,
};
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// ISO weeks (Monday to Sunday) in the register's zone, and calendar years.
#[derive(Debug)]
struct Weeks(chrono_tz::Tz);

impl Calendar for Weeks {
    fn business_date(&self, timestamp_ms: i64) -> NaiveDate {
        local_date(self.0, timestamp_ms)
    }
    fn middle_period(&self) -> Period {
        Period::Week
    }
    fn middle_of(&self, d: NaiveDate) -> PeriodKey {
        let w = d.iso_week();
        (w.year(), w.week())
    }
    fn middle_bounds(&self, (year, week): PeriodKey) -> (NaiveDate, NaiveDate) {
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).unwrap_or_default();
        let sunday = NaiveDate::from_isoywd_opt(year, week, Weekday::Sun).unwrap_or(monday);
        (monday, sunday)
    }
    fn middle_label(&self, (year, week): PeriodKey) -> String {
        format!("{year}-W{week:02}")
    }
    fn year_of(&self, d: NaiveDate) -> i32 {
        d.year()
    }
    fn year_bounds(&self, year: i32) -> (NaiveDate, NaiveDate) {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
        let last = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(first);
        (first, last)
    }
}

/// The test policy: weeks instead of months, any merchant number, no `software_stopped`.
#[derive(Debug)]
struct Weekly;

impl FiscalRules for Weekly {
    fn id(&self) -> &str {
        "test-weekly"
    }
    fn validate_opening(&self, opening: &OpeningBody) -> Result<(), String> {
        validate_identity(opening)?;
        validate_terms(opening)
    }
    fn is_known_event(&self, code: &str) -> bool {
        pos_core::events::is_known(code) && code != pos_core::events::SOFTWARE_STOPPED
    }
    fn calendar(&self, opening: &OpeningBody) -> Result<Arc<dyn Calendar>, ClosureError> {
        let tz = opening
            .time_zone
            .parse()
            .map_err(|_| ClosureError::TimeZone(opening.time_zone.clone()))?;
        Ok(Arc::new(Weeks(tz)))
    }
    fn receipt_code(
        &self,
        fields: &ReceiptFields,
        signer: &dyn Signer,
    ) -> Result<String, ReceiptError> {
        // Its own string: the French one behind a tag of its own.
        Ok(format!("WEEKLY1|{}", fields.sign(signer)?))
    }
}

fn weekly_book() -> RuleBook {
    RuleBook::default().with(Arc::new(Weekly))
}

fn weekly_opening() -> OpeningBody {
    let mut opening = sample_opening();
    opening.fiscal_rules = Some("test-weekly".into());
    opening.merchant.siret = "ATU12345678".into();
    opening
}

fn verify_with_book(path: &std::path::Path, rules: RuleBook) -> Vec<Finding> {
    let reader = JournalReader::open(path).unwrap();
    let mut sink = CollectFindings::default();
    let options = VerifyOptions {
        rules,
        ..VerifyOptions::default()
    };
    verify_journal(&reader, &options, &mut sink).unwrap();
    sink.findings
}

/// Closures of the journal: (period, start, end, automatic, sales counted).
fn closures(path: &std::path::Path) -> Vec<(Period, String, String, bool, u64)> {
    JournalReader::open(path)
        .unwrap()
        .closures()
        .unwrap()
        .into_iter()
        .map(|(_, c)| (c.period, c.start, c.end, c.automatic, c.totals.sales))
        .collect()
}

#[test]
fn a_journal_under_weekly_rules_closes_weeks_and_verifies_with_those_rules_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let clock = Arc::new(pos_workspace::ManualClock::new(T0_MS));
    let options = JournalOptions {
        rules: weekly_book(),
        ..manual_options(&clock)
    };
    // The French rules refuse this opening (no SIRET); without the weekly rules it is unknown.
    assert!(matches!(
        Journal::create(&path, journal_key(), weekly_opening(), manual_options(&clock)),
        Err(JournalError::Invalid(e)) if e.contains("not known")
    ));
    let journal = Journal::create(&path, journal_key(), weekly_opening(), options.clone()).unwrap();
    // Monday 2 March 2026 to Wednesday 11 March: a Z every evening but Sunday's.
    for day in 0..10 {
        if day == 6 {
            continue;
        }
        clock.set(T0_MS + day * DAY_MS + HOUR_MS);
        let sale = journal
            .sale(&simple_sale("BAG", 1 + day, 130, 550))
            .unwrap();
        if day == 0 {
            // The receipt's string is the rules'.
            let code = journal.receipt_code(&sale).unwrap();
            let french = code
                .strip_prefix("WEEKLY1|")
                .expect("the weekly rules' string");
            pos_core::receipt::verify_receipt(french, &journal_key().verifying_key()).unwrap();
            // An event these rules do not know is refused; a French code they keep is taken.
            assert!(matches!(
                journal.event(pos_core::events::SOFTWARE_STOPPED, "stop"),
                Err(JournalError::Invalid(_))
            ));
            journal
                .event(pos_core::events::OPERATOR_SIGNED_IN, "alice")
                .unwrap();
            // A month closure is not what these rules close.
            assert!(matches!(
                journal.close_period(Period::Month),
                Err(JournalError::Closure(ClosureError::NotThisCalendar(
                    "month"
                )))
            ));
        }
        clock.set(T0_MS + day * DAY_MS + 10 * HOUR_MS);
        journal.close_period(Period::Day).unwrap();
    }
    // The week, on demand, on Wednesday evening.
    clock.set(T0_MS + 9 * DAY_MS + 11 * HOUR_MS);
    journal.close_period(Period::Week).unwrap();
    drop(journal);

    let weeks: Vec<_> = closures(&path)
        .into_iter()
        .filter(|c| c.0 == Period::Week)
        .collect();
    assert_eq!(
        weeks,
        vec![
            // The first week closed automatically by Monday 9 March's sale: six days of sales.
            (
                Period::Week,
                "2026-03-02".into(),
                "2026-03-08".into(),
                true,
                6
            ),
            // The second on demand, after its Monday to Wednesday.
            (
                Period::Week,
                "2026-03-09".into(),
                "2026-03-15".into(),
                false,
                3
            ),
        ]
    );
    assert!(closures(&path).iter().all(|c| c.0 != Period::Month));

    // The verifier follows the rules the opening names: with them, nothing to report.
    assert_eq!(verify_with_book(&path, weekly_book()), vec![]);
    // A verifier that does not know them says so, on the opening.
    let unknown = verify_with_book(&path, RuleBook::default());
    assert!(
        unknown.iter().any(|f| f.seq == 1
            && f.problem == Problem::BadOpening
            && f.detail.contains("not known")),
        "{unknown:#?}"
    );

    // Reopened with the rules, the journal goes on where it stood (the week is closed: the
    // next Monday's sale opens the next one); the X report follows the weeks.
    let journal = Journal::open(&path, journal_key(), options).unwrap();
    clock.set(T0_MS + 14 * DAY_MS + HOUR_MS);
    journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    let x = journal.x_report().unwrap();
    assert_eq!(x.month.sales, 1, "the week to date");
    drop(journal);
    assert_eq!(verify_with_book(&path, weekly_book()), vec![]);
    let reader = JournalReader::open(&path).unwrap();
    assert_eq!(reader.x_report_with(&weekly_book()).unwrap().month.sales, 1);
    assert!(
        reader.x_report().is_err(),
        "the default book does not know the rules"
    );
}

#[test]
fn a_week_closure_forged_into_a_french_journal_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, clock, journal) = journal_on_manual_clock(dir.path());
    journal.sale(&simple_sale("BAG", 1, 130, 550)).unwrap();
    clock.set(T0_MS + 10 * HOUR_MS);
    let closed = journal.close_period(Period::Day).unwrap();
    drop(journal);
    // The day closure rewritten as a week closure, then hashed and signed again as if by the
    // register: only the closure rules can tell.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update;")
        .unwrap();
    let seq = closed[0].seq;
    let reader = JournalReader::open(&path).unwrap();
    let mut r = reader.record(seq).unwrap().unwrap().unwrap();
    let Ok(Body::Closure(mut c)) = Body::decode(Kind::Closure, &r.body) else {
        panic!("a closure")
    };
    c.period = Period::Week;
    r.body = pos_core::canonical::to_canonical(&c).unwrap();
    r.hash = r.computed_hash().unwrap();
    r.signature = journal_key().sign_hash(&r.hash);
    conn.execute(
        "UPDATE records SET body = ?1, hash = ?2, signature = ?3 WHERE seq = ?4",
        rusqlite::params![r.body, &r.hash[..], &r.signature[..], seq as i64],
    )
    .unwrap();
    drop(conn);
    let findings = verify_with_book(&path, RuleBook::default());
    assert!(
        findings
            .iter()
            .any(|f| f.seq == seq && f.problem == Problem::ClosureMismatch),
        "{findings:#?}"
    );
}

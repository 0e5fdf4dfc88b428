//! How a register's dates fall into periods: the business date of a record, the period closed
//! between the day and the fiscal year (a month in France), and the fiscal year.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use pos_format::closure::Period;

/// A middle period (a month, a week) named by two numbers, ordered as the periods are: a
/// month is `(year, month)`, an ISO week `(ISO year, week)`.
pub type PeriodKey = (i32, u32);

/// The periods a register's closures close.
pub trait Calendar: Send + Sync + std::fmt::Debug {
    /// The business date of a UTC timestamp (the local date in the register's time zone).
    fn business_date(&self, timestamp_ms: i64) -> NaiveDate;
    /// The period closed between the day and the fiscal year ([`Period::Month`] in France).
    fn middle_period(&self) -> Period;
    /// The middle period holding `date`.
    fn middle_of(&self, date: NaiveDate) -> PeriodKey;
    /// The first and last dates of a middle period.
    fn middle_bounds(&self, key: PeriodKey) -> (NaiveDate, NaiveDate);
    /// A middle period as messages name it (`2026-03`).
    fn middle_label(&self, key: PeriodKey) -> String;
    /// The fiscal year holding `date`, named by the calendar year it starts in.
    fn year_of(&self, date: NaiveDate) -> i32;
    /// The first and last dates of a fiscal year.
    fn year_bounds(&self, year: i32) -> (NaiveDate, NaiveDate);
}

/// The local date of `timestamp_ms` in `tz`.
pub fn local_date(tz: chrono_tz::Tz, timestamp_ms: i64) -> NaiveDate {
    let utc = DateTime::<Utc>::from_timestamp_millis(timestamp_ms).unwrap_or_default();
    tz.from_utc_datetime(&utc.naive_utc()).date_naive()
}

/// Calendar months in a time zone, and fiscal years starting on the first of a month: the
/// French calendar.
#[derive(Debug, Clone, Copy)]
pub struct MonthCalendar {
    /// The register's time zone.
    pub tz: chrono_tz::Tz,
    /// The first month (1 to 12) of the fiscal year.
    pub fiscal_year_start_month: u32,
}

impl Calendar for MonthCalendar {
    fn business_date(&self, timestamp_ms: i64) -> NaiveDate {
        local_date(self.tz, timestamp_ms)
    }

    fn middle_period(&self) -> Period {
        Period::Month
    }

    fn middle_of(&self, d: NaiveDate) -> PeriodKey {
        (d.year(), d.month())
    }

    fn middle_bounds(&self, (y, m): PeriodKey) -> (NaiveDate, NaiveDate) {
        let start = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default();
        let end = start
            .checked_add_months(Months::new(1))
            .and_then(|n| n.pred_opt())
            .unwrap_or(start);
        (start, end)
    }

    fn middle_label(&self, (y, m): PeriodKey) -> String {
        format!("{y}-{m:02}")
    }

    fn year_of(&self, d: NaiveDate) -> i32 {
        if d.month() >= self.fiscal_year_start_month {
            d.year()
        } else {
            d.year() - 1
        }
    }

    fn year_bounds(&self, fy: i32) -> (NaiveDate, NaiveDate) {
        let start =
            NaiveDate::from_ymd_opt(fy, self.fiscal_year_start_month, 1).unwrap_or_default();
        let next = start.checked_add_months(Months::new(12)).unwrap_or(start);
        (start, next.pred_opt().unwrap_or(next))
    }
}

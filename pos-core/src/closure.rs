//! Closures (the Z), grand totals and the X report.
//!
//! A **day closure** closes one business day (a local date in the register's time zone) and
//! covers every record since the previous day closure. A **month closure** sums the day closures
//! of a calendar month, a **year closure** the month closures of a fiscal year (whose first month
//! is configuration). Every closure carries the perpetual grand total since the journal opened
//! (never reset) and the perpetual total of absolute values.
//!
//! [`ClosureState`] is the one state machine behind closures. The journal's writer feeds it every
//! record it appends, asks it which closures are due before a new record, and builds closure
//! bodies from its running totals (so closing never rescans the journal). The verifier feeds it
//! the same records and compares each stored closure with the one it would have built.
//!
//! Rules:
//! - a record dated on a later local day than the open day closes the open day first
//!   (automatic closure), then the month and the fiscal year if they changed too;
//! - a day closed during the day itself (a Z on demand before the day is over) goes on: the
//!   records after it open another part of the same day, and the month sums every part;
//! - a sale or refund dated on a day closed for good, in a closed month or a closed year is
//!   refused; technical records (events, duplicates, training tickets, key changes) are always
//!   accepted and belong to the next business day;
//! - training tickets never reach any total.

pub use pos_format::closure::{differences, rates_of, ClosureBody, PaymentTotal, Period, Totals};

use crate::rules::calendar::{Calendar, MonthCalendar, PeriodKey};
use chrono::NaiveDate;
use pos_format::body::Body;
use pos_format::money::{Cents, Overflow};
use pos_format::record::Kind;
use serde::Serialize;
use std::sync::Arc;

/// The running totals of the open periods, without writing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XReport {
    /// The open business day, if any record was written since the last day closure.
    pub open_day: Option<String>,
    /// First sequence number of the open day.
    pub day_first_seq: Option<u64>,
    /// Last sequence number written.
    pub last_seq: u64,
    /// The open day's totals.
    pub day: Totals,
    /// Month to date (closed days of the open month plus the open day).
    pub month: Totals,
    /// Fiscal year to date.
    pub year: Totals,
    /// Perpetual grand total.
    pub perpetual_total: Cents,
    /// Perpetual total of absolute values.
    pub perpetual_absolute_total: Cents,
}

/// Why a record or a closure is refused by the closure rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClosureError {
    /// A sale or refund dated in a closed period.
    #[error(
        "{date} is in a closed {period} (last closed: {closed}); nothing can be recorded into it"
    )]
    ClosedPeriod {
        /// The record's local date.
        date: String,
        /// Day, month or year.
        period: &'static str,
        /// The last closed period.
        closed: String,
    },
    /// Nothing to close: the period is empty or already closed.
    #[error("no open {0} to close: it is empty or already closed")]
    NothingToClose(&'static str),
    /// Totals overflowed.
    #[error("totals overflow")]
    Overflow,
    /// The register's time zone is not a known IANA zone.
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    /// A closure of a period the register's calendar does not close (a week where months are
    /// closed).
    #[error("the register's rules do not close {0} periods")]
    NotThisCalendar(&'static str),
}

impl From<Overflow> for ClosureError {
    fn from(_: Overflow) -> Self {
        ClosureError::Overflow
    }
}

/// The closure state machine (see the module documentation). The periods it closes are its
/// calendar's: day, month and fiscal year for the French rules.
#[derive(Debug, Clone)]
pub struct ClosureState {
    calendar: Arc<dyn Calendar>,
    last_seq: u64,
    last_hash: [u8; 32],

    open_day: Option<NaiveDate>,
    /// The open day continues a day closed during the day (another part of the same date).
    open_continues: bool,
    day_first_seq: Option<u64>,
    day: Totals,
    last_closed_day: Option<NaiveDate>,
    /// The last day closure was written during its day: the day goes on in another part.
    last_day_continues: bool,

    /// Day closures since the last closure of the middle period (the month).
    month: Totals,
    month_of: Option<PeriodKey>,
    month_first_seq: Option<u64>,
    month_last_seq: u64,
    month_last_hash: String,
    last_closed_month: Option<PeriodKey>,

    /// Month closures since the last year closure.
    year: Totals,
    year_of: Option<i32>,
    year_first_seq: Option<u64>,
    year_last_seq: u64,
    year_last_hash: String,
    last_closed_year: Option<i32>,

    perpetual_total: Cents,
    perpetual_absolute_total: Cents,
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl ClosureState {
    /// A fresh state for a journal of the French calendar in `time_zone` whose fiscal year
    /// starts in month `fiscal_year_start_month` (1 to 12).
    pub fn new(
        time_zone: &str,
        fiscal_year_start_month: u32,
    ) -> Result<ClosureState, ClosureError> {
        let tz = time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| ClosureError::TimeZone(time_zone.to_string()))?;
        Ok(ClosureState::with_calendar(Arc::new(MonthCalendar {
            tz,
            fiscal_year_start_month: fiscal_year_start_month.clamp(1, 12),
        })))
    }

    /// A fresh state for a journal whose periods are `calendar`'s.
    pub fn with_calendar(calendar: Arc<dyn Calendar>) -> ClosureState {
        ClosureState {
            calendar,
            last_seq: 0,
            last_hash: [0; 32],
            open_day: None,
            open_continues: false,
            day_first_seq: None,
            day: Totals::default(),
            last_closed_day: None,
            last_day_continues: false,
            month: Totals::default(),
            month_of: None,
            month_first_seq: None,
            month_last_seq: 0,
            month_last_hash: String::new(),
            last_closed_month: None,
            year: Totals::default(),
            year_of: None,
            year_first_seq: None,
            year_last_seq: 0,
            year_last_hash: String::new(),
            last_closed_year: None,
            perpetual_total: Cents::ZERO,
            perpetual_absolute_total: Cents::ZERO,
        }
    }

    /// The local (business) date of a UTC timestamp in the register's zone.
    pub fn local_date(&self, timestamp_ms: i64) -> NaiveDate {
        self.calendar.business_date(timestamp_ms)
    }

    /// The fiscal year (named by the calendar year it starts in) of a date.
    pub fn fiscal_year(&self, d: NaiveDate) -> i32 {
        self.calendar.year_of(d)
    }

    fn fiscal_year_bounds(&self, fy: i32) -> (NaiveDate, NaiveDate) {
        self.calendar.year_bounds(fy)
    }

    /// The middle period of the calendar (the month, for the French rules).
    pub fn middle_period(&self) -> Period {
        self.calendar.middle_period()
    }

    fn ym(&self, d: NaiveDate) -> PeriodKey {
        self.calendar.middle_of(d)
    }

    /// The first date that no closure covers yet.
    fn first_open_date(&self) -> NaiveDate {
        // A day closed during the day goes on in another part; any other closed day is over.
        let after_day = match self.last_closed_day {
            Some(c) if self.last_day_continues => Some(c),
            closed => closed.and_then(|c| c.succ_opt()),
        };
        let after_month = self
            .last_closed_month
            .and_then(|m| self.calendar.middle_bounds(m).1.succ_opt());
        let after_year = self
            .last_closed_year
            .map(|fy| self.fiscal_year_bounds(fy).1)
            .and_then(|end| end.succ_opt());
        [after_day, after_month, after_year]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(NaiveDate::MIN)
    }

    /// Checks a sale or refund dated `timestamp_ms` against closed periods.
    pub fn check_open(&self, timestamp_ms: i64) -> Result<(), ClosureError> {
        let d = self.local_date(timestamp_ms);
        let closed_day = |c: &NaiveDate| d < *c || (d == *c && !self.last_day_continues);
        if let Some(c) = self.last_closed_day.filter(closed_day) {
            return Err(ClosureError::ClosedPeriod {
                date: ymd(d),
                period: "day",
                closed: ymd(c),
            });
        }
        if let Some(m) = self.last_closed_month.filter(|m| self.ym(d) <= *m) {
            return Err(ClosureError::ClosedPeriod {
                date: ymd(d),
                period: self.middle_period().as_str(),
                closed: self.calendar.middle_label(m),
            });
        }
        if let Some(y) = self.last_closed_year.filter(|y| self.fiscal_year(d) <= *y) {
            return Err(ClosureError::ClosedPeriod {
                date: ymd(d),
                period: "fiscal year",
                closed: y.to_string(),
            });
        }
        Ok(())
    }

    /// The closures that must be written, in order, before a record dated `timestamp_ms`:
    /// the open day if the record is on a later day, then the month and the fiscal year they
    /// leave.
    pub fn due_before(&self, timestamp_ms: i64) -> Vec<Period> {
        let d = self.local_date(timestamp_ms);
        let mut due = Vec::new();
        let mut month = self.month_of;
        // A part of a day that holds no ticket is not closed: it becomes the later day.
        if let Some(open) = self
            .open_day
            .filter(|open| d > *open && !self.is_idle_continuation())
        {
            due.push(Period::Day);
            month = Some(self.ym(open));
        }
        let mut year = self.year_of;
        if let Some(m) = month.filter(|m| *m < self.ym(d)) {
            due.push(self.middle_period());
            year = Some(self.fiscal_year(self.calendar.middle_bounds(m).0));
        }
        if year.is_some_and(|y| y < self.fiscal_year(d)) {
            due.push(Period::Year);
        }
        due
    }

    /// Takes a non-closure record into account once it is written.
    pub fn observe(
        &mut self,
        seq: u64,
        hash: [u8; 32],
        kind: Kind,
        timestamp_ms: i64,
        body: Option<&Body>,
    ) -> Result<(), ClosureError> {
        debug_assert!(kind != Kind::Closure, "closures go through apply_closure");
        let d = self.local_date(timestamp_ms);
        if self.open_day.is_some_and(|open| d > open) && self.is_idle_continuation() {
            // The part of a day closed during the day that holds no ticket (the Z's own
            // events, a sign-out) is not closed on its own: its records open the later day.
            self.open_day = Some(d.max(self.first_open_date()));
            self.open_continues = false;
        }
        if self.open_day.is_none() {
            // The business day of a record is its local date, but never a day closed for
            // good, nor a day of a closed month or fiscal year: records written after an
            // automatic closure, or after a month closed before its end, belong to the next
            // open day. After a day closed during the day, they open another part of it.
            let open = d.max(self.first_open_date());
            self.open_day = Some(open);
            self.open_continues = self.last_day_continues && self.last_closed_day == Some(open);
            self.day_first_seq = Some(seq);
        }
        match body {
            Some(Body::Sale(s)) if kind == Kind::Sale => {
                self.day.add_sale(s)?;
                self.perpetual_total = self.perpetual_total.checked_add(s.total)?;
                self.perpetual_absolute_total =
                    self.perpetual_absolute_total.checked_add(s.total.abs())?;
            }
            Some(Body::Refund(r)) => {
                self.day.add_refund(r)?;
                self.perpetual_total = self.perpetual_total.checked_add(r.total)?;
                self.perpetual_absolute_total =
                    self.perpetual_absolute_total.checked_add(r.total.abs())?;
            }
            _ => {}
        }
        self.last_seq = seq;
        self.last_hash = hash;
        Ok(())
    }

    /// Whether the open day is a part of a day closed during the day that holds no sale or
    /// refund yet: it is not closed on its own (neither due nor on demand).
    pub fn is_idle_continuation(&self) -> bool {
        self.open_continues && self.day.sales == 0 && self.day.refunds == 0
    }

    /// The end of the month or fiscal year a closure of `period` at `at_ms` would close, when
    /// it is after that moment's date (the period is closed before its end).
    pub fn closes_before_end(&self, period: Period, at_ms: i64) -> Option<NaiveDate> {
        let today = self.local_date(at_ms);
        let open = self.open_day.filter(|_| !self.is_idle_continuation());
        let month = open.map(|d| self.ym(d)).or(self.month_of);
        let end = match period {
            Period::Year => {
                let year = month
                    .map(|m| self.fiscal_year(self.calendar.middle_bounds(m).0))
                    .or(self.year_of)?;
                self.fiscal_year_bounds(year).1
            }
            p if p == self.middle_period() => self.calendar.middle_bounds(month?).1,
            _ => return None,
        };
        (end > today).then_some(end)
    }

    /// Whether a closure of `period` written at `at_ms` leaves its day going on: a day closure
    /// written during the open day itself (a Z before the day is over, a shift change).
    pub fn continues_at(&self, period: Period, at_ms: i64) -> bool {
        period == Period::Day && self.open_day == Some(self.local_date(at_ms))
    }

    /// Builds the closure of `period` from the running totals (`continues` false: see
    /// [`ClosureState::continues_at`]).
    pub fn build(&self, period: Period, automatic: bool) -> Result<ClosureBody, ClosureError> {
        let (start, end, first_seq, last_seq, last_hash, totals) = match period {
            Period::Day => {
                let (Some(d), Some(first)) = (self.open_day, self.day_first_seq) else {
                    return Err(ClosureError::NothingToClose("day"));
                };
                (
                    d,
                    d,
                    first,
                    self.last_seq,
                    hex::encode(self.last_hash),
                    self.day.clone(),
                )
            }
            p if p == self.middle_period() => {
                let (Some(m), Some(first)) = (self.month_of, self.month_first_seq) else {
                    return Err(ClosureError::NothingToClose(p.as_str()));
                };
                let (start, end) = self.calendar.middle_bounds(m);
                (
                    start,
                    end,
                    first,
                    self.month_last_seq,
                    self.month_last_hash.clone(),
                    self.month.clone(),
                )
            }
            Period::Year => {
                let (Some(fy), Some(first)) = (self.year_of, self.year_first_seq) else {
                    return Err(ClosureError::NothingToClose("fiscal year"));
                };
                let (start, end) = self.fiscal_year_bounds(fy);
                (
                    start,
                    end,
                    first,
                    self.year_last_seq,
                    self.year_last_hash.clone(),
                    self.year.clone(),
                )
            }
            other => return Err(ClosureError::NotThisCalendar(other.as_str())),
        };
        Ok(ClosureBody {
            period,
            start: ymd(start),
            end: ymd(end),
            first_seq,
            last_seq,
            last_hash,
            totals,
            perpetual_total: self.perpetual_total,
            perpetual_absolute_total: self.perpetual_absolute_total,
            automatic,
            continues: false,
        })
    }

    /// Takes a written closure into account (its stored values are taken as they are).
    pub fn apply_closure(
        &mut self,
        seq: u64,
        hash: [u8; 32],
        c: &ClosureBody,
    ) -> Result<(), ClosureError> {
        let end = parse_date(&c.end).unwrap_or_default();
        match c.period {
            Period::Day => {
                self.month.add(&c.totals)?;
                self.month_of = Some(self.ym(end));
                self.month_first_seq.get_or_insert(c.first_seq);
                self.month_last_seq = c.last_seq;
                self.month_last_hash = c.last_hash.clone();
                self.day = Totals::default();
                self.open_day = None;
                self.open_continues = false;
                self.day_first_seq = None;
                self.last_closed_day = Some(end);
                self.last_day_continues = c.continues;
            }
            p if p == self.middle_period() => {
                self.year.add(&c.totals)?;
                self.year_of = Some(self.fiscal_year(end));
                self.year_first_seq.get_or_insert(c.first_seq);
                self.year_last_seq = c.last_seq;
                self.year_last_hash = c.last_hash.clone();
                self.month = Totals::default();
                self.month_of = None;
                self.month_first_seq = None;
                self.last_closed_month = Some(self.ym(end));
            }
            Period::Year => {
                self.year = Totals::default();
                self.year_of = None;
                self.year_first_seq = None;
                self.last_closed_year = Some(self.fiscal_year(end));
            }
            other => return Err(ClosureError::NotThisCalendar(other.as_str())),
        }
        self.perpetual_total = c.perpetual_total;
        self.perpetual_absolute_total = c.perpetual_absolute_total;
        self.last_seq = seq;
        self.last_hash = hash;
        Ok(())
    }

    /// The X report: running totals of the open periods.
    pub fn x_report(&self) -> Result<XReport, ClosureError> {
        let mut month = self.month.clone();
        month.add(&self.day)?;
        let mut year = self.year.clone();
        year.add(&month)?;
        Ok(XReport {
            open_day: self.open_day.map(ymd),
            day_first_seq: self.day_first_seq,
            last_seq: self.last_seq,
            day: self.day.clone(),
            month,
            year,
            perpetual_total: self.perpetual_total,
            perpetual_absolute_total: self.perpetual_absolute_total,
        })
    }

    /// Whether a day is open (records written since the last day closure).
    pub fn has_open_day(&self) -> bool {
        self.open_day.is_some()
    }

    /// The local date of the open day.
    pub fn open_day(&self) -> Option<NaiveDate> {
        self.open_day
    }
}

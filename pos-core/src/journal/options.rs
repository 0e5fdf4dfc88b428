//! The journal's limits, its clock and its options.

use crate::rules::RuleBook;
use std::path::PathBuf;
use std::sync::Arc;

/// At most this many records go into one commit.
pub const MAX_BATCH_RECORDS: usize = 1024;
/// At most this many requests wait for the writer; more callers block until there is room.
pub const MAX_PENDING_APPENDS: usize = 4096;
/// How many of the newest records are fully checked when a journal is opened for writing.
pub const TAIL_CHECK_RECORDS: u64 = 256;
/// How far ahead of the last record the clock may read, by default, before records need an
/// operator's confirmation ([`Journal::confirm_clock`]): 45 days, longer than a shop's annual
/// closure, far shorter than a year typed wrong.
pub const DEFAULT_CLOCK_AHEAD_LIMIT_MS: i64 = 45 * 24 * 3600 * 1000;

/// Where timestamps come from. The journal never lets them go backwards: when the clock is
/// behind the last record, the record takes the last timestamp and [`Appended::clock_went_back`]
/// says so.
pub trait Clock: Send + Sync {
    /// UTC milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// Options for opening or creating a journal.
#[derive(Clone)]
pub struct JournalOptions {
    /// The clock (the system clock by default).
    pub clock: Arc<dyn Clock>,
    /// How many of the newest records to check on open ([`TAIL_CHECK_RECORDS`] by default).
    pub tail_check_records: u64,
    /// An anchor file, on another medium than the journal: the head is appended to it after
    /// every closure and on [`Journal::write_anchor`] (see [`crate::anchor`]).
    pub anchor_path: Option<PathBuf>,
    /// How far ahead of the last record the clock may read before records are refused with
    /// [`JournalError::ClockAhead`] until an operator confirms the reading
    /// ([`DEFAULT_CLOCK_AHEAD_LIMIT_MS`] by default; `None` never refuses).
    pub clock_ahead_limit_ms: Option<i64>,
    /// The fiscal rules the journal may follow (the opening names which): the French rules by
    /// default; add others with [`RuleBook::with`].
    pub rules: RuleBook,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            clock: Arc::new(SystemClock),
            tail_check_records: TAIL_CHECK_RECORDS,
            anchor_path: None,
            clock_ahead_limit_ms: Some(DEFAULT_CLOCK_AHEAD_LIMIT_MS),
            rules: RuleBook::default(),
        }
    }
}

impl std::fmt::Debug for JournalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalOptions")
            .field("tail_check_records", &self.tail_check_records)
            .finish_non_exhaustive()
    }
}

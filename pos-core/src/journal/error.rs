//! Why an append or an open failed, and the clock reading too far ahead.

use crate::canonical::CanonicalError;
use crate::closure::ClosureError;
use crate::keys::{KeyId, SignError};
use crate::ticket::TicketError;
use std::path::PathBuf;

/// The clock reads further ahead of the journal's last record than
/// [`JournalOptions::clock_ahead_limit_ms`] allows unconfirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockAhead {
    /// The clock's reading (UTC ms).
    pub clock_ms: i64,
    /// The last record's timestamp (UTC ms).
    pub last_ms: i64,
    /// The limit (ms).
    pub limit_ms: i64,
}

impl ClockAhead {
    /// The clock reading `clock_ms`, if it is more than `limit_ms` after the last record's
    /// `last_ms` (the one rule, for the writer and for [`Journal::clock_ahead`]).
    pub(crate) fn check(clock_ms: i64, last_ms: i64, limit_ms: i64) -> Option<ClockAhead> {
        (clock_ms.saturating_sub(last_ms) > limit_ms).then_some(ClockAhead {
            clock_ms,
            last_ms,
            limit_ms,
        })
    }

    /// Whole days between the last record and the clock's reading.
    pub fn days(&self) -> i64 {
        self.clock_ms.saturating_sub(self.last_ms) / (24 * 3600 * 1000)
    }
}

impl std::fmt::Display for ClockAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let utc = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms).map_or_else(
                || format!("{ms} ms"),
                |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
            )
        };
        write!(
            f,
            "the clock reads {}, {} days after the journal's last record ({}): if the date is \
             right (after a long closure), a manager confirms it; otherwise correct the system \
             clock",
            utc(self.clock_ms),
            self.days(),
            utc(self.last_ms)
        )
    }
}

/// Why an append or an open failed. On any error nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another process (or handle) holds the file's writer lock.
    #[error("journal {path} is locked by another writer (lock file {lock})")]
    Locked {
        /// The journal file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The file is not a journal this build can open.
    #[error("{path}: {reason}")]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A journal already exists there.
    #[error("{path} already exists; refusing to create a journal over it")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file-system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("journal storage error: {0}")]
    Storage(String),
    /// The tail check found problems: the journal must not take new records.
    #[error("journal is damaged: {}", .0.join("; "))]
    Damaged(Vec<String>),
    /// The signing key given is not the journal's current key.
    #[error("signing key {given} is not the journal's current key {expected}")]
    KeyMismatch {
        /// The journal's current key id.
        expected: KeyId,
        /// The key id given.
        given: KeyId,
    },
    /// The ticket was refused.
    #[error("ticket refused: {0}")]
    Ticket(#[from] TicketError),
    /// A refund names a record that is not a sale of this journal.
    #[error("refund refused: record {seq} is not a sale of this journal")]
    OriginalNotFound {
        /// The seq named.
        seq: u64,
    },
    /// Any other invalid draft (bad opening identity, unknown event code...).
    #[error("record refused: {0}")]
    Invalid(String),
    /// The body could not be encoded canonically.
    #[error("record refused: {0}")]
    Canonical(#[from] CanonicalError),
    /// The closure rules refuse the record, or there is nothing to close.
    #[error("{0}")]
    Closure(#[from] ClosureError),
    /// A duplicate names a record that cannot be reprinted.
    #[error("duplicate refused: record {seq} is not a ticket or closure of this journal")]
    NotDuplicable {
        /// The seq named.
        seq: u64,
    },
    /// The signing key or device could not sign: the commit was refused and nothing of it is
    /// written. Sales go on once it signs again; the next commit then opens with a
    /// `signing_failed` event telling of the refused records.
    #[error("record refused: {0}; nothing was written")]
    Signer(SignError),
    /// The writer has stopped (after a panic).
    #[error("the journal writer has stopped")]
    Closed,
    /// A file of the open journal was moved, replaced or deleted: commits would no longer reach
    /// the journal's path, so none is made until the file is back and the journal reopened.
    #[error(
        "{path} was moved, replaced or deleted while the journal was open: nothing more is \
         written; put the file back and open the journal again"
    )]
    FileMoved {
        /// The file's path.
        path: PathBuf,
    },
    /// A commit was written but could not be flushed to disk, and the journal could not settle
    /// it with a durable commit of its own: its records may or may not be in the journal after
    /// a crash. Nothing more is written until the journal is reopened; the file then says what
    /// it holds (look for the records by their content or ticket number).
    #[error(
        "the journal could not make a commit durable ({cause}): whether its records are in the \
         journal is unknown; nothing more is written: open the journal again, then look for them"
    )]
    OutcomeUnknown {
        /// Why the flush failed.
        cause: String,
    },
    /// The clock reads too far ahead of the last record: nothing is written (a record dated
    /// so would date every later one as far ahead) until the clock is corrected or an operator
    /// confirms the reading ([`Journal::confirm_clock`]).
    #[error("record refused: {0}")]
    ClockAhead(ClockAhead),
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        // SQLite's words for a failed write ("disk I/O error") do not say what a shopkeeper can
        // do about it: the likely cause is added.
        use rusqlite::ffi;
        let cause = match e.sqlite_error().map(|f| f.extended_code) {
            Some(ffi::SQLITE_IOERR_WRITE) => Some("a write was refused: is the disk full?"),
            Some(ffi::SQLITE_IOERR_FSYNC | ffi::SQLITE_IOERR_DIR_FSYNC) => {
                Some("flushing to disk failed: the disk may be failing")
            }
            Some(ffi::SQLITE_IOERR_READ | ffi::SQLITE_IOERR_SHORT_READ) => {
                Some("a read failed: the disk may be failing")
            }
            _ => None,
        };
        JournalError::Storage(match cause {
            Some(cause) => format!("{e} ({cause})"),
            None => e.to_string(),
        })
    }
}

impl JournalError {
    /// The same failure, told to another caller of a failed commit (an error is not `Clone`:
    /// an I/O error's source is not).
    pub(crate) fn for_another_caller(&self) -> JournalError {
        match self {
            JournalError::FileMoved { path } => JournalError::FileMoved { path: path.clone() },
            JournalError::OutcomeUnknown { cause } => JournalError::OutcomeUnknown {
                cause: cause.clone(),
            },
            JournalError::ClockAhead(ahead) => JournalError::ClockAhead(*ahead),
            JournalError::Signer(e) => JournalError::Signer(e.clone()),
            _ => JournalError::Storage(self.storage_message()),
        }
    }

    /// What failed, without the storage error's prefix.
    pub(crate) fn storage_message(&self) -> String {
        match self {
            JournalError::Storage(message) => message.clone(),
            other => other.to_string(),
        }
    }
}

//! Read-only access to a journal file. Any number of readers may open a journal while its writer
//! appends; each read sees a consistent prefix of the chain (SQLite WAL snapshots).

use crate::body::{Body, OpeningBody};
use crate::record::{Hash, Kind, Record};
use crate::store::{self, MalformedRow};
use rusqlite::Connection;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Why a journal file cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is missing or unreadable.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// SQLite failed while reading.
    #[error("{path}: read error: {reason}")]
    Storage {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Why the closure state could not be rebuilt (its words are the journal's).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClosureStateError {
    /// SQLite failed.
    #[error("journal storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// A record needed is unreadable.
    #[error("journal is damaged: {0}")]
    Damaged(String),
    /// The closures do not add up (totals overflow) or the time zone is unknown.
    #[error("{0}")]
    Closure(#[from] crate::closure::ClosureError),
}

/// Rebuilds the closure state at the journal's end without rescanning it: every closure
/// record, then the records written since the last day closure (about one business day).
pub(crate) fn closure_state(
    conn: &Connection,
    calendar: std::sync::Arc<dyn crate::rules::calendar::Calendar>,
) -> Result<crate::closure::ClosureState, ClosureStateError> {
    let mut state = crate::closure::ClosureState::with_calendar(calendar);
    let (last_day_closure, records) = store::closure_context(conn)?;
    let damaged = ClosureStateError::Damaged;
    for r in records {
        let r = r.map_err(|m| damaged(format!("seq {}: {}", m.seq, m.problem)))?;
        let Some(kind) = r.known_kind() else {
            return Err(damaged(format!("seq {}: unknown kind {:?}", r.seq, r.kind)));
        };
        let body =
            Body::decode(kind, &r.body).map_err(|e| damaged(format!("seq {}: {e}", r.seq)))?;
        match &body {
            Body::Closure(c) => state.apply_closure(r.seq, r.hash, c)?,
            _ if r.seq > last_day_closure => {
                state.observe(r.seq, r.hash, kind, r.timestamp_ms, Some(&body))?
            }
            _ => {}
        }
    }
    Ok(state)
}

/// A read-only handle on a journal file.
pub struct JournalReader {
    path: PathBuf,
    conn: Connection,
}

impl std::fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalReader")
            .field("path", &self.path)
            .finish()
    }
}

impl JournalReader {
    /// Opens `path` read-only and checks that it is a journal.
    pub fn open(path: &Path) -> Result<JournalReader, ReadError> {
        let unreadable = |reason: String| ReadError::Unreadable {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(unreadable("no such file".into()));
        }
        let conn = store::open_read(path).map_err(|e| unreadable(e.to_string()))?;
        store::check_identity(&conn).map_err(unreadable)?;
        Ok(JournalReader {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for tests that count SQLite's steps.
    #[cfg(test)]
    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn storage(&self, e: rusqlite::Error) -> ReadError {
        ReadError::Storage {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// The opening body, if the first record is a readable opening.
    pub fn opening(&self) -> Result<Option<OpeningBody>, ReadError> {
        Ok(match self.record(1)? {
            Some(Ok(r)) if r.kind == Kind::Opening.as_str() => {
                match Body::decode(Kind::Opening, &r.body) {
                    Ok(Body::Opening(o)) => Some(o),
                    _ => None,
                }
            }
            _ => None,
        })
    }

    /// The X report at the journal's current end: running totals of the open day, month and
    /// fiscal year, rebuilt from the closures and the records since the last day closure.
    pub fn x_report(&self) -> Result<crate::closure::XReport, ReadError> {
        self.x_report_with(&crate::rules::RuleBook::default())
    }

    /// [`JournalReader::x_report`] of a journal whose fiscal rules are among `rules`.
    pub fn x_report_with(
        &self,
        rules: &crate::rules::RuleBook,
    ) -> Result<crate::closure::XReport, ReadError> {
        let damaged = |e: String| ReadError::Storage {
            path: self.path.clone(),
            reason: e,
        };
        let opening = self
            .opening()?
            .ok_or_else(|| damaged("no readable opening record".into()))?;
        let calendar = rules
            .for_opening(&opening)
            .map_err(damaged)?
            .calendar(&opening)
            .map_err(|e| damaged(e.to_string()))?;
        let state = closure_state(&self.conn, calendar).map_err(|e| damaged(e.to_string()))?;
        state.x_report().map_err(|e| damaged(e.to_string()))
    }

    /// The body of the newest event with `code`, if any.
    pub fn last_event(&self, code: &str) -> Result<Option<crate::body::EventBody>, ReadError> {
        let body = store::last_event_body(&self.conn, code).map_err(|e| self.storage(e))?;
        Ok(body.and_then(|b| match Body::decode(Kind::Event, &b) {
            Ok(Body::Event(e)) if e.code == code => Some(e),
            _ => None,
        }))
    }

    /// One record by global sequence number.
    pub fn record(&self, seq: u64) -> Result<Option<Result<Record, MalformedRow>>, ReadError> {
        store::record_by_seq(&self.conn, seq).map_err(|e| self.storage(e))
    }

    /// The sale with ticket number `ticket_no`, if any. Sales are indexed one number in
    /// [`store::SALE_MARK_INTERVAL`]: the lookup reads forward from the marked sale at or
    /// before `ticket_no`, so at most that many sales. It relies on ticket numbers rising with
    /// `seq`, which the verifier checks; in a journal where they do not, it may miss a sale.
    pub fn sale_by_number(&self, ticket_no: u64) -> Result<Option<Record>, ReadError> {
        let Ok(wanted) = i64::try_from(ticket_no) else {
            return Ok(None);
        };
        match store::sale_seq_by_number(&self.conn, wanted).map_err(|e| self.storage(e))? {
            Some(seq) => Ok(self.record(seq)?.and_then(Result::ok)),
            None => Ok(None),
        }
    }

    /// The highest sequence number stored (0 for an empty file).
    pub fn last_seq(&self) -> Result<u64, ReadError> {
        store::last_seq(&self.conn).map_err(|e| self.storage(e))
    }

    /// Refund records of the sale at `original_seq` written before `before_seq`, in order.
    /// (Uses the unhashed `ref_seq` lookup column; callers check what they get.)
    pub fn refunds_of(&self, original_seq: u64, before_seq: u64) -> Result<Vec<Record>, ReadError> {
        let rows =
            store::refunds_of(&self.conn, original_seq, before_seq).map_err(|e| self.storage(e))?;
        Ok(rows.into_iter().filter_map(Result::ok).collect())
    }

    /// Sequence numbers a verification starting at `start` needs from before it: the opening,
    /// the key changes, and the last record of each kind.
    pub fn context_seqs(&self, start: u64) -> Result<Vec<u64>, ReadError> {
        store::context_seqs(&self.conn, start).map_err(|e| self.storage(e))
    }

    /// Every record of `kind`, in order (for kinds with few records: key changes, closures).
    pub fn records_of_kind(&self, kind: crate::record::Kind) -> Result<Vec<Record>, ReadError> {
        let rows = store::records_of_kind(&self.conn, kind).map_err(|e| self.storage(e))?;
        Ok(rows.into_iter().filter_map(Result::ok).collect())
    }

    /// The journal's current public key: the last key change's, or the opening's.
    pub fn current_public_key(&self) -> Result<Option<crate::keys::PublicKey>, ReadError> {
        let changes = self.records_of_kind(Kind::KeyChange)?;
        let from_change =
            changes
                .iter()
                .rev()
                .find_map(|r| match Body::decode(Kind::KeyChange, &r.body) {
                    Ok(Body::KeyChange(k)) => {
                        crate::keys::decode_key(&k.new_key).ok().map(|(_, vk)| vk)
                    }
                    _ => None,
                });
        Ok(match from_change {
            Some(k) => Some(k),
            None => self
                .opening()?
                .and_then(|o| crate::keys::decode_key(&o.key).ok().map(|(_, vk)| vk)),
        })
    }

    /// Every readable closure, with its seq, in order.
    pub fn closures(&self) -> Result<Vec<(u64, crate::closure::ClosureBody)>, ReadError> {
        Ok(self
            .records_of_kind(Kind::Closure)?
            .into_iter()
            .filter_map(|r| match Body::decode(Kind::Closure, &r.body) {
                Ok(Body::Closure(c)) => Some((r.seq, c)),
                _ => None,
            })
            .collect())
    }

    /// The records before `start` that rebuild the closure state at `start`: every closure, and
    /// every record after the last day closure.
    pub fn closure_context_seqs(&self, start: u64) -> Result<Vec<u64>, ReadError> {
        let closures = self.closures()?;
        let last_day = closures
            .iter()
            .filter(|(seq, c)| *seq < start && c.period == crate::closure::Period::Day)
            .map(|(seq, _)| *seq)
            .max()
            .unwrap_or(0);
        let mut out: Vec<u64> = closures
            .iter()
            .map(|(seq, _)| *seq)
            .filter(|seq| *seq < start)
            .collect();
        out.extend(last_day + 1..start);
        Ok(out)
    }

    /// Records of each range `[from, to)` of seqs in turn, in sequence order, one at a time
    /// (`Some`), then `None` at the end of each range; all within one read transaction (a
    /// consistent snapshot). `to` of `None` reads to the end. Stops early when `f` breaks.
    /// With `hash_only`, each record comes with its computed hash and without its body (see
    /// [`store::row_to_record_with`]); otherwise with its body and no hash.
    pub(crate) fn for_each_in_ranges<F>(
        &self,
        ranges: impl IntoIterator<Item = (u64, Option<u64>)>,
        hash_only: bool,
        f: F,
    ) -> Result<(), ReadError>
    where
        F: FnMut(Option<(Result<Record, MalformedRow>, Option<Hash>)>) -> ControlFlow<()>,
    {
        store::for_each_in_ranges(&self.conn, ranges, hash_only, f).map_err(|e| self.storage(e))
    }

    /// Records with `seq >= from_seq` in sequence order, one at a time, within one read
    /// transaction (a consistent snapshot). Stops early when `f` breaks.
    pub fn for_each_from<F>(&self, from_seq: u64, f: F) -> Result<(), ReadError>
    where
        F: FnMut(Result<Record, MalformedRow>) -> ControlFlow<()>,
    {
        store::for_each_from(&self.conn, from_seq, f).map_err(|e| self.storage(e))
    }
}

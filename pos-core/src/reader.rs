//! Read-only access to a journal file. Any number of readers may open a journal while its writer
//! appends; each read sees a consistent prefix of the chain (SQLite WAL snapshots).

use crate::body::{Body, OpeningBody};
use crate::record::{Hash, Kind, Record};
use crate::store::{self, MalformedRow, RECORD_COLUMNS};
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
        let damaged = |e: String| ReadError::Storage {
            path: self.path.clone(),
            reason: e,
        };
        let opening = self
            .opening()?
            .ok_or_else(|| damaged("no readable opening record".into()))?;
        let state = crate::journal::recovery::load_closures(&self.conn, &opening)
            .map_err(|e| damaged(e.to_string()))?;
        state.x_report().map_err(|e| damaged(e.to_string()))
    }

    /// The body of the newest event with `code`, if any.
    pub fn last_event(&self, code: &str) -> Result<Option<crate::body::EventBody>, ReadError> {
        let pattern = format!("%\"code\":\"{code}\"%");
        let body: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT body FROM records WHERE kind = 'event' AND kind <> 'sale' \
                 AND CAST(body AS TEXT) LIKE ?1 \
                 ORDER BY seq DESC LIMIT 1",
                [pattern],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(|e| self.storage(e))?;
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
        let storage = |e| self.storage(e);
        let from: i64 = self
            .conn
            .query_row(store::MARKED_SALE_AT_OR_BEFORE, [wanted], |r| r.get(0))
            .map_err(storage)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, kind_seq FROM records WHERE seq >= ?1 AND kind = 'sale' ORDER BY seq",
            )
            .map_err(storage)?;
        let mut rows = stmt.query([from]).map_err(storage)?;
        while let Some(row) = rows.next().map_err(storage)? {
            let number: i64 = row.get(1).map_err(storage)?;
            if number == wanted {
                let seq: i64 = row.get(0).map_err(storage)?;
                return Ok(self.record(seq as u64)?.and_then(Result::ok));
            }
            if number > wanted {
                break;
            }
        }
        Ok(None)
    }

    /// The highest sequence number stored (0 for an empty file).
    pub fn last_seq(&self) -> Result<u64, ReadError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM records", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|s| s.max(0) as u64)
            .map_err(|e| self.storage(e))
    }

    /// Refund records of the sale at `original_seq` written before `before_seq`, in order.
    /// (Uses the unhashed `ref_seq` lookup column; callers check what they get.)
    pub fn refunds_of(&self, original_seq: u64, before_seq: u64) -> Result<Vec<Record>, ReadError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records \
                 WHERE ref_seq = ?1 AND kind = 'refund' AND seq < ?2 ORDER BY seq"
            ))
            .map_err(|e| self.storage(e))?;
        let rows = stmt
            .query_map([original_seq as i64, before_seq as i64], |row| {
                Ok(store::row_to_record(row))
            })
            .map_err(|e| self.storage(e))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(rec) = r.map_err(|e| self.storage(e))? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Sequence numbers a verification starting at `start` needs from before it: the opening,
    /// the key changes, and the last record of each kind.
    pub fn context_seqs(&self, start: u64) -> Result<Vec<u64>, ReadError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq FROM records WHERE seq < ?1 AND kind IN ('opening', 'key_change') \
                 AND kind <> 'sale' \
                 UNION SELECT MAX(seq) FROM records WHERE seq < ?1 AND kind <> 'sale' GROUP BY kind \
                 UNION SELECT * FROM (SELECT seq FROM records WHERE seq < ?1 AND kind = 'sale' \
                 ORDER BY seq DESC LIMIT 1)",
            )
            .map_err(|e| self.storage(e))?;
        let rows = stmt
            .query_map([start as i64], |r| r.get::<_, i64>(0))
            .map_err(|e| self.storage(e))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r.map_err(|e| self.storage(e))?.max(0) as u64);
        }
        Ok(out)
    }

    /// Every record of `kind`, in order (for kinds with few records: key changes, closures).
    pub fn records_of_kind(&self, kind: crate::record::Kind) -> Result<Vec<Record>, ReadError> {
        // Sales are not in the kind index; the other kinds' query repeats its term.
        let sql = if kind == Kind::Sale {
            format!("SELECT {RECORD_COLUMNS} FROM records WHERE kind = ?1 ORDER BY seq")
        } else {
            format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE kind = ?1 AND kind <> 'sale' \
                 ORDER BY seq"
            )
        };
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| self.storage(e))?;
        let rows = stmt
            .query_map([kind.as_str()], |row| Ok(store::row_to_record(row)))
            .map_err(|e| self.storage(e))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(rec) = r.map_err(|e| self.storage(e))? {
                out.push(rec);
            }
        }
        Ok(out)
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
        mut f: F,
    ) -> Result<(), ReadError>
    where
        F: FnMut(Option<(Result<Record, MalformedRow>, Option<Hash>)>) -> ControlFlow<()>,
    {
        let bound = |seq: u64| seq.min(i64::MAX as u64) as i64;
        self.conn
            .execute_batch("BEGIN")
            .map_err(|e| self.storage(e))?;
        let result = (|| {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 AND seq < ?2 \
                     ORDER BY seq"
                ))
                .map_err(|e| self.storage(e))?;
            for (from, to) in ranges {
                let to = to.map_or(i64::MAX, bound);
                let mut rows = stmt.query([bound(from), to]).map_err(|e| self.storage(e))?;
                while let Some(row) = rows.next().map_err(|e| self.storage(e))? {
                    let item = match store::row_to_record_with(row, hash_only) {
                        Ok((record, hash)) => (Ok(record), hash),
                        Err(m) => (Err(m), None),
                    };
                    if f(Some(item)).is_break() {
                        return Ok(());
                    }
                }
                if f(None).is_break() {
                    return Ok(());
                }
            }
            Ok(())
        })();
        let _ = self.conn.execute_batch("COMMIT");
        result
    }

    /// Records with `seq >= from_seq` in sequence order, one at a time, within one read
    /// transaction (a consistent snapshot). Stops early when `f` breaks.
    pub fn for_each_from<F>(&self, from_seq: u64, mut f: F) -> Result<(), ReadError>
    where
        F: FnMut(Result<Record, MalformedRow>) -> ControlFlow<()>,
    {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 ORDER BY seq"
            ))
            .map_err(|e| self.storage(e))?;
        let mut rows = stmt
            .query([from_seq.min(i64::MAX as u64) as i64])
            .map_err(|e| self.storage(e))?;
        while let Some(row) = rows.next().map_err(|e| self.storage(e))? {
            if f(store::row_to_record(row)).is_break() {
                break;
            }
        }
        Ok(())
    }
}

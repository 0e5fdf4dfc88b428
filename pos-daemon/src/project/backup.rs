//! The backup projection: a day closure in the journal makes a snapshot due. The due mark and
//! the cursor (written with each mark, and every [`PERSIST_EVERY`] records) are kept in
//! `ops.db`, so a closure whose snapshot was not taken yet (posd stopped, the medium absent)
//! is still due at the next start; the backup worker ([`crate::backup::worker`]) takes it and
//! clears the mark.

use super::{Projected, Projection, ProjectionError};
use crate::ops::Ops;
use pos_core::body::Body;
use pos_core::closure::Period;
use std::sync::Arc;

/// The `ops.db` meta key of the projection's cursor.
pub const CURSOR: &str = "backup_cursor";
/// The `ops.db` meta key of the seq of the last day closure whose snapshot is due.
pub const DUE: &str = "backup_due";
/// The projection's name.
const NAME: &str = "backup";
/// The cursor is written with every due mark, and otherwise once this many records passed: a
/// write per batch of sales would cost a commit each, for records this projection has no use
/// for (after a restart it reads again at most this many).
pub const PERSIST_EVERY: u64 = 10_000;

/// Day closures, as snapshots due.
pub struct BackupProjection {
    ops: Arc<Ops>,
    /// Woken when a snapshot becomes due.
    notify: Arc<tokio::sync::Notify>,
    /// The cursor to take when `ops.db` has none: the journal's head at the first start with
    /// backups (the closures of the past are not due again).
    first_cursor: u64,
    /// The cursor as last written to `ops.db`.
    persisted: u64,
}

impl BackupProjection {
    /// The projection, keeping its marks in `ops`, waking `notify`.
    pub fn new(ops: Arc<Ops>, notify: Arc<tokio::sync::Notify>, first_cursor: u64) -> Self {
        BackupProjection {
            ops,
            notify,
            first_cursor,
            persisted: 0,
        }
    }
}

fn error(e: rusqlite::Error) -> ProjectionError {
    ProjectionError::new(NAME, e)
}

impl Projection for BackupProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cursor(&mut self) -> Result<u64, ProjectionError> {
        let cursor = match self.ops.meta(CURSOR).map_err(error)? {
            Some(v) => v
                .parse()
                .map_err(|_| ProjectionError::new(NAME, format!("cursor {v:?} is not a seq")))?,
            None => {
                self.ops
                    .set_meta(CURSOR, &self.first_cursor.to_string())
                    .map_err(error)?;
                self.first_cursor
            }
        };
        self.persisted = cursor;
        Ok(cursor)
    }

    fn apply(&mut self, records: &[Projected], upto: u64) -> Result<(), ProjectionError> {
        let closed = records
            .iter()
            .rev()
            .find(|p| matches!(&p.body, Some(Body::Closure(c)) if c.period == Period::Day));
        // The mark before the cursor: a stop between them makes it due again, never lost; and
        // the cursor written past the closure, so that it is never marked again.
        if let Some(p) = closed {
            self.ops
                .set_meta(DUE, &p.record.seq.to_string())
                .map_err(error)?;
            self.notify.notify_one();
        }
        if closed.is_some() || upto.saturating_sub(self.persisted) >= PERSIST_EVERY {
            self.ops
                .set_meta(CURSOR, &upto.to_string())
                .map_err(error)?;
            self.persisted = upto;
        }
        Ok(())
    }
}

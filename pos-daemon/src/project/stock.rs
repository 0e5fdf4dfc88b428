//! The stock projection: the stock movements of sales and refunds in the ledger (`stock.db`),
//! with its own cursor there, moved in the commit of the movements it follows. Every movement
//! is keyed by its record's seq as well: records applied again (a pickup's movement is
//! committed on its own) change nothing.

use super::{stock_moves, Projected, Projection, ProjectionError};
use crate::stock::SharedLedger;
use shop_sync::ledger::LedgerError;

/// The ledger's meta key of the projection's cursor.
pub const CURSOR: &str = "projection_cursor";
/// The projection's name.
const NAME: &str = "stock";

/// Stock movements from journal records.
pub struct StockProjection {
    ledger: SharedLedger,
    /// The cursor to take when the ledger has none yet: `ops.db`'s, for a ledger whose
    /// movements were recorded with the print jobs before projections had cursors of their own.
    first_cursor: u64,
}

impl StockProjection {
    /// The projection into `ledger`; `first_cursor` when the ledger has no cursor yet.
    pub fn new(ledger: SharedLedger, first_cursor: u64) -> StockProjection {
        StockProjection {
            ledger,
            first_cursor,
        }
    }
}

fn error(e: LedgerError) -> ProjectionError {
    ProjectionError::new(NAME, e)
}

impl Projection for StockProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cursor(&mut self) -> Result<u64, ProjectionError> {
        let mut l = crate::stock::lock(&self.ledger);
        match l.meta(CURSOR).map_err(error)? {
            Some(v) => v
                .parse()
                .map_err(|_| ProjectionError::new(NAME, format!("cursor {v:?} is not a seq"))),
            None => {
                l.set_meta(CURSOR, &self.first_cursor.to_string())
                    .map_err(error)?;
                Ok(self.first_cursor)
            }
        }
    }

    fn apply(&mut self, records: &[Projected], upto: u64) -> Result<(), ProjectionError> {
        let jobs: Vec<_> = records
            .iter()
            .filter_map(|p| {
                let job = stock_moves(p.kind?, p.body.as_ref()?, p.record.seq);
                (!job.stock.is_empty()).then_some(job)
            })
            .collect();
        if jobs.is_empty() {
            // Nothing moves: the stored cursor stays behind (records without stock are read
            // again after a restart, and change nothing), sparing a commit per batch of
            // events.
            return Ok(());
        }
        let upto = upto.to_string();
        crate::stock::record_jobs(&self.ledger, &jobs, (CURSOR, &upto)).map_err(error)
    }
}

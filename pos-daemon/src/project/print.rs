//! The print projection: a print job in `ops.db` for every ticket, duplicate and closure, with
//! its drawer kick, recorded in one transaction with its cursor (`ops.db`'s). Closures are
//! also published on the event stream, with their job.

use super::{print_job, printable, Projected, Projection, ProjectionError};
use crate::bus::Bus;
use crate::ops::{NewRecordJob, Ops};
use crate::print::Printing;
use crate::till::Till;
use pos_core::body::Body;
use pos_core::record::Kind;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A record projected more than this after it was journaled gets a job that is not printed
/// (`skipped`). A receipt printed long after the sale would be a second original, and an
/// `ops.db` lost and created again, or restored from an old backup, replays the whole journal:
/// every receipt ever printed would come out again. Fifteen minutes covers a restart after a
/// crash; an older record is reprinted on demand, as a duplicate.
pub const PRINT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How many recent job ids are remembered for the answers waiting on them.
const RECENT: usize = 8192;
/// The projection's name.
const NAME: &str = "print";

/// Print jobs from journal records.
pub struct PrintProjection {
    ops: Arc<Ops>,
    printing: Arc<Printing>,
    till: Arc<Till>,
    bus: Bus,
    recent: HashMap<u64, i64>,
    order: VecDeque<u64>,
    created: usize,
}

impl PrintProjection {
    /// The projection into `ops`, waking `printing`'s worker, publishing closures on `bus`.
    pub fn new(ops: Arc<Ops>, printing: Arc<Printing>, till: Arc<Till>, bus: Bus) -> Self {
        PrintProjection {
            ops,
            printing,
            till,
            bus,
            recent: HashMap::new(),
            order: VecDeque::new(),
            created: 0,
        }
    }

    /// How many jobs it has created since it was made.
    pub fn created(&self) -> usize {
        self.created
    }

    fn remember(&mut self, seq: u64, id: i64) {
        if self.recent.insert(seq, id).is_none() {
            self.order.push_back(seq);
        }
        while self.order.len() > RECENT {
            if let Some(old) = self.order.pop_front() {
                self.recent.remove(&old);
            }
        }
    }

    /// The job id of `seq`, when it is projected (`cursor`: the projection's cursor).
    pub fn job_of(&self, seq: u64, cursor: u64) -> Option<i64> {
        if seq > cursor {
            return None;
        }
        if let Some(id) = self.recent.get(&seq) {
            return Some(*id);
        }
        self.ops.job_of_seq(seq).ok().flatten().map(|j| j.id)
    }

    /// Publishes a closure on the event stream, with its print job.
    fn publish_closure(&self, p: &Projected) {
        let seq = p.record.seq;
        let job = self.recent.get(&seq).copied();
        let body: serde_json::Value = serde_json::from_slice(&p.record.body).unwrap_or_default();
        tracing::info!(seq, number = p.record.kind_seq, "closure written");
        self.bus.publish(
            "closure",
            serde_json::json!({
                "seq": seq, "number": p.record.kind_seq, "print_job": job,
                "period": body.get("period"), "automatic": body.get("automatic"),
                "start": body.get("start"), "end": body.get("end"),
            }),
        );
    }
}

impl Projection for PrintProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cursor(&mut self) -> Result<u64, ProjectionError> {
        self.ops.cursor().map_err(|e| ProjectionError::new(NAME, e))
    }

    fn apply(&mut self, records: &[Projected], upto: u64) -> Result<(), ProjectionError> {
        let now = self.till.clock.now_ms();
        let mut jobs: Vec<NewRecordJob> = Vec::new();
        for p in records {
            let (Some(kind), Some(body)) = (p.kind.filter(|k| printable(*k)), &p.body) else {
                continue;
            };
            let mut job = print_job(kind, body, p.record.seq);
            job.held = self.printing.receipts_on_request()
                && matches!(kind, Kind::Sale | Kind::Refund | Kind::Training);
            if now.saturating_sub(p.record.timestamp_ms) > PRINT_WINDOW_MS {
                job.not_printed = Some(format!(
                    "journaled at {}, too long before it was projected to print as an \
                     original: reprint it as a duplicate if needed",
                    crate::printout::local_time(
                        p.record.timestamp_ms,
                        &self.till.opening.time_zone
                    )
                ));
            }
            jobs.push(job);
        }
        let stale = jobs.iter().filter(|j| j.not_printed.is_some()).count();
        if stale > 0 {
            tracing::warn!(
                count = stale,
                "records journaled too long ago are not printed (reprint them as duplicates)"
            );
        }
        let ids = self
            .ops
            .apply_projection(&jobs, upto)
            .map_err(|e| ProjectionError::new(NAME, e))?;
        self.created += ids.len();
        let woken = !ids.is_empty();
        for (seq, id) in ids {
            self.remember(seq, id);
        }
        if woken {
            self.printing.notify.notify_one();
        }
        for p in records {
            if p.kind == Some(Kind::Closure) && matches!(p.body, Some(Body::Closure(_))) {
                self.publish_closure(p);
                // The day is closed: its held receipts will not be asked for any more. Done
                // again at the next closure if this write is lost.
                if let Err(e) = self.ops.skip_held_before(p.record.seq) {
                    tracing::warn!(error = %e, "held receipts not marked skipped at the closure");
                }
            }
        }
        Ok(())
    }
}

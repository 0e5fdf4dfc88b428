//! The projector: one thread turning journal records into print jobs and stock movements in
//! `ops.db`, in batches.
//!
//! Every append made by the daemon sends its seq here ([`App::project`]); the projector reads
//! the journal from its cursor up to the highest seq it was told about and records, in one
//! transaction, the jobs and stock movements of every printable record in that range and the
//! new cursor. Records the daemon did not append itself are covered the same way: the closures
//! the journal writes before a record of a later day, and the events. Closures are published
//! on the event stream and printed like tickets (the journal itself anchors the head after
//! them when `anchor_path` is set). When idle, the projector looks at the journal head every
//! [`IDLE_CHECK`], and at startup it catches up before the API opens.

use crate::app::{printable, side_effects, App};
use crate::ops::NewRecordJob;
use pos_core::body::Body;
use pos_core::reader::JournalReader;
use pos_core::record::Kind;
use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

/// How many notices may wait for the projector (the senders wait beyond that).
pub const QUEUE: usize = 4096;
/// The most notices taken in one batch.
pub const MAX_BATCH: usize = 512;
/// How often an idle projector looks at the journal head.
pub const IDLE_CHECK: Duration = Duration::from_secs(1);
/// How many recent job ids are remembered for late notices.
const RECENT: usize = 8192;
/// A record projected more than this after it was journaled gets a job that is not printed
/// (`skipped`). A receipt printed long after the sale would be a second original, and an
/// `ops.db` lost and created again, or restored from an old backup, replays the whole journal:
/// every receipt ever printed would come out again. Fifteen minutes covers a restart after a
/// crash; an older record is reprinted on demand, as a duplicate.
pub const PRINT_WINDOW_MS: i64 = 15 * 60 * 1000;

/// An appended record to project; the reply gets its print job id (none for records that do
/// not print, or when `ops.db` failed: the next batch or start retries from the cursor).
#[derive(Debug)]
pub struct Notice {
    /// The record's seq.
    pub seq: u64,
    /// Where to answer, if anyone waits.
    pub reply: Option<tokio::sync::oneshot::Sender<Option<i64>>>,
}

/// The sending side, held by [`App`].
pub type Sender = SyncSender<Notice>;

/// The projector's state: the journal reader, the cursor and the recent job ids.
pub struct Projector {
    reader: Option<JournalReader>,
    cursor: u64,
    recent: HashMap<u64, i64>,
    order: VecDeque<u64>,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

/// A closure seen while projecting.
#[derive(Debug, Clone)]
struct ClosureSeen {
    seq: u64,
    number: u64,
    body: serde_json::Value,
}

impl Projector {
    /// A projector starting at `ops.db`'s cursor.
    pub fn new(app: &App) -> Result<Projector, String> {
        Ok(Projector {
            reader: None,
            cursor: app.ops.cursor().map_err(|e| e.to_string())?,
            recent: HashMap::new(),
            order: VecDeque::new(),
        })
    }

    /// The last seq projected.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    fn reader(&mut self, app: &App) -> Result<&JournalReader, String> {
        if self.reader.is_none() {
            self.reader =
                Some(JournalReader::open(&app.config.journal_path()).map_err(|e| e.to_string())?);
        }
        self.reader.as_ref().ok_or_else(|| "no reader".to_string())
    }

    /// The journal's last seq.
    pub fn head(&mut self, app: &App) -> Result<u64, String> {
        let r = self.reader(app)?.last_seq().map_err(|e| e.to_string());
        if r.is_err() {
            self.reader = None;
        }
        r
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

    /// Projects every record up to `upto` (durable records only: callers pass seqs whose
    /// append returned, or the journal head). Returns how many jobs were created.
    pub fn project_to(&mut self, app: &App, upto: u64) -> Result<usize, String> {
        if upto <= self.cursor {
            return Ok(0);
        }
        let from = self.cursor + 1;
        let mut jobs: Vec<NewRecordJob> = Vec::new();
        let mut closures = Vec::new();
        let mut last = self.cursor;
        let now = app.clock.now_ms();
        let read = self.reader(app)?.for_each_from(from, |rec| {
            let Ok(rec) = rec else {
                // A malformed row prints nothing; verification reports it.
                return ControlFlow::Continue(());
            };
            if rec.seq > upto {
                return ControlFlow::Break(());
            }
            last = rec.seq;
            let Some(kind) = rec.known_kind().filter(|k| printable(*k)) else {
                return ControlFlow::Continue(());
            };
            let Ok(body) = Body::decode(kind, &rec.body) else {
                return ControlFlow::Continue(());
            };
            if kind == Kind::Closure {
                closures.push(ClosureSeen {
                    seq: rec.seq,
                    number: rec.kind_seq,
                    body: serde_json::from_slice(&rec.body).unwrap_or_default(),
                });
            }
            let mut job = side_effects(kind, &body, rec.seq);
            if now.saturating_sub(rec.timestamp_ms) > PRINT_WINDOW_MS {
                job.not_printed = Some(format!(
                    "journaled at {}, too long before it was projected to print as an \
                     original: reprint it as a duplicate if needed",
                    crate::printout::local_time(rec.timestamp_ms, &app.opening.time_zone)
                ));
            }
            jobs.push(job);
            ControlFlow::Continue(())
        });
        if let Err(e) = read {
            self.reader = None;
            return Err(e.to_string());
        }
        if last < upto {
            // Not visible yet (should not happen for durable seqs): keep what was read.
            tracing::warn!(
                upto,
                last,
                "journal records not visible yet to the projector"
            );
        }
        if last == self.cursor {
            return Ok(0);
        }
        let stale = jobs.iter().filter(|j| j.not_printed.is_some()).count();
        if stale > 0 {
            tracing::warn!(
                count = stale,
                "records journaled too long ago are not printed (reprint them as duplicates)"
            );
        }
        crate::stock::record_jobs(&app.ledger, &jobs).map_err(|e| e.to_string())?;
        let ids = app
            .ops
            .apply_projection(&jobs, last)
            .map_err(|e| e.to_string())?;
        self.cursor = last;
        let created = ids.len();
        for (seq, id) in ids {
            self.remember(seq, id);
        }
        if created > 0 {
            app.print_notify.notify_one();
        }
        for c in closures {
            let job = self.recent.get(&c.seq).copied();
            tracing::info!(seq = c.seq, number = c.number, "closure written");
            app.bus.publish(
                "closure",
                serde_json::json!({
                    "seq": c.seq, "number": c.number, "print_job": job,
                    "period": c.body.get("period"), "automatic": c.body.get("automatic"),
                    "start": c.body.get("start"), "end": c.body.get("end"),
                }),
            );
        }
        Ok(created)
    }

    /// The job id of a projected seq.
    fn job_of(&self, app: &App, seq: u64) -> Option<i64> {
        if seq > self.cursor {
            return None;
        }
        if let Some(id) = self.recent.get(&seq) {
            return Some(*id);
        }
        app.ops.job_of_seq(seq).ok().flatten().map(|j| j.id)
    }
}

/// Runs the projector thread until the process ends.
pub fn run(app: std::sync::Arc<App>, mut p: Projector, rx: Receiver<Notice>) {
    let mut batch: Vec<Notice> = Vec::with_capacity(MAX_BATCH);
    loop {
        match rx.recv_timeout(IDLE_CHECK) {
            Ok(n) => batch.push(n),
            Err(RecvTimeoutError::Timeout) => {
                // Records appended without a notice (or a failed batch): catch up.
                match p.head(&app) {
                    Ok(head) if head > p.cursor() => {
                        if let Err(e) = p.project_to(&app, head) {
                            tracing::error!(error = %e, "cannot record print jobs in ops.db");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "the projector cannot read the journal"),
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(n) => batch.push(n),
                Err(_) => break,
            }
        }
        let upto = batch.iter().map(|n| n.seq).max().unwrap_or(0);
        if let Err(e) = p.project_to(&app, upto) {
            // The records are journaled: a later batch or the next start retries.
            tracing::error!(error = %e, "cannot record print jobs in ops.db");
        }
        for n in batch.drain(..) {
            if let Some(reply) = n.reply {
                let _ = reply.send(p.job_of(&app, n.seq));
            }
        }
    }
}

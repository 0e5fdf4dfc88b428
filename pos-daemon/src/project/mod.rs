//! The projector: one thread feeding the journal's records, in order, to a list of
//! projections, each with its own store and its own cursor (the last seq it applied).
//!
//! Every append made by the daemon sends its seq here ([`crate::till::Till::project`]); the
//! projector reads the journal once from the lowest cursor up to the highest seq it was told
//! about, in chunks, and hands each projection the records past its cursor. Records the daemon
//! did not append itself are covered the same way: the closures the journal writes before a
//! record of a later day, and the events. When idle, the projector looks at the journal head
//! every [`IDLE_CHECK`]; at startup it catches up before the API opens.
//!
//! A projection added later (an empty store: cursor 0) catches up from the start of the
//! journal on its own cursor; the others, print jobs included, see nothing again. The print
//! projection is the one whose outcome an answer carries (the job id of a sale's receipt): it
//! is held apart from the others for that, and applied through the same interface.

pub mod backup;
pub mod print;
pub mod stock;

use crate::ops::NewRecordJob;
use crate::till::Notice;
use pos_core::body::Body;
use pos_core::reader::JournalReader;
use pos_core::record::{Kind, Record};
use pos_core::ticket::PaymentMethod;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use backup::BackupProjection;
pub use print::{PrintProjection, PRINT_WINDOW_MS};
pub use stock::StockProjection;

/// How many notices may wait for the projector (the senders wait beyond that).
pub const QUEUE: usize = 4096;
/// The most notices taken in one batch.
pub const MAX_BATCH: usize = 512;
/// How often an idle projector looks at the journal head.
pub const IDLE_CHECK: Duration = Duration::from_secs(1);
/// The most records read and handed to the projections at a time (a projection catching up
/// from the start of a long journal does it in steps of this many).
pub const CHUNK: usize = 4096;

/// Why a projection could not apply records; its cursor stays where it was and the records
/// come again with the next batch or at the next start.
#[derive(Debug, thiserror::Error)]
#[error("projection {projection}: {message}")]
pub struct ProjectionError {
    /// The projection's name.
    pub projection: &'static str,
    /// What failed.
    pub message: String,
}

impl ProjectionError {
    /// An error of `projection`.
    pub fn new(projection: &'static str, message: impl std::fmt::Display) -> ProjectionError {
        ProjectionError {
            projection,
            message: message.to_string(),
        }
    }
}

/// Why the projector could not project (the records stay in the journal: the next batch or
/// start tries again).
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// The journal could not be read.
    #[error("the projector cannot read the journal: {0}")]
    Read(#[from] pos_core::reader::ReadError),
    /// No projection's cursor could be read from its store.
    #[error("no projection's cursor can be read")]
    NoCursor,
    /// A projection failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// A journal record as the projections receive it.
#[derive(Debug, Clone)]
pub struct Projected {
    /// The record.
    pub record: Record,
    /// Its kind, when known.
    pub kind: Option<Kind>,
    /// Its body, decoded once for every projection, for tickets, duplicates and closures
    /// (`None` for other kinds and for a body that does not decode: verification reports it).
    pub body: Option<Body>,
}

/// One projection of the journal: it applies records in seq order, each once, and keeps its
/// cursor in its own store, moved with what the records changed.
pub trait Projection: Send {
    /// Its name (logs and errors).
    fn name(&self) -> &'static str;
    /// The last seq it applied, as its store says.
    fn cursor(&mut self) -> Result<u64, ProjectionError>;
    /// Applies `records` (seq ascending, every one past its cursor; none may be missing) and
    /// moves its cursor to `upto` (at least the last record's seq: records it has no use for
    /// are skipped over, not handed).
    fn apply(&mut self, records: &[Projected], upto: u64) -> Result<(), ProjectionError>;
}

/// The print job of a journal record: its drawer kick when paid in cash (pure: the body says
/// it all). Its stock movements are the stock projection's ([`stock_moves`]).
pub fn print_job(kind: Kind, body: &Body, seq: u64) -> NewRecordJob {
    let payments = match (kind, body) {
        (Kind::Sale, Body::Sale(s)) => s.payments.as_slice(),
        (Kind::Refund, Body::Refund(r)) => r.payments.as_slice(),
        _ => &[],
    };
    NewRecordJob {
        seq,
        drawer: payments.iter().any(|p| p.method == PaymentMethod::Cash),
        stock: Vec::new(),
        paid_online: false,
        not_printed: None,
        held: false,
    }
}

/// The stock movements of a journal record, and whether it was paid online (a click & collect
/// pickup); the drawer is the print projection's ([`print_job`]).
pub fn stock_moves(kind: Kind, body: &Body, seq: u64) -> NewRecordJob {
    let (stock, paid_online) = match (kind, body) {
        (Kind::Sale, Body::Sale(s)) => (
            s.lines
                .iter()
                .map(|l| (l.sku.clone(), -l.quantity.0))
                .collect(),
            s.payments.iter().any(|p| p.method == PaymentMethod::Online),
        ),
        // Refund quantities are negative: goods come back.
        (Kind::Refund, Body::Refund(r)) => (
            r.lines
                .iter()
                .map(|l| (l.sku.clone(), -l.quantity.0))
                .collect(),
            false,
        ),
        _ => (Vec::new(), false),
    };
    NewRecordJob {
        seq,
        drawer: false,
        stock,
        paid_online,
        not_printed: None,
        held: false,
    }
}

/// Whether records of this kind get a print job (and a decoded body in [`Projected`]).
pub fn printable(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Sale | Kind::Refund | Kind::Training | Kind::Duplicate | Kind::Closure
    )
}

/// Projections added while the projector runs; it takes them in at its next round.
pub type Additions = Arc<Mutex<Vec<Box<dyn Projection>>>>;

/// A projection and its cursor, as the projector holds them.
struct Held<P: ?Sized> {
    /// `None` until its store has been read (and again after a failure).
    cursor: Option<u64>,
    /// Its failures are logged at most once a minute: a store that stays down must not write
    /// a log line per batch of sales (it is tried again with every batch).
    failures: crate::throttle::Throttle,
    /// It failed earlier in this round: it gets no later chunk of the round (the records of the
    /// chunk that failed would be missing from them); the next round reads from its cursor.
    out_of_round: bool,
    projection: Box<P>,
}

impl<P: Projection + ?Sized> Held<P> {
    fn new(projection: Box<P>) -> Held<P> {
        Held {
            projection,
            cursor: None,
            failures: crate::throttle::Throttle::new(Duration::from_secs(60)),
            out_of_round: false,
        }
    }

    /// Its cursor, read from its store when not known.
    fn cursor(&mut self) -> Option<u64> {
        if self.cursor.is_none() {
            match self.projection.cursor() {
                Ok(c) => self.cursor = Some(c),
                Err(e) => tracing::error!(error = %e, "cannot read a projection's cursor"),
            }
        }
        self.cursor
    }

    /// Applies what of `chunk` lies past its cursor, up to `upto`.
    fn feed(&mut self, chunk: &[Projected], upto: u64) -> Result<(), ProjectionError> {
        if self.out_of_round {
            return Ok(());
        }
        let Some(cursor) = self.cursor() else {
            return Ok(());
        };
        if upto <= cursor {
            return Ok(());
        }
        let start = chunk.partition_point(|p| p.record.seq <= cursor);
        match self.projection.apply(&chunk[start..], upto) {
            Ok(()) => {
                self.cursor = Some(upto);
                Ok(())
            }
            Err(e) => {
                // Read again from its store before the next try, in the next round.
                self.cursor = None;
                self.out_of_round = true;
                if let Some(held_back) = self.failures.pass() {
                    tracing::error!(error = %e, held_back, "projection failed (tried again with the next batch)");
                }
                Err(e)
            }
        }
    }
}

/// The projector's state: the journal reader, the print projection and the others.
pub struct Projector {
    journal_path: PathBuf,
    reader: Option<JournalReader>,
    print: Held<PrintProjection>,
    others: Vec<Held<dyn Projection>>,
    additions: Additions,
    /// Records read and handed at a time ([`CHUNK`]).
    chunk: usize,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("print_cursor", &self.print.cursor)
            .field("others", &self.others.len())
            .finish_non_exhaustive()
    }
}

impl Projector {
    /// A projector of the journal at `journal_path` to the print projection and `others`;
    /// projections pushed to `additions` later join at its next round.
    pub fn new(
        journal_path: PathBuf,
        print: PrintProjection,
        others: Vec<Box<dyn Projection>>,
        additions: Additions,
    ) -> Projector {
        Projector {
            journal_path,
            reader: None,
            print: Held::new(Box::new(print)),
            others: others.into_iter().map(Held::new).collect(),
            additions,
            chunk: CHUNK,
        }
    }

    /// The projector handing records `chunk` at a time (at least one) instead of [`CHUNK`].
    pub fn with_chunk(mut self, chunk: usize) -> Projector {
        self.chunk = chunk.max(1);
        self
    }

    /// The print projection's cursor (the last seq whose print job is known).
    pub fn cursor(&mut self) -> u64 {
        self.print.cursor().unwrap_or(0)
    }

    fn reader(&mut self) -> Result<&JournalReader, ProjectorError> {
        let reader = match self.reader.take() {
            Some(r) => r,
            None => JournalReader::open(&self.journal_path)?,
        };
        Ok(self.reader.insert(reader))
    }

    /// The journal's last seq.
    pub fn head(&mut self) -> Result<u64, ProjectorError> {
        let r = self.reader()?.last_seq().map_err(ProjectorError::from);
        if r.is_err() {
            self.reader = None;
        }
        r
    }

    /// Takes in the projections added since the last round.
    fn take_additions(&mut self) {
        let added: Vec<Box<dyn Projection>> = match self.additions.lock() {
            Ok(mut a) => a.drain(..).collect(),
            Err(p) => p.into_inner().drain(..).collect(),
        };
        for p in added {
            tracing::info!(
                projection = p.name(),
                "projection added: it catches up with the journal"
            );
            self.others.push(Held::new(p));
        }
    }

    /// Reads records `from..=upto` (at most a chunk); returns them and the last seq read.
    fn read_chunk(
        &mut self,
        from: u64,
        upto: u64,
    ) -> Result<(Vec<Projected>, u64), ProjectorError> {
        let mut out = Vec::new();
        let mut last = from.saturating_sub(1);
        let chunk = self.chunk;
        let read = self.reader()?.for_each_from(from, |rec| {
            let Ok(rec) = rec else {
                // A malformed row projects nothing; verification reports it.
                return ControlFlow::Continue(());
            };
            if rec.seq > upto {
                return ControlFlow::Break(());
            }
            last = rec.seq;
            let kind = rec.known_kind();
            let body = kind
                .filter(|k| printable(*k))
                .and_then(|k| Body::decode(k, &rec.body).ok());
            out.push(Projected {
                record: rec,
                kind,
                body,
            });
            if out.len() >= chunk {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if let Err(e) = read {
            self.reader = None;
            return Err(e.into());
        }
        Ok((out, last))
    }

    /// Projects every record up to `upto` (durable records only: callers pass seqs whose
    /// append returned, or the journal head) to every projection behind it. Returns how many
    /// print jobs were created.
    pub fn project_to(&mut self, upto: u64) -> Result<usize, ProjectorError> {
        self.take_additions();
        self.print.out_of_round = false;
        for h in &mut self.others {
            h.out_of_round = false;
        }
        let before = self.print_jobs_created();
        let print = self.print.cursor();
        let lowest = self
            .others
            .iter_mut()
            .filter_map(|h| h.cursor())
            .chain(print)
            .min();
        let Some(lowest) = lowest else {
            return Err(ProjectorError::NoCursor);
        };
        let mut from = lowest + 1;
        let mut failure = None;
        while from <= upto {
            let (chunk, last) = self.read_chunk(from, upto)?;
            if last < from {
                // Not visible yet (should not happen for durable seqs): keep what was read.
                tracing::warn!(
                    upto,
                    from,
                    "journal records not visible yet to the projector"
                );
                break;
            }
            let print = self.print.feed(&chunk, last);
            let others = self.others.iter_mut().map(|h| h.feed(&chunk, last));
            for result in std::iter::once(print).chain(others.collect::<Vec<_>>()) {
                if let Err(e) = result {
                    failure = Some(e);
                }
            }
            from = last + 1;
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(self.print_jobs_created() - before),
        }
    }

    fn print_jobs_created(&self) -> usize {
        self.print.projection.created()
    }

    /// The print job id of a projected seq.
    fn job_of(&mut self, seq: u64) -> Option<i64> {
        let cursor = self.print.cursor()?;
        self.print.projection.job_of(seq, cursor)
    }
}

/// Runs the projector thread until the process ends.
pub fn run(mut p: Projector, rx: Receiver<Notice>) {
    let mut batch: Vec<Notice> = Vec::with_capacity(MAX_BATCH);
    loop {
        match rx.recv_timeout(IDLE_CHECK) {
            Ok(n) => batch.push(n),
            Err(RecvTimeoutError::Timeout) => {
                // Records appended without a notice, a failed batch, a projection added:
                // catch up with the head.
                match p.head() {
                    Ok(head) => match p.project_to(head) {
                        Ok(_) | Err(ProjectorError::Projection(_)) => {}
                        Err(e) => tracing::error!(error = %e, "the projector cannot catch up"),
                    },
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
        match p.project_to(upto) {
            // Logged where it failed, at most once a minute.
            Ok(_) | Err(ProjectorError::Projection(_)) => {}
            // The records are journaled: a later batch or the next start retries.
            Err(e) => tracing::error!(error = %e, "cannot project the records"),
        }
        for n in batch.drain(..) {
            if let Some(reply) = n.reply {
                let _ = reply.send(p.job_of(n.seq));
            }
        }
    }
}

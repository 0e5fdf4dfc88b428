//! The writer: sequencing, closures, parallel signing and one commit per batch. It runs on the
//! thread of whichever caller leads (see [`super::Journal`]).

use super::files::FileWatch;
use super::recovery::{self, format_rates};
use super::{Appended, ClockAhead, Head, JournalError, Shared, MAX_BATCH_RECORDS};
use crate::anchor::{append_anchor, Anchor};
use crate::body::{Body, DuplicateBody, DuplicateOf, EventBody, OpeningBody, DUPLICABLE_KINDS};
use crate::canonical::to_canonical;
use crate::closure::{ClosureState, Period, XReport};
use crate::events;
use crate::journal::Clock;
use crate::keys::{SignError, Signer};
use crate::money::VatRate;
use crate::record::{record_hash, Header, Kind, Record, FORMAT_VERSION, ZERO_HASH};
use crate::store;
use crate::ticket::{
    check_text_field, compute_refund, OriginalRef, RefundBody, RefundInput, Remaining, SaleBody,
    TicketError,
};
use rayon::prelude::*;
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

/// What a waiting caller is told: its result, or that it leads the next round.
pub(crate) enum Answer<T> {
    /// The request was served.
    Done(Result<T, JournalError>),
    /// The caller now serves everything pending, its own request included.
    Lead,
}

pub(crate) type Reply<T> = SyncSender<Answer<T>>;

/// Whether SQLite failed to flush a commit it had written: the commit's frames are then in the
/// WAL, unpublished, and a crash before the next commit would bring them back.
fn is_failed_flush(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi;
    matches!(
        e.sqlite_error().map(|f| f.extended_code),
        Some(ffi::SQLITE_IOERR_FSYNC | ffi::SQLITE_IOERR_DIR_FSYNC)
    )
}

/// Tells a caller its result (a caller that has gone away has nothing to be told).
fn answer<T>(reply: &Reply<T>, result: Result<T, JournalError>) {
    let _ = reply.send(Answer::Done(result));
}

/// Committed records with the caller to tell, if any.
type Committed = Vec<(Option<Reply<Appended>>, Appended)>;

/// A request to the writer.
pub(crate) enum Request {
    /// Append one record.
    Append {
        kind: Kind,
        payload: Box<Payload>,
        reply: Reply<Appended>,
    },
    /// Write closures on demand.
    Close {
        period: Period,
        reply: Reply<Vec<Appended>>,
    },
    /// Report running totals.
    XReport { reply: Reply<XReport> },
    /// Write the head to the anchor file (if configured) and return it.
    Anchor { reply: Reply<Anchor> },
}

impl Request {
    /// Tells the caller waiting for this request that it leads the next round; `false` if it
    /// has gone away (a waiting caller keeps its receiver until it is answered, so it has not).
    pub(crate) fn hand_lead(&self) -> bool {
        match self {
            Request::Append { reply, .. } => reply.send(Answer::Lead).is_ok(),
            Request::Close { reply, .. } => reply.send(Answer::Lead).is_ok(),
            Request::XReport { reply } => reply.send(Answer::Lead).is_ok(),
            Request::Anchor { reply } => reply.send(Answer::Lead).is_ok(),
        }
    }
}

/// A record made ready on the caller's thread, where encoding work can run in parallel.
pub(crate) enum Payload {
    /// A computed sale or training ticket and its canonical bytes.
    Sale { body: SaleBody, bytes: Vec<u8> },
    /// Canonical bytes of a technical event.
    Body(Vec<u8>),
    /// A refund, computed by the writer against what remains of its original.
    Refund {
        original_seq: u64,
        input: RefundInput,
    },
    /// A key change and the new key.
    KeyChange {
        new_key: Arc<dyn Signer>,
        bytes: Vec<u8>,
    },
    /// A reprint; the writer gives the copy number.
    Duplicate {
        original_seq: u64,
        operator: String,
        reason: String,
    },
    /// New VAT rates.
    SetVatRates {
        rates: Vec<VatRate>,
        operator: String,
    },
    /// An operator confirms a clock reading far ahead of the last record.
    ConfirmClock { operator: String },
}

/// The writer's state. Only the leading caller touches it (behind the journal's lock).
pub(crate) struct Writer {
    conn: Connection,
    head: Head,
    closures: ClosureState,
    rates: Vec<VatRate>,
    in_clock_anomaly: bool,
    clock: Arc<dyn Clock>,
    register_id: String,
    anchor_path: Option<std::path::PathBuf>,
    /// Why the last automatic anchor could not be written.
    pub(crate) anchor_error: Option<String>,
    /// Signs batches on threads of their own: callers may be workers of rayon's global pool,
    /// blocked on their reply, which would leave no worker to sign on that pool.
    signers: Option<rayon::ThreadPool>,
    /// Commits refused by the storage, until an event has told of them.
    failed_writes: Option<FailedWrites>,
    /// Commits refused because the signer could not sign, until an event has told of them.
    failed_signing: Option<FailedWrites>,
    /// Why the last commit was refused, if none has succeeded since.
    last_refusal: Option<String>,
    /// The journal's files, checked before commits (none while a journal is being created).
    files: Option<FileWatch>,
    /// Why a commit's outcome is unknown (a failed flush the writer could not settle): no
    /// commit is attempted any more, until the journal is reopened.
    outcome_unknown: Option<String>,
    /// How far ahead of the last record the clock may read before records need a
    /// confirmation ([`super::JournalOptions::clock_ahead_limit_ms`]).
    clock_ahead_limit_ms: Option<i64>,
}

/// Commits the storage refused (a full or failing disk), or that could not be signed (a signing
/// device absent or failing), not told yet. The next commit of callers' records opens with a
/// `journal_write_failed` or `signing_failed` event that tells of them, so that the incident is
/// in the journal once the disk takes writes, or the device signs, again.
#[derive(Debug)]
struct FailedWrites {
    /// The event code that tells of them.
    code: &'static str,
    /// When the first refused commit was attempted (UTC ms, from the clock).
    first_ms: i64,
    /// When the last one was.
    last_ms: i64,
    /// Commits refused.
    commits: u64,
    /// Callers' records refused in them (not the closures and events the journal adds
    /// itself, sealed again in each attempt).
    records: u64,
    /// The last error.
    error: String,
}

impl FailedWrites {
    fn event(&self) -> EventBody {
        let by = if self.code == events::SIGNING_FAILED {
            "the signer"
        } else {
            "the storage"
        };
        let message = format!(
            "{} records could not be written ({} commits refused by {by}): {}",
            self.records, self.commits, self.error
        );
        let details = BTreeMap::from([
            ("first_failure_ms".to_string(), self.first_ms.to_string()),
            ("last_failure_ms".to_string(), self.last_ms.to_string()),
            ("commits_refused".to_string(), self.commits.to_string()),
            ("records_refused".to_string(), self.records.to_string()),
            ("error".to_string(), self.error.clone()),
        ]);
        event_body(self.code, message, details)
    }
}

/// One record of a batch, sequenced, signed just before the commit.
struct Slot {
    record: Record,
    kind: Kind,
    ref_seq: Option<u64>,
    clock_went_back: bool,
    signer: Arc<dyn Signer>,
    reply: Option<Reply<Appended>>,
}

/// A batch in progress: copies of the writer's state, advanced record by record, that replace
/// the writer's state only once the batch is committed.
struct Batch {
    head: Head,
    closures: ClosureState,
    rates: Vec<VatRate>,
    in_clock_anomaly: bool,
    now_ms: i64,
    slots: Vec<Slot>,
    /// Refunds accepted earlier in this batch, by original seq.
    pending_refunds: HashMap<u64, Vec<RefundBody>>,
    /// Duplicates accepted earlier in this batch, by original seq.
    pending_copies: HashMap<u64, u64>,
    /// Whether the batch opens with the event telling of refused commits.
    tells_failed_writes: bool,
}

fn event_body(code: &str, message: String, details: BTreeMap<String, String>) -> EventBody {
    EventBody {
        code: code.to_string(),
        message,
        operator: None,
        details,
    }
}

/// A validated caller's record, ready to seal.
struct Ready {
    bytes: Vec<u8>,
    body: Option<Body>,
    ref_seq: Option<u64>,
    then: Then,
}

/// What changes in the batch's state once a record is sealed.
enum Then {
    Nothing,
    NewKey(Arc<dyn Signer>),
    Rates(Vec<VatRate>),
    Refunded(u64, RefundBody),
    Copied(u64),
    Event(EventBody),
}

impl Ready {
    fn new(bytes: Vec<u8>, body: Option<Body>) -> Ready {
        Ready {
            bytes,
            body,
            ref_seq: None,
            then: Then::Nothing,
        }
    }
}

impl Batch {
    /// Seals a validated caller's record with the closures due before it and the events that
    /// follow it.
    fn apply(
        &mut self,
        kind: Kind,
        ready: Ready,
        reply: Reply<Appended>,
    ) -> Result<(), JournalError> {
        let due = self
            .closures
            .due_before(self.now_ms.max(self.head.timestamp_ms));
        self.seal_closures(&due, true)?;
        self.seal(
            kind,
            ready.bytes,
            ready.body.as_ref(),
            ready.ref_seq,
            Some(reply),
        )?;
        match ready.then {
            Then::Nothing => {}
            Then::NewKey(new_key) => {
                let id = new_key.key_id();
                self.head.key = new_key;
                self.seal_event(event_body(
                    events::KEY_ROTATED,
                    format!("signing key changed to {id}"),
                    BTreeMap::from([("new_key_id".to_string(), id.to_hex())]),
                ))?;
            }
            Then::Rates(rates) => self.rates = rates,
            Then::Refunded(original, body) => {
                self.pending_refunds.entry(original).or_default().push(body)
            }
            Then::Copied(original) => *self.pending_copies.entry(original).or_default() += 1,
            Then::Event(body) => self.seal_event(body)?,
        }
        self.after_record()
    }

    /// Seals a record on top of the batch's head; signs later.
    fn seal(
        &mut self,
        kind: Kind,
        bytes: Vec<u8>,
        body: Option<&Body>,
        ref_seq: Option<u64>,
        reply: Option<Reply<Appended>>,
    ) -> Result<(), JournalError> {
        let clock_went_back = self.now_ms < self.head.timestamp_ms;
        let timestamp_ms = self.now_ms.max(self.head.timestamp_ms);
        let (kind_seq, prev_kind_hash) = match self.head.kinds.get(&kind) {
            Some((n, h)) => (n + 1, *h),
            None => (1, ZERO_HASH),
        };
        let key_id = self.head.key.key_id();
        let header = Header {
            format_version: FORMAT_VERSION,
            seq: self.head.seq + 1,
            kind: kind.as_str(),
            kind_seq,
            timestamp_ms,
            prev_hash: &self.head.hash,
            prev_kind_hash: &prev_kind_hash,
            key_id: &key_id,
        };
        let hash = record_hash(&header, &bytes).ok_or_else(|| {
            JournalError::Invalid(format!("body of {} bytes is too large", bytes.len()))
        })?;
        let record = Record {
            format_version: FORMAT_VERSION,
            seq: self.head.seq + 1,
            kind: kind.as_str().to_string(),
            kind_seq,
            timestamp_ms,
            prev_hash: self.head.hash,
            prev_kind_hash,
            key_id,
            body: bytes,
            hash,
            signature: [0; 64],
        };
        match body {
            Some(Body::Closure(c)) => self.closures.apply_closure(record.seq, hash, c)?,
            _ => self
                .closures
                .observe(record.seq, hash, kind, timestamp_ms, body)?,
        }
        self.head.seq = record.seq;
        self.head.hash = hash;
        self.head.timestamp_ms = timestamp_ms;
        self.head.kinds.insert(kind, (kind_seq, hash));
        self.slots.push(Slot {
            record,
            kind,
            ref_seq,
            clock_went_back,
            signer: self.head.key.clone(),
            reply,
        });
        Ok(())
    }

    fn seal_event(&mut self, body: EventBody) -> Result<(), JournalError> {
        let bytes = to_canonical(&body)?;
        self.seal(Kind::Event, bytes, Some(&Body::Event(body)), None, None)
    }

    /// Writes the closures of `periods`, in order, then one `closure_written` event for each
    /// (events come last so that no record stands between closures that are due together).
    fn seal_closures(&mut self, periods: &[Period], automatic: bool) -> Result<(), JournalError> {
        let mut written = Vec::with_capacity(periods.len());
        for &period in periods {
            let closure = self.closures.build(period, automatic)?;
            let bytes = to_canonical(&closure)?;
            written.push((period, closure.start.clone(), closure.end.clone()));
            self.seal(
                Kind::Closure,
                bytes,
                Some(&Body::Closure(closure)),
                None,
                None,
            )?;
        }
        for (period, start, end) in written {
            let message = format!("{} closure {start} to {end}", period.as_str());
            let details = BTreeMap::from([
                ("period".to_string(), period.as_str().to_string()),
                ("start".to_string(), start),
                ("end".to_string(), end),
                ("automatic".to_string(), automatic.to_string()),
            ]);
            self.seal_event(event_body(events::CLOSURE_WRITTEN, message, details))?;
        }
        Ok(())
    }

    /// After a caller's record: a `clock_anomaly` event the first time the clock is found
    /// behind.
    fn after_record(&mut self) -> Result<(), JournalError> {
        let behind = self.now_ms < self.head.timestamp_ms;
        if behind && !self.in_clock_anomaly {
            let details = BTreeMap::from([
                ("clock_ms".to_string(), self.now_ms.to_string()),
                ("kept_ms".to_string(), self.head.timestamp_ms.to_string()),
            ]);
            let message = format!(
                "system clock is {} ms behind the journal; timestamps kept non-decreasing",
                self.head.timestamp_ms - self.now_ms
            );
            self.seal_event(event_body(events::CLOCK_ANOMALY, message, details))?;
        }
        self.in_clock_anomaly = behind;
        Ok(())
    }
}

impl Writer {
    /// Writes the opening record and the `journal_opened` event of a new journal.
    pub(crate) fn genesis(
        conn: Connection,
        key: Arc<dyn Signer>,
        opening: &OpeningBody,
        clock: Arc<dyn Clock>,
    ) -> Result<Writer, JournalError> {
        let mut writer = Writer {
            conn,
            head: Head {
                seq: 0,
                hash: ZERO_HASH,
                timestamp_ms: i64::MIN,
                kinds: HashMap::new(),
                key,
            },
            closures: ClosureState::new(&opening.time_zone, opening.fiscal_year_start_month)?,
            rates: opening.vat_rates.clone(),
            in_clock_anomaly: false,
            clock,
            register_id: opening.register_id.clone(),
            anchor_path: None,
            anchor_error: None,
            signers: None,
            failed_writes: None,
            failed_signing: None,
            last_refusal: None,
            files: None,
            outcome_unknown: None,
            clock_ahead_limit_ms: None,
        };
        let mut batch = writer.batch();
        let bytes = to_canonical(opening)?;
        batch.seal(
            Kind::Opening,
            bytes,
            Some(&Body::Opening(opening.clone())),
            None,
            None,
        )?;
        batch.seal_event(event_body(
            events::JOURNAL_OPENED,
            format!("journal opened for register {}", opening.register_id),
            BTreeMap::from([(
                "software_version".to_string(),
                opening.software.version.clone(),
            )]),
        ))?;
        writer.commit(batch)?;
        Ok(writer)
    }

    /// Resumes an existing journal.
    pub(crate) fn resume(
        conn: Connection,
        key: Arc<dyn Signer>,
        opening: &OpeningBody,
        clock: Arc<dyn Clock>,
    ) -> Result<Writer, JournalError> {
        let head = recovery::load_head(&conn, key)?;
        let closures = recovery::load_closures(&conn, opening)?;
        let rates = recovery::load_rates(&conn, opening)?;
        Ok(Writer {
            conn,
            head,
            closures,
            rates,
            in_clock_anomaly: false,
            clock,
            register_id: opening.register_id.clone(),
            anchor_path: None,
            anchor_error: None,
            signers: None,
            failed_writes: None,
            failed_signing: None,
            last_refusal: None,
            files: None,
            outcome_unknown: None,
            clock_ahead_limit_ms: None,
        })
    }

    /// Moves the WAL's content into the main file and closes the connection (so that the file
    /// can be renamed complete).
    pub(crate) fn close(self) -> Result<(), JournalError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        self.conn.close().map_err(|(_, e)| JournalError::from(e))
    }

    /// Checks `files` before every commit from now on.
    pub(crate) fn watch_files(&mut self, files: FileWatch) {
        self.files = Some(files);
    }

    /// Sets where anchors go.
    pub(crate) fn with_anchor_path(mut self, path: Option<std::path::PathBuf>) -> Writer {
        self.anchor_path = path;
        self
    }

    /// Refuses records while the clock reads further ahead of the last record than `limit_ms`,
    /// until an operator confirms the reading.
    pub(crate) fn with_clock_ahead_limit(mut self, limit_ms: Option<i64>) -> Writer {
        self.clock_ahead_limit_ms = limit_ms;
        self
    }

    /// The last record's timestamp.
    pub(crate) fn head_timestamp_ms(&self) -> i64 {
        self.head.timestamp_ms
    }

    /// The last record's sequence number.
    pub(crate) fn head_seq(&self) -> u64 {
        self.head.seq
    }

    /// The clock read by a batch, if it is further ahead of the batch's last record than the
    /// limit. A reading that far ahead is more often a wrong date (a year typed wrong, a date
    /// set by hand) than a shop closed that long; once a record carries it, every later
    /// record must too (timestamps never go backwards) and the closures of the real days would
    /// be wrong for as long.
    fn clock_ahead(&self, batch: &Batch) -> Option<ClockAhead> {
        let limit_ms = self.clock_ahead_limit_ms?;
        if batch.head.seq == 0 {
            return None;
        }
        ClockAhead::check(batch.now_ms, batch.head.timestamp_ms, limit_ms)
    }

    fn write_anchor(&self, r: &Record) -> Result<(), JournalError> {
        match &self.anchor_path {
            Some(path) => {
                append_anchor(path, &Anchor::of_record(&self.register_id, r)).map_err(|e| {
                    JournalError::Io {
                        path: path.clone(),
                        source: std::io::Error::other(e.to_string()),
                    }
                })
            }
            None => Ok(()),
        }
    }

    /// The VAT rates in force.
    pub(crate) fn rates(&self) -> &[VatRate] {
        &self.rates
    }

    /// The current signing key.
    pub(crate) fn key(&self) -> &Arc<dyn Signer> {
        &self.head.key
    }

    /// A batch on top of the committed state.
    fn batch(&self) -> Batch {
        Batch {
            head: self.head.clone(),
            closures: self.closures.clone(),
            rates: self.rates.clone(),
            in_clock_anomaly: self.in_clock_anomaly,
            now_ms: self.clock.now_ms(),
            slots: Vec::new(),
            pending_refunds: HashMap::new(),
            pending_copies: HashMap::new(),
            tells_failed_writes: false,
        }
    }

    /// A batch for callers' records. After refused commits it opens with the
    /// `journal_write_failed` event (after the closures due, which come before any record of a
    /// new day). Closures on demand do not carry it: a day opened by the event would be the day
    /// a Z asked in the morning closes, instead of the day before. Nor does a batch whose clock
    /// reads too far ahead: its callers' records are refused, and the event would date the
    /// journal as far ahead.
    fn batch_for_appends(&self) -> Result<Batch, JournalError> {
        let mut batch = self.batch();
        if self.clock_ahead(&batch).is_some() {
            return Ok(batch);
        }
        if self.failed_writes.is_some() || self.failed_signing.is_some() {
            let due = batch
                .closures
                .due_before(batch.now_ms.max(batch.head.timestamp_ms));
            batch.seal_closures(&due, true)?;
            for failed in [&self.failed_signing, &self.failed_writes]
                .into_iter()
                .flatten()
            {
                batch.seal_event(failed.event())?;
            }
            batch.tells_failed_writes = true;
        }
        Ok(batch)
    }

    /// Why the last commit was refused, while none has succeeded since.
    fn write_failure(&self) -> Option<String> {
        if let Some(cause) = &self.outcome_unknown {
            let cause = cause.clone();
            return Some(JournalError::OutcomeUnknown { cause }.to_string());
        }
        if let Some(Err(moved)) = self.files.as_ref().map(FileWatch::state) {
            return Some(moved.to_string());
        }
        self.last_refusal.clone()
    }

    /// Notes a commit the storage or the signer refused.
    fn note_failed_commit(&mut self, batch: &Batch, error: &JournalError) {
        let now = self.clock.now_ms();
        // The callers' records: those the journal adds itself (closures, events) are sealed
        // again in the next attempt and would be counted once per attempt.
        let records = batch.slots.iter().filter(|s| s.reply.is_some()).count() as u64;
        self.last_refusal = Some(error.to_string());
        let (failed, code) = match error {
            JournalError::Signer(_) => (&mut self.failed_signing, events::SIGNING_FAILED),
            _ => (&mut self.failed_writes, events::JOURNAL_WRITE_FAILED),
        };
        let error = error.storage_message();
        match failed {
            Some(f) => {
                f.last_ms = now;
                f.commits += 1;
                f.records += records;
                f.error = error;
            }
            None => {
                *failed = Some(FailedWrites {
                    code,
                    first_ms: now,
                    last_ms: now,
                    commits: 1,
                    records,
                    error,
                })
            }
        }
    }

    /// Starts the pool that signs batches. Without it (if its threads cannot be started) the
    /// writer signs alone.
    pub(crate) fn start_signers(&mut self) {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        self.signers = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("journal-sign-{i}"))
            .build()
            .ok();
    }

    /// Serves `requests` in order: consecutive appends in batches of at most
    /// [`MAX_BATCH_RECORDS`], one commit each; anything else on its own.
    pub(crate) fn serve(&mut self, requests: Vec<Request>, shared: &Shared) {
        let mut appends = Vec::new();
        for request in requests {
            if matches!(request, Request::Append { .. }) {
                appends.push(request);
                if appends.len() == MAX_BATCH_RECORDS {
                    self.append_batch(std::mem::take(&mut appends), shared);
                }
                continue;
            }
            if !appends.is_empty() {
                self.append_batch(std::mem::take(&mut appends), shared);
            }
            match request {
                Request::Append { .. } => {}
                Request::Close { period, reply } => {
                    let result = self.close_period(period);
                    self.publish(shared);
                    answer(&reply, result);
                }
                Request::XReport { reply } => {
                    answer(&reply, self.closures.x_report().map_err(Into::into));
                }
                Request::Anchor { reply } => {
                    let head = store::record_by_seq(&self.conn, self.head.seq);
                    let result = match head {
                        Ok(Some(Ok(r))) => self
                            .write_anchor(&r)
                            .map(|()| Anchor::of_record(&self.register_id, &r)),
                        Ok(_) => Err(JournalError::Damaged(vec!["the head is unreadable".into()])),
                        Err(e) => Err(e.into()),
                    };
                    answer(&reply, result);
                }
            }
        }
        if !appends.is_empty() {
            self.append_batch(appends, shared);
        }
    }

    /// Makes the committed state visible to callers (rates, key, anchor status). Called before
    /// any reply, so that a caller who got an answer sees its effect.
    fn publish(&self, shared: &Shared) {
        if let Ok(mut r) = shared.rates.write() {
            if *r != self.rates {
                r.clone_from(&self.rates);
            }
        }
        if let Ok(mut e) = shared.anchor_error.write() {
            if *e != self.anchor_error {
                e.clone_from(&self.anchor_error);
            }
        }
        let failure = self.write_failure();
        if let Ok(mut w) = shared.write_failure.write() {
            if *w != failure {
                *w = failure;
            }
        }
        shared
            .head_timestamp_ms
            .store(self.head.timestamp_ms, std::sync::atomic::Ordering::Relaxed);
        shared
            .head_seq
            .store(self.head.seq, std::sync::atomic::Ordering::Release);
        shared.needs_reopen.store(
            self.outcome_unknown.is_some(),
            std::sync::atomic::Ordering::Release,
        );
        if let Ok(mut k) = shared.key.write() {
            if k.key_id() != self.head.key.key_id() {
                *k = self.head.key.clone();
            }
        }
    }

    fn append_batch(&mut self, requests: Vec<Request>, shared: &Shared) {
        let mut batch = match self.batch_for_appends() {
            Ok(b) => b,
            Err(e) => {
                // Only an internal limit (totals overflow) fails here: every caller is told.
                for request in requests {
                    if let Request::Append { reply, .. } = request {
                        answer(&reply, Err(e.for_another_caller()));
                    }
                }
                return;
            }
        };
        for request in requests {
            let Request::Append {
                kind,
                payload,
                reply,
            } = request
            else {
                continue;
            };
            // Validation changes nothing: a refused record leaves no trace in the batch.
            let ready = match self.prepare(&batch, kind, *payload) {
                Ok(r) => r,
                Err(e) => {
                    answer(&reply, Err(e));
                    continue;
                }
            };
            if let Err(e) = batch.apply(kind, ready, reply) {
                // Sealing a validated record only fails on an internal limit (totals overflow):
                // the whole batch fails loudly and nothing of it is written.
                for s in batch.slots.iter().filter_map(|s| s.reply.as_ref()) {
                    answer(s, Err(e.for_another_caller()));
                }
                return;
            }
        }
        self.commit_and_reply(batch, shared);
    }

    /// Validates a caller's record against the batch's state, without changing anything.
    fn prepare(&self, batch: &Batch, kind: Kind, payload: Payload) -> Result<Ready, JournalError> {
        // Nothing is written while the clock reads too far ahead, but its confirmation.
        let ahead = self.clock_ahead(batch);
        match (&payload, ahead) {
            (Payload::ConfirmClock { .. }, _) => {}
            (_, Some(ahead)) => return Err(JournalError::ClockAhead(ahead)),
            (_, None) => {}
        }
        if matches!(kind, Kind::Sale | Kind::Refund) {
            batch
                .closures
                .check_open(batch.now_ms.max(batch.head.timestamp_ms))?;
        }
        Ok(match payload {
            Payload::Sale { body, bytes } => {
                if let Some((i, l)) = body
                    .lines
                    .iter()
                    .enumerate()
                    .find(|(_, l)| !batch.rates.contains(&l.vat_rate))
                {
                    return Err(TicketError::UnknownVatRate {
                        line: i,
                        rate: l.vat_rate.0,
                    }
                    .into());
                }
                let body = if kind == Kind::Training {
                    Body::Training(body)
                } else {
                    Body::Sale(body)
                };
                Ready::new(bytes, Some(body))
            }
            Payload::Body(bytes) => {
                let body = Body::decode(kind, &bytes).ok();
                let then = match &body {
                    Some(Body::Archive(a)) => Then::Event(event_body(
                        events::ARCHIVE_WRITTEN,
                        format!(
                            "archive {} (seq {} to {}) written",
                            a.label, a.first_seq, a.last_seq
                        ),
                        BTreeMap::from([
                            ("file".to_string(), a.file_name.clone()),
                            ("sha256".to_string(), a.file_sha256.clone()),
                        ]),
                    )),
                    _ => Then::Nothing,
                };
                Ready {
                    then,
                    ..Ready::new(bytes, body)
                }
            }
            Payload::Refund {
                original_seq,
                input,
            } => {
                let (ticket, original, remaining) =
                    self.refund_state(original_seq, &batch.pending_refunds)?;
                let original_ref = OriginalRef {
                    seq: original_seq,
                    ticket,
                };
                let body = compute_refund(original_ref, &original, &remaining, &input)?;
                Ready {
                    ref_seq: Some(original_seq),
                    then: Then::Refunded(original_seq, body.clone()),
                    ..Ready::new(to_canonical(&body)?, Some(Body::Refund(body)))
                }
            }
            Payload::KeyChange { new_key, bytes } => Ready {
                then: Then::NewKey(new_key),
                ..Ready::new(bytes, None)
            },
            Payload::Duplicate {
                original_seq,
                operator,
                reason,
            } => {
                check_text_field("operator", &operator)?;
                check_text_field("reason", &reason)?;
                let original = self.duplicable(original_seq)?;
                let stored: i64 = self.conn.query_row(
                    "SELECT COUNT(*) FROM records WHERE ref_seq = ?1 AND kind = 'duplicate'",
                    [original_seq as i64],
                    |r| r.get(0),
                )?;
                let pending = batch
                    .pending_copies
                    .get(&original_seq)
                    .copied()
                    .unwrap_or(0);
                let body = DuplicateBody {
                    original: DuplicateOf {
                        seq: original_seq,
                        kind: original.kind,
                        number: original.kind_seq,
                    },
                    copy: stored.max(0) as u64 + pending + 1,
                    operator,
                    reason,
                };
                Ready {
                    ref_seq: Some(original_seq),
                    then: Then::Copied(original_seq),
                    ..Ready::new(to_canonical(&body)?, Some(Body::Duplicate(body)))
                }
            }
            Payload::SetVatRates { rates, operator } => {
                check_text_field("operator", &operator)?;
                let details = BTreeMap::from([
                    ("setting".to_string(), "vat_rates".to_string()),
                    ("old".to_string(), format_rates(&batch.rates)),
                    ("new".to_string(), format_rates(&rates)),
                ]);
                let body = EventBody {
                    code: events::CONFIGURATION_CHANGED.to_string(),
                    message: "VAT rates changed".to_string(),
                    operator: Some(operator),
                    details,
                };
                Ready {
                    then: Then::Rates(rates),
                    ..Ready::new(to_canonical(&body)?, Some(Body::Event(body)))
                }
            }
            Payload::ConfirmClock { operator } => {
                check_text_field("operator", &operator)?;
                let ahead = ahead.ok_or_else(|| {
                    JournalError::Invalid(
                        "nothing to confirm: the clock is not further ahead of the last record \
                         than the journal accepts unconfirmed"
                            .into(),
                    )
                })?;
                let details = BTreeMap::from([
                    ("clock_ms".to_string(), ahead.clock_ms.to_string()),
                    ("last_ms".to_string(), ahead.last_ms.to_string()),
                ]);
                let body = EventBody {
                    code: events::CLOCK_CONFIRMED.to_string(),
                    message: format!(
                        "clock reading confirmed, {} days after the last record",
                        ahead.days()
                    ),
                    operator: Some(operator),
                    details,
                };
                Ready::new(to_canonical(&body)?, Some(Body::Event(body)))
            }
        })
    }

    /// Closes on demand: the open day, then for a month or year the month, then the year.
    fn close_period(&mut self, period: Period) -> Result<Vec<Appended>, JournalError> {
        let mut batch = self.batch();
        if let Some(ahead) = self.clock_ahead(&batch) {
            return Err(JournalError::ClockAhead(ahead));
        }
        let today = batch
            .closures
            .local_date(batch.now_ms.max(batch.head.timestamp_ms));
        // A day is closed on demand only once it has started: records written after a Z belong
        // to the next business day, which cannot be closed before it begins.
        let day_open = batch.closures.open_day().is_some_and(|d| d <= today);
        let mut periods = Vec::new();
        if day_open {
            periods.push(Period::Day);
        }
        match period {
            Period::Day if !day_open => {
                return Err(crate::closure::ClosureError::NothingToClose("day").into())
            }
            Period::Day => {}
            Period::Month => periods.push(Period::Month),
            Period::Year => {
                // The month is closed first unless it already is (or has no closed day).
                let mut probe = batch.closures.clone();
                if day_open {
                    let day = probe.build(Period::Day, false)?;
                    probe.apply_closure(0, [0; 32], &day)?;
                }
                if probe.build(Period::Month, false).is_ok() {
                    periods.push(Period::Month);
                }
                periods.push(Period::Year);
            }
        }
        batch.seal_closures(&periods, false)?;
        Ok(self.commit(batch)?.into_iter().map(|(_, a)| a).collect())
    }

    /// Signs, writes and commits a batch; replaces the writer's state on success.
    fn commit(&mut self, mut batch: Batch) -> Result<Committed, JournalError> {
        if batch.slots.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(cause) = &self.outcome_unknown {
            let cause = cause.clone();
            return Err(JournalError::OutcomeUnknown { cause });
        }
        if let Some(files) = &mut self.files {
            // Before signing: nothing is worth signing that cannot be written.
            files.check()?;
        }
        if let Err(e) = self.sign(&mut batch) {
            // Nothing was written: the batch is dropped, and the next commit that can be
            // signed tells of it.
            self.note_failed_commit(&batch, &e);
            return Err(e);
        }
        if let Err(e) = self.write(&batch.slots) {
            let flush_failed = is_failed_flush(&e);
            let e = JournalError::from(e);
            self.note_failed_commit(&batch, &e);
            return Err(if flush_failed {
                self.settle_failed_flush(e)
            } else {
                e
            });
        }
        Ok(self.apply(batch))
    }

    /// After a commit whose flush failed: its frames, commit mark included, are in the WAL,
    /// unpublished, until a later commit overwrites them; a crash before that would bring them
    /// back at the next open, although the callers were told that their records were refused.
    /// So the incident is committed at once (the `journal_write_failed` event, after any
    /// closures due), over those frames. Durable, it settles the refusal: `error` is what the
    /// callers are told. If it fails too, nobody can tell what a crash would leave: the callers
    /// are told that the outcome is unknown, and nothing more is attempted until the journal is
    /// reopened.
    fn settle_failed_flush(&mut self, error: JournalError) -> JournalError {
        let settled = if self.head.seq == 0 {
            // A journal being created: its first record must be the opening, not an event (and
            // the file is not renamed into place after an error).
            Err(JournalError::Storage("no opening record yet".into()))
        } else {
            self.batch_for_appends()
        };
        let settled = settled.and_then(|mut batch| {
            if batch.slots.is_empty() {
                // Nothing to write over the frames (the clock jumped too far ahead meanwhile).
                return Err(JournalError::Storage("nothing to settle with".into()));
            }
            self.sign(&mut batch)?;
            self.write(&batch.slots)?;
            Ok(batch)
        });
        match settled {
            Ok(batch) => {
                self.apply(batch);
                error
            }
            Err(_) => {
                let cause = error.storage_message();
                self.outcome_unknown = Some(cause.clone());
                JournalError::OutcomeUnknown { cause }
            }
        }
    }

    /// Signs every record of `batch`: in parallel when there are several and every signer of
    /// the batch may sign on several threads (a key in memory); one by one otherwise (a device
    /// signs one message at a time). The first signature that fails fails the batch.
    fn sign(&self, batch: &mut Batch) -> Result<(), JournalError> {
        fn sign(s: &mut Slot) -> Result<(), SignError> {
            s.record.signature = s.signer.sign(&s.record.hash)?;
            Ok(())
        }
        let parallel = batch.slots.len() > 1 && batch.slots.iter().all(|s| s.signer.parallel());
        match &self.signers {
            Some(pool) if parallel => {
                // Signed on the pool's threads while this thread waits on a plain channel. The
                // leading caller may be a worker of another rayon pool, and `install` would let
                // it run that pool's tasks meanwhile: one of them may be an append that waits for
                // this very caller.
                let mut slots = std::mem::take(&mut batch.slots);
                let (done, signed) = std::sync::mpsc::sync_channel(1);
                pool.spawn(move || {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        slots.par_iter_mut().try_for_each(sign)
                    }));
                    let _ = done.send(result.ok().map(|signed| (slots, signed)));
                });
                let (slots, signed) =
                    signed.recv().ok().flatten().ok_or_else(|| {
                        JournalError::Storage("the batch could not be signed".into())
                    })?;
                batch.slots = slots;
                signed.map_err(JournalError::Signer)
            }
            _ => batch
                .slots
                .iter_mut()
                .try_for_each(sign)
                .map_err(JournalError::Signer),
        }
    }

    /// Takes a committed batch's state as the writer's; returns its records.
    fn apply(&mut self, batch: Batch) -> Committed {
        self.last_refusal = None;
        if batch.tells_failed_writes {
            self.failed_writes = None;
            self.failed_signing = None;
        }
        let closed = batch.slots.iter().any(|s| s.kind == Kind::Closure);
        let head_record = batch.slots.last().map(|s| s.record.clone());
        self.head = batch.head;
        self.closures = batch.closures;
        self.rates = batch.rates;
        self.in_clock_anomaly = batch.in_clock_anomaly;
        if let (true, Some(r)) = (closed, head_record) {
            // The head after a closure goes to the anchor file; a failure is kept for the
            // application to show (the records themselves are committed).
            self.anchor_error = self.write_anchor(&r).err().map(|e| e.to_string());
        }
        batch
            .slots
            .into_iter()
            .map(|s| {
                let r = s.record;
                (
                    s.reply,
                    Appended {
                        seq: r.seq,
                        kind: s.kind,
                        kind_seq: r.kind_seq,
                        timestamp_ms: r.timestamp_ms,
                        hash: r.hash,
                        signature: r.signature,
                        body: r.body,
                        clock_went_back: s.clock_went_back,
                    },
                )
            })
            .collect()
    }

    /// Inserts signed records in one commit. On an error nothing of them is published; after a
    /// failed flush ([`is_failed_flush`]) they are in the WAL until a later commit overwrites
    /// them.
    fn write(&mut self, slots: &[Slot]) -> rusqlite::Result<()> {
        if let [s] = slots {
            // One record is its own transaction: no BEGIN and COMMIT statements to run, and no
            // statement journal (the copy of every page an INSERT changes that SQLite keeps for a
            // statement inside a transaction, since the insert trigger could refuse the row).
            store::insert(&self.conn, &s.record, s.ref_seq)?;
        } else {
            let tx = self.conn.transaction()?;
            for s in slots {
                store::insert(&tx, &s.record, s.ref_seq)?;
            }
            tx.commit()?;
        }
        Ok(())
    }

    fn commit_and_reply(&mut self, batch: Batch, shared: &Shared) {
        let replies: Vec<Reply<Appended>> =
            batch.slots.iter().filter_map(|s| s.reply.clone()).collect();
        match self.commit(batch) {
            Ok(done) => {
                self.publish(shared);
                for (reply, appended) in done {
                    if let Some(reply) = reply {
                        answer(&reply, Ok(appended));
                    }
                }
            }
            Err(e) => {
                // Every caller of the batch is told; nothing of it is in the file.
                self.publish(shared);
                for reply in replies {
                    answer(&reply, Err(e.for_another_caller()));
                }
            }
        }
    }

    /// The record at `seq` if it may be reprinted.
    fn duplicable(&self, seq: u64) -> Result<Record, JournalError> {
        match store::record_by_seq(&self.conn, seq)? {
            Some(Ok(r))
                if r.known_kind()
                    .is_some_and(|k| DUPLICABLE_KINDS.contains(&k)) =>
            {
                Ok(r)
            }
            _ => Err(JournalError::NotDuplicable { seq }),
        }
    }

    /// The original sale of a refund and what remains of it, counting refunds already stored and
    /// those accepted earlier in the current batch.
    fn refund_state(
        &self,
        original_seq: u64,
        pending: &HashMap<u64, Vec<RefundBody>>,
    ) -> Result<(u64, SaleBody, Remaining), JournalError> {
        let not_found = || JournalError::OriginalNotFound { seq: original_seq };
        let record = match store::record_by_seq(&self.conn, original_seq)? {
            Some(Ok(r)) => r,
            _ => return Err(not_found()),
        };
        if record.kind != Kind::Sale.as_str() {
            return Err(not_found());
        }
        let sale = match Body::decode(Kind::Sale, &record.body) {
            Ok(Body::Sale(s)) => s,
            _ => return Err(not_found()),
        };
        let mut remaining = Remaining::of_sale(&sale);
        let mut stmt = self.conn.prepare_cached(
            "SELECT body FROM records WHERE ref_seq = ?1 AND kind = 'refund' ORDER BY seq",
        )?;
        let rows = stmt.query_map([original_seq as i64], |r| r.get::<_, Vec<u8>>(0))?;
        for row in rows {
            if let Ok(Body::Refund(r)) = Body::decode(Kind::Refund, &row?) {
                remaining.apply(&r)?;
            }
        }
        for r in pending.get(&original_seq).into_iter().flatten() {
            remaining.apply(r)?;
        }
        Ok((record.kind_seq, sale, remaining))
    }
}

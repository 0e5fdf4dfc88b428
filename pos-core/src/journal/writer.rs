//! The writer: sequencing, closures, parallel signing and one commit per batch. It runs on the
//! thread of whichever caller leads (see [`super::Journal`]).

use super::batch::{event_body, Batch, Committed, FailedWrites, Slot};
use super::draft::Appended;
use super::error::{ClockAhead, JournalError};
use super::files::FileWatch;
use super::options::{Clock, MAX_BATCH_RECORDS};
use super::recovery;
use super::request::{answer, Reply, Request};
use super::state::{Head, Shared};
use crate::anchor::{append_anchor, Anchor};
use crate::body::{Body, OpeningBody};
use crate::canonical::to_canonical;
use crate::closure::{ClosureState, Period};
use crate::events;
use crate::keys::{SignError, Signer};
use crate::money::VatRate;
use crate::record::{Kind, Record, ZERO_HASH};
use crate::rules::FiscalRules;
use crate::store;
use rayon::prelude::*;
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Whether SQLite failed to flush a commit it had written: the commit's frames are then in the
/// WAL, unpublished, and a crash before the next commit would bring them back.
fn is_failed_flush(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi;
    matches!(
        e.sqlite_error().map(|f| f.extended_code),
        Some(ffi::SQLITE_IOERR_FSYNC | ffi::SQLITE_IOERR_DIR_FSYNC)
    )
}

/// The writer's state. Only the leading caller touches it (behind the journal's lock).
pub(crate) struct Writer {
    pub(super) conn: Connection,
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

impl Writer {
    /// Writes the opening record and the `journal_opened` event of a new journal.
    pub(crate) fn genesis(
        conn: Connection,
        key: Arc<dyn Signer>,
        opening: &OpeningBody,
        rules: &dyn FiscalRules,
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
            closures: ClosureState::with_calendar(rules.calendar(opening)?),
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
        rules: &dyn FiscalRules,
        clock: Arc<dyn Clock>,
    ) -> Result<Writer, JournalError> {
        let head = recovery::load_head(&conn, key)?;
        let closures = recovery::load_closures(&conn, opening, rules)?;
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
        store::checkpoint_and_close(self.conn).map_err(JournalError::from)
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

    /// The period the closures close between the day and the fiscal year.
    pub(crate) fn middle_period(&self) -> Period {
        self.closures.middle_period()
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
    pub(super) fn clock_ahead(&self, batch: &Batch) -> Option<ClockAhead> {
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
            let due: Vec<(Period, bool)> = due.into_iter().map(|p| (p, true)).collect();
            batch.seal_closures(&due)?;
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
                Request::ClosesEarly { period, reply } => {
                    let batch = self.batch();
                    let at_ms = batch.now_ms.max(batch.head.timestamp_ms);
                    let end = self.closures.closes_before_end(period, at_ms);
                    answer(&reply, Ok(end.map(|d| d.format("%Y-%m-%d").to_string())));
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

    /// Closes on demand: the open day, then for a month or year the month, then the year.
    fn close_period(&mut self, period: Period) -> Result<Vec<Appended>, JournalError> {
        let mut batch = self.batch();
        if let Some(ahead) = self.clock_ahead(&batch) {
            return Err(JournalError::ClockAhead(ahead));
        }
        let today = batch
            .closures
            .local_date(batch.now_ms.max(batch.head.timestamp_ms));
        // A day is closed on demand only once it has started (records written after a month
        // closed before its end belong to the next month's first day, which cannot be closed
        // before it begins), and a part of a day closed during the day only once it holds a
        // ticket (a second Z right after the first has nothing to close).
        let day_open = batch.closures.open_day().is_some_and(|d| d <= today)
            && !batch.closures.is_idle_continuation();
        let mut periods = Vec::new();
        if day_open {
            periods.push(Period::Day);
        }
        // The period between the day and the year: the month for the French rules.
        let middle = batch.closures.middle_period();
        match period {
            Period::Day if !day_open => {
                return Err(crate::closure::ClosureError::NothingToClose("day").into())
            }
            Period::Day => {}
            Period::Year => {
                // The month is closed first unless it already is (or has no closed day).
                let mut probe = batch.closures.clone();
                if day_open {
                    let day = probe.build(Period::Day, false)?;
                    probe.apply_closure(0, [0; 32], &day)?;
                }
                if probe.build(middle, false).is_ok() {
                    periods.push(middle);
                }
                periods.push(Period::Year);
            }
            p if p == middle => periods.push(middle),
            other => {
                return Err(crate::closure::ClosureError::NotThisCalendar(other.as_str()).into())
            }
        }
        // The closures asked for, then those they make due before their own events: a day of
        // an earlier month closed on demand leaves that month to close (and its year), as the
        // next record would.
        let mut probe = batch.closures.clone();
        for &period in &periods {
            let closure = probe.build(period, false)?;
            probe.apply_closure(0, [0; 32], &closure)?;
        }
        let at_ms = batch.now_ms.max(batch.head.timestamp_ms);
        let mut closures: Vec<(Period, bool)> = periods.iter().map(|&p| (p, false)).collect();
        closures.extend(probe.due_before(at_ms).into_iter().map(|p| (p, true)));
        batch.seal_closures(&closures)?;
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
}

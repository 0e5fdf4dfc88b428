//! The journal writer: one per file, group-committed, durable before it answers.
//!
//! [`Journal`] owns the writer and the file's writer lock. Callers on any thread queue their
//! drafts, and one of them at a time leads: it takes everything pending (up to
//! [`MAX_BATCH_RECORDS`]), gives each record its sequence numbers, timestamp and links in
//! arrival order, hashes them, signs them in parallel, inserts them in one transaction and
//! commits once (`synchronous=FULL`: one fsync). Only then does each caller get its
//! [`Appended`]. If the commit fails, every caller of the batch gets the error and nothing of
//! the batch is in the file; the next appends that go through open with a `journal_write_failed`
//! event telling of the refused ones, and [`Journal::write_failure`] says why while commits are
//! refused. A commit whose flush to disk failed is settled at once by a commit of that event
//! over its frames (a crash would otherwise bring its records back); if that cannot be made
//! durable either, the callers get [`JournalError::OutcomeUnknown`] and nothing more is written
//! until the journal is reopened. A file of the journal moved, replaced or deleted while open
//! stops every commit ([`JournalError::FileMoved`]). The leader then hands over to the first
//! caller that arrived meanwhile, which commits everything pending in its turn.
//!
//! A lone caller leads at once and writes on its own thread: no other thread is woken, and a
//! single till's append costs a signature and a commit. (A writer thread of its own cost two
//! thread wake-ups per append, 45 to 60 µs on a virtual machine, a quarter of an append.)
//!
//! The writer also applies the closure rules ([`crate::closure`]): before a record dated on a
//! later day it writes the due closures (and a `closure_written` event for each); it refuses a
//! sale or refund dated in a closed period; when the clock goes backwards it keeps timestamps
//! non-decreasing and writes a `clock_anomaly` event; when the clock reads too far ahead of the
//! last record it refuses every record until the reading is confirmed
//! ([`Journal::confirm_clock`]) or the clock corrected.

mod batch;
mod draft;
mod error;
mod files;
mod options;
mod recovery;
mod request;
mod state;
#[cfg(test)]
mod tests;
mod validate;
mod writer;

pub use crate::rates::{format_rates, vat_rates_set_by};
pub use draft::{Appended, Draft};
pub use error::{ClockAhead, JournalError};
pub use files::FILE_CHECK_INTERVAL;
pub use options::{
    Clock, JournalOptions, SystemClock, DEFAULT_CLOCK_AHEAD_LIMIT_MS, MAX_BATCH_RECORDS,
    MAX_PENDING_APPENDS, TAIL_CHECK_RECORDS,
};
use state::Shared;

use crate::body::{Body, EventBody, OpeningBody, Software};
use crate::canonical::to_canonical;
use crate::closure::{Period, XReport};
use crate::events;
use crate::keys::{KeyId, Signer};
use crate::money::VatRate;
use crate::record::Kind;
use crate::rules::FiscalRules;
use crate::store;
use crate::ticket::{compute_sale, RefundInput, SaleInput};
use request::{Answer, Payload, Reply, Request};
use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use writer::Writer;

/// An open journal, for writing. Share it behind an `Arc`: every method takes `&self` and may
/// be called from many threads at once.
pub struct Journal {
    path: PathBuf,
    /// The writer; only the leading caller locks it. Dropped (closing the database) before the
    /// writer lock below is released.
    writer: Mutex<Writer>,
    /// The requests waiting for a leader.
    queue: Mutex<Queue>,
    /// Signalled when the queue has room again.
    room: Condvar,
    /// At most this many requests wait ([`MAX_PENDING_APPENDS`]; smaller in tests).
    max_pending: usize,
    shared: Shared,
    /// The writer's clock and limit, for [`Journal::clock_ahead`].
    clock: Arc<dyn Clock>,
    clock_ahead_limit_ms: Option<i64>,
    _lock: File,
}

/// The requests waiting for the writer, in arrival order.
struct Queue {
    pending: VecDeque<Request>,
    /// Whether a caller is leading (serving, or told to serve): then the others wait.
    leading: bool,
}

/// Hands the lead over when the leader is done, even if it unwinds: to the first caller
/// waiting, or to nobody (the next caller leads at once).
struct Handover<'a>(&'a Journal);

impl Drop for Handover<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.lock_queue();
        let handed = queue.pending.front().is_some_and(Request::hand_lead);
        debug_assert!(
            handed || queue.pending.is_empty(),
            "a waiting caller went away"
        );
        // Otherwise the next caller leads at once.
        queue.leading = handed;
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".writer-lock")
}

/// Removes a database file and its WAL and shared-memory files, if present.
fn remove_sqlite_files(db: &Path) -> Result<(), JournalError> {
    for file in [db.to_path_buf(), sibling(db, "-wal"), sibling(db, "-shm")] {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(JournalError::Io { path: file, source }),
        }
    }
    Ok(())
}

fn take_lock(path: &Path) -> Result<File, JournalError> {
    let lock = lock_path(path);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|source| JournalError::Io {
            path: lock.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            path: path.to_path_buf(),
            lock,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(JournalError::Io { path: lock, source }),
    }
}

impl Journal {
    /// Creates a new journal file at `path` with its opening record, signed by `key`, followed
    /// by a `journal_opened` event. `opening.key` is filled from `key`. Fails if the file exists.
    /// `key` is any [`Signer`]: a [`crate::keys::KeyPair`] in memory (Ed25519 or P-256), or a
    /// device.
    pub fn create(
        path: &Path,
        key: impl Signer + 'static,
        mut opening: OpeningBody,
        options: JournalOptions,
    ) -> Result<Journal, JournalError> {
        let key: Arc<dyn Signer> = Arc::new(key);
        opening.key = key.public_key().info();
        let rules = options
            .rules
            .for_opening(&opening)
            .map_err(JournalError::Invalid)?;
        rules
            .validate_opening(&opening)
            .map_err(JournalError::Invalid)?;
        let lock = take_lock(path)?;
        if path.exists() {
            return Err(JournalError::Exists {
                path: path.to_path_buf(),
            });
        }
        // The file is built under a temporary name and renamed into place once it holds its
        // opening record: a crash while creating leaves no file at `path` (which the next
        // create replaces), never a file that is not a journal.
        let building = sibling(path, ".creating");
        remove_sqlite_files(&building)?;
        let conn = store::create(&building)?;
        Writer::genesis(
            conn,
            key.clone(),
            &opening,
            rules.as_ref(),
            options.clock.clone(),
        )?
        .close()?;
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::rename(&building, path).map_err(io)?;
        remove_sqlite_files(&building)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        let conn = store::open_write(path).map_err(JournalError::Storage)?;
        let writer = Writer::resume(conn, key, &opening, rules.as_ref(), options.clock.clone())?
            .with_anchor_path(options.anchor_path.clone())
            .with_clock_ahead_limit(options.clock_ahead_limit_ms);
        Ok(Journal::start(path, writer, opening, rules, lock, &options))
    }

    /// Opens an existing journal for writing with its current signing key. Checks the newest
    /// records first and refuses a damaged journal.
    pub fn open(
        path: &Path,
        key: impl Signer + 'static,
        options: JournalOptions,
    ) -> Result<Journal, JournalError> {
        let lock = take_lock(path)?;
        if !path.is_file() {
            return Err(JournalError::NotAJournal {
                path: path.to_path_buf(),
                reason: "no such file".into(),
            });
        }
        let mut conn = store::open_write(path).map_err(|reason| JournalError::NotAJournal {
            path: path.to_path_buf(),
            reason,
        })?;
        let (opening, current_key) = recovery::load_identity(&conn)?;
        let key: Arc<dyn Signer> = Arc::new(key);
        if current_key != key.key_id() {
            return Err(JournalError::KeyMismatch {
                expected: current_key,
                given: key.key_id(),
            });
        }
        let rules =
            options
                .rules
                .for_opening(&opening)
                .map_err(|reason| JournalError::NotAJournal {
                    path: path.to_path_buf(),
                    reason,
                })?;
        recovery::tail_check(path, options.tail_check_records, &options.rules)?;
        // Only once the file is known to be this key's intact journal: a refused open changes
        // nothing.
        store::update_indexes(&mut conn)?;
        let writer = Writer::resume(conn, key, &opening, rules.as_ref(), options.clock.clone())?
            .with_anchor_path(options.anchor_path.clone())
            .with_clock_ahead_limit(options.clock_ahead_limit_ms);
        Ok(Journal::start(path, writer, opening, rules, lock, &options))
    }

    fn start(
        path: &Path,
        mut writer: Writer,
        opening: OpeningBody,
        rules: Arc<dyn FiscalRules>,
        lock: File,
        options: &JournalOptions,
    ) -> Journal {
        let shared = Shared {
            rates: RwLock::new(writer.rates().to_vec()),
            key: RwLock::new(writer.key().clone()),
            anchor_error: RwLock::new(None),
            write_failure: RwLock::new(None),
            head_timestamp_ms: writer.head_timestamp_ms().into(),
            head_seq: writer.head_seq().into(),
            needs_reopen: false.into(),
            middle_period: writer.middle_period(),
            opening,
            rules,
        };
        writer.start_signers();
        writer.watch_files(files::FileWatch::new(
            path,
            &sibling(path, "-wal"),
            &lock,
            &lock_path(path),
        ));
        Journal {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                leading: false,
            }),
            room: Condvar::new(),
            max_pending: MAX_PENDING_APPENDS,
            shared,
            clock: options.clock.clone(),
            clock_ahead_limit_ms: options.clock_ahead_limit_ms,
            _lock: lock,
        }
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The opening record's body (merchant, register, time zone...).
    pub fn opening(&self) -> &OpeningBody {
        &self.shared.opening
    }

    /// The VAT rates sales may use now.
    pub fn vat_rates(&self) -> Vec<VatRate> {
        match self.shared.rates.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Appends a record (and any closure due before it); returns once it is durable.
    pub fn append(&self, draft: Draft) -> Result<Appended, JournalError> {
        let (kind, payload) = match draft {
            Draft::Sale(input) => (Kind::Sale, self.computed(&input)?),
            Draft::Training(input) => (Kind::Training, self.computed(&input)?),
            Draft::Refund {
                original_seq,
                input,
            } => (
                Kind::Refund,
                Payload::Refund {
                    original_seq,
                    input,
                },
            ),
            Draft::Event(body) => {
                if !self.shared.rules.is_known_event(&body.code) {
                    return Err(JournalError::Invalid(format!(
                        "unknown event code {:?}",
                        body.code
                    )));
                }
                (Kind::Event, Payload::Body(to_canonical(&body)?))
            }
            Draft::KeyChange { new_key, reason } => {
                let body = crate::body::KeyChangeBody {
                    new_key: new_key.public_key().info(),
                    reason,
                };
                let bytes = to_canonical(&body)?;
                (Kind::KeyChange, Payload::KeyChange { new_key, bytes })
            }
            Draft::Duplicate {
                original_seq,
                operator,
                reason,
            } => (
                Kind::Duplicate,
                Payload::Duplicate {
                    original_seq,
                    operator,
                    reason,
                },
            ),
            Draft::Archive(body) => (Kind::Archive, Payload::Body(to_canonical(&body)?)),
            Draft::SetVatRates { rates, operator } => {
                let mut check = self.shared.opening.clone();
                check.vat_rates = rates.clone();
                self.shared
                    .rules
                    .validate_opening(&check)
                    .map_err(JournalError::Invalid)?;
                (Kind::Event, Payload::SetVatRates { rates, operator })
            }
        };
        self.call(|reply| Request::Append {
            kind,
            payload: Box::new(payload),
            reply,
        })
    }

    /// A sale or training ticket computed with the rates in force, and its canonical bytes.
    fn computed(&self, input: &SaleInput) -> Result<Payload, JournalError> {
        let body = match self.shared.rates.read() {
            Ok(rates) => compute_sale(input, &rates),
            Err(poisoned) => compute_sale(input, &poisoned.into_inner()),
        }?;
        let bytes = pos_format::exact_sale::canonical_bytes(&body)?;
        Ok(Payload::Sale { body, bytes })
    }

    /// Appends a sale or training ticket computed from the caller's input, without a draft.
    fn append_computed(&self, kind: Kind, input: &SaleInput) -> Result<Appended, JournalError> {
        let payload = Box::new(self.computed(input)?);
        self.call(|reply| Request::Append {
            kind,
            payload,
            reply,
        })
    }

    /// Queues a request and waits for its result: served by the leading caller, or by this one
    /// if no caller leads, or when the lead is handed to it.
    fn call<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, JournalError> {
        let (reply, answer) = sync_channel(1);
        let lead = {
            let mut queue = self.lock_queue();
            while queue.pending.len() >= self.max_pending {
                queue = self
                    .room
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            queue.pending.push_back(request(reply));
            !std::mem::replace(&mut queue.leading, true)
        };
        if !lead {
            match answer.recv() {
                Ok(Answer::Done(result)) => return result,
                Ok(Answer::Lead) => {}
                Err(_) => return Err(JournalError::Closed),
            }
        }
        self.lead();
        match answer.try_recv() {
            Ok(Answer::Done(result)) => result,
            _ => Err(JournalError::Closed),
        }
    }

    /// Serves one round: everything pending (up to [`MAX_BATCH_RECORDS`] requests; the leader's
    /// own request is the first), then hands over.
    fn lead(&self) {
        let _handover = Handover(self);
        let (requests, was_full) = {
            let mut queue = self.lock_queue();
            let was_full = queue.pending.len() >= self.max_pending;
            let n = queue.pending.len().min(MAX_BATCH_RECORDS);
            (queue.pending.drain(..n).collect::<Vec<Request>>(), was_full)
        };
        // Only a full queue has callers waiting for room (and waking nobody is a system call).
        if was_full {
            self.room.notify_all();
        }
        // A writer poisoned by a panic serves nobody: the requests are dropped, and their callers
        // get `Closed`.
        if let Ok(mut writer) = self.writer.lock() {
            writer.serve(requests, &self.shared);
        }
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The receipt's verification string for a ticket just appended (see [`crate::receipt`]),
    /// signed with the journal's current key.
    pub fn receipt_code(&self, a: &Appended) -> Result<String, JournalError> {
        let total = match Body::decode(a.kind, &a.body) {
            Ok(Body::Sale(s) | Body::Training(s)) => s.total,
            Ok(Body::Refund(r)) => r.total,
            _ => {
                return Err(JournalError::Invalid(format!(
                    "{} records have no receipt",
                    a.kind
                )))
            }
        };
        let fields = crate::receipt::ReceiptFields {
            register: self.shared.opening.register_id.clone(),
            seq: a.seq,
            kind: a.kind.as_str().to_string(),
            number: a.kind_seq,
            timestamp_ms: a.timestamp_ms,
            total_cents: total.0,
            hash_prefix: hex::encode(&a.hash[..8]),
        };
        let key = match self.shared.key.read() {
            Ok(k) => k.clone(),
            Err(p) => p.into_inner().clone(),
        };
        self.shared
            .rules
            .receipt_code(&fields, &*key)
            .map_err(|e| match e {
                crate::receipt::ReceiptError::Sign(e) => JournalError::Signer(e),
                e => JournalError::Invalid(e.to_string()),
            })
    }

    /// Records a sale.
    pub fn sale(&self, input: &SaleInput) -> Result<Appended, JournalError> {
        self.append_computed(Kind::Sale, input)
    }

    /// Records a training-mode ticket.
    pub fn training(&self, input: &SaleInput) -> Result<Appended, JournalError> {
        self.append_computed(Kind::Training, input)
    }

    /// Records a refund (or a void, see [`RefundInput::void`]) of the sale at `original_seq`.
    pub fn refund(&self, original_seq: u64, input: &RefundInput) -> Result<Appended, JournalError> {
        self.append(Draft::Refund {
            original_seq,
            input: input.clone(),
        })
    }

    /// Records a reprint of the record at `original_seq`; print the copy only after this
    /// returns, marked with the copy number it gives.
    pub fn duplicate(
        &self,
        original_seq: u64,
        operator: &str,
        reason: &str,
    ) -> Result<Appended, JournalError> {
        self.append(Draft::Duplicate {
            original_seq,
            operator: operator.to_string(),
            reason: reason.to_string(),
        })
    }

    /// Records a technical event.
    pub fn event(&self, code: &str, message: &str) -> Result<Appended, JournalError> {
        self.append(Draft::Event(EventBody {
            code: code.to_string(),
            message: message.to_string(),
            operator: None,
            details: Default::default(),
        }))
    }

    /// Records that `software` started: a `software_started` event carrying its version,
    /// preceded by a `software_version_changed` event (old and new) when the previous start ran
    /// another version.
    pub fn software_started(&self, software: &Software) -> Result<Appended, JournalError> {
        let reader = crate::reader::JournalReader::open(&self.path)
            .map_err(|e| JournalError::Storage(e.to_string()))?;
        let previous = reader
            .last_event(events::SOFTWARE_STARTED)
            .map_err(|e| JournalError::Storage(e.to_string()))?
            .and_then(|e| e.details.get("version").cloned())
            .unwrap_or_else(|| self.shared.opening.software.version.clone());
        let version = |v: &str| (String::from("version"), v.to_string());
        if previous != software.version {
            self.append(Draft::Event(EventBody {
                code: events::SOFTWARE_VERSION_CHANGED.into(),
                message: format!("{} {previous} -> {}", software.name, software.version),
                operator: None,
                details: [
                    ("old".to_string(), previous.clone()),
                    ("new".to_string(), software.version.clone()),
                ]
                .into(),
            }))?;
        }
        self.append(Draft::Event(EventBody {
            code: events::SOFTWARE_STARTED.into(),
            message: format!("{} {} started", software.name, software.version),
            operator: None,
            details: [version(&software.version)].into(),
        }))
    }

    /// Changes the signing key (see [`Draft::KeyChange`]); a `key_rotated` event follows.
    pub fn rotate_key(
        &self,
        new_key: impl Signer + 'static,
        reason: &str,
    ) -> Result<Appended, JournalError> {
        self.append(Draft::KeyChange {
            new_key: Arc::new(new_key),
            reason: reason.to_string(),
        })
    }

    /// Writes a closure on demand: the open day for [`Period::Day`]; the open day and its month
    /// for [`Period::Month`]; day, month and fiscal year for [`Period::Year`]. Returns every
    /// record written. Fails with [`ClosureError::NothingToClose`] when the period is empty or
    /// already closed.
    pub fn close_period(&self, period: Period) -> Result<Vec<Appended>, JournalError> {
        self.call(|reply| Request::Close { period, reply })
    }

    /// Whether the journal's fiscal rules close `period`: the day, the fiscal year, and the
    /// period between (the month, under the French rules).
    pub fn closes(&self, period: Period) -> bool {
        matches!(period, Period::Day | Period::Year) || period == self.shared.middle_period
    }

    /// The last date of the month or fiscal year that closing `period` now would close, when
    /// that date is still to come: such a closure closes the period whole, and sales dated
    /// until its end are refused (a till asks before). `None` for a day, or a period already
    /// over.
    pub fn closes_before_end(&self, period: Period) -> Result<Option<String>, JournalError> {
        self.call(|reply| Request::ClosesEarly { period, reply })
    }

    /// Why the last automatic anchor (after a closure) could not be written, if it could not.
    pub fn anchor_error(&self) -> Option<String> {
        match self.shared.anchor_error.read() {
            Ok(e) => e.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Whether the journal writes nothing more until it is reopened: a commit could not be made
    /// durable nor settled ([`JournalError::OutcomeUnknown`]). Reopened, the file says what it
    /// holds; an application may reopen it (or restart) as soon as this is seen.
    pub fn needs_reopen(&self) -> bool {
        self.shared
            .needs_reopen
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The sequence number of the last record committed (of every record a caller has been
    /// answered for, at least).
    pub fn last_seq(&self) -> u64 {
        self.shared
            .head_seq
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the clock now reads too far ahead of the last record for records to be written
    /// unconfirmed: for an application to show before a sale is refused.
    pub fn clock_ahead(&self) -> Option<ClockAhead> {
        let last_ms = self
            .shared
            .head_timestamp_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        ClockAhead::check(self.clock.now_ms(), last_ms, self.clock_ahead_limit_ms?)
    }

    /// How far the clock now reads behind the last record, if it does (ms): records are then
    /// given the last record's time ([`Appended::clock_went_back`], a `clock_anomaly` event),
    /// and no day closes until the clock catches up. For an application to show.
    pub fn clock_behind_ms(&self) -> Option<i64> {
        let last_ms = self
            .shared
            .head_timestamp_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let behind = last_ms.saturating_sub(self.clock.now_ms());
        (behind > 0).then_some(behind)
    }

    /// Confirms that the clock's reading, further ahead of the last record than the journal
    /// accepts unconfirmed ([`JournalError::ClockAhead`]), is right (the shop was closed that
    /// long): writes a `clock_confirmed` event by `operator` (after the closures due), and
    /// records go on. Refused when the clock is not that far ahead.
    pub fn confirm_clock(&self, operator: &str) -> Result<Appended, JournalError> {
        self.call(|reply| Request::Append {
            kind: Kind::Event,
            payload: Box::new(Payload::ConfirmClock {
                operator: operator.to_string(),
            }),
            reply,
        })
    }

    /// Why the journal's last commit was refused (a full or failing disk, a file moved while
    /// open), while none has succeeded since: for an application to show until sales go
    /// through again.
    pub fn write_failure(&self) -> Option<String> {
        match self.shared.write_failure.read() {
            Ok(e) => e.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Appends the chain head to the anchor file (when one is configured) and returns it: print
    /// its [`crate::anchor::Anchor::qr_text`] or keep it elsewhere.
    pub fn write_anchor(&self) -> Result<crate::anchor::Anchor, JournalError> {
        self.call(|reply| Request::Anchor { reply })
    }

    /// The X report: running totals of the open day, month and year, without writing anything.
    pub fn x_report(&self) -> Result<XReport, JournalError> {
        self.call(|reply| Request::XReport { reply })
    }

    /// Closes the database and releases the file. (Every request made through this handle
    /// has been answered: each call returns only then.)
    pub fn close(self) {
        drop(self);
    }
}

/// The key id a journal's current records are signed with, for callers holding only a path.
pub fn current_key_id(path: &Path) -> Result<KeyId, JournalError> {
    let conn = store::open_read(path).map_err(|e| JournalError::NotAJournal {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(recovery::load_identity(&conn)?.1)
}

//! The journal writer: one per file, group-committed, durable before it answers.
//!
//! [`Journal`] owns a writer thread and the file's writer lock. Callers on any thread send
//! drafts; the writer takes everything pending (up to [`MAX_BATCH_RECORDS`]), gives each record
//! its sequence numbers, timestamp and links in arrival order, hashes them, signs them in
//! parallel, inserts them in one transaction and commits once (`synchronous=FULL`: one fsync).
//! Only then does each caller get its [`Appended`]. If the commit fails, every caller of the
//! batch gets the error and nothing of the batch is in the file.

use crate::body::{Body, EventBody, KeyChangeBody, OpeningBody};
use crate::canonical::{to_canonical, CanonicalError};
use crate::events;
use crate::keys::{KeyId, KeyPair};
use crate::money::VatRate;
use crate::record::{record_hash, Hash, Header, Kind, Record, FORMAT_VERSION, ZERO_HASH};
use crate::store;
use crate::ticket::{
    compute_refund, compute_sale, OriginalRef, RefundBody, RefundInput, Remaining, SaleBody,
    SaleInput, TicketError,
};
use crate::verify::{self, CollectFindings, VerifyOptions};
use rayon::prelude::*;
use rusqlite::Connection;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// At most this many records go into one commit.
pub const MAX_BATCH_RECORDS: usize = 1024;
/// At most this many appends wait for the writer; more callers block until there is room.
pub const MAX_PENDING_APPENDS: usize = 4096;
/// How many of the newest records are fully checked when a journal is opened for writing.
pub const TAIL_CHECK_RECORDS: u64 = 256;

/// Why an append or an open failed. On any error nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another process (or handle) holds the file's writer lock.
    #[error("journal {path} is locked by another writer (lock file {lock})")]
    Locked {
        /// The journal file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The file is not a journal this build can open.
    #[error("{path}: {reason}")]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A journal already exists there.
    #[error("{path} already exists; refusing to create a journal over it")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file-system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("journal storage error: {0}")]
    Storage(String),
    /// The tail check found problems: the journal must not take new records.
    #[error("journal is damaged: {}", .0.join("; "))]
    Damaged(Vec<String>),
    /// The signing key given is not the journal's current key.
    #[error("signing key {given} is not the journal's current key {expected}")]
    KeyMismatch {
        /// The journal's current key id.
        expected: KeyId,
        /// The key id given.
        given: KeyId,
    },
    /// The ticket was refused.
    #[error("ticket refused: {0}")]
    Ticket(#[from] TicketError),
    /// A refund names a record that is not a sale of this journal.
    #[error("refund refused: record {seq} is not a sale of this journal")]
    OriginalNotFound {
        /// The seq named.
        seq: u64,
    },
    /// Any other invalid draft (bad opening identity, unknown event code...).
    #[error("record refused: {0}")]
    Invalid(String),
    /// The body could not be encoded canonically.
    #[error("record refused: {0}")]
    Canonical(#[from] CanonicalError),
    /// The writer thread has stopped (after a panic or a shutdown).
    #[error("the journal writer has stopped")]
    Closed,
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError::Storage(e.to_string())
    }
}

/// Where timestamps come from. The journal never lets them go backwards: when the clock is
/// behind the last record, the record takes the last timestamp and [`Appended::clock_went_back`]
/// says so.
pub trait Clock: Send + Sync {
    /// UTC milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// Options for opening or creating a journal.
#[derive(Clone)]
pub struct JournalOptions {
    /// The clock (the system clock by default).
    pub clock: Arc<dyn Clock>,
    /// How many of the newest records to check on open ([`TAIL_CHECK_RECORDS`] by default).
    pub tail_check_records: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            clock: Arc::new(SystemClock),
            tail_check_records: TAIL_CHECK_RECORDS,
        }
    }
}

impl std::fmt::Debug for JournalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalOptions")
            .field("tail_check_records", &self.tail_check_records)
            .finish_non_exhaustive()
    }
}

/// What an append produced. The record is durable when this is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Global sequence number.
    pub seq: u64,
    /// The record's kind.
    pub kind: Kind,
    /// Number within the kind (the ticket number for sales).
    pub kind_seq: u64,
    /// Timestamp given to the record.
    pub timestamp_ms: i64,
    /// The record's hash.
    pub hash: Hash,
    /// The record's signature.
    pub signature: [u8; 64],
    /// The canonical body as stored.
    pub body: Vec<u8>,
    /// The clock was behind the previous record's timestamp.
    pub clock_went_back: bool,
}

/// What to append.
#[derive(Debug, Clone)]
pub enum Draft {
    /// A sale, computed and validated against the journal's VAT rates.
    Sale(SaleInput),
    /// A refund of the sale recorded at `original_seq`.
    Refund {
        /// The sale's global sequence number.
        original_seq: u64,
        /// What is returned.
        input: RefundInput,
    },
    /// A technical event; its code must be in [`crate::events`].
    Event(EventBody),
    /// A change of signing key: this record is signed by the current key, the following ones by
    /// `new_key`. Save `new_key` before calling: the journal cannot be reopened without it.
    KeyChange {
        /// The new key.
        new_key: KeyPair,
        /// Why.
        reason: String,
    },
}

/// A draft made ready on the caller's thread (encoding work stays off the writer).
struct Prepared {
    kind: Kind,
    payload: Payload,
    reply: SyncSender<Result<Appended, JournalError>>,
}

enum Payload {
    /// A canonical body, ready to seal.
    Body(Vec<u8>),
    Refund {
        original_seq: u64,
        input: RefundInput,
    },
    KeyChange {
        new_key: KeyPair,
        bytes: Vec<u8>,
    },
}

/// What the journal says about itself, shared with callers.
#[derive(Debug)]
struct Shared {
    opening: OpeningBody,
}

/// An open journal, for writing. Cloneable handles are not provided: share it behind an `Arc`
/// (every method takes `&self` and is safe to call from many threads at once).
pub struct Journal {
    path: PathBuf,
    tx: Option<SyncSender<Prepared>>,
    writer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    _lock: File,
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

/// The writer thread's view of the chain head.
#[derive(Clone)]
struct Head {
    seq: u64,
    hash: Hash,
    timestamp_ms: i64,
    kinds: HashMap<Kind, (u64, Hash)>,
    key: KeyPair,
}

impl Journal {
    /// Creates a new journal file at `path` with its opening record, signed by `key`.
    /// `opening.key` is filled from `key`. Fails if the file exists.
    pub fn create(
        path: &Path,
        key: KeyPair,
        mut opening: OpeningBody,
        options: JournalOptions,
    ) -> Result<Journal, JournalError> {
        opening.key = key.public_info();
        opening.validate().map_err(JournalError::Invalid)?;
        let lock = take_lock(path)?;
        if path.exists() {
            return Err(JournalError::Exists {
                path: path.to_path_buf(),
            });
        }
        let body = to_canonical(&opening)?;
        let head = Head {
            seq: 0,
            hash: ZERO_HASH,
            timestamp_ms: i64::MIN,
            kinds: HashMap::new(),
            key,
        };
        let now = options.clock.now_ms();
        let (record, _) = seal(&head, Kind::Opening, body, now, None);
        // The file is built under a temporary name and renamed into place once it holds its
        // opening record: a crash while creating leaves no file at `path` (which the next
        // create replaces), never a file that is not a journal.
        let building = sibling(path, ".creating");
        remove_sqlite_files(&building)?;
        {
            let mut conn = store::create(&building)?;
            let tx = conn.transaction()?;
            store::insert(&tx, &record, None)?;
            tx.commit()?;
            // Move the WAL's content into the main file so that the file renamed is complete.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            conn.close().map_err(|(_, e)| JournalError::from(e))?;
        }
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
        let mut head = head;
        advance(&mut head, &record, Kind::Opening);
        Ok(Journal::start(path, conn, head, opening, lock, options))
    }

    /// Opens an existing journal for writing with its current signing key. Checks the newest
    /// records first and refuses a damaged journal.
    pub fn open(
        path: &Path,
        key: KeyPair,
        options: JournalOptions,
    ) -> Result<Journal, JournalError> {
        let lock = take_lock(path)?;
        if !path.exists() {
            return Err(JournalError::NotAJournal {
                path: path.to_path_buf(),
                reason: "no such file".into(),
            });
        }
        let conn = store::open_write(path).map_err(|reason| JournalError::NotAJournal {
            path: path.to_path_buf(),
            reason,
        })?;
        let (opening, current_key) = load_identity(&conn)?;
        if current_key != key.id() {
            return Err(JournalError::KeyMismatch {
                expected: current_key,
                given: key.id(),
            });
        }
        tail_check(path, options.tail_check_records)?;
        let head = load_head(&conn, key)?;
        Ok(Journal::start(path, conn, head, opening, lock, options))
    }

    fn start(
        path: &Path,
        conn: Connection,
        head: Head,
        opening: OpeningBody,
        lock: File,
        options: JournalOptions,
    ) -> Journal {
        let shared = Arc::new(Shared { opening });
        let (tx, rx) = sync_channel(MAX_PENDING_APPENDS);
        let clock = Arc::clone(&options.clock);
        let writer = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || Writer { conn, head, clock }.run(rx))
            .ok();
        Journal {
            path: path.to_path_buf(),
            tx: writer.as_ref().map(|_| tx),
            writer,
            shared,
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

    /// The VAT rates sales may use.
    pub fn vat_rates(&self) -> &[VatRate] {
        &self.shared.opening.vat_rates
    }

    /// Appends a record; returns once it is durable.
    pub fn append(&self, draft: Draft) -> Result<Appended, JournalError> {
        let (kind, payload) = match &draft {
            Draft::Sale(input) => {
                let body = compute_sale(input, self.vat_rates())?;
                (Kind::Sale, Payload::Body(to_canonical(&body)?))
            }
            Draft::Refund {
                original_seq,
                input,
            } => (
                Kind::Refund,
                Payload::Refund {
                    original_seq: *original_seq,
                    input: input.clone(),
                },
            ),
            Draft::Event(body) => {
                if !events::is_known(&body.code) {
                    return Err(JournalError::Invalid(format!(
                        "unknown event code {:?}",
                        body.code
                    )));
                }
                (Kind::Event, Payload::Body(to_canonical(body)?))
            }
            Draft::KeyChange { new_key, reason } => {
                let body = KeyChangeBody {
                    new_key: new_key.public_info(),
                    reason: reason.clone(),
                };
                (
                    Kind::KeyChange,
                    Payload::KeyChange {
                        new_key: new_key.clone(),
                        bytes: to_canonical(&body)?,
                    },
                )
            }
        };
        self.send(kind, payload)
    }

    fn send(&self, kind: Kind, payload: Payload) -> Result<Appended, JournalError> {
        let tx = self.tx.as_ref().ok_or(JournalError::Closed)?;
        let (reply, answer) = sync_channel(1);
        tx.send(Prepared {
            kind,
            payload,
            reply,
        })
        .map_err(|_| JournalError::Closed)?;
        answer.recv().map_err(|_| JournalError::Closed)?
    }

    /// Records a sale.
    pub fn sale(&self, input: &SaleInput) -> Result<Appended, JournalError> {
        self.append(Draft::Sale(input.clone()))
    }

    /// Records a refund of the sale at `original_seq`.
    pub fn refund(&self, original_seq: u64, input: &RefundInput) -> Result<Appended, JournalError> {
        self.append(Draft::Refund {
            original_seq,
            input: input.clone(),
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

    /// Changes the signing key (see [`Draft::KeyChange`]).
    pub fn rotate_key(&self, new_key: KeyPair, reason: &str) -> Result<Appended, JournalError> {
        self.append(Draft::KeyChange {
            new_key,
            reason: reason.to_string(),
        })
    }

    /// Stops the writer after the appends already sent, and releases the file.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Builds a record on top of `head` and signs it. Returns the record and whether the clock was
/// behind.
fn seal(
    head: &Head,
    kind: Kind,
    body: Vec<u8>,
    now_ms: i64,
    signature: Option<[u8; 64]>,
) -> (Record, bool) {
    let clock_went_back = now_ms < head.timestamp_ms;
    let timestamp_ms = now_ms.max(head.timestamp_ms);
    let (kind_seq, prev_kind_hash) = match head.kinds.get(&kind) {
        Some((n, h)) => (n + 1, *h),
        None => (1, ZERO_HASH),
    };
    let key_id = head.key.id();
    let header = Header {
        format_version: FORMAT_VERSION,
        seq: head.seq + 1,
        kind: kind.as_str(),
        kind_seq,
        timestamp_ms,
        prev_hash: &head.hash,
        prev_kind_hash: &prev_kind_hash,
        key_id: &key_id,
    };
    // Kind names are constants and bodies were bounded by the encoder.
    let hash = record_hash(&header, &body).unwrap_or(ZERO_HASH);
    assert_ne!(hash, ZERO_HASH, "a record of a known kind always hashes");
    let signature = signature.unwrap_or_else(|| head.key.sign_hash(&hash));
    (
        Record {
            format_version: FORMAT_VERSION,
            seq: head.seq + 1,
            kind: kind.as_str().to_string(),
            kind_seq,
            timestamp_ms,
            prev_hash: head.hash,
            prev_kind_hash,
            key_id,
            body,
            hash,
            signature,
        },
        clock_went_back,
    )
}

fn advance(head: &mut Head, record: &Record, kind: Kind) {
    head.seq = record.seq;
    head.hash = record.hash;
    head.timestamp_ms = record.timestamp_ms;
    head.kinds.insert(kind, (record.kind_seq, record.hash));
}

/// Reads the opening body and the id of the current signing key.
fn load_identity(conn: &Connection) -> Result<(OpeningBody, KeyId), JournalError> {
    let damaged = |m: String| JournalError::Damaged(vec![m]);
    let opening_bytes: Vec<u8> = conn
        .query_row(
            "SELECT body FROM records WHERE kind = 'opening' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map_err(|e| damaged(format!("no readable opening record: {e}")))?;
    let opening = match Body::decode(Kind::Opening, &opening_bytes) {
        Ok(Body::Opening(o)) => o,
        _ => return Err(damaged("the opening record's body is unreadable".into())),
    };
    let (mut current, _) = opening
        .key
        .decode()
        .map_err(|e| damaged(format!("opening key: {e}")))?;
    let mut stmt =
        conn.prepare("SELECT body FROM records WHERE kind = 'key_change' ORDER BY seq")?;
    let bodies = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    for b in bodies {
        let b = b?;
        match Body::decode(Kind::KeyChange, &b) {
            Ok(Body::KeyChange(k)) => {
                current = k
                    .new_key
                    .decode()
                    .map_err(|e| damaged(format!("key change: {e}")))?
                    .0
            }
            _ => return Err(damaged("a key change record is unreadable".into())),
        }
    }
    Ok((opening, current))
}

fn load_head(conn: &Connection, key: KeyPair) -> Result<Head, JournalError> {
    let (seq, hash, timestamp_ms): (i64, Vec<u8>, i64) = conn.query_row(
        "SELECT seq, hash, timestamp_ms FROM records ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let to_hash = |v: Vec<u8>| -> Result<Hash, JournalError> {
        v.try_into()
            .map_err(|_| JournalError::Damaged(vec!["a stored hash is not 32 bytes".into()]))
    };
    let mut kinds = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT kind, kind_seq, hash FROM records WHERE seq IN \
         (SELECT MAX(seq) FROM records GROUP BY kind)",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    for row in rows {
        let (kind, kind_seq, h) = row?;
        let kind = Kind::parse(&kind).ok_or_else(|| {
            JournalError::Damaged(vec![format!(
                "record kind {kind:?} is unknown to this build"
            )])
        })?;
        kinds.insert(kind, (kind_seq as u64, to_hash(h)?));
    }
    Ok(Head {
        seq: seq as u64,
        hash: to_hash(hash)?,
        timestamp_ms,
        kinds,
        key,
    })
}

/// Verifies the newest `count` records (links, hashes, signatures, bodies).
fn tail_check(path: &Path, count: u64) -> Result<(), JournalError> {
    let reader = crate::reader::JournalReader::open(path)
        .map_err(|e| JournalError::Damaged(vec![e.to_string()]))?;
    let mut sink = CollectFindings::default();
    let options = VerifyOptions {
        tail: Some(count),
        ..VerifyOptions::default()
    };
    verify::verify_journal(&reader, &options, &mut sink)
        .map_err(|e| JournalError::Damaged(vec![e.to_string()]))?;
    if sink.findings.is_empty() {
        Ok(())
    } else {
        Err(JournalError::Damaged(
            sink.findings
                .iter()
                .take(20)
                .map(|f| f.to_string())
                .collect(),
        ))
    }
}

struct Writer {
    conn: Connection,
    head: Head,
    clock: Arc<dyn Clock>,
}

/// One record of a batch, sequenced but maybe not yet signed.
struct Slot {
    record: Record,
    kind: Kind,
    ref_seq: Option<u64>,
    clock_went_back: bool,
    signer: KeyPair,
    reply: SyncSender<Result<Appended, JournalError>>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Prepared>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_RECORDS {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&mut self, batch: Vec<Prepared>) {
        let mut head = self.head.clone();
        let now = self.clock.now_ms();
        // Refunds accepted earlier in this batch, by original seq, so that two refunds of one
        // ticket in one batch cannot both take what remains.
        let mut pending_refunds: HashMap<u64, Vec<RefundBody>> = HashMap::new();
        let mut slots: Vec<Slot> = Vec::with_capacity(batch.len());
        for p in batch {
            let signer = head.key.clone();
            let (body, ref_seq, next_key) = match p.payload {
                Payload::Body(bytes) => (bytes, None, None),
                Payload::Refund {
                    original_seq,
                    input,
                } => {
                    let (original_ticket, original, remaining) =
                        match self.refund_state(original_seq, &pending_refunds) {
                            Ok(s) => s,
                            Err(e) => {
                                let _ = p.reply.send(Err(e));
                                continue;
                            }
                        };
                    let original_ref = OriginalRef {
                        seq: original_seq,
                        ticket: original_ticket,
                    };
                    let body = match compute_refund(original_ref, &original, &remaining, &input) {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = p.reply.send(Err(e.into()));
                            continue;
                        }
                    };
                    let bytes = match to_canonical(&body) {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = p.reply.send(Err(e.into()));
                            continue;
                        }
                    };
                    pending_refunds.entry(original_seq).or_default().push(body);
                    (bytes, Some(original_seq), None)
                }
                Payload::KeyChange { new_key, bytes } => (bytes, None, Some(new_key)),
            };
            // Signatures are computed below, in parallel; a placeholder keeps the record shape.
            let (record, clock_went_back) = seal(&head, p.kind, body, now, Some([0; 64]));
            advance(&mut head, &record, p.kind);
            if let Some(k) = next_key {
                head.key = k;
            }
            slots.push(Slot {
                record,
                kind: p.kind,
                ref_seq,
                clock_went_back,
                signer,
                reply: p.reply,
            });
        }
        if slots.is_empty() {
            return;
        }
        let sign = |s: &mut Slot| s.record.signature = s.signer.sign_hash(&s.record.hash);
        if slots.len() > 1 {
            slots.par_iter_mut().for_each(sign);
        } else {
            slots.iter_mut().for_each(sign);
        }
        match self.write(&slots) {
            Ok(()) => {
                self.head = head;
                for s in slots {
                    let r = s.record;
                    let _ = s.reply.send(Ok(Appended {
                        seq: r.seq,
                        kind: s.kind,
                        kind_seq: r.kind_seq,
                        timestamp_ms: r.timestamp_ms,
                        hash: r.hash,
                        signature: r.signature,
                        body: r.body,
                        clock_went_back: s.clock_went_back,
                    }));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for s in slots {
                    let _ = s.reply.send(Err(JournalError::Storage(msg.clone())));
                }
            }
        }
    }

    fn write(&mut self, slots: &[Slot]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for s in slots {
            store::insert(&tx, &s.record, s.ref_seq)?;
        }
        tx.commit()
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

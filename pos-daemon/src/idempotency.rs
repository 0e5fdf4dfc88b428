//! Idempotency keys for sales and refunds: a front-end that sends one again with the same
//! `Idempotency-Key` header (after a timeout, a lost answer, a restart of either side) gets the
//! first answer again, never a second ticket.
//!
//! A key is remembered in `ops.db`, durably, before the sale is journaled, with the journal's
//! last seq and the SHA-256 of the request's body; the seq of the sale once it is journaled. A
//! key whose seq was never recorded (the process died, or the client went away, between the
//! journal's commit and that record) is settled from the journal itself: the first sale after
//! the remembered seq that this request would have written, and that no other key names, is
//! its record; if there is none, the sale was never journaled and is journaled now.

use crate::app::App;
use pos_core::journal::{Appended, JournalError};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// The longest key taken.
pub const MAX_KEY_LEN: usize = 128;
/// How many records past the remembered seq are searched for a key's record.
pub const MAX_SEARCHED_RECORDS: u64 = 10_000;

/// Why a keyed request is refused, or could not be served.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The header's value is not a key.
    #[error("{HEADER} must be 1 to {MAX_KEY_LEN} visible ASCII characters")]
    BadKey,
    /// Another request with the same key is being served.
    #[error("a request with this idempotency key is being served: send it again for its answer")]
    InProgress,
    /// The key was sent before with another body.
    #[error("{HEADER} {0:?} was sent before with another request body")]
    Reused(String),
    /// `ops.db` could not note the key before the record is journaled (nothing is journaled).
    #[error("cannot remember the idempotency key: {0}")]
    Remember(rusqlite::Error),
    /// `ops.db` failed while the key was looked up or settled.
    #[error("{0}")]
    Store(#[from] rusqlite::Error),
    /// The journal could not be read to settle the key.
    #[error("{0}")]
    JournalUnreadable(String),
    /// The journal refused the record, or its commit's outcome is unknown.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A request's idempotency key and the SHA-256 of its body.
#[derive(Debug, Clone)]
pub struct RequestKey {
    /// The key as sent.
    pub key: String,
    /// The SHA-256 of the request's body: a key sent again with another body is refused.
    pub sha256: [u8; 32],
}

impl RequestKey {
    /// The key of a request, if it has one (`header`: the value of its [`HEADER`] header):
    /// 1 to [`MAX_KEY_LEN`] visible ASCII characters.
    pub fn of(header: Option<&[u8]>, body: &[u8]) -> Result<Option<RequestKey>, IdempotencyError> {
        let Some(value) = header else {
            return Ok(None);
        };
        if value.is_empty()
            || value.len() > MAX_KEY_LEN
            || !value.iter().all(|b| b.is_ascii_graphic())
        {
            return Err(IdempotencyError::BadKey);
        }
        Ok(Some(RequestKey {
            // Visible ASCII: always UTF-8.
            key: String::from_utf8_lossy(value).into_owned(),
            sha256: Sha256::digest(body).into(),
        }))
    }
}

/// A key in use by a request being served: others with the same key wait for its answer
/// instead of writing a second record. Released when dropped.
#[derive(Debug)]
pub struct InFlight {
    app: Arc<App>,
    key: String,
}

impl InFlight {
    /// Takes `key` for this request; `None` if another request holds it.
    pub fn take(app: &Arc<App>, key: &str) -> Option<InFlight> {
        let mut keys = match app.till.keys_in_flight.lock() {
            Ok(k) => k,
            Err(p) => p.into_inner(),
        };
        keys.insert(key.to_string()).then(|| InFlight {
            app: app.clone(),
            key: key.to_string(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut keys = match self.app.till.keys_in_flight.lock() {
            Ok(k) => k,
            Err(p) => p.into_inner(),
        };
        keys.remove(&self.key);
    }
}

/// What is known of a keyed request before it is served.
#[derive(Debug)]
enum Known {
    /// Never seen (or refused before, which wrote nothing): serve it.
    New,
    /// Served: its record.
    Done(u64),
    /// Remembered, but whether its record was journaled is not: look in the journal after
    /// this seq.
    Unsettled {
        /// The journal's last seq before the request.
        after_seq: u64,
    },
}

/// Where a keyed request starts.
#[derive(Debug)]
pub enum Start {
    /// Served before: answer with this record.
    Replay(u64),
    /// To serve, holding its key; `unsettled` is the seq after which its record may already
    /// be (see [`settle`]).
    Serve {
        /// The key, held while the request is served.
        held: InFlight,
        /// Set when the key was remembered but its record never noted.
        unsettled: Option<u64>,
    },
}

/// Looks a request's key up and holds it for this request. Refuses a key sent again with
/// another body (422) or while another request with it is served (409).
pub fn start(app: &Arc<App>, key: &RequestKey) -> Result<Start, IdempotencyError> {
    if let Known::Done(seq) = known(app, key)? {
        return Ok(Start::Replay(seq));
    }
    let held = InFlight::take(app, &key.key).ok_or(IdempotencyError::InProgress)?;
    // Looked up again under the hold: the request that held it may have finished in between.
    Ok(match known(app, key)? {
        Known::Done(seq) => Start::Replay(seq),
        Known::Unsettled { after_seq } => Start::Serve {
            held,
            unsettled: Some(after_seq),
        },
        Known::New => Start::Serve {
            held,
            unsettled: None,
        },
    })
}

/// Appends a keyed request's record with `append` (on a blocking thread): the key is noted
/// durably before, and the record's seq after; a refused record frees the key. A commit of
/// unknown outcome leaves it unsettled, for the journal to say.
pub fn append_keyed(
    app: &App,
    journal: &pos_core::journal::Journal,
    key: Option<&RequestKey>,
    append: impl FnOnce() -> Result<Appended, JournalError>,
) -> Result<Appended, IdempotencyError> {
    let Some(k) = key else {
        return Ok(append()?);
    };
    app.ops
        .begin_keyed(&k.key, &k.sha256, journal.last_seq())
        .map_err(IdempotencyError::Remember)?;
    match append() {
        Ok(a) => {
            // Not noted (a full disk), the answer is found again from the journal.
            if let Err(e) = app.ops.finish_keyed(&k.key, a.seq) {
                tracing::warn!(error = %e, "the idempotency key's record is not noted");
            }
            Ok(a)
        }
        Err(e @ JournalError::OutcomeUnknown { .. }) => Err(e.into()),
        Err(e) => {
            if let Err(forget) = app.ops.forget_keyed(&k.key) {
                tracing::warn!(error = %forget, "a refused request's idempotency key is kept");
            }
            Err(e.into())
        }
    }
}

/// Looks the key up; refuses a key sent again with another body.
fn known(app: &App, key: &RequestKey) -> Result<Known, IdempotencyError> {
    let row = app.ops.keyed_request(&key.key)?;
    match row {
        None => Ok(Known::New),
        Some(r) if r.request_sha256 != key.sha256 => Err(IdempotencyError::Reused(key.key.clone())),
        Some(r) => Ok(match r.seq {
            Some(seq) => Known::Done(seq),
            None => Known::Unsettled {
                after_seq: r.after_seq,
            },
        }),
    }
}

/// Settles an unsettled key from the journal: the first record after `after_seq` (within
/// [`MAX_SEARCHED_RECORDS`]) that `written` says this request would have written and no other
/// key names becomes its record. `None` (and the key forgotten) when there is none: the request
/// wrote nothing.
pub fn settle(
    app: &App,
    key: &str,
    after_seq: u64,
    written: impl Fn(&pos_core::record::Record) -> bool,
) -> Result<Option<u64>, IdempotencyError> {
    let reader = pos_core::reader::JournalReader::open(&app.config.journal_path())
        .map_err(|e| IdempotencyError::JournalUnreadable(e.to_string()))?;
    let mut candidates = Vec::new();
    reader
        .for_each_from(after_seq + 1, |r| {
            match r {
                Ok(r) if r.seq > after_seq + MAX_SEARCHED_RECORDS => {
                    return std::ops::ControlFlow::Break(())
                }
                Ok(r) if written(&r) => candidates.push(r.seq),
                _ => {}
            }
            std::ops::ControlFlow::Continue(())
        })
        .map_err(|e| IdempotencyError::JournalUnreadable(e.to_string()))?;
    for seq in candidates {
        if app.ops.finish_keyed(key, seq)? {
            return Ok(Some(seq));
        }
    }
    app.ops.forget_keyed(key)?;
    Ok(None)
}

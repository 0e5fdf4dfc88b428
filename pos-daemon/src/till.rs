//! The till's fiscal core: the journal (or why it cannot be used), the identity it was opened
//! with, the signing key, the clock, and the notices that tell the projector what was appended.
//!
//! Every service that writes to the journal goes through this one (the API's handlers, the
//! print worker's fault events, the scanners' and sessions' events). It knows nothing of HTTP,
//! of the printer or of the projections: it only hands appended seqs on.

use pos_core::body::{Merchant, OpeningBody};
use pos_core::journal::{Clock, Journal};
use pos_core::keys::KeyPair;
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, RwLock};

/// An appended record to project; the reply gets its print job id (none for records that do
/// not print, or when `ops.db` failed: the next batch or start retries from the cursor).
#[derive(Debug)]
pub struct Notice {
    /// The record's seq.
    pub seq: u64,
    /// Where to answer, if anyone waits.
    pub reply: Option<tokio::sync::oneshot::Sender<Option<i64>>>,
}

/// The journal cannot be used: it could not be opened (the reason is its error at start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JournalUnavailable(pub String);

/// The journal and what goes with it.
pub struct Till {
    /// The journal, unless it could not be opened (then `journal_error` says why).
    pub journal: Option<Arc<Journal>>,
    /// Why the journal is not available: sales are refused with this message.
    pub journal_error: Option<String>,
    /// The journal's opening body.
    pub opening: OpeningBody,
    /// The merchant identity printed now (the opening's, until changed through the API). A
    /// read-write lock: every receipt reads it, a manager rarely changes it.
    pub merchant: RwLock<Merchant>,
    /// The signing key (receipt codes when printing).
    pub key: KeyPair,
    /// The journal's clock.
    pub clock: Arc<dyn Clock>,
    /// Notified when the journal must be reopened (a commit of unknown outcome): `posd serve`
    /// stops with an error, for its service manager to start it again.
    pub journal_reopen: tokio::sync::Notify,
    /// Training mode: tickets are journaled as training tickets, counted nowhere. An atomic:
    /// every sale reads it, a manager rarely switches it.
    pub training: AtomicBool,
    /// The idempotency keys of the requests being served ([`crate::idempotency`]): a second
    /// request with a key in the set waits for the first's answer instead of writing twice.
    pub keys_in_flight: Mutex<HashSet<String>>,
    /// Appended seqs go to the projector (print jobs, stock movements, closures).
    projector: SyncSender<Notice>,
}

impl std::fmt::Debug for Till {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Till")
            .field("register_id", &self.opening.register_id)
            .finish_non_exhaustive()
    }
}

/// What a [`Till`] is made of.
pub struct TillParts {
    /// The journal, if it opened.
    pub journal: Option<Arc<Journal>>,
    /// Why it did not.
    pub journal_error: Option<String>,
    /// Its opening.
    pub opening: OpeningBody,
    /// The merchant identity in force.
    pub merchant: Merchant,
    /// The signing key.
    pub key: KeyPair,
    /// The journal's clock.
    pub clock: Arc<dyn Clock>,
    /// Where appended seqs go.
    pub projector: SyncSender<Notice>,
    /// Whether training mode is on (kept in `ops.db` across restarts).
    pub training: bool,
}

impl Till {
    /// The till of these parts.
    pub fn new(p: TillParts) -> Till {
        Till {
            journal: p.journal,
            journal_error: p.journal_error,
            opening: p.opening,
            merchant: RwLock::new(p.merchant),
            key: p.key,
            clock: p.clock,
            journal_reopen: tokio::sync::Notify::new(),
            training: AtomicBool::new(p.training),
            keys_in_flight: Mutex::new(HashSet::new()),
            projector: p.projector,
        }
    }

    /// The journal, or the reason it is unavailable.
    pub fn journal(&self) -> Result<Arc<Journal>, JournalUnavailable> {
        self.journal.clone().ok_or_else(|| {
            JournalUnavailable(
                self.journal_error
                    .clone()
                    .unwrap_or_else(|| "the journal is not open".into()),
            )
        })
    }

    /// The opening body with the merchant identity in force now, for printing.
    pub fn current_opening(&self) -> OpeningBody {
        let mut o = self.opening.clone();
        match self.merchant.read() {
            Ok(m) => o.merchant = m.clone(),
            Err(p) => o.merchant = p.into_inner().clone(),
        }
        o
    }

    /// Tells the projector a record was appended; the answer is its print job id. Blocking
    /// when the projector's queue is full: call from a blocking thread.
    pub fn project(&self, seq: u64) -> tokio::sync::oneshot::Receiver<Option<i64>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.projector.send(Notice {
            seq,
            reply: Some(tx),
        });
        rx
    }

    /// Tells the projector a record was appended, without waiting (a full queue drops the
    /// notice: the projector catches up with the journal head when idle).
    pub fn appended(&self, seq: u64) {
        let _ = self.projector.try_send(Notice { seq, reply: None });
    }

    /// Journals a technical event from async code; failures are logged.
    pub async fn journal_event(&self, code: &'static str, message: &str) {
        self.journal_event_by(code, message, None).await
    }

    /// Journals a technical event with details.
    pub async fn journal_event_details<const N: usize>(
        &self,
        code: &'static str,
        message: &str,
        details: [(&str, String); N],
    ) {
        self.append_event(pos_core::body::EventBody {
            code: code.to_string(),
            message: message.to_string(),
            operator: None,
            details: details
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        })
        .await
    }

    /// Journals a technical event naming an operator.
    pub async fn journal_event_by(
        &self,
        code: &'static str,
        message: &str,
        operator: Option<&str>,
    ) {
        self.append_event(pos_core::body::EventBody {
            code: code.to_string(),
            message: message.to_string(),
            operator: operator.map(str::to_string),
            details: Default::default(),
        })
        .await
    }

    /// Journals a technical event (off the async threads); a failure is logged: the event
    /// is not what the caller answers for.
    async fn append_event(&self, body: pos_core::body::EventBody) {
        let Ok(j) = self.journal() else { return };
        let code = body.code.clone();
        let r =
            tokio::task::spawn_blocking(move || j.append(pos_core::journal::Draft::Event(body)))
                .await;
        match r {
            Ok(Ok(a)) => self.appended(a.seq),
            Ok(Err(e)) => tracing::error!(code, error = %e, "cannot journal an event"),
            Err(e) => tracing::error!(code, error = %e, "cannot journal an event"),
        }
    }
}

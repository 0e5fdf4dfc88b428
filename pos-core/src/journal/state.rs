//! What the writer publishes to callers, and the head of the chain it writes on.

use crate::body::OpeningBody;
use crate::keys::Signer;
use crate::money::VatRate;
use crate::record::{Hash, Kind};
use crate::rules::FiscalRules;
use std::sync::{Arc, RwLock};

/// What the journal says about itself, shared with callers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) opening: OpeningBody,
    /// The fiscal rules the opening names.
    pub(crate) rules: Arc<dyn FiscalRules>,
    /// The period the rules close between the day and the fiscal year (the month in France).
    pub(crate) middle_period: pos_format::closure::Period,
    /// The VAT rates in force (callers compute sales with them; the writer re-checks).
    pub(crate) rates: RwLock<Vec<VatRate>>,
    /// The current signing key (for receipt codes).
    pub(crate) key: RwLock<Arc<dyn Signer>>,
    /// Why the last automatic anchor could not be written, if it could not.
    pub(crate) anchor_error: RwLock<Option<String>>,
    /// Why the last commit was refused, while none has succeeded since.
    pub(crate) write_failure: RwLock<Option<String>>,
    /// The last record's timestamp.
    pub(crate) head_timestamp_ms: std::sync::atomic::AtomicI64,
    /// The last record's sequence number.
    pub(crate) head_seq: std::sync::atomic::AtomicU64,
    /// A commit's outcome is unknown: nothing more is written until the journal is reopened.
    pub(crate) needs_reopen: std::sync::atomic::AtomicBool,
}

/// The head of the chain as the writer sees it: what the next record links to.
#[derive(Clone)]
pub(crate) struct Head {
    pub(crate) seq: u64,
    pub(crate) hash: Hash,
    pub(crate) timestamp_ms: i64,
    pub(crate) kinds: std::collections::HashMap<Kind, (u64, Hash)>,
    pub(crate) key: Arc<dyn Signer>,
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

//! What callers append, and what an append produced.

use crate::body::EventBody;
use crate::keys::Signer;
use crate::money::VatRate;
use crate::record::{Hash, Kind};
use crate::ticket::{RefundInput, SaleInput};
use std::sync::Arc;

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
    /// `new_key` (of the same algorithm or another). Save an in-process key before calling: the
    /// journal cannot be reopened without it.
    KeyChange {
        /// The new key.
        new_key: Arc<dyn Signer>,
        /// Why.
        reason: String,
    },
    /// A training-mode ticket: computed like a sale, numbered on its own, never counted.
    Training(SaleInput),
    /// A reprint of the ticket, refund, training ticket or closure at `original_seq`; its copy
    /// number is given by the journal.
    Duplicate {
        /// The original's global sequence number.
        original_seq: u64,
        /// Who asks for the copy.
        operator: String,
        /// Why.
        reason: String,
    },
    /// An archive was written (see [`crate::archive`]); an `archive_written` event follows.
    Archive(crate::body::ArchiveBody),
    /// New VAT rates, journaled as a `configuration_changed` event with the old and new values.
    SetVatRates {
        /// The new rates.
        rates: Vec<VatRate>,
        /// Who changed them.
        operator: String,
    },
}

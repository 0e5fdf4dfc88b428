//! What callers queue for the writer, and how they are answered.

use super::draft::Appended;
use super::error::JournalError;
use crate::anchor::Anchor;
use crate::closure::{Period, XReport};
use crate::keys::Signer;
use crate::money::VatRate;
use crate::record::Kind;
use crate::ticket::{RefundInput, SaleBody};
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

/// Tells a caller its result (a caller that has gone away has nothing to be told).
pub(crate) fn answer<T>(reply: &Reply<T>, result: Result<T, JournalError>) {
    let _ = reply.send(Answer::Done(result));
}

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
    /// Tell whether closing `period` now would close it before its end.
    ClosesEarly {
        period: Period,
        reply: Reply<Option<String>>,
    },
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
            Request::ClosesEarly { reply, .. } => reply.send(Answer::Lead).is_ok(),
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

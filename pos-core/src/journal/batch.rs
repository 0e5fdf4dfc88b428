//! A batch in progress: the records of one commit, sequenced, linked and sealed on top of a
//! copy of the writer's state, signed just before the commit; and the refused commits an event
//! tells of.

use super::draft::Appended;
use super::error::JournalError;
use super::request::Reply;
use super::state::Head;
use crate::body::{Body, EventBody};
use crate::canonical::to_canonical;
use crate::closure::{ClosureState, Period};
use crate::events;
use crate::keys::Signer;
use crate::money::VatRate;
use crate::record::{
    record_hash, Header, Kind, Record, CONTINUED_CLOSURE_VERSION, FORMAT_VERSION, ZERO_HASH,
};
use crate::ticket::RefundBody;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Committed records with the caller to tell, if any.
pub(crate) type Committed = Vec<(Option<Reply<Appended>>, Appended)>;

/// Commits the storage refused (a full or failing disk), or that could not be signed (a signing
/// device absent or failing), not told yet. The next commit of callers' records opens with a
/// `journal_write_failed` or `signing_failed` event that tells of them, so that the incident is
/// in the journal once the disk takes writes, or the device signs, again.
#[derive(Debug)]
pub(crate) struct FailedWrites {
    /// The event code that tells of them.
    pub(crate) code: &'static str,
    /// When the first refused commit was attempted (UTC ms, from the clock).
    pub(crate) first_ms: i64,
    /// When the last one was.
    pub(crate) last_ms: i64,
    /// Commits refused.
    pub(crate) commits: u64,
    /// Callers' records refused in them (not the closures and events the journal adds
    /// itself, sealed again in each attempt).
    pub(crate) records: u64,
    /// The last error.
    pub(crate) error: String,
}

impl FailedWrites {
    pub(crate) fn event(&self) -> EventBody {
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
pub(crate) struct Slot {
    pub(crate) record: Record,
    pub(crate) kind: Kind,
    pub(crate) ref_seq: Option<u64>,
    pub(crate) clock_went_back: bool,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) reply: Option<Reply<Appended>>,
}

/// A batch in progress: copies of the writer's state, advanced record by record, that replace
/// the writer's state only once the batch is committed.
pub(crate) struct Batch {
    pub(crate) head: Head,
    pub(crate) closures: ClosureState,
    pub(crate) rates: Vec<VatRate>,
    pub(crate) in_clock_anomaly: bool,
    pub(crate) now_ms: i64,
    pub(crate) slots: Vec<Slot>,
    /// Refunds accepted earlier in this batch, by original seq.
    pub(crate) pending_refunds: HashMap<u64, Vec<RefundBody>>,
    /// Duplicates accepted earlier in this batch, by original seq.
    pub(crate) pending_copies: HashMap<u64, u64>,
    /// Whether the batch opens with the event telling of refused commits.
    pub(crate) tells_failed_writes: bool,
}

pub(crate) fn event_body(
    code: &str,
    message: String,
    details: BTreeMap<String, String>,
) -> EventBody {
    EventBody {
        code: code.to_string(),
        message,
        operator: None,
        details,
    }
}

/// A validated caller's record, ready to seal.
pub(crate) struct Ready {
    pub(crate) bytes: Vec<u8>,
    pub(crate) body: Option<Body>,
    pub(crate) ref_seq: Option<u64>,
    pub(crate) then: Then,
}

/// What changes in the batch's state once a record is sealed.
pub(crate) enum Then {
    Nothing,
    NewKey(Arc<dyn Signer>),
    Rates(Vec<VatRate>),
    Refunded(u64, RefundBody),
    Copied(u64),
    Event(EventBody),
}

impl Ready {
    pub(crate) fn new(bytes: Vec<u8>, body: Option<Body>) -> Ready {
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
    pub(crate) fn apply(
        &mut self,
        kind: Kind,
        ready: Ready,
        reply: Reply<Appended>,
    ) -> Result<(), JournalError> {
        let due = self
            .closures
            .due_before(self.now_ms.max(self.head.timestamp_ms));
        let due: Vec<(Period, bool)> = due.into_iter().map(|p| (p, true)).collect();
        self.seal_closures(&due)?;
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
    pub(crate) fn seal(
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
        // The lowest version that can express the record.
        let format_version = match body {
            Some(Body::Closure(c)) if c.continues => CONTINUED_CLOSURE_VERSION,
            _ => FORMAT_VERSION,
        };
        let header = Header {
            format_version,
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
            format_version,
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

    pub(crate) fn seal_event(&mut self, body: EventBody) -> Result<(), JournalError> {
        let bytes = to_canonical(&body)?;
        self.seal(Kind::Event, bytes, Some(&Body::Event(body)), None, None)
    }

    /// Writes the closures of `periods`, in order, then one `closure_written` event for each
    /// (events come last so that no record stands between closures that are due together).
    pub(crate) fn seal_closures(&mut self, periods: &[(Period, bool)]) -> Result<(), JournalError> {
        let mut written = Vec::with_capacity(periods.len());
        let at_ms = self.now_ms.max(self.head.timestamp_ms);
        for &(period, automatic) in periods {
            let mut closure = self.closures.build(period, automatic)?;
            closure.continues = self.closures.continues_at(period, at_ms);
            let bytes = to_canonical(&closure)?;
            written.push((
                period,
                automatic,
                closure.start.clone(),
                closure.end.clone(),
            ));
            self.seal(
                Kind::Closure,
                bytes,
                Some(&Body::Closure(closure)),
                None,
                None,
            )?;
        }
        for (period, automatic, start, end) in written {
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
    pub(crate) fn after_record(&mut self) -> Result<(), JournalError> {
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

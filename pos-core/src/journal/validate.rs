//! Validating a caller's record against the batch's state before it is sealed, without
//! changing anything: the closure and clock rules, VAT rates in force, what remains of a
//! refund's original, a duplicate's copy number.

use super::batch::{event_body, Batch, Ready, Then};
use super::error::JournalError;
use super::request::Payload;
use super::writer::Writer;
use crate::body::{Body, DuplicateBody, DuplicateOf, EventBody, DUPLICABLE_KINDS};
use crate::canonical::to_canonical;
use crate::events;
use crate::rates::format_rates;
use crate::record::{Kind, Record};
use crate::store;
use crate::ticket::{
    check_text_field, compute_refund, OriginalRef, RefundBody, Remaining, SaleBody, TicketError,
};
use std::collections::{BTreeMap, HashMap};

impl Writer {
    /// Validates a caller's record against the batch's state, without changing anything.
    pub(super) fn prepare(
        &self,
        batch: &Batch,
        kind: Kind,
        payload: Payload,
    ) -> Result<Ready, JournalError> {
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
                let stored = store::duplicate_count(&self.conn, original_seq)?;
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
                    copy: stored + pending + 1,
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

    /// The record at `seq` if it may be reprinted.
    pub(super) fn duplicable(&self, seq: u64) -> Result<Record, JournalError> {
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
    pub(super) fn refund_state(
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
        for body in store::refund_bodies_of(&self.conn, original_seq)? {
            if let Ok(Body::Refund(r)) = Body::decode(Kind::Refund, &body) {
                remaining.apply(&r)?;
            }
        }
        for r in pending.get(&original_seq).into_iter().flatten() {
            remaining.apply(r)?;
        }
        Ok((record.kind_seq, sale, remaining))
    }
}

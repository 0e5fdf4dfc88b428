//! The in-order checks of a decoded body: VAT rates in force, closures against their
//! recomputation, refunds against what remains of their sale, duplicates, event codes; and the
//! end of a stream (anchors not reached).

use super::findings::{Finding, FindingSink, Lookup, Problem, Summary};
use super::rules::Verifier;
use crate::body::{Body, DuplicateBody, OpeningBody, DUPLICABLE_KINDS};
use crate::closure::{differences, ClosureState};
use crate::events;
use crate::rates::vat_rates_set_by;
use crate::record::{Kind, Record, CONTINUED_CLOSURE_VERSION};
use crate::ticket::{check_refund, Remaining, SaleBody};

impl Verifier {
    /// The checks of a decoded body that need the journal's state, in order.
    pub(crate) fn check_body(
        &mut self,
        r: &Record,
        body: Body,
        lookup: &dyn Lookup,
        problems: &mut Vec<(Problem, String)>,
    ) {
        let kind = body.kind();
        // Rates in force for tickets.
        if let (Body::Sale(s) | Body::Training(s), false) = (&body, self.partial) {
            let rates = self.rates.as_deref().unwrap_or_default();
            // A consistent sale's lines were dropped in the parallel phase; its breakdown
            // names the same rates.
            let line_rates = s.lines.iter().map(|l| l.vat_rate);
            let mut used = line_rates.chain(s.vat.iter().map(|v| v.rate));
            if let Some(rate) = used.find(|r| !rates.contains(r)) {
                problems.push((
                    Problem::TicketInconsistent,
                    format!("VAT rate {rate} % is not a rate in force"),
                ));
            }
        }
        // Closure rules, replayed like the writer applies them.
        if let Some(state) = self.closures.as_mut() {
            if let Body::Closure(stored) = &body {
                if stored.continues && r.format_version < CONTINUED_CLOSURE_VERSION {
                    problems.push((
                        Problem::MalformedBody,
                        format!(
                            "`continues` in a record of format version {}: it needs version {CONTINUED_CLOSURE_VERSION}",
                            r.format_version
                        ),
                    ));
                }
                match state.build(stored.period, stored.automatic) {
                    Ok(mut expected) => {
                        // As with `automatic`, the stored flag is taken, where it may be: only
                        // a day closure written during its day continues it (journals written
                        // before the flag existed never have it).
                        expected.continues =
                            stored.continues && state.continues_at(stored.period, r.timestamp_ms);
                        let fields = differences(stored, &expected);
                        if !fields.is_empty() {
                            problems.push((
                                Problem::ClosureMismatch,
                                format!(
                                    "{} closure {}: {} differ from the recomputation",
                                    stored.period.as_str(),
                                    stored.start,
                                    fields.join(", ")
                                ),
                            ));
                        }
                        // Go on from the recomputed closure so one bad closure is reported once.
                        let _ = state.apply_closure(r.seq, r.hash, &expected);
                    }
                    Err(e) => {
                        problems.push((Problem::ClosureMismatch, e.to_string()));
                        let _ = state.apply_closure(r.seq, r.hash, stored);
                    }
                }
            } else {
                let due = state.due_before(r.timestamp_ms);
                for period in &due {
                    problems.push((
                        Problem::MissingClosure,
                        format!(
                            "the {} closure due before this record is missing",
                            period.as_str()
                        ),
                    ));
                    if let Ok(c) = state.build(*period, true) {
                        let _ = state.apply_closure(r.seq.saturating_sub(1), r.prev_hash, &c);
                    }
                }
                if matches!(kind, Kind::Sale | Kind::Refund) {
                    if let Err(e) = state.check_open(r.timestamp_ms) {
                        problems.push((Problem::RecordInClosedPeriod, e.to_string()));
                    }
                }
                if let Err(e) = state.observe(r.seq, r.hash, kind, r.timestamp_ms, Some(&body)) {
                    problems.push((Problem::ClosureMismatch, e.to_string()));
                }
            }
        }
        match body {
            Body::Opening(o) => {
                let rules = self.options.rules.for_opening(&o);
                match &rules {
                    Ok(rules) => {
                        if let Err(e) = rules.validate_opening(&o) {
                            problems.push((Problem::BadOpening, e));
                        }
                    }
                    Err(e) => problems.push((Problem::BadOpening, e.clone())),
                }
                if !self.options.trusted_keys.is_empty() {
                    let trusted = crate::keys::decode_key(&o.key)
                        .map(|(_, k)| self.options.trusted_keys.contains(&k))
                        .unwrap_or(false);
                    if !trusted {
                        problems.push((
                            Problem::BadOpening,
                            format!("the opening key {} is not a trusted key", o.key.key_id),
                        ));
                    }
                }
                if self.closures.is_none() && !self.partial {
                    self.closures = rules
                        .as_ref()
                        .ok()
                        .and_then(|r| r.calendar(&o).ok())
                        .map(ClosureState::with_calendar);
                    if let Some(state) = self.closures.as_mut() {
                        let _ = state.observe(r.seq, r.hash, Kind::Opening, r.timestamp_ms, None);
                    }
                }
                self.rules = rules.ok();
                self.rates = Some(o.vat_rates.clone());
                self.keys_seen.push(o.key.key_id.clone());
                if self.summary.opening.is_none() {
                    self.summary.opening = Some(o);
                }
            }
            Body::Sale(sale) => {
                let _ = self.range_totals.add_sale(&sale);
                self.summary.sales_total = self
                    .summary
                    .sales_total
                    .checked_add(sale.total)
                    .unwrap_or(self.summary.sales_total);
            }
            Body::Refund(refund) => {
                let _ = self.range_totals.add_refund(&refund);
                self.summary.refunds_total = self
                    .summary
                    .refunds_total
                    .checked_add(refund.total)
                    .unwrap_or(self.summary.refunds_total);
                if let Err(p) = self.check_refund(r, &refund, lookup) {
                    problems.push(p);
                }
            }
            Body::Event(e) => {
                let known = match &self.rules {
                    Some(rules) => rules.is_known_event(&e.code),
                    None => events::is_known(&e.code),
                };
                if !known {
                    problems.push((Problem::UnknownEventCode, format!("code {:?}", e.code)));
                }
                if let Some(rates) = vat_rates_set_by(&e) {
                    self.rates = Some(rates);
                }
            }
            Body::Duplicate(d) => {
                if let Err(detail) = self.check_duplicate(r, &d, lookup) {
                    problems.push((Problem::DuplicateInvalid, detail));
                }
            }
            Body::KeyChange(k) => self.keys_seen.push(k.new_key.key_id),
            Body::Closure(_) | Body::Training(_) | Body::Archive(_) => {}
        }
    }

    fn check_duplicate(
        &mut self,
        r: &Record,
        d: &DuplicateBody,
        lookup: &dyn Lookup,
    ) -> Result<(), String> {
        let oseq = d.original.seq;
        let original = lookup
            .record(oseq)
            .filter(|o| o.seq < r.seq)
            .ok_or_else(|| format!("no earlier record at seq {oseq}"))?;
        let reprintable = original
            .known_kind()
            .is_some_and(|k| DUPLICABLE_KINDS.contains(&k));
        if !reprintable
            || original.kind != d.original.kind
            || original.kind_seq != d.original.number
        {
            return Err(format!(
                "seq {oseq} is {} #{}, the duplicate names {} #{}",
                original.kind, original.kind_seq, d.original.kind, d.original.number
            ));
        }
        let count = self.copies.entry(oseq).or_insert(0);
        *count += 1;
        if !self.partial && d.copy != *count {
            let expected = *count;
            *count = d.copy.max(expected);
            return Err(format!(
                "copy number {} where {expected} was expected",
                d.copy
            ));
        }
        Ok(())
    }

    fn check_refund(
        &mut self,
        r: &Record,
        refund: &crate::ticket::RefundBody,
        lookup: &dyn Lookup,
    ) -> Result<(), (Problem, String)> {
        let oseq = refund.original.seq;
        if oseq >= r.seq {
            return Err((
                Problem::RefundInvalid,
                format!("original seq {oseq} is not earlier"),
            ));
        }
        let original = lookup
            .record(oseq)
            .filter(|o| o.kind == Kind::Sale.as_str())
            .ok_or_else(|| (Problem::RefundInvalid, format!("seq {oseq} is not a sale")))?;
        if original.kind_seq != refund.original.ticket {
            return Err((
                Problem::RefundInvalid,
                format!(
                    "seq {oseq} is ticket {} but the refund names ticket {}",
                    original.kind_seq, refund.original.ticket
                ),
            ));
        }
        let sale: SaleBody = match Body::decode(Kind::Sale, &original.body) {
            Ok(Body::Sale(s)) => s,
            _ => return Err((Problem::RefundInvalid, format!("sale {oseq} is unreadable"))),
        };
        if !self.remaining.contains_key(&oseq) {
            let mut rem = Remaining::of_sale(&sale);
            if self.partial {
                for earlier in lookup.refunds_before(oseq, r.seq) {
                    if let Ok(Body::Refund(b)) = Body::decode(Kind::Refund, &earlier.body) {
                        let _ = rem.apply(&b);
                    }
                }
            }
            self.remaining.insert(oseq, rem);
        }
        let rem = self
            .remaining
            .get_mut(&oseq)
            .ok_or((Problem::RefundInvalid, String::new()))?;
        let result = check_refund(refund, &sale, rem);
        // Apply what the record claims either way, so one bad refund is reported once.
        let _ = rem.apply(refund);
        result.map_err(|e| match e {
            crate::ticket::TicketError::RefundExceedsRemaining { .. } => {
                (Problem::RefundExceedsRemaining, e.to_string())
            }
            other => (Problem::TicketInconsistent, other.to_string()),
        })
    }

    /// The opening met so far, if any.
    pub fn opening(&self) -> Option<&OpeningBody> {
        self.summary.opening.as_ref()
    }

    /// Ends the stream and returns the summary.
    pub fn finish(self) -> Summary {
        self.summary
    }

    /// Ends the stream: reports the anchors that were not reached (or name another register),
    /// and returns the summary.
    pub fn finish_with(mut self, sink: &mut dyn FindingSink) -> Summary {
        let last = self.summary.last_seq.unwrap_or(0);
        let register = self.summary.opening.as_ref().map(|o| o.register_id.clone());
        for (seq, a) in std::mem::take(&mut self.anchors) {
            let other_register = register.as_ref().is_some_and(|r| *r != a.register_id);
            // An anchor beyond the end must at least be the journal's: its signature of its hash
            // by one of the journal's keys (a forged anchor cannot frame a journal).
            let signed = || {
                let hash = hex::decode(&a.hash)
                    .ok()
                    .and_then(|h| <[u8; 32]>::try_from(h).ok());
                let sig = hex::decode(&a.signature)
                    .ok()
                    .and_then(|s| <[u8; 64]>::try_from(s).ok());
                match (hash, sig) {
                    (Some(h), Some(sig)) => self.known_keys.iter().any(|(id, vk)| {
                        (a.key_id.is_empty() || a.key_id == id.to_hex()) && vk.verify(&h, &sig)
                    }),
                    _ => false,
                }
            };
            let checkable = self.options.signatures && !self.known_keys.is_empty();
            let (problem, detail) = if other_register {
                (
                    Problem::AnchorMismatch,
                    format!("the anchor at seq {seq} is of register {}", a.register_id),
                )
            } else if seq > last && checkable && !signed() {
                (
                    Problem::AnchorMismatch,
                    format!(
                        "the anchor at seq {seq} is not signed by the journal's key: it is not this journal's anchor"
                    ),
                )
            } else if seq > last {
                (
                    Problem::AnchorNotReached,
                    format!(
                        "an anchor of {} says the journal reached seq {seq} (hash {}), but the records end at seq {last}",
                        crate::datetime::format_time(a.timestamp_ms, None),
                        a.hash
                    ),
                )
            } else {
                continue;
            };
            self.report(
                sink,
                Finding {
                    seq,
                    kind: String::new(),
                    kind_seq: 0,
                    timestamp_ms: a.timestamp_ms,
                    problem,
                    detail,
                },
            );
        }
        self.summary
    }
}

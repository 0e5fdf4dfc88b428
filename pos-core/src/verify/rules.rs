//! The checks made in order: sequence numbers, links, per-kind numbers, timestamps, keys, the
//! opening, closures replayed as the writer applies them, refunds and duplicates against what
//! came before, and anchors.

use super::findings::{Finding, FindingSink, Item, Lookup, Problem, Summary, VerifyOptions};
use super::prepare::{prepare, KeyAssignment, Pre};
use crate::anchor::Anchor;
use crate::body::{Body, OpeningBody};
use crate::closure::ClosureState;
use crate::keys::{KeyId, PublicKey};
use crate::money::VatRate;
use crate::record::{Hash, Kind, Record, KNOWN_FORMAT_VERSIONS, ZERO_HASH};
use crate::store::MalformedRow;
use crate::ticket::Remaining;
use std::collections::{BTreeMap, HashMap};

/// The streaming verifier's state between chunks. Cloned to go back to a point of the stream
/// (an archive whose records turn out unreadable at their end is left out of it).
#[derive(Clone)]
pub struct Verifier {
    pub(crate) options: VerifyOptions,
    pub(crate) prev: Option<(u64, Hash, i64)>,
    pub(crate) kinds: HashMap<String, (u64, Hash)>,
    pub(crate) active_key: Option<(KeyId, PublicKey)>,
    pub(crate) rates: Option<Vec<VatRate>>,
    pub(crate) remaining: HashMap<u64, Remaining>,
    /// Copies printed so far, by original seq.
    pub(crate) copies: HashMap<u64, u64>,
    /// The closure state machine, replayed from the opening (absent when verifying a tail).
    pub(crate) closures: Option<ClosureState>,
    /// The fiscal rules the opening names, once it is read and they are known.
    pub(crate) rules: Option<std::sync::Arc<dyn crate::rules::FiscalRules>>,
    /// Refunds before the first record streamed must be fetched (tail verification).
    pub(crate) partial: bool,
    /// An opening record was seen.
    pub(crate) seen_opening: bool,
    /// Anchors by seq, removed as they are reached.
    pub(crate) anchors: BTreeMap<u64, Anchor>,
    /// Key ids introduced by the records (opening, key changes).
    pub(crate) keys_seen: Vec<String>,
    /// The journal's keys met so far (to check anchor signatures).
    pub(crate) known_keys: Vec<(KeyId, PublicKey)>,
    /// Findings about the context records of a resumed stream, reported at the first push.
    pub(crate) pending: Vec<Finding>,
    /// Since the last [`Verifier::snapshot`]: the first record (seq, previous hash) and the
    /// totals of sales and refunds.
    pub(crate) range_first: Option<(u64, Hash, i64)>,
    pub(crate) range_totals: crate::closure::Totals,
    pub(crate) range_versions: std::collections::BTreeSet<u16>,
    pub(crate) summary: Summary,
}

/// The verifier's counters at one point of the stream (archive checks compare two).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Records per kind so far.
    pub counts: BTreeMap<String, u64>,
    /// Records so far.
    pub records: u64,
    /// Last seq so far.
    pub last_seq: u64,
    /// Last stored hash so far (hex).
    pub last_hash: String,
    /// First record since the previous snapshot: (seq, its previous hash, its timestamp).
    pub range_first: Option<(u64, Hash, i64)>,
    /// Sales and refunds since the previous snapshot.
    pub range_totals: crate::closure::Totals,
    /// Record format versions met since the previous snapshot.
    pub range_versions: std::collections::BTreeSet<u16>,
    /// Timestamp of the last record so far.
    pub last_timestamp_ms: i64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("records", &self.summary.records)
            .finish_non_exhaustive()
    }
}

fn decode_opening(r: &Record) -> Option<OpeningBody> {
    match Body::decode(Kind::Opening, &r.body) {
        Ok(Body::Opening(o)) => Some(o),
        _ => None,
    }
}

impl Verifier {
    /// A verifier for a stream that starts at the journal's first record.
    pub fn new(options: VerifyOptions) -> Verifier {
        Verifier {
            options,
            prev: None,
            kinds: HashMap::new(),
            active_key: None,
            rates: None,
            remaining: HashMap::new(),
            copies: HashMap::new(),
            closures: None,
            rules: None,
            partial: false,
            seen_opening: false,
            anchors: BTreeMap::new(),
            keys_seen: Vec::new(),
            known_keys: Vec::new(),
            pending: Vec::new(),
            range_first: None,
            range_totals: Default::default(),
            range_versions: Default::default(),
            summary: Summary::default(),
        }
        .with_anchors()
    }

    fn with_anchors(mut self) -> Verifier {
        self.anchors = self
            .options
            .anchors
            .iter()
            .map(|a| (a.seq, a.clone()))
            .collect();
        self
    }

    /// Counters now; resets the per-range first record and totals.
    pub fn snapshot(&mut self) -> Snapshot {
        Snapshot {
            counts: self.summary.counts.clone(),
            records: self.summary.records,
            last_seq: self.summary.last_seq.unwrap_or(0),
            last_hash: self.summary.last_hash.clone().unwrap_or_default(),
            range_first: self.range_first.take(),
            range_totals: std::mem::take(&mut self.range_totals),
            range_versions: std::mem::take(&mut self.range_versions),
            last_timestamp_ms: self.summary.last_timestamp_ms.unwrap_or(0),
        }
    }

    /// Key ids introduced by the records and context seen so far.
    pub fn keys_seen(&self) -> &[String] {
        &self.keys_seen
    }

    /// A verifier for a stream that starts after `context`: records before it, as an archive's
    /// `references.jsonl` holds them (the opening, key changes, the last record of each kind,
    /// every closure and the records after the last day closure, originals of refunds and
    /// duplicates). The context records' hashes and signatures are checked too, and the closure
    /// rules resume where they stood.
    pub fn resume_with_closures(options: VerifyOptions, context: &[Record]) -> Verifier {
        let mut v = Verifier::resume(options, context);
        // Check each context record on its own: hash, and signature by a key of the journal.
        let mut keys: Vec<(KeyId, PublicKey)> = Vec::new();
        for r in context {
            match r.known_kind().and_then(|k| Body::decode(k, &r.body).ok()) {
                Some(Body::Opening(o)) => keys.extend(crate::keys::decode_key(&o.key).ok()),
                Some(Body::KeyChange(k)) => keys.extend(crate::keys::decode_key(&k.new_key).ok()),
                _ => {}
            }
        }
        for r in context {
            let hash_ok = r.computed_hash() == Some(r.hash);
            let sig_ok = keys
                .iter()
                .any(|(id, vk)| *id == r.key_id && vk.verify(&r.hash, &r.signature));
            if !(hash_ok && sig_ok) {
                v.pending.push(Finding {
                    seq: r.seq,
                    kind: r.kind.clone(),
                    kind_seq: r.kind_seq,
                    timestamp_ms: r.timestamp_ms,
                    problem: if hash_ok {
                        Problem::BadSignature
                    } else {
                        Problem::HashMismatch
                    },
                    detail: "a reference record (before the archive's range) does not verify"
                        .into(),
                });
            }
        }
        v.keys_seen.extend(keys.iter().map(|(id, _)| id.to_hex()));
        // The opening among the references names the journal's first key: with trusted keys
        // given, it must be one of them, as when the opening is in the stream itself.
        if let Some(o) = v.summary.opening.clone() {
            let trusted = &v.options.trusted_keys;
            let ok = crate::keys::decode_key(&o.key).is_ok_and(|(_, k)| trusted.contains(&k));
            if !trusted.is_empty() && !ok {
                if let Some(r) = context.iter().find(|r| r.kind == Kind::Opening.as_str()) {
                    v.pending.push(Finding {
                        seq: r.seq,
                        kind: r.kind.clone(),
                        kind_seq: r.kind_seq,
                        timestamp_ms: r.timestamp_ms,
                        problem: Problem::BadOpening,
                        detail: format!(
                            "the opening key {} (in the references) is not a trusted key",
                            o.key.key_id
                        ),
                    });
                }
            }
        }
        // The closure state at the start: closures, then the records after the last day closure.
        if let Some(o) = v.summary.opening.clone() {
            let calendar = v
                .options
                .rules
                .for_opening(&o)
                .ok()
                .and_then(|rules| rules.calendar(&o).ok());
            if let Some(mut state) = calendar.map(ClosureState::with_calendar) {
                let last_day = context
                    .iter()
                    .filter_map(|r| match Body::decode(Kind::Closure, &r.body) {
                        Ok(Body::Closure(c))
                            if r.kind == "closure" && c.period == crate::closure::Period::Day =>
                        {
                            Some(r.seq)
                        }
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                let mut ok = true;
                for r in context {
                    let Some(kind) = r.known_kind() else { continue };
                    let Ok(body) = Body::decode(kind, &r.body) else {
                        continue;
                    };
                    ok &= match &body {
                        Body::Closure(c) => state.apply_closure(r.seq, r.hash, c).is_ok(),
                        _ if r.seq > last_day => state
                            .observe(r.seq, r.hash, kind, r.timestamp_ms, Some(&body))
                            .is_ok(),
                        _ => true,
                    };
                }
                if ok {
                    v.closures = Some(state);
                }
            }
        }
        v
    }

    /// A verifier for a stream that starts after `before` (the records preceding it, in order,
    /// of which only the opening, the key changes, the last record and the last of each kind are
    /// needed). Used to check a journal's tail.
    pub fn resume(options: VerifyOptions, before: &[Record]) -> Verifier {
        let mut v = Verifier::new(options);
        v.partial = true;
        for r in before {
            if r.kind == Kind::Opening.as_str() {
                if let Some(o) = decode_opening(r) {
                    v.active_key = crate::keys::decode_key(&o.key).ok();
                    v.known_keys.extend(v.active_key.clone());
                    v.rates = Some(o.vat_rates.clone());
                    v.rules = v.options.rules.for_opening(&o).ok();
                    v.summary.opening = Some(o);
                }
            } else if r.kind == Kind::KeyChange.as_str() {
                if let Ok(Body::KeyChange(k)) = Body::decode(Kind::KeyChange, &r.body) {
                    v.active_key = crate::keys::decode_key(&k.new_key).ok();
                    v.known_keys.extend(v.active_key.clone());
                }
            }
            v.kinds.insert(r.kind.clone(), (r.kind_seq, r.hash));
            v.prev = Some((r.seq, r.hash, r.timestamp_ms));
        }
        v
    }

    /// Checks a chunk of items that follows the previous chunk.
    pub fn push(&mut self, chunk: &[Item], lookup: &dyn Lookup, sink: &mut dyn FindingSink) {
        let keys = self.assign_keys(chunk);
        let pre = prepare(chunk, &[], keys, self.options.bodies);
        self.check_in_order(chunk, pre, lookup, sink);
    }

    /// Step 4 (in order, on the calling thread).
    pub(crate) fn check_in_order(
        &mut self,
        chunk: &[Item],
        pre: Vec<Pre>,
        lookup: &dyn Lookup,
        sink: &mut dyn FindingSink,
    ) {
        for f in std::mem::take(&mut self.pending) {
            self.report(sink, f);
        }
        for (item, pre) in chunk.iter().zip(pre) {
            match item {
                Ok(r) => self.sequential(r, pre, lookup, sink),
                Err(m) => self.malformed(m, sink),
            }
        }
    }

    /// The seq of the last record checked in order, if any.
    pub(crate) fn last_checked_seq(&self) -> Option<u64> {
        self.summary.last_seq
    }

    /// Step 2 (in order): decides which key must have signed each record; names the records
    /// that name another key. Only key changes move this state, so the next chunk's keys can be
    /// assigned before the previous chunk has been checked in order.
    pub(crate) fn assign_keys(&mut self, chunk: &[Item]) -> KeyAssignment {
        if !self.options.signatures {
            return KeyAssignment::default();
        }
        let mut keys = Vec::with_capacity(chunk.len());
        let mut problems = Vec::new();
        for (i, item) in chunk.iter().enumerate() {
            let Ok(r) = item else {
                keys.push(None);
                continue;
            };
            if r.kind == Kind::Opening.as_str() && self.active_key.is_none() {
                if let Some(o) = decode_opening(r) {
                    self.active_key = crate::keys::decode_key(&o.key).ok();
                    self.known_keys.extend(self.active_key.clone());
                }
            }
            match &self.active_key {
                Some((id, vk)) if *id == r.key_id => keys.push(Some(vk.clone())),
                Some((id, _)) => {
                    problems.push((
                        i,
                        Problem::UnknownKey,
                        format!("signed with key {} but the journal's key is {id}", r.key_id),
                    ));
                    keys.push(None);
                }
                None => {
                    problems.push((
                        i,
                        Problem::UnknownKey,
                        format!("key {} is not introduced by an opening record", r.key_id),
                    ));
                    keys.push(None);
                }
            }
            if r.kind == Kind::KeyChange.as_str() {
                // Switch only on a key change that the key in force really signed: a forged
                // key change must not make the records signed by its key look valid.
                let authentic = keys.last().cloned().flatten().is_some_and(|vk| {
                    r.computed_hash()
                        .is_some_and(|h| h == r.hash && vk.verify(&h, &r.signature))
                });
                if let (true, Ok(Body::KeyChange(k))) =
                    (authentic, Body::decode(Kind::KeyChange, &r.body))
                {
                    if let Ok(new) = crate::keys::decode_key(&k.new_key) {
                        self.active_key = Some(new.clone());
                        self.known_keys.push(new);
                    }
                }
            }
        }
        KeyAssignment {
            keys: Some(keys),
            problems,
        }
    }

    fn malformed(&mut self, m: &MalformedRow, sink: &mut dyn FindingSink) {
        self.summary.records += 1;
        self.report(
            sink,
            Finding {
                seq: m.seq.max(0) as u64,
                kind: String::new(),
                kind_seq: 0,
                timestamp_ms: 0,
                problem: Problem::MalformedRecord,
                detail: m.problem.clone(),
            },
        );
    }

    pub(crate) fn report(&mut self, sink: &mut dyn FindingSink, f: Finding) {
        self.summary.findings += 1;
        *self
            .summary
            .findings_by_problem
            .entry(f.problem.name())
            .or_default() += 1;
        sink.finding(f);
    }

    fn sequential(
        &mut self,
        r: &Record,
        pre: Pre,
        lookup: &dyn Lookup,
        sink: &mut dyn FindingSink,
    ) {
        let mut problems = pre.problems;
        self.range_first
            .get_or_insert((r.seq, r.prev_hash, r.timestamp_ms));
        self.range_versions.insert(r.format_version);
        if let Some(a) = self.anchors.remove(&r.seq) {
            if a.hash != hex::encode(r.hash) {
                problems.push((
                    Problem::AnchorMismatch,
                    format!(
                        "the anchor says hash {} but the record has {}",
                        a.hash,
                        hex::encode(r.hash)
                    ),
                ));
            }
        }
        let s = &mut self.summary;
        s.records += 1;
        s.first_seq.get_or_insert(r.seq);
        s.first_timestamp_ms.get_or_insert(r.timestamp_ms);
        s.last_seq = Some(r.seq);
        s.last_timestamp_ms = Some(r.timestamp_ms);
        // In the in-order phase, once per record: no allocation unless a kind is new.
        let mut text = [0u8; 64];
        if hex::encode_to_slice(r.hash, &mut text).is_ok() {
            let last = s.last_hash.get_or_insert_with(|| String::with_capacity(64));
            last.clear();
            last.extend(text.iter().map(|&b| b as char));
        }
        match s.counts.get_mut(r.kind.as_str()) {
            Some(n) => *n += 1,
            None => {
                s.counts.insert(r.kind.clone(), 1);
            }
        }

        if !KNOWN_FORMAT_VERSIONS.contains(&r.format_version) {
            problems.push((
                Problem::UnknownFormatVersion,
                format!("format version {}", r.format_version),
            ));
        }
        match pre.computed_hash {
            Some(h) if h == r.hash => {}
            Some(h) => problems.push((
                Problem::HashMismatch,
                format!("stored {} computed {}", hex::encode(r.hash), hex::encode(h)),
            )),
            None => problems.push((
                Problem::HashMismatch,
                format!("kind {:?} or body size cannot be hashed", r.kind),
            )),
        }
        if pre.signature_ok == Some(false) {
            problems.push((Problem::BadSignature, format!("key {}", r.key_id)));
        }
        if pre.signature_ok.is_some() {
            self.summary.signatures_checked += 1;
        }

        // Global sequence and link.
        match self.prev {
            None => {
                if r.seq != 1 {
                    problems.push((
                        Problem::SequenceGap,
                        format!("the journal starts at seq {} instead of 1", r.seq),
                    ));
                }
                if r.prev_hash != ZERO_HASH {
                    problems.push((
                        Problem::BrokenLink,
                        "the first record's previous hash is not zero".into(),
                    ));
                }
            }
            Some((pseq, phash, pts)) => {
                if r.seq <= pseq {
                    problems.push((
                        Problem::SequenceDuplicate,
                        format!("seq {} follows seq {pseq}", r.seq),
                    ));
                } else if r.seq != pseq + 1 {
                    problems.push((
                        Problem::SequenceGap,
                        format!("{} record(s) missing after seq {pseq}", r.seq - pseq - 1),
                    ));
                }
                if r.prev_hash != phash {
                    problems.push((
                        Problem::BrokenLink,
                        format!("previous hash does not match seq {pseq}"),
                    ));
                }
                if r.timestamp_ms < pts {
                    problems.push((
                        Problem::TimestampBackwards,
                        format!("{} ms before seq {pseq}", pts - r.timestamp_ms),
                    ));
                }
            }
        }
        self.prev = Some((r.seq, r.hash, r.timestamp_ms));

        // Per-kind number and link.
        let (expect_kind_seq, expect_kind_hash) = match self.kinds.get(&r.kind) {
            Some((n, h)) => (n + 1, *h),
            None => (1, ZERO_HASH),
        };
        if r.kind_seq != expect_kind_seq {
            problems.push((
                Problem::KindSequenceGap,
                format!(
                    "{} number {} where {expect_kind_seq} was expected",
                    r.kind, r.kind_seq
                ),
            ));
        }
        if r.prev_kind_hash != expect_kind_hash {
            problems.push((
                Problem::BrokenKindLink,
                format!("does not link to the previous {} record", r.kind),
            ));
        }
        // The kind's entry exists after its first record: no key allocated per record.
        match self.kinds.get_mut(&r.kind) {
            Some(last) => *last = (r.kind_seq, r.hash),
            None => {
                self.kinds.insert(r.kind.clone(), (r.kind_seq, r.hash));
            }
        }

        let kind = r.known_kind();
        if kind.is_none() {
            problems.push((Problem::UnknownKind, format!("kind {:?}", r.kind)));
        }
        if kind == Some(Kind::Opening) {
            let repeated = std::mem::replace(&mut self.seen_opening, true);
            if r.seq != 1 || repeated {
                problems.push((
                    Problem::BadOpening,
                    "an opening record must be the first and only one".into(),
                ));
            }
        } else if self.summary.records == 1 && !self.partial {
            problems.push((
                Problem::BadOpening,
                "the journal does not start with an opening record".into(),
            ));
        }

        if self.options.bodies {
            if let Some(body) = pre.body {
                self.check_body(r, body, lookup, &mut problems);
            }
        }

        for (problem, detail) in problems {
            self.report(
                sink,
                Finding {
                    seq: r.seq,
                    kind: r.kind.clone(),
                    kind_seq: r.kind_seq,
                    timestamp_ms: r.timestamp_ms,
                    problem,
                    detail,
                },
            );
        }
    }
}

//! The verifier: streams records in sequence order, in constant memory, and reports every
//! finding to a [`FindingSink`] (it never stops at the first).
//!
//! Work per chunk of records ([`CHUNK_RECORDS`]):
//! 1. in parallel: recompute each hash; check and decode each body (canonical form, integers,
//!    the kind's fields, a sale's totals recomputed from its lines and payments);
//! 2. in order: decide which key must have signed each record (the opening's key, then each
//!    `key_change`'s new key from the record after it);
//! 3. in parallel: batch-verify the signatures (falling back to one by one to name culprits);
//! 4. in order: sequence numbers, links, per-kind numbers and links, timestamps, refunds against
//!    what remains of their original, and the findings of steps 1 and 3.
//!
//! While the verifier works on one chunk, a reader thread fetches the next (two chunks in
//! flight at most), so memory does not grow with the journal. The only state that grows is the
//! refundable remainder of tickets that were partly refunded.

use crate::anchor::Anchor;
use crate::body::{Body, DuplicateBody, OpeningBody, DUPLICABLE_KINDS};
use crate::canonical::validate_canonical;
use crate::closure::{differences, ClosureState};
use crate::events;
use crate::journal::vat_rates_set_by;
use crate::keys::KeyId;
use crate::keys::PublicKey;
use crate::money::{Cents, VatRate};
use crate::reader::{JournalReader, ReadError};
use crate::record::{Hash, Kind, Record, KNOWN_FORMAT_VERSIONS, ZERO_HASH};
use crate::store::MalformedRow;
use crate::ticket::{check_refund, check_sale_arithmetic, Remaining, SaleBody};
use pos_format::exact_sale::Checked;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

/// Records fetched and checked together.
pub const CHUNK_RECORDS: usize = 4096;
/// Reader threads, each fetching every other chunk. A third one for chain-only verifications
/// (where the readers are the whole cost) was measured: faster alone in 18 of 23 interleaved
/// pairs (about 3 % at the median), not inside the benchmark run (5 pairs, 2 % slower at the
/// median), for 6 MB more. Within the noise, so two.
const READERS: u64 = 2;
/// Signatures verified in one batch. Larger batches cost less per signature (about 12 % less
/// at 1024 than at 256; an archive's blocks of about 2,400 records, checked in two batches of
/// 1,200 rather than four of 600, took 3 % less CPU). A failed batch is checked again one
/// signature at a time, which only a damaged journal pays for.
pub const SIGNATURE_BATCH: usize = 2048;

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// A stored row does not have the shape of a record.
    MalformedRecord,
    /// A format version this verifier does not know.
    UnknownFormatVersion,
    /// A kind this verifier does not know (hash, links and signature are still checked).
    UnknownKind,
    /// The stored hash is not the hash of the record's fields and body.
    HashMismatch,
    /// The signature does not verify with the key that should have signed.
    BadSignature,
    /// The record names a signing key that is not the journal's key at that point.
    UnknownKey,
    /// Sequence numbers skip: records are missing.
    SequenceGap,
    /// A sequence number is repeated or goes backwards.
    SequenceDuplicate,
    /// Numbers within a kind skip, repeat or go backwards.
    KindSequenceGap,
    /// The previous-record hash does not match the previous record.
    BrokenLink,
    /// The previous-of-same-kind hash does not match that record.
    BrokenKindLink,
    /// The timestamp is earlier than the previous record's.
    TimestampBackwards,
    /// The body is not canonical JSON with integers only.
    NonCanonicalBody,
    /// The body does not have the fields of its kind.
    MalformedBody,
    /// A ticket's stored totals differ from their recomputation.
    TicketInconsistent,
    /// A refund's original is missing, not a sale, or mismatched.
    RefundInvalid,
    /// A refund takes more than what remains of its original.
    RefundExceedsRemaining,
    /// The opening record is missing, repeated, invalid or not signed by a trusted key.
    BadOpening,
    /// An event code is not in the table of known codes.
    UnknownEventCode,
    /// A record arrived on a later day while a closure was due, and no closure precedes it.
    MissingClosure,
    /// A closure's content differs from its recomputation from the records it covers.
    ClosureMismatch,
    /// A sale or refund is dated in a period that was already closed.
    RecordInClosedPeriod,
    /// A duplicate does not reference a reprintable record, or its copy number is wrong.
    DuplicateInvalid,
    /// An archive lacks a file, has an unexpected one, or a file cannot be read.
    ArchiveStructure,
    /// The manifest signature is invalid, or made by a key that is not the journal's.
    ManifestSignature,
    /// A file of an archive does not match its SHA-256 in the manifest.
    ArchiveFileHash,
    /// The manifest's range, hashes, counts, totals or keys differ from the records.
    ManifestMismatch,
    /// Archives overlap, leave a gap, or do not link to each other.
    ArchiveContinuity,
    /// An anchor's record is beyond the end: the newest records are missing.
    AnchorNotReached,
    /// The record at an anchor's seq has another hash, or the anchor is of another register.
    AnchorMismatch,
}

impl Problem {
    /// Every kind of finding, in the order of the enum (and of the documents' tables).
    pub const ALL: [Problem; 30] = [
        Problem::MalformedRecord,
        Problem::UnknownFormatVersion,
        Problem::UnknownKind,
        Problem::HashMismatch,
        Problem::BadSignature,
        Problem::UnknownKey,
        Problem::SequenceGap,
        Problem::SequenceDuplicate,
        Problem::KindSequenceGap,
        Problem::BrokenLink,
        Problem::BrokenKindLink,
        Problem::TimestampBackwards,
        Problem::NonCanonicalBody,
        Problem::MalformedBody,
        Problem::TicketInconsistent,
        Problem::RefundInvalid,
        Problem::RefundExceedsRemaining,
        Problem::BadOpening,
        Problem::UnknownEventCode,
        Problem::MissingClosure,
        Problem::ClosureMismatch,
        Problem::RecordInClosedPeriod,
        Problem::DuplicateInvalid,
        Problem::ArchiveStructure,
        Problem::ManifestSignature,
        Problem::ArchiveFileHash,
        Problem::ManifestMismatch,
        Problem::ArchiveContinuity,
        Problem::AnchorNotReached,
        Problem::AnchorMismatch,
    ];

    /// The name used in JSON output (`hash_mismatch`...).
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => name,
            _ => format!("{self:?}"),
        }
    }

    /// A plain explanation for people.
    pub fn explain(self) -> &'static str {
        match self {
            Problem::MalformedRecord => "the stored row is not a well-formed record",
            Problem::UnknownFormatVersion => {
                "written in a format version this verifier does not know"
            }
            Problem::UnknownKind => {
                "a record kind this verifier does not know (its body was not checked)"
            }
            Problem::HashMismatch => "the record's content does not match its hash: it was altered",
            Problem::BadSignature => "the signature is not valid: the record was altered or forged",
            Problem::UnknownKey => "signed by a key that was not the journal's key at that point",
            Problem::SequenceGap => "records are missing before this one",
            Problem::SequenceDuplicate => "this sequence number repeats or goes backwards",
            Problem::KindSequenceGap => "the numbering of this kind of record skips or repeats",
            Problem::BrokenLink => "the link to the previous record is broken",
            Problem::BrokenKindLink => "the link to the previous record of the same kind is broken",
            Problem::TimestampBackwards => "dated before the previous record",
            Problem::NonCanonicalBody => "the body is not in canonical form",
            Problem::MalformedBody => "the body does not have the fields of its kind",
            Problem::TicketInconsistent => {
                "the ticket's totals do not follow from its lines and payments"
            }
            Problem::RefundInvalid => "the refund does not refer to a sale of this journal",
            Problem::RefundExceedsRemaining => {
                "the refund returns more than what remained of the sale"
            }
            Problem::BadOpening => "the opening record is missing, repeated or invalid",
            Problem::UnknownEventCode => "the event code is not a known code",
            Problem::MissingClosure => "a closure that was due before this record is missing",
            Problem::ClosureMismatch => "the closure's totals do not match the records it covers",
            Problem::RecordInClosedPeriod => "recorded into a period that was already closed",
            Problem::DuplicateInvalid => {
                "the duplicate does not match a reprintable record and copy number"
            }
            Problem::ArchiveStructure => "the archive's files are not as the format requires",
            Problem::ManifestSignature => {
                "the archive manifest's signature is not valid for the journal's key"
            }
            Problem::ArchiveFileHash => {
                "a file of the archive was altered: its SHA-256 differs from the manifest"
            }
            Problem::ManifestMismatch => "the archive manifest does not match the records",
            Problem::ArchiveContinuity => {
                "the archives do not follow each other without gap or overlap"
            }
            Problem::AnchorNotReached => {
                "the records end before an anchor: the newest records are missing"
            }
            Problem::AnchorMismatch => "the record at an anchor's position is not the anchored one",
        }
    }
}

/// One finding: where, what, and the details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The record's sequence number (as stored).
    pub seq: u64,
    /// The record's kind (as stored).
    pub kind: String,
    /// The record's number within its kind (the ticket number for sales).
    pub kind_seq: u64,
    /// The record's timestamp (UTC ms), 0 when unknown.
    pub timestamp_ms: i64,
    /// What kind of problem.
    pub problem: Problem,
    /// The details.
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seq {} ({} #{}): {}: {}",
            self.seq,
            self.kind,
            self.kind_seq,
            self.problem.explain(),
            self.detail
        )
    }
}

/// Where findings go. Findings arrive in sequence order.
pub trait FindingSink {
    /// One finding.
    fn finding(&mut self, finding: Finding);
    /// `done` of about `total` records checked so far (for progress bars).
    fn progress(&mut self, _done: u64, _total: u64) {}
}

/// A sink that keeps every finding in memory (tests, small journals).
#[derive(Debug, Default, Clone)]
pub struct CollectFindings {
    /// The findings, in order.
    pub findings: Vec<Finding>,
}

impl FindingSink for CollectFindings {
    fn finding(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Verify every signature (otherwise only hashes and links: "chain only").
    pub signatures: bool,
    /// Check bodies: canonical form, fields, ticket totals, refunds, event codes.
    pub bodies: bool,
    /// Check only the newest `n` records (their links to what precedes them included).
    pub tail: Option<u64>,
    /// Public keys the auditor trusts: when not empty, the opening key must be one of them.
    pub trusted_keys: Vec<PublicKey>,
    /// Chain heads kept outside the journal that the records must reach.
    pub anchors: Vec<Anchor>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            signatures: true,
            bodies: true,
            tail: None,
            trusted_keys: Vec::new(),
            anchors: Vec::new(),
        }
    }
}

/// What was verified.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The opening body, when readable.
    pub opening: Option<OpeningBody>,
    /// Records read.
    pub records: u64,
    /// First sequence number read.
    pub first_seq: Option<u64>,
    /// Last sequence number read.
    pub last_seq: Option<u64>,
    /// First timestamp read (UTC ms).
    pub first_timestamp_ms: Option<i64>,
    /// Last timestamp read (UTC ms).
    pub last_timestamp_ms: Option<i64>,
    /// Stored hash of the last record read, hex.
    pub last_hash: Option<String>,
    /// Records per kind.
    pub counts: BTreeMap<String, u64>,
    /// Sum of sale totals.
    pub sales_total: Cents,
    /// Sum of refund totals (negative).
    pub refunds_total: Cents,
    /// Signatures verified.
    pub signatures_checked: u64,
    /// Findings reported.
    pub findings: u64,
    /// Findings per problem.
    pub findings_by_problem: BTreeMap<String, u64>,
}

impl Summary {
    /// Adds the figures of a later, separate stretch of records (archives verified after a gap).
    pub fn absorb(&mut self, later: Summary) {
        if self.opening.is_none() {
            self.opening = later.opening;
        }
        self.records += later.records;
        self.first_seq = self.first_seq.or(later.first_seq);
        self.first_timestamp_ms = self.first_timestamp_ms.or(later.first_timestamp_ms);
        self.last_seq = later.last_seq.or(self.last_seq);
        self.last_timestamp_ms = later.last_timestamp_ms.or(self.last_timestamp_ms);
        self.last_hash = later.last_hash.or(self.last_hash.take());
        for (k, n) in later.counts {
            *self.counts.entry(k).or_default() += n;
        }
        self.sales_total = self
            .sales_total
            .checked_add(later.sales_total)
            .unwrap_or(self.sales_total);
        self.refunds_total = self
            .refunds_total
            .checked_add(later.refunds_total)
            .unwrap_or(self.refunds_total);
        self.signatures_checked += later.signatures_checked;
        self.findings += later.findings;
        for (k, n) in later.findings_by_problem {
            *self.findings_by_problem.entry(k).or_default() += n;
        }
    }

    /// Counts findings reported outside the record stream (archive structure, continuity).
    pub fn count_finding(&mut self, problem: Problem) {
        self.findings += 1;
        *self.findings_by_problem.entry(problem.name()).or_default() += 1;
    }
}

/// Random access the verifier needs besides the stream: refund originals.
pub trait Lookup {
    /// The record at `seq`, if readable.
    fn record(&self, seq: u64) -> Option<Record>;
    /// Refunds of `original_seq` before `before_seq` (needed only when verifying a tail).
    fn refunds_before(&self, original_seq: u64, before_seq: u64) -> Vec<Record>;
}

impl Lookup for JournalReader {
    fn record(&self, seq: u64) -> Option<Record> {
        JournalReader::record(self, seq)
            .ok()
            .flatten()
            .and_then(Result::ok)
    }
    fn refunds_before(&self, original_seq: u64, before_seq: u64) -> Vec<Record> {
        self.refunds_of(original_seq, before_seq)
            .unwrap_or_default()
    }
}

/// A stored item: a record, or a row that could not be read as one.
pub type Item = Result<Record, MalformedRow>;

/// What the parallel phase learned about one record.
#[derive(Default)]
struct Pre {
    computed_hash: Option<Hash>,
    body: Option<Body>,
    problems: Vec<(Problem, String)>,
    signature_ok: Option<bool>,
}

/// The streaming verifier's state between chunks.
pub struct Verifier {
    options: VerifyOptions,
    prev: Option<(u64, Hash, i64)>,
    kinds: HashMap<String, (u64, Hash)>,
    active_key: Option<(KeyId, PublicKey)>,
    rates: Option<Vec<VatRate>>,
    remaining: HashMap<u64, Remaining>,
    /// Copies printed so far, by original seq.
    copies: HashMap<u64, u64>,
    /// The closure state machine, replayed from the opening (absent when verifying a tail).
    closures: Option<ClosureState>,
    /// Refunds before the first record streamed must be fetched (tail verification).
    partial: bool,
    /// An opening record was seen.
    seen_opening: bool,
    /// Anchors by seq, removed as they are reached.
    anchors: BTreeMap<u64, Anchor>,
    /// Key ids introduced by the records (opening, key changes).
    keys_seen: Vec<String>,
    /// The journal's keys met so far (to check anchor signatures).
    known_keys: Vec<(KeyId, PublicKey)>,
    /// Findings about the context records of a resumed stream, reported at the first push.
    pending: Vec<Finding>,
    /// Since the last [`Verifier::snapshot`]: the first record (seq, previous hash) and the
    /// totals of sales and refunds.
    range_first: Option<(u64, Hash, i64)>,
    range_totals: crate::closure::Totals,
    range_versions: std::collections::BTreeSet<u16>,
    summary: Summary,
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
            if let Ok(mut state) = ClosureState::new(&o.time_zone, o.fiscal_year_start_month) {
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
    fn check_in_order(
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
    fn assign_keys(&mut self, chunk: &[Item]) -> KeyAssignment {
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

    fn report(&mut self, sink: &mut dyn FindingSink, f: Finding) {
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

    /// The checks of a decoded body that need the journal's state, in order.
    fn check_body(
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
                match state.build(stored.period, stored.automatic) {
                    Ok(expected) => {
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
                if let Err(e) = crate::body::validate_opening(&o) {
                    problems.push((Problem::BadOpening, e));
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
                    self.closures = ClosureState::new(&o.time_zone, o.fiscal_year_start_month).ok();
                    if let Some(state) = self.closures.as_mut() {
                        let _ = state.observe(r.seq, r.hash, Kind::Opening, r.timestamp_ms, None);
                    }
                }
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
                if !events::is_known(&e.code) {
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
                        crate::render::format_time(a.timestamp_ms, None),
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

/// Which key must have signed each record of a chunk (`None`: signatures are not checked),
/// and the records that name another key.
#[derive(Default)]
struct KeyAssignment {
    keys: Option<Vec<Option<PublicKey>>>,
    problems: Vec<(usize, Problem, String)>,
}

/// Steps 1 and 3 (in parallel, on the rayon pool): what each record says about itself. Needs
/// nothing of the verifier's state but its options, so that it can run while the previous
/// chunk is checked in order. `hashes`, when not empty, are the items' hashes as the reader
/// computed them.
fn prepare(chunk: &[Item], hashes: &[Option<Hash>], keys: KeyAssignment, bodies: bool) -> Vec<Pre> {
    let mut pre: Vec<Pre> = chunk
        .par_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Ok(r) => pre_check(r, hashes.get(i).copied(), bodies),
            Err(_) => Pre::default(),
        })
        .collect();
    for (i, problem, detail) in keys.problems {
        pre[i].problems.push((problem, detail));
    }
    if let Some(keys) = keys.keys {
        verify_signatures(chunk, &keys, &mut pre);
    }
    pre
}

/// Feeds a verifier chunk after chunk, checking each chunk's records on their own (hashes,
/// bodies, signatures: the rayon pool) while the calling thread checks the previous chunk in
/// order. The in-order phase is about a seventh of the work; run after the parallel phases,
/// it left a core idle.
pub(crate) struct Overlapped {
    held: Option<(Vec<Item>, Vec<Pre>)>,
}

impl Overlapped {
    /// Nothing held yet.
    pub(crate) fn new() -> Overlapped {
        Overlapped { held: None }
    }

    /// Starts on `chunk` and checks the chunk held before it in order. On return, every
    /// record before `chunk` has been reported; `chunk` is held until the next call.
    /// `hashes` are the items' hashes when the reader computed them (else empty); `beside`
    /// runs on the pool at the same time (an archive's next lines are parsed there). The
    /// caller may itself be a pool worker: it helps with the pool's jobs while it waits, so
    /// nothing it waits for may block outside the pool.
    pub(crate) fn feed(
        &mut self,
        verifier: &mut Verifier,
        chunk: Vec<Item>,
        hashes: Vec<Option<Hash>>,
        beside: impl FnOnce() + Send,
        lookup: &dyn Lookup,
        sink: &mut dyn FindingSink,
    ) {
        let keys = verifier.assign_keys(&chunk);
        let bodies = verifier.options.bodies;
        let held = self.held.take();
        let mut pre = Vec::new();
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| beside());
            scope.spawn(|_| pre = prepare(&chunk, &hashes, keys, bodies));
            if let Some((items, pre)) = held {
                verifier.check_in_order(&items, pre, lookup, sink);
                // Freed on the pool: the records were allocated by other threads, and freeing
                // them here would lengthen the in-order path.
                rayon::spawn(move || drop(items));
            }
        });
        self.held = Some((chunk, pre));
    }

    /// Checks the chunk still held in order.
    pub(crate) fn flush(
        &mut self,
        verifier: &mut Verifier,
        lookup: &dyn Lookup,
        sink: &mut dyn FindingSink,
    ) {
        if let Some((items, pre)) = self.held.take() {
            verifier.check_in_order(&items, pre, lookup, sink);
        }
    }
}

/// Step 1 for one record; `hashed` is its hash if the reader computed it.
fn pre_check(r: &Record, hashed: Option<Option<Hash>>, bodies: bool) -> Pre {
    let mut pre = Pre {
        computed_hash: hashed.unwrap_or_else(|| r.computed_hash()),
        ..Pre::default()
    };
    if !bodies {
        return pre;
    }
    let known = r.known_kind();
    // A sale in the journal's exact layout is canonical by construction, decoded and checked
    // in one pass, without copying its text when it is consistent; anything else takes the
    // general path (canonical check, then serde).
    let exact = match known {
        Some(kind @ (Kind::Sale | Kind::Training)) => {
            pos_format::exact_sale::decode_checked(&r.body).map(|checked| (kind, checked))
        }
        _ => None,
    };
    if let Some((kind, checked)) = exact {
        let wrap = if kind == Kind::Sale {
            Body::Sale
        } else {
            Body::Training
        };
        pre.body = Some(wrap(match checked {
            Checked::Consistent(body) => body,
            Checked::Inconsistent(body, e) => {
                pre.problems
                    .push((Problem::TicketInconsistent, e.to_string()));
                body
            }
        }));
        return pre;
    }
    if let Err(e) = validate_canonical(&r.body) {
        pre.problems
            .push((Problem::NonCanonicalBody, e.to_string()));
        return pre;
    }
    let Some(kind) = known else {
        return pre;
    };
    match Body::decode(kind, &r.body) {
        Ok(body) => checked_body(pre, body),
        Err(e) => {
            pre.problems.push((Problem::MalformedBody, e.to_string()));
            pre
        }
    }
}

/// Step 1's checks of a decoded body that need nothing but the body.
fn checked_body(mut pre: Pre, mut body: Body) -> Pre {
    if let Body::Sale(s) | Body::Training(s) = &mut body {
        // Rates in force are checked in order (they can change mid-chunk); here the ticket is
        // recomputed with its own rates.
        match check_sale_arithmetic(s) {
            // The in-order phase needs only a consistent sale's totals: its lines and their
            // text are freed here, by the thread that decoded them. Its VAT breakdown, equal to
            // the recomputed one, names every rate of its lines.
            Ok(()) => drop((
                std::mem::take(&mut s.lines),
                std::mem::take(&mut s.operator),
            )),
            Err(e) => pre
                .problems
                .push((Problem::TicketInconsistent, e.to_string())),
        }
    }
    pre.body = Some(body);
    pre
}

/// The batch size for `jobs` signatures on `threads` threads: at most [`SIGNATURE_BATCH`], in
/// a number of batches that the threads share evenly. 2,400 signatures in batches of 1024 left
/// one core idle while the last 352 were checked.
fn balanced_batch(jobs: usize, threads: usize) -> usize {
    let batches = jobs
        .div_ceil(SIGNATURE_BATCH)
        .next_multiple_of(threads.max(1))
        .max(1);
    jobs.div_ceil(batches).max(1)
}

fn verify_signatures(chunk: &[Item], keys: &[Option<PublicKey>], pre: &mut [Pre]) {
    // Only records with a key and a computable hash take part; the signed message is the
    // recomputed hash, so an altered record cannot pass with its old signature.
    let jobs: Vec<(usize, Hash, &[u8; 64], &PublicKey)> = chunk
        .iter()
        .zip(keys)
        .zip(pre.iter())
        .enumerate()
        .filter_map(|(i, ((item, key), p))| {
            let r = item.as_ref().ok()?;
            Some((i, p.computed_hash?, &r.signature, key.as_ref()?))
        })
        .collect();
    let results: Vec<(usize, bool)> = jobs
        .par_chunks(balanced_batch(jobs.len(), rayon::current_num_threads()))
        .flat_map_iter(|batch| {
            // Runs signed by one key (a journal changes keys rarely) are checked as one
            // same-key batch where the algorithm allows it (Ed25519); a failed run is checked
            // signature by signature to name the bad ones. ECDSA has no batch equation: its
            // signatures are checked one by one, still in parallel across batches.
            let mut out = Vec::with_capacity(batch.len());
            for run in batch.chunk_by(|a, b| a.3 == b.3) {
                let all_ok = match run[0].3.as_ed25519() {
                    Some(key) => {
                        let signatures: Vec<ed25519_dalek::Signature> = run
                            .iter()
                            .map(|j| ed25519_dalek::Signature::from_bytes(j.2))
                            .collect();
                        let items: Vec<(&[u8], &ed25519_dalek::Signature)> = run
                            .iter()
                            .zip(&signatures)
                            .map(|(j, s)| (&j.1[..], s))
                            .collect();
                        crate::batch::verify_same_key(key, &items)
                    }
                    None => false,
                };
                out.extend(run.iter().map(|j| (j.0, all_ok || j.3.verify(&j.1, j.2))));
            }
            out
        })
        .collect();
    for (i, ok) in results {
        pre[i].signature_ok = Some(ok);
    }
}

/// Verifies the journal file at `path`, streaming. Returns `Err` only when the file cannot be
/// read at all; problems in its content are findings.
pub fn verify_journal(
    reader: &JournalReader,
    options: &VerifyOptions,
    sink: &mut dyn FindingSink,
) -> Result<Summary, ReadError> {
    verify_in_chunks(reader, options, sink, CHUNK_RECORDS)
}

/// [`verify_journal`] with chunks of `chunk_records` records.
fn verify_in_chunks(
    reader: &JournalReader,
    options: &VerifyOptions,
    sink: &mut dyn FindingSink,
    chunk_records: usize,
) -> Result<Summary, ReadError> {
    let last = reader.last_seq()?;
    let start = match options.tail {
        Some(n) if n < last => last - n + 1,
        _ => 1,
    };
    let mut verifier = if start > 1 {
        Verifier::resume(options.clone(), &context_before(reader, start)?)
    } else {
        Verifier::new(options.clone())
    };
    let total = last.saturating_sub(start) + 1;
    let path = reader.path().to_path_buf();
    // `READERS` reader threads, each on its own connection and snapshot, read chunks (ranges
    // of seqs) in turn: one SQLite reader cannot keep up with the chain check. Records are
    // never changed once written, so snapshots taken a moment apart agree on every seq up to
    // `last`; only the last range, read by one thread, reaches past it. Chain only: the
    // readers hash each record from SQLite's row buffer (beside the SQLite work they do
    // anyway) and keep no body.
    let hash_only = !options.bodies && !options.signatures;
    let span = chunk_records.max(1) as u64;
    let ranges = total.div_ceil(span).max(1);
    let range = |k: u64| {
        let from = start + k * span;
        let to = (k + 1 < ranges).then(|| from + span);
        (from, to)
    };
    std::thread::scope(|scope| -> Result<(), ReadError> {
        let mut receivers = Vec::new();
        let mut producers = Vec::new();
        for parity in 0..READERS {
            // A rendezvous channel: each reader holds at most the chunk it is building or
            // handing over.
            let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Item>, Vec<Option<Hash>>)>(0);
            let path = &path;
            let producer = scope.spawn(move || -> Result<(), ReadError> {
                let stream = JournalReader::open(path)?;
                let mine = (parity..ranges).step_by(READERS as usize).map(range);
                let mut chunk = Vec::with_capacity(span as usize);
                let mut hashes = Vec::new();
                // One message per range, empty ones included, so that the consumer can take
                // them from the readers in turn.
                stream.for_each_in_ranges(mine, hash_only, |item| match item {
                    Some((item, hash)) => {
                        chunk.push(item);
                        if hash_only {
                            hashes.push(hash);
                        }
                        ControlFlow::Continue(())
                    }
                    None => {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(span as usize));
                        match tx.send((full, std::mem::take(&mut hashes))) {
                            Ok(()) => ControlFlow::Continue(()),
                            Err(_) => ControlFlow::Break(()),
                        }
                    }
                })?;
                Ok(())
            });
            receivers.push(rx);
            producers.push(producer);
        }
        let mut done = 0u64;
        let mut overlapped = Overlapped::new();
        // Each reader's chunk is checked as it comes (not joined to the other's: that moved
        // every record once more).
        for k in 0..ranges {
            let Ok((chunk, hashes)) = receivers[(k % READERS) as usize].recv() else {
                break;
            };
            if chunk.is_empty() {
                continue;
            }
            let n = chunk.len() as u64;
            overlapped.feed(&mut verifier, chunk, hashes, || {}, reader, sink);
            done += n;
            sink.progress(done, total);
        }
        overlapped.flush(&mut verifier, reader, sink);

        drop(receivers);
        let mut result = Ok(());
        for producer in producers {
            let r = producer.join().unwrap_or_else(|_| {
                Err(ReadError::Storage {
                    path: reader.path().to_path_buf(),
                    reason: "reader thread panicked".into(),
                })
            });
            if result.is_ok() {
                result = r;
            }
        }
        result
    })?;
    let mut summary = verifier.finish_with(sink);
    if summary.records == 0 {
        summary.findings += 1;
        sink.finding(Finding {
            seq: 0,
            kind: String::new(),
            kind_seq: 0,
            timestamp_ms: 0,
            problem: Problem::BadOpening,
            detail: "the journal holds no record".into(),
        });
    }
    Ok(summary)
}

/// The records a tail verification needs from before `start`: the opening, the key changes, and
/// the last record of each kind (which includes the record just before `start`).
fn context_before(reader: &JournalReader, start: u64) -> Result<Vec<Record>, ReadError> {
    let mut seqs = reader.context_seqs(start)?;
    seqs.sort_unstable();
    seqs.dedup();
    let mut out = Vec::with_capacity(seqs.len());
    for s in seqs {
        if let Some(Ok(r)) = reader.record(s)? {
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod problem_tests {
    use super::Problem;

    /// The position of each kind in [`Problem::ALL`]: a match that stops compiling when a kind
    /// is added, until it gets the next position (and `ALL` the kind).
    fn position(p: Problem) -> usize {
        use Problem::*;
        match p {
            MalformedRecord => 0,
            UnknownFormatVersion => 1,
            UnknownKind => 2,
            HashMismatch => 3,
            BadSignature => 4,
            UnknownKey => 5,
            SequenceGap => 6,
            SequenceDuplicate => 7,
            KindSequenceGap => 8,
            BrokenLink => 9,
            BrokenKindLink => 10,
            TimestampBackwards => 11,
            NonCanonicalBody => 12,
            MalformedBody => 13,
            TicketInconsistent => 14,
            RefundInvalid => 15,
            RefundExceedsRemaining => 16,
            BadOpening => 17,
            UnknownEventCode => 18,
            MissingClosure => 19,
            ClosureMismatch => 20,
            RecordInClosedPeriod => 21,
            DuplicateInvalid => 22,
            ArchiveStructure => 23,
            ManifestSignature => 24,
            ArchiveFileHash => 25,
            ManifestMismatch => 26,
            ArchiveContinuity => 27,
            AnchorNotReached => 28,
            AnchorMismatch => 29,
        }
    }

    #[test]
    fn all_lists_every_kind_of_finding_once_in_order() {
        for (i, p) in Problem::ALL.iter().enumerate() {
            assert_eq!(position(*p), i, "{p:?}");
        }
        // The last position the match gives is the last of ALL: none is left out.
        assert_eq!(position(Problem::AnchorMismatch), Problem::ALL.len() - 1);
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn signature_batches_are_shared_evenly_and_never_too_large() {
        for threads in 1..=8 {
            for jobs in (0..5000).step_by(7) {
                let size = balanced_batch(jobs, threads);
                let batches = jobs.div_ceil(size);
                assert!(
                    size <= SIGNATURE_BATCH.max(1),
                    "{jobs} on {threads}: {size}"
                );
                // As many batches for each thread (when there are enough signatures to share).
                if jobs >= 64 * threads {
                    assert!(
                        batches % threads == 0,
                        "{jobs} on {threads}: {batches} batches of {size}"
                    );
                }
            }
        }
        assert_eq!(balanced_batch(2400, 2), 1200);
        assert_eq!(balanced_batch(4096, 2), 2048);
        assert_eq!(balanced_batch(5000, 2), 1250);
    }

    use crate::sample::sample_sale as sale;

    /// Findings of a full check, or of a chain-only one.
    fn findings_in(
        path: &std::path::Path,
        tail: Option<u64>,
        chunk: usize,
        chain_only: bool,
    ) -> (u64, Vec<String>) {
        let reader = JournalReader::open(path).unwrap();
        let options = VerifyOptions {
            tail,
            bodies: !chain_only,
            signatures: !chain_only,
            ..VerifyOptions::default()
        };
        let mut sink = CollectFindings::default();
        let summary = verify_in_chunks(&reader, &options, &mut sink, chunk).unwrap();
        let found = sink.findings.iter().map(|f| f.to_string()).collect();
        (summary.records, found)
    }

    /// The readers split the journal into ranges of seqs read by their connections in turn:
    /// any chunk size, gaps and damage included, finds exactly what one chunk finds, in a full
    /// check and chain only (where the readers also hash the records).
    #[test]
    fn chunks_read_by_several_readers_find_the_same_as_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let options = JournalOptions::default();
        let journal = Journal::create(&path, KeyPair::generate(), sample_opening(), options);
        let journal = journal.unwrap();
        let sold: Vec<_> = (0..40)
            .map(|i| journal.sale(&sale(1 + i % 4)).unwrap())
            .collect();
        let refund = crate::sample::sample_refund_one_piece();
        journal.refund(sold[3].seq, &refund).unwrap();
        journal.close();
        for chain_only in [false, true] {
            let intact = findings_in(&path, None, CHUNK_RECORDS, chain_only);
            assert_eq!(intact, (43, vec![]));
            for chunk in [1, 2, 3, 7, 42, 43, 44] {
                let found = findings_in(&path, None, chunk, chain_only);
                assert_eq!(found, intact, "chunk {chunk}, chain only {chain_only}");
            }
        }

        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;
             DELETE FROM records WHERE seq IN (17, 18, 30);
             UPDATE records SET timestamp_ms = timestamp_ms + 1 WHERE seq = 25;",
        )
        .unwrap();
        drop(conn);
        for chain_only in [false, true] {
            let damaged = findings_in(&path, None, CHUNK_RECORDS, chain_only);
            assert!(damaged.1.len() >= 3, "{damaged:?}");
            for chunk in [1, 2, 3, 5, 16, 17, 40] {
                let found = findings_in(&path, None, chunk, chain_only);
                assert_eq!(found, damaged, "chunk {chunk}, chain only {chain_only}");
            }
            let tail = findings_in(&path, Some(12), CHUNK_RECORDS, chain_only);
            for chunk in [1, 3, 4] {
                let found = findings_in(&path, Some(12), chunk, chain_only);
                assert_eq!(found, tail, "tail, chunk {chunk}, chain only {chain_only}");
            }
        }
    }
}

//! The verifier's vocabulary: what a finding is, where findings go, what to check and what was
//! checked. The rules and the pipeline that produce findings are beside it.

use crate::anchor::Anchor;
use crate::body::OpeningBody;
use crate::keys::PublicKey;
use crate::money::Cents;
use crate::reader::JournalReader;
use crate::record::Record;
use crate::rules::RuleBook;
use crate::store::MalformedRow;
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// The fiscal rules a journal may name (the French rules by default): an opening naming
    /// rules not among them is a `bad_opening` finding.
    pub rules: RuleBook,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            signatures: true,
            bodies: true,
            tail: None,
            trusted_keys: Vec::new(),
            anchors: Vec::new(),
            rules: RuleBook::default(),
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

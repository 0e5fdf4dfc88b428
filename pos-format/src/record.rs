//! The journal record: header fields, the hash preimage, the hash and the signature.
//!
//! The preimage of format version 1 is, byte by byte (integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | the ASCII tag `POSJRNL1` (domain separation) |
//! | 2 | `format_version` (u16) |
//! | 8 | `seq` (u64) |
//! | 1 | length of `kind` in bytes (1 to 32) |
//! | n | `kind`, ASCII lowercase letters and `_` |
//! | 8 | `kind_seq` (u64) |
//! | 8 | `timestamp_ms` (i64, UTC milliseconds since the Unix epoch) |
//! | 32 | `prev_hash` (all zero for the first record) |
//! | 32 | `prev_kind_hash` (all zero for the first record of its kind) |
//! | 16 | `key_id` of the signing key |
//! | 4 | length of `body` (u32) |
//! | m | `body`, the canonical JSON bytes as stored |
//!
//! `hash = SHA-256(preimage)`; `signature = Ed25519(signing key, hash)` over the 32 hash bytes.

use crate::key::KeyId;
use sha2::{Digest, Sha256};

/// The record format this code writes for every record that version 1 can express.
pub const FORMAT_VERSION: u16 = 1;
/// Version 2: the preimage of version 1; a `closure` body may carry `continues` (a day closed
/// during the day). Written only for such closures, so that a verifier of version 1 still
/// checks every other record and names those it cannot read.
pub const CONTINUED_CLOSURE_VERSION: u16 = 2;
/// Every format version this code can verify.
pub const KNOWN_FORMAT_VERSIONS: &[u16] = &[1, 2];
/// The preimage's domain-separation tag.
pub const PREIMAGE_TAG: &[u8; 8] = b"POSJRNL1";
/// The longest body accepted, in bytes.
pub const MAX_BODY_LEN: usize = 1 << 20;
/// The longest kind name, in bytes.
pub const MAX_KIND_LEN: usize = 32;

/// A SHA-256 digest.
pub type Hash = [u8; 32];
/// The all-zero hash that stands for "no previous record".
pub const ZERO_HASH: Hash = [0; 32];

/// A record kind. The set is open: later versions add kinds without a format break, and a
/// verifier that meets a kind it does not know still checks its hash, links and signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The first record: who keeps the journal, with which key.
    Opening,
    /// A sale ticket.
    Sale,
    /// A refund or credit note referencing a sale.
    Refund,
    /// A technical event (the JET).
    Event,
    /// A signing-key change, signed by the old key.
    KeyChange,
    /// A day, month or fiscal-year closure (the Z).
    Closure,
    /// A reprint of a ticket or report, journaled before the copy is printed.
    Duplicate,
    /// A training-mode ticket: numbered on its own, never in any total.
    Training,
    /// An archive was written: its range and the hashes of the archive file and manifest.
    Archive,
}

impl Kind {
    /// Every kind this version writes.
    pub const ALL: [Kind; 9] = [
        Kind::Opening,
        Kind::Sale,
        Kind::Refund,
        Kind::Event,
        Kind::KeyChange,
        Kind::Closure,
        Kind::Duplicate,
        Kind::Training,
        Kind::Archive,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Opening => "opening",
            Kind::Sale => "sale",
            Kind::Refund => "refund",
            Kind::Event => "event",
            Kind::KeyChange => "key_change",
            Kind::Closure => "closure",
            Kind::Duplicate => "duplicate",
            Kind::Training => "training",
            Kind::Archive => "archive",
        }
    }

    /// Parses a stored name; `None` for a kind this version does not know.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record as stored: every header field, the body bytes, the hash and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The format version the record was written with.
    pub format_version: u16,
    /// Global sequence number, gapless from 1.
    pub seq: u64,
    /// The kind's stored name (see [`Kind`]).
    pub kind: String,
    /// Number within the kind, gapless from 1 (ticket number, event number...).
    pub kind_seq: u64,
    /// UTC milliseconds since the Unix epoch; never earlier than the previous record's.
    pub timestamp_ms: i64,
    /// Hash of the previous record (zero for the first).
    pub prev_hash: Hash,
    /// Hash of the previous record of the same kind (zero for the first of its kind).
    pub prev_kind_hash: Hash,
    /// Which key signed this record.
    pub key_id: KeyId,
    /// The canonical JSON body, exactly as hashed.
    pub body: Vec<u8>,
    /// SHA-256 of the preimage.
    pub hash: Hash,
    /// Ed25519 signature of `hash`.
    pub signature: [u8; 64],
}

/// The header fields that the hash covers, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// See [`Record::format_version`].
    pub format_version: u16,
    /// See [`Record::seq`].
    pub seq: u64,
    /// See [`Record::kind`].
    pub kind: &'a str,
    /// See [`Record::kind_seq`].
    pub kind_seq: u64,
    /// See [`Record::timestamp_ms`].
    pub timestamp_ms: i64,
    /// See [`Record::prev_hash`].
    pub prev_hash: &'a Hash,
    /// See [`Record::prev_kind_hash`].
    pub prev_kind_hash: &'a Hash,
    /// See [`Record::key_id`].
    pub key_id: &'a KeyId,
}

/// Whether `kind` is a well-formed kind name (1 to 32 bytes of `a-z` and `_`).
pub fn valid_kind_name(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= MAX_KIND_LEN
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Computes the record hash over the documented preimage. `None` if the kind name or the body
/// length cannot be encoded.
pub fn record_hash(h: &Header<'_>, body: &[u8]) -> Option<Hash> {
    if !valid_kind_name(h.kind) || body.len() > MAX_BODY_LEN {
        return None;
    }
    let mut d = Sha256::new();
    d.update(PREIMAGE_TAG);
    d.update(h.format_version.to_be_bytes());
    d.update(h.seq.to_be_bytes());
    d.update([h.kind.len() as u8]);
    d.update(h.kind.as_bytes());
    d.update(h.kind_seq.to_be_bytes());
    d.update(h.timestamp_ms.to_be_bytes());
    d.update(h.prev_hash);
    d.update(h.prev_kind_hash);
    d.update(h.key_id.0);
    d.update((body.len() as u32).to_be_bytes());
    d.update(body);
    Some(d.finalize().into())
}

/// Writes the preimage bytes (for documentation and independent implementations).
pub fn preimage(h: &Header<'_>, body: &[u8]) -> Option<Vec<u8>> {
    if !valid_kind_name(h.kind) || body.len() > MAX_BODY_LEN {
        return None;
    }
    let mut out =
        Vec::with_capacity(8 + 2 + 8 + 1 + h.kind.len() + 8 + 8 + 64 + 16 + 4 + body.len());
    out.extend_from_slice(PREIMAGE_TAG);
    out.extend_from_slice(&h.format_version.to_be_bytes());
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.push(h.kind.len() as u8);
    out.extend_from_slice(h.kind.as_bytes());
    out.extend_from_slice(&h.kind_seq.to_be_bytes());
    out.extend_from_slice(&h.timestamp_ms.to_be_bytes());
    out.extend_from_slice(h.prev_hash);
    out.extend_from_slice(h.prev_kind_hash);
    out.extend_from_slice(&h.key_id.0);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    Some(out)
}

impl Record {
    /// The header fields the hash covers.
    pub fn header(&self) -> Header<'_> {
        Header {
            format_version: self.format_version,
            seq: self.seq,
            kind: &self.kind,
            kind_seq: self.kind_seq,
            timestamp_ms: self.timestamp_ms,
            prev_hash: &self.prev_hash,
            prev_kind_hash: &self.prev_kind_hash,
            key_id: &self.key_id,
        }
    }

    /// Recomputes this record's hash from its fields and body bytes.
    pub fn computed_hash(&self) -> Option<Hash> {
        record_hash(&self.header(), &self.body)
    }

    /// The known kind, if any.
    pub fn known_kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_equals_sha256_of_preimage() {
        let key = KeyId([7; 16]);
        let h = Header {
            format_version: 1,
            seq: 2,
            kind: "sale",
            kind_seq: 1,
            timestamp_ms: 1_700_000_000_000,
            prev_hash: &[1; 32],
            prev_kind_hash: &ZERO_HASH,
            key_id: &key,
        };
        let body = br#"{"a":1}"#;
        let pre = preimage(&h, body).unwrap();
        let expect: Hash = Sha256::digest(&pre).into();
        assert_eq!(record_hash(&h, body), Some(expect));
        assert_eq!(
            pre.len(),
            8 + 2 + 8 + 1 + 4 + 8 + 8 + 32 + 32 + 16 + 4 + body.len()
        );
        assert!(record_hash(&Header { kind: "Sale", ..h }, body).is_none());
    }
}

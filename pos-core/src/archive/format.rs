//! What an archive holds: its record lines, its manifest, and why an archive cannot be written
//! or read.

use crate::keys::KeyId;
use crate::record::Record;
use crate::store::MalformedRow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The archive format's name in manifests.
pub const FORMAT: &str = "pos-archive";
/// The archive format version this code writes: 2, entries deflated (it reads format 1, whose
/// entries are stored, as well).
pub const FORMAT_VERSION: u32 = 2;
/// The domain prefix of the manifest signature.
pub const MANIFEST_SIGNATURE_DOMAIN: &[u8] = b"POS-ARCHIVE-MANIFEST-1\0";
/// The files every archive holds, besides `manifest.json` and `manifest.sig`.
pub const CONTENT_FILES: [&str; 9] = [
    "README.txt",
    "records.jsonl",
    "references.jsonl",
    "tickets.csv",
    "lines.csv",
    "payments.csv",
    "vat.csv",
    "closures.csv",
    "events.csv",
];

/// A record as a line of `records.jsonl`: every stored field; hashes, key id and signature in
/// lowercase hex; the body as a JSON string holding the exact canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordLine {
    /// Format version.
    pub format_version: u16,
    /// Global sequence number.
    pub seq: u64,
    /// Kind name.
    pub kind: String,
    /// Number within the kind.
    pub kind_seq: u64,
    /// UTC milliseconds.
    pub timestamp_ms: i64,
    /// Previous record's hash.
    pub prev_hash: String,
    /// Previous record of the same kind's hash.
    pub prev_kind_hash: String,
    /// Signing key id.
    pub key_id: String,
    /// The canonical body text, exactly as hashed.
    pub body: String,
    /// The record hash.
    pub hash: String,
    /// The signature.
    pub signature: String,
}

/// [`RecordLine`] borrowing from the record, with the hex fields in stack buffers: the same
/// serialization (same fields, same order), without an allocation per field.
#[derive(Serialize)]
struct RecordLineRef<'a> {
    format_version: u16,
    seq: u64,
    kind: &'a str,
    kind_seq: u64,
    timestamp_ms: i64,
    prev_hash: &'a str,
    prev_kind_hash: &'a str,
    key_id: &'a str,
    body: &'a str,
    hash: &'a str,
    signature: &'a str,
}

/// Lowercase hex of `bytes` in `out` (twice as long).
fn hex_in<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a str {
    // Both lengths are fixed by the callers; hex digits are ASCII.
    hex::encode_to_slice(bytes, out).map_or("", |()| std::str::from_utf8(out).unwrap_or(""))
}

impl RecordLine {
    /// Appends the line of a record (JSON, without the newline) to `out`, as serializing
    /// [`RecordLine::of`] would. Fails when the body is not UTF-8 (it cannot be canonical JSON).
    pub fn write(r: &Record, out: &mut Vec<u8>) -> Option<()> {
        let (mut prev, mut prev_kind, mut key, mut hash, mut sig) =
            ([0u8; 64], [0u8; 64], [0u8; 32], [0u8; 64], [0u8; 128]);
        let line = RecordLineRef {
            format_version: r.format_version,
            seq: r.seq,
            kind: &r.kind,
            kind_seq: r.kind_seq,
            timestamp_ms: r.timestamp_ms,
            prev_hash: hex_in(&r.prev_hash, &mut prev),
            prev_kind_hash: hex_in(&r.prev_kind_hash, &mut prev_kind),
            key_id: hex_in(&r.key_id.0, &mut key),
            body: std::str::from_utf8(&r.body).ok()?,
            hash: hex_in(&r.hash, &mut hash),
            signature: hex_in(&r.signature, &mut sig),
        };
        serde_json::to_writer(out, &line).ok()
    }

    /// The line of a record. Fails when the body is not UTF-8 (it cannot be canonical JSON).
    pub fn of(r: &Record) -> Option<RecordLine> {
        Some(RecordLine {
            format_version: r.format_version,
            seq: r.seq,
            kind: r.kind.clone(),
            kind_seq: r.kind_seq,
            timestamp_ms: r.timestamp_ms,
            prev_hash: hex::encode(r.prev_hash),
            prev_kind_hash: hex::encode(r.prev_kind_hash),
            key_id: r.key_id.to_hex(),
            body: String::from_utf8(r.body.clone()).ok()?,
            hash: hex::encode(r.hash),
            signature: hex::encode(r.signature),
        })
    }

    /// Parses a line into a record.
    pub fn parse(line: &[u8]) -> Result<Record, MalformedRow> {
        // Lines as the exporter writes them take a direct path; anything else (other spacing,
        // rare escapes, any error) goes through serde, which also words the errors.
        match exact_line::parse(line) {
            Some(r) => Ok(r),
            None => Self::parse_with_serde(line),
        }
    }

    /// [`RecordLine::parse`] through serde, for any JSON layout.
    fn parse_with_serde(line: &[u8]) -> Result<Record, MalformedRow> {
        let l: RecordLine = serde_json::from_slice(line).map_err(|e| MalformedRow {
            seq: -1,
            problem: format!("not a record line: {e}"),
        })?;
        let seq = l.seq as i64;
        let bad = |what: &str| MalformedRow {
            seq,
            problem: format!("{what} is not lowercase hex of the right length"),
        };
        Ok(Record {
            format_version: l.format_version,
            seq: l.seq,
            kind: l.kind,
            kind_seq: l.kind_seq,
            timestamp_ms: l.timestamp_ms,
            prev_hash: exact_line::lowercase_hex::<32>(&l.prev_hash)
                .ok_or_else(|| bad("prev_hash"))?,
            prev_kind_hash: exact_line::lowercase_hex::<32>(&l.prev_kind_hash)
                .ok_or_else(|| bad("prev_kind_hash"))?,
            key_id: KeyId(exact_line::lowercase_hex::<16>(&l.key_id).ok_or_else(|| bad("key_id"))?),
            body: l.body.into_bytes(),
            hash: exact_line::lowercase_hex::<32>(&l.hash).ok_or_else(|| bad("hash"))?,
            signature: exact_line::lowercase_hex::<64>(&l.signature)
                .ok_or_else(|| bad("signature"))?,
        })
    }
}

/// A file of the archive and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The name inside the ZIP.
    pub name: String,
    /// SHA-256 (hex) of its uncompressed bytes.
    pub sha256: String,
    /// Its uncompressed size.
    pub bytes: u64,
}

/// A record that refunds or duplicates of the archive's range name, with the last of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedOriginal {
    /// The original's seq (in the range or in `references.jsonl`).
    pub seq: u64,
    /// The seq of the last refund or duplicate of the range that names it.
    pub last_named_by: u64,
}

/// A key that signed records of the archive, with the range it signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyUse {
    /// Key id (hex).
    pub key_id: String,
    /// Algorithm.
    pub algorithm: String,
    /// Public key (hex).
    pub public_key: String,
    /// First record it signed in the archive.
    pub first_seq: u64,
    /// Last record it signed in the archive.
    pub last_seq: u64,
}

/// The journal the archive comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalIdentity {
    /// The merchant, from the opening record.
    pub merchant: crate::body::Merchant,
    /// The register.
    pub register_id: String,
    /// The software that opened the journal.
    pub software: crate::body::Software,
    /// The shop's time zone.
    pub time_zone: String,
    /// The currency.
    pub currency: String,
    /// The record format versions present.
    pub record_format_versions: Vec<u16>,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The archive format version.
    pub format_version: u32,
    /// The journal.
    pub journal: JournalIdentity,
    /// The software that wrote the archive.
    pub written_by: crate::body::Software,
    /// When the archive was written (RFC 3339, UTC).
    pub created_at: String,
    /// What the archive holds (`2026-03`, `2026`, `seq 1-5000`).
    pub label: String,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Timestamp of the first record.
    pub first_timestamp_ms: i64,
    /// Timestamp of the last record.
    pub last_timestamp_ms: i64,
    /// Hash of the record before the first (zero for an archive starting at seq 1): the link to
    /// the previous archive.
    pub prev_hash: String,
    /// Hash of the last record.
    pub last_hash: String,
    /// Records per kind.
    pub counts: BTreeMap<String, u64>,
    /// Sales and refunds of the range (training tickets excluded).
    pub totals: crate::closure::Totals,
    /// The keys that signed the range.
    pub keys: Vec<KeyUse>,
    /// Format 2 on (absent in format 1): every original that refunds and duplicates of the
    /// range name, in seq order, with the last record naming it. A verifier reading
    /// `records.jsonl` once keeps exactly these records in memory, and no longer than needed;
    /// it checks the list against the records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originals: Option<Vec<NamedOriginal>>,
    /// The key that signed this manifest (the journal's current key when it was written).
    pub manifest_key: crate::keys::PublicKeyInfo,
    /// Every other file of the archive.
    pub files: Vec<FileEntry>,
}

/// Why an archive cannot be written or read at all.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The selection does not name an archivable range.
    #[error("{0}")]
    Selection(String),
    /// The journal range does not verify; it is not archived.
    #[error("the journal is damaged at seq {seq}: {problem}; nothing was archived")]
    Damaged {
        /// Where.
        seq: u64,
        /// What.
        problem: String,
    },
}

impl ArchiveError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// A parser for record lines in exactly the layout [`RecordLine::write`] produces (the fields
/// in order, no spaces, only `\"` and `\\` escapes in the body). Serde's parsing of the lines
/// (unescaping each body into a new string, then decoding the hex) was about a quarter of an
/// archive's verification; this one takes 9 % off its CPU. It returns `None` for anything
/// else, and never a different record than serde (property-tested).
mod exact_line {
    /// `N` bytes from exactly `2 * N` lowercase hex digits, as record lines carry them.
    /// A record line carries 224 hex digits; a table lookup per digit, without a branch per
    /// digit, decodes them several times faster than the `hex` crate's general decoder, and refuses
    /// uppercase digits at the same time.
    pub(super) fn lowercase_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
        lowercase_hex_bytes(text.as_bytes())
    }

    /// [`lowercase_hex`] of bytes (any byte that is not a lowercase hex digit is refused).
    pub(super) fn lowercase_hex_bytes<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
        /// The value of each lowercase hex digit; 0xff for every other byte.
        const DIGIT: [u8; 256] = {
            let mut t = [0xffu8; 256];
            let mut c = 0;
            while c < 16 {
                t[b"0123456789abcdef"[c] as usize] = c as u8;
                c += 1;
            }
            t
        };
        if text.len() != 2 * N {
            return None;
        }
        let mut out = [0u8; N];
        let mut bad = 0u8;
        for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            let (hi, lo) = (DIGIT[pair[0] as usize], DIGIT[pair[1] as usize]);
            bad |= hi | lo;
            *byte = (hi << 4) | (lo & 0x0f);
        }
        (bad & 0xf0 == 0).then_some(out)
    }

    use crate::keys::KeyId;
    use crate::record::Record;

    struct Cursor<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl<'a> Cursor<'a> {
        fn literal(&mut self, text: &[u8]) -> Option<()> {
            let end = self.at.checked_add(text.len())?;
            (self.bytes.get(self.at..end)? == text).then(|| self.at = end)
        }

        /// `0` or a digit string without a leading zero (JSON), as u64.
        fn unsigned(&mut self) -> Option<u64> {
            let digits = self.bytes[self.at..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let text = &self.bytes[self.at..self.at + digits];
            if digits == 0 || (digits > 1 && text[0] == b'0') {
                return None;
            }
            let mut value: u64 = 0;
            for d in text {
                value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            }
            self.at += digits;
            Some(value)
        }

        fn signed(&mut self) -> Option<i64> {
            if self.literal(b"-").is_some() {
                let v = self.unsigned()?;
                // "-0" is left to serde.
                (v != 0).then_some(())?;
                0i64.checked_sub_unsigned(v)
            } else {
                i64::try_from(self.unsigned()?).ok()
            }
        }

        /// A string without escapes or control characters.
        fn plain(&mut self) -> Option<&'a str> {
            self.literal(b"\"")?;
            let len = self.bytes[self.at..].iter().position(|b| *b == b'"')?;
            let text = &self.bytes[self.at..self.at + len];
            if text.iter().any(|b| *b == b'\\' || *b < 0x20) {
                return None;
            }
            self.at += len + 1;
            std::str::from_utf8(text).ok()
        }

        /// The body: a string whose only escapes are `\"` and `\\`, unescaped. The line's
        /// tail after it has a fixed length (the hash and signature fields), which gives where it
        /// ends.
        fn body(&mut self) -> Option<Vec<u8>> {
            /// `,"hash":"`, 64 hex digits, `","signature":"`, 128 hex digits, `"}`.
            const TAIL: usize = 9 + 64 + 15 + 128 + 2;
            self.literal(b"\"")?;
            let close = self.bytes.len().checked_sub(TAIL + 1)?;
            if close < self.at || self.bytes[close] != b'"' {
                return None;
            }
            let content = &self.bytes[self.at..close];
            let out = unescape_quotes(content).or_else(|| unescape(content))?;
            std::str::from_utf8(&out).ok()?;
            self.at = close + 1;
            Some(out)
        }

        /// A string of exactly `2 * N` lowercase hex digits: taken by length, not searched
        /// for its closing quote (a quote, backslash or control character is not a digit).
        fn hex<const N: usize>(&mut self) -> Option<[u8; N]> {
            self.literal(b"\"")?;
            let end = self.at.checked_add(2 * N)?;
            let value = lowercase_hex_bytes(self.bytes.get(self.at..end)?)?;
            self.at = end;
            self.literal(b"\"")?;
            Some(value)
        }
    }

    /// The content of a JSON string whose only escapes are `\"`, unescaped (the usual body:
    /// it has a quote every few bytes and no backslash of its own); `None` for any other
    /// content. The checks run on whole vectors and the copy is one branch-free pass; a search
    /// and a copy per escape cost several times as much.
    pub(super) fn unescape_quotes(content: &[u8]) -> Option<Vec<u8>> {
        let (first, last) = match content {
            [] => return Some(Vec::new()),
            [first, .., last] => (*first, *last),
            [only] => (*only, *only),
        };
        // Each byte is a backslash exactly when the next is a quote: every quote is escaped
        // (the first byte cannot be one), every backslash escapes a quote (the last byte cannot
        // be one), and there is no `\\`. No raw control character.
        let bad = content
            .iter()
            .zip(&content[1..])
            .fold(false, |bad, (&a, &b)| {
                bad | ((a == b'\\') != (b == b'"')) | (a < 0x20)
            });
        if bad || first == b'"' || last == b'\\' || last < 0x20 {
            return None;
        }
        let mut out = vec![0u8; content.len()];
        let mut len = 0;
        for &b in content {
            out[len] = b;
            len += usize::from(b != b'\\');
        }
        out.truncate(len);
        Some(out)
    }

    /// The content of a JSON string whose only escapes are `\"` and `\\`, unescaped; `None`
    /// for any other content. One branch-free pass: every byte is written, and the write
    /// position advances except over a backslash that starts an escape.
    pub(super) fn unescape(content: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; content.len()];
        let mut len = 0usize;
        // Whether the byte before started an escape.
        let mut escaping = false;
        let mut bad = false;
        for &b in content {
            let (quote, backslash) = (b == b'"', b == b'\\');
            // An escape is `\"` or `\\`; a quote that no backslash escapes would have ended the
            // string earlier; a raw control character is an error in a JSON string.
            bad |= (escaping & !(quote | backslash)) | (!escaping & quote) | (b < 0x20);
            out[len] = b;
            let starts_escape = backslash & !escaping;
            len += usize::from(!starts_escape);
            escaping = starts_escape;
        }
        if bad || escaping {
            return None;
        }
        out.truncate(len);
        Some(out)
    }

    pub(super) fn parse(line: &[u8]) -> Option<Record> {
        let mut c = Cursor { bytes: line, at: 0 };
        c.literal(b"{\"format_version\":")?;
        let format_version = u16::try_from(c.unsigned()?).ok()?;
        c.literal(b",\"seq\":")?;
        let seq = c.unsigned()?;
        c.literal(b",\"kind\":")?;
        let kind = c.plain()?.to_string();
        c.literal(b",\"kind_seq\":")?;
        let kind_seq = c.unsigned()?;
        c.literal(b",\"timestamp_ms\":")?;
        let timestamp_ms = c.signed()?;
        c.literal(b",\"prev_hash\":")?;
        let prev_hash = c.hex::<32>()?;
        c.literal(b",\"prev_kind_hash\":")?;
        let prev_kind_hash = c.hex::<32>()?;
        c.literal(b",\"key_id\":")?;
        let key_id = KeyId(c.hex::<16>()?);
        c.literal(b",\"body\":")?;
        let body = c.body()?;
        c.literal(b",\"hash\":")?;
        let hash = c.hex::<32>()?;
        c.literal(b",\"signature\":")?;
        let signature = c.hex::<64>()?;
        c.literal(b"}")?;
        (c.at == line.len()).then_some(Record {
            format_version,
            seq,
            kind,
            kind_seq,
            timestamp_ms,
            prev_hash,
            prev_kind_hash,
            key_id,
            body,
            hash,
            signature,
        })
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;
    use proptest::prelude::*;

    fn record(body: Vec<u8>, seq: u64, ts: i64, fill: u8) -> Record {
        Record {
            format_version: 1,
            seq,
            kind: "sale".into(),
            kind_seq: seq / 2,
            timestamp_ms: ts,
            prev_hash: [fill; 32],
            prev_kind_hash: [fill ^ 0x5a; 32],
            key_id: KeyId([fill.wrapping_add(1); 16]),
            body,
            hash: [fill.wrapping_mul(3); 32],
            signature: [fill ^ 0xff; 64],
        }
    }

    proptest! {
        /// Lines as written: the direct parser gives serde's record, and takes every body
        /// whose only escapes are quotes and backslashes.
        #[test]
        fn the_direct_parser_agrees_with_serde(
            body in "[a-z\"\\\\ é€🥐\n\u{1}{}:,0-9]{0,80}",
            seq in 0u64..u64::MAX,
            ts in i64::MIN..i64::MAX,
            fill in 0u8..=255,
        ) {
            let r = record(body.clone().into_bytes(), seq, ts, fill);
            let mut line = Vec::new();
            RecordLine::write(&r, &mut line).expect("UTF-8");
            let serde = RecordLine::parse_with_serde(&line).expect("serde parses its own line");
            prop_assert_eq!(&serde, &r);
            match exact_line::parse(&line) {
                Some(direct) => prop_assert_eq!(direct, r),
                None => prop_assert!(
                    body.bytes().any(|b| b < 0x20),
                    "a plain line left to serde: {}", String::from_utf8_lossy(&line)
                ),
            }
        }

        /// Both unescapers read a string as serde does, or refuse it as serde does; the one
        /// for quotes only also refuses a string that holds a backslash.
        #[test]
        fn unescapers_agree_with_serde(content in "[a\"\\\\\n\u{1}é]{0,12}") {
            let serde: Option<String> = serde_json::from_str(&format!("\"{content}\"")).ok();
            let serde = serde.map(String::into_bytes);
            // With this alphabet serde refuses exactly what the body may not hold: an escape
            // other than `\"` and `\\`, an unescaped quote, a raw control character.
            prop_assert_eq!(exact_line::unescape(content.as_bytes()), serde.clone());
            prop_assert_eq!(
                exact_line::unescape_quotes(content.as_bytes()),
                serde.filter(|text| !text.contains(&b'\\'))
            );
        }

        /// Altered lines (a byte changed, removed or added): whenever the direct parser accepts
        /// one, serde reads the same record.
        #[test]
        fn altered_lines_never_parse_differently(
            at in 0usize..400,
            byte in prop_oneof![Just(b'"'), Just(b'\\'), Just(b'}'), any::<u8>()],
            edit in 0u8..3,
        ) {
            let r = record(br#"{"label":"Pain "au" levain\","n":-3}"#.to_vec(), 17, -5, 9);
            let mut line = Vec::new();
            RecordLine::write(&r, &mut line).expect("UTF-8");
            let at = at % line.len();
            // Every byte of the line is reachable: 400 > its length.
            match edit {
                0 => line[at] = byte,
                1 => {
                    line.remove(at);
                }
                _ => line.insert(at, byte),
            }
            if let Some(direct) = exact_line::parse(&line) {
                prop_assert_eq!(Some(direct), RecordLine::parse_with_serde(&line).ok());
            }
        }
    }

    /// The borrowing writer gives the bytes of serializing the owned line, escapes included.
    #[test]
    fn written_lines_equal_serialized_lines() {
        for body in [
            &br#"{"a":1}"#[..],
            br#"{"label":"Pain \"au\" levain\\ \u00e9t\u00e9\n","q":-3}"#,
            "{\"x\":\"caf\u{e9} \u{1f950} \u{7}\"}".as_bytes(),
        ] {
            let r = Record {
                format_version: 1,
                seq: 42,
                kind: "sale".into(),
                kind_seq: 7,
                timestamp_ms: -5,
                prev_hash: [0xab; 32],
                prev_kind_hash: [0x01; 32],
                key_id: KeyId([0xfe; 16]),
                body: body.to_vec(),
                hash: [0x5c; 32],
                signature: [0x99; 64],
            };
            let mut written = b"prefix".to_vec();
            RecordLine::write(&r, &mut written).expect("UTF-8 body");
            let serialized = serde_json::to_vec(&RecordLine::of(&r).expect("line")).expect("json");
            assert_eq!(&written[6..], &serialized[..]);
            assert_eq!(RecordLine::parse(&written[6..]).expect("parse"), r);
        }
        let mut r = RecordLine::parse(
            &serde_json::to_vec(
                &RecordLine::of(&Record {
                    format_version: 1,
                    seq: 1,
                    kind: "sale".into(),
                    kind_seq: 1,
                    timestamp_ms: 0,
                    prev_hash: [0; 32],
                    prev_kind_hash: [0; 32],
                    key_id: KeyId([0; 16]),
                    body: b"{}".to_vec(),
                    hash: [0; 32],
                    signature: [0; 64],
                })
                .expect("line"),
            )
            .expect("json"),
        )
        .expect("parse");
        r.body = vec![0xff, 0xfe];
        assert!(
            RecordLine::write(&r, &mut Vec::new()).is_none(),
            "not UTF-8"
        );
    }
}

//! Anchors: the chain head (sequence, hash, signature, time) written outside the journal
//! database, so that deleting the newest records shows.
//!
//! A truncated journal (its newest records deleted) is still a valid chain. An anchor taken
//! earlier says "the journal reached seq N with hash H": a journal or archive that does not reach
//! N, or holds another record at N, is reported. The journal writes an anchor line after every
//! closure when an anchor file is configured (put it on another medium than the database), and
//! the Z report prints the same head as a QR code ([`Anchor::qr_text`]).
//!
//! The anchor file holds one JSON object per line:
//! `{"hash":"..","key_id":"..","register_id":"..","seq":N,"signature":"..","timestamp_ms":T}`.

use crate::record::Record;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A chain head kept outside the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The register whose journal this is.
    pub register_id: String,
    /// The head's sequence number.
    pub seq: u64,
    /// The head's hash (hex).
    pub hash: String,
    /// The head's signature (hex).
    pub signature: String,
    /// The id of the key that signed it (hex).
    pub key_id: String,
    /// The head's timestamp (UTC ms).
    pub timestamp_ms: i64,
}

/// An anchor file problem.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// The file could not be read or written.
    #[error("anchor file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not an anchor.
    #[error("anchor file {path}, line {line}: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Line number from 1.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

impl Anchor {
    /// The anchor of a record.
    pub fn of_record(register_id: &str, r: &Record) -> Anchor {
        Anchor {
            register_id: register_id.to_string(),
            seq: r.seq,
            hash: hex::encode(r.hash),
            signature: hex::encode(r.signature),
            key_id: r.key_id.to_hex(),
            timestamp_ms: r.timestamp_ms,
        }
    }

    /// The compact text for a QR code:
    /// `POSA1*<register>*<seq>*<timestamp_ms>*<hash hex>*<signature base64url>`.
    pub fn qr_text(&self) -> String {
        let sig = hex::decode(&self.signature).unwrap_or_default();
        format!(
            "POSA1*{}*{}*{}*{}*{}",
            self.register_id,
            self.seq,
            self.timestamp_ms,
            self.hash,
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// Parses the QR text form (the key id is not in it and is left empty).
    pub fn from_qr_text(text: &str) -> Option<Anchor> {
        let parts: Vec<&str> = text.trim().split('*').collect();
        let ["POSA1", register, seq, ts, hash, sig] = parts[..] else {
            return None;
        };
        let sig = URL_SAFE_NO_PAD.decode(sig).ok().filter(|s| s.len() == 64)?;
        if hash.len() != 64 || hex::decode(hash).is_err() {
            return None;
        }
        Some(Anchor {
            register_id: register.to_string(),
            seq: seq.parse().ok()?,
            hash: hash.to_string(),
            signature: hex::encode(sig),
            key_id: String::new(),
            timestamp_ms: ts.parse().ok()?,
        })
    }
}

/// Appends an anchor line to `path` (creating it) and syncs it to disk.
pub fn append_anchor(path: &Path, anchor: &Anchor) -> Result<(), AnchorError> {
    let io = |source| AnchorError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut line = serde_json::to_string(anchor).map_err(|e| AnchorError::Malformed {
        path: path.to_path_buf(),
        line: 0,
        problem: e.to_string(),
    })?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(line.as_bytes()).map_err(io)?;
    f.sync_data().map_err(io)
}

/// Reads every anchor of a file: JSON lines, or QR text lines (`POSA1*...`).
pub fn read_anchors(path: &Path) -> Result<Vec<Anchor>, AnchorError> {
    let text = std::fs::read_to_string(path).map_err(|source| AnchorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let anchor = if line.starts_with("POSA1*") {
            Anchor::from_qr_text(line).ok_or_else(|| "not a valid anchor QR text".to_string())
        } else {
            serde_json::from_str::<Anchor>(line).map_err(|e| e.to_string())
        };
        let anchor = anchor.map_err(|problem| AnchorError::Malformed {
            path: path.to_path_buf(),
            line: i + 1,
            problem,
        })?;
        let hash_ok = anchor.hash.len() == 64 && hex::decode(&anchor.hash).is_ok();
        if !hash_ok {
            return Err(AnchorError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                problem: "hash is not 32 bytes of hex".into(),
            });
        }
        out.push(anchor);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_qr_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchors");
        let a = Anchor {
            register_id: "CAISSE-01".into(),
            seq: 42,
            hash: "ab".repeat(32),
            signature: "cd".repeat(64),
            key_id: "ef".repeat(16),
            timestamp_ms: 1_772_434_800_000,
        };
        append_anchor(&path, &a).unwrap();
        append_anchor(
            &path,
            &Anchor {
                seq: 43,
                ..a.clone()
            },
        )
        .unwrap();
        let read = read_anchors(&path).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], a);
        let qr = Anchor::from_qr_text(&a.qr_text()).unwrap();
        assert_eq!(
            (qr.seq, &qr.hash, &qr.signature),
            (a.seq, &a.hash, &a.signature)
        );
        std::fs::write(&path, "{not json}\n").unwrap();
        assert!(matches!(
            read_anchors(&path),
            Err(AnchorError::Malformed { line: 1, .. })
        ));
    }
}

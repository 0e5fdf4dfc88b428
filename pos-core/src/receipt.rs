//! The receipt's compact verification string, carried by its QR code.
//!
//! ```text
//! POSR1*<register>*<seq>*<kind>*<number>*<timestamp_ms>*<total_cents>*<hash16>~<signature>
//! ```
//!
//! - `register`: the register id (the characters `*` and `~` are not allowed in it);
//! - `seq`, `kind`, `number`: the record's global sequence number, kind (`sale`, `refund`,
//!   `training`) and number within the kind (the ticket number);
//! - `timestamp_ms`: the record's timestamp (UTC milliseconds);
//! - `total_cents`: the ticket total in cents (negative for refunds);
//! - `hash16`: the first 16 hex digits of the record's hash, which ties the string to one
//!   journal record;
//! - `signature`: the register key's signature (Ed25519, or ECDSA P-256 as `r || s`; see
//!   [`crate::keys`]) of the bytes `POS-RECEIPT-1` 0x00 followed by everything before `~`, 64
//!   bytes in unpadded base64url. The domain prefix keeps a receipt signature from ever being
//!   read as a record signature (those sign 32-byte hashes).
//!
//! Both algorithms sign deterministically: the same record always gives the same string, so a
//! reprint carries the same code. Anyone with the register's public key can check a receipt
//! offline; an auditor holding the journal or an archive can also check that the record exists
//! with that hash prefix, timestamp and total.

use crate::keys::{PublicKey, SignError, Signer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

/// The string's version tag.
pub const TAG: &str = "POSR1";
const DOMAIN: &[u8] = b"POS-RECEIPT-1\0";

/// The fields of a receipt string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptFields {
    /// Register id.
    pub register: String,
    /// Global sequence number.
    pub seq: u64,
    /// Record kind.
    pub kind: String,
    /// Number within the kind.
    pub number: u64,
    /// UTC milliseconds.
    pub timestamp_ms: i64,
    /// Ticket total in cents.
    pub total_cents: i64,
    /// First 16 hex digits of the record hash.
    pub hash_prefix: String,
}

/// Why a receipt string does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not of the documented shape.
    #[error("not a receipt verification string: {0}")]
    Malformed(&'static str),
    /// Well-formed, but the signature does not verify with the key given.
    #[error("the signature does not verify with this public key")]
    BadSignature,
    /// The signer could not sign.
    #[error("{0}")]
    Sign(#[from] SignError),
}

impl ReceiptFields {
    /// The fields of a ticket record (`sale`, `refund` or `training`) of the register
    /// `register`; `None` for any other record or an unreadable body.
    pub fn of_record(register: &str, r: &crate::record::Record) -> Option<ReceiptFields> {
        use crate::body::Body;
        let total = match Body::decode(r.known_kind()?, &r.body).ok()? {
            Body::Sale(s) | Body::Training(s) => s.total,
            Body::Refund(rf) => rf.total,
            _ => return None,
        };
        Some(ReceiptFields {
            register: register.to_string(),
            seq: r.seq,
            kind: r.kind.clone(),
            number: r.kind_seq,
            timestamp_ms: r.timestamp_ms,
            total_cents: total.0,
            hash_prefix: hex::encode(&r.hash[..8]),
        })
    }

    fn payload(&self) -> String {
        format!(
            "{TAG}*{}*{}*{}*{}*{}*{}*{}",
            self.register,
            self.seq,
            self.kind,
            self.number,
            self.timestamp_ms,
            self.total_cents,
            self.hash_prefix
        )
    }

    /// Signs the fields into a receipt string. Fails if the register id holds `*` or `~`.
    pub fn sign(&self, key: &dyn Signer) -> Result<String, ReceiptError> {
        if self.register.is_empty() || self.register.contains(['*', '~']) {
            return Err(ReceiptError::Malformed("register id"));
        }
        let payload = self.payload();
        let mut message = DOMAIN.to_vec();
        message.extend_from_slice(payload.as_bytes());
        let signature = key.sign(&message)?;
        Ok(format!("{payload}~{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// Parses a receipt string and checks its signature with `key`.
pub fn verify_receipt(text: &str, key: &PublicKey) -> Result<ReceiptFields, ReceiptError> {
    let fields = parse_receipt(text)?;
    let (payload, sig) = text
        .trim()
        .rsplit_once('~')
        .ok_or(ReceiptError::Malformed("no signature"))?;
    let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(ReceiptError::Malformed(
            "signature is not 64 bytes of base64url",
        ))?;
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(payload.as_bytes());
    if !key.verify(&message, &sig_bytes) {
        return Err(ReceiptError::BadSignature);
    }
    Ok(fields)
}

/// Parses a receipt string without checking its signature.
pub fn parse_receipt(text: &str) -> Result<ReceiptFields, ReceiptError> {
    let (payload, _) = text
        .trim()
        .rsplit_once('~')
        .ok_or(ReceiptError::Malformed("no signature"))?;
    let parts: Vec<&str> = payload.split('*').collect();
    let [tag, register, seq, kind, number, ts, total, hash] = parts[..] else {
        return Err(ReceiptError::Malformed("expected 8 fields separated by *"));
    };
    if tag != TAG {
        return Err(ReceiptError::Malformed("unknown version tag"));
    }
    let int =
        |s: &str, what: &'static str| s.parse::<i64>().map_err(|_| ReceiptError::Malformed(what));
    let uint =
        |s: &str, what: &'static str| s.parse::<u64>().map_err(|_| ReceiptError::Malformed(what));
    if register.is_empty() || !crate::record::valid_kind_name(kind) {
        return Err(ReceiptError::Malformed("register or kind"));
    }
    if hash.len() != 16
        || !hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(ReceiptError::Malformed(
            "hash prefix must be 16 lowercase hex digits",
        ));
    }
    Ok(ReceiptFields {
        register: register.to_string(),
        seq: uint(seq, "seq")?,
        kind: kind.to_string(),
        number: uint(number, "number")?,
        timestamp_ms: int(ts, "timestamp")?,
        total_cents: int(total, "total")?,
        hash_prefix: hash.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;

    fn fields() -> ReceiptFields {
        ReceiptFields {
            register: "CAISSE-01".into(),
            seq: 42,
            kind: "sale".into(),
            number: 40,
            timestamp_ms: 1_772_434_800_000,
            total_cents: 1234,
            hash_prefix: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn round_trip_and_tampering() {
        let key = KeyPair::from_seed([1; 32]);
        let text = fields().sign(&key).unwrap();
        assert!(text.starts_with("POSR1*CAISSE-01*42*sale*40*1772434800000*1234*0123456789abcdef~"));
        assert_eq!(
            verify_receipt(&text, &key.verifying_key()).unwrap(),
            fields()
        );
        assert_eq!(text, fields().sign(&key).unwrap(), "deterministic");
        let other = KeyPair::from_seed([2; 32]);
        assert_eq!(
            verify_receipt(&text, &other.verifying_key()),
            Err(ReceiptError::BadSignature)
        );
        let altered = text.replace("*1234*", "*1235*");
        assert_eq!(
            verify_receipt(&altered, &key.verifying_key()),
            Err(ReceiptError::BadSignature)
        );
        for bad in [
            "",
            "POSR1",
            "POSR2*a*1*sale*1*1*1*0123456789abcdef~AA",
            "POSR1*a*x*sale*1*1*1*0123456789abcdef~AA",
        ] {
            assert!(
                matches!(
                    verify_receipt(bad, &key.verifying_key()),
                    Err(ReceiptError::Malformed(_))
                ),
                "{bad}"
            );
        }
        let mut f = fields();
        f.register = "A*B".into();
        assert!(f.sign(&key).is_err());
    }
}

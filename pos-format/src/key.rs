//! Public keys as the records name them: the algorithm, the key's bytes, the key id.
//!
//! A key id is the first 16 bytes of `SHA-256(algorithm name || 0x00 || public key bytes)`, so
//! that one public key gets one id per algorithm. Turning a description into a key that checks
//! signatures is pos-core's (`keys`): this layer holds no cryptography but the hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The signature algorithm of a key, named in every key description (opening, key change,
/// archive manifest) so that a journal can change algorithm at a key change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032): 32-byte public keys, 64-byte signatures.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ECDSA on the NIST P-256 curve with SHA-256 (ES256): public keys as 65-byte uncompressed
    /// SEC1 points, 64-byte signatures `r || s` (32 bytes each, big-endian).
    #[serde(rename = "ecdsa-p256-sha256")]
    EcdsaP256Sha256,
}

impl Algorithm {
    /// Every algorithm, in the order of the enum.
    pub const ALL: [Algorithm; 2] = [Algorithm::Ed25519, Algorithm::EcdsaP256Sha256];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The length of a public key of this algorithm, in bytes.
    pub fn public_key_len(self) -> usize {
        match self {
            Algorithm::Ed25519 => 32,
            Algorithm::EcdsaP256Sha256 => 65,
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;

    /// Parses a stored name; the error names the algorithms there are.
    fn from_str(name: &str) -> Result<Algorithm, String> {
        Algorithm::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
            format!("unknown algorithm {name:?}: one of {}", names.join(", "))
        })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key fingerprint (16 bytes), stored in every record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// The id of a public key of `algorithm` given as its bytes.
    pub fn of(algorithm: Algorithm, public_key: &[u8]) -> KeyId {
        let mut d = Sha256::new();
        d.update(algorithm.as_str().as_bytes());
        d.update([0u8]);
        d.update(public_key);
        let full: [u8; 32] = d.finalize().into();
        let mut id = [0u8; 16];
        id.copy_from_slice(&full[..16]);
        KeyId(id)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A public key as it appears in record bodies (opening, key change) and manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyInfo {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The public key bytes in lowercase hex.
    pub public_key: String,
    /// The key id in lowercase hex.
    pub key_id: String,
}

/// Why a key description is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyInfoError {
    /// The public key is not lowercase hex of the algorithm's length.
    #[error("the public key is not {0} bytes of lowercase hex")]
    PublicKeyHex(usize),
    /// The stated id is not the id of the key.
    #[error("key id does not match the public key")]
    KeyIdMismatch,
}

impl PublicKeyInfo {
    /// Describes the public key `bytes` of `algorithm`.
    pub fn new(algorithm: Algorithm, bytes: &[u8]) -> PublicKeyInfo {
        PublicKeyInfo {
            algorithm,
            public_key: hex::encode(bytes),
            key_id: KeyId::of(algorithm, bytes).to_hex(),
        }
    }

    /// The key's bytes and id, once their form is checked (lowercase hex of the algorithm's
    /// length, the stated id the key's). Whether the bytes are a valid point of the curve is
    /// checked where the key is decoded for verification.
    pub fn checked_bytes(&self) -> Result<(KeyId, Vec<u8>), KeyInfoError> {
        let len = self.algorithm.public_key_len();
        let bytes = decode_lowercase_hex(&self.public_key)
            .filter(|b| b.len() == len)
            .ok_or(KeyInfoError::PublicKeyHex(len))?;
        let id = KeyId::of(self.algorithm, &bytes);
        if id.to_hex() != self.key_id {
            return Err(KeyInfoError::KeyIdMismatch);
        }
        Ok((id, bytes))
    }
}

/// Decodes lowercase hex (the only form written); `None` for anything else.
pub fn decode_lowercase_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_the_algorithm_and_the_key() {
        let key = [0xab; 32];
        let ed = KeyId::of(Algorithm::Ed25519, &key);
        assert_ne!(ed, KeyId::of(Algorithm::EcdsaP256Sha256, &key));
        assert_ne!(ed, KeyId::of(Algorithm::Ed25519, &[0xac; 32]));
        let info = PublicKeyInfo::new(Algorithm::Ed25519, &key);
        assert_eq!(info.checked_bytes(), Ok((ed, key.to_vec())));
        let upper = PublicKeyInfo {
            public_key: info.public_key.to_uppercase(),
            ..info.clone()
        };
        assert_eq!(upper.checked_bytes(), Err(KeyInfoError::PublicKeyHex(32)));
        let short = PublicKeyInfo::new(Algorithm::EcdsaP256Sha256, &key);
        assert_eq!(short.checked_bytes(), Err(KeyInfoError::PublicKeyHex(65)));
        let wrong_id = PublicKeyInfo {
            key_id: "00".repeat(16),
            ..info
        };
        assert_eq!(wrong_id.checked_bytes(), Err(KeyInfoError::KeyIdMismatch));
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::parse(a.as_str()), Some(a));
        }
    }
}

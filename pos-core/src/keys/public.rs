//! Public keys that check signatures, and key problems.

use ed25519_dalek::Verifier as _;
use pos_format::key::{Algorithm, KeyId, KeyInfoError, PublicKeyInfo};
use std::path::PathBuf;

/// A signature as stored: 64 bytes for both algorithms.
pub type SignatureBytes = [u8; 64];

/// A public key that checks signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An Ed25519 key.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// An ECDSA P-256 key.
    EcdsaP256(p256::ecdsa::VerifyingKey),
}

impl From<ed25519_dalek::VerifyingKey> for PublicKey {
    fn from(key: ed25519_dalek::VerifyingKey) -> PublicKey {
        PublicKey::Ed25519(key)
    }
}

impl PublicKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
            PublicKey::EcdsaP256(_) => Algorithm::EcdsaP256Sha256,
        }
    }

    /// The key's bytes as records describe it (32 for Ed25519, 65 for P-256).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => k.as_bytes().to_vec(),
            PublicKey::EcdsaP256(k) => k.to_encoded_point(false).as_bytes().to_vec(),
        }
    }

    /// A key of `algorithm` from its bytes.
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Result<PublicKey, KeyError> {
        match algorithm {
            Algorithm::Ed25519 => {
                let bytes: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| KeyError::Malformed("an Ed25519 public key is 32 bytes"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map(PublicKey::Ed25519)
                    .map_err(|_| KeyError::Malformed("not an Ed25519 public key"))
            }
            Algorithm::EcdsaP256Sha256 => {
                // Only the uncompressed form is written; a compressed point is refused so that
                // one key has one description (and one id).
                if bytes.len() != 65 || bytes[0] != 4 {
                    return Err(KeyError::Malformed(
                        "a P-256 public key is a 65-byte uncompressed point",
                    ));
                }
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                    .map(PublicKey::EcdsaP256)
                    .map_err(|_| KeyError::Malformed("not a P-256 public key"))
            }
        }
    }

    /// Decodes a key description, checking that the stated id is the key's.
    pub fn decode(info: &PublicKeyInfo) -> Result<PublicKey, KeyError> {
        let (_, bytes) = info.checked_bytes().map_err(|e| match e {
            KeyInfoError::PublicKeyHex(_) => KeyError::Malformed("public key hex"),
            KeyInfoError::KeyIdMismatch => {
                KeyError::Malformed("key id does not match the public key")
            }
        })?;
        PublicKey::from_bytes(info.algorithm, &bytes)
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        KeyId::of(self.algorithm(), &self.to_bytes())
    }

    /// The key as records describe it.
    pub fn info(&self) -> PublicKeyInfo {
        PublicKeyInfo::new(self.algorithm(), &self.to_bytes())
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &SignatureBytes) -> bool {
        match self {
            PublicKey::Ed25519(k) => k
                .verify(message, &ed25519_dalek::Signature::from_bytes(signature))
                .is_ok(),
            PublicKey::EcdsaP256(k) => {
                // ring's fixed-width form is the stored `r || s`; it checks the same equation
                // as p256 (whose signatures it accepts, and the tests compare the two).
                let point = k.to_encoded_point(false);
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    point.as_bytes(),
                )
                .verify(message, signature)
                .is_ok()
            }
        }
    }

    /// The Ed25519 key, for batch verification.
    pub fn as_ed25519(&self) -> Option<&ed25519_dalek::VerifyingKey> {
        match self {
            PublicKey::Ed25519(k) => Some(k),
            PublicKey::EcdsaP256(_) => None,
        }
    }
}

/// Decodes a key description into the key and its id (see [`PublicKey::decode`]).
pub fn decode_key(info: &PublicKeyInfo) -> Result<(KeyId, PublicKey), KeyError> {
    let key = PublicKey::decode(info)?;
    Ok((key.id(), key))
}

/// A key problem.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The secret key file can be read by group or others.
    #[error("key file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a key file or key of the expected form.
    #[error("malformed key: {0}")]
    Malformed(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;

    #[test]
    fn descriptions_round_trip_for_both_algorithms() {
        for algorithm in Algorithm::ALL {
            let k = KeyPair::from_secret(algorithm, [9; 32]).unwrap();
            let info = k.public_info();
            assert_eq!(info.algorithm, algorithm);
            let decoded = PublicKey::decode(&info).unwrap();
            assert_eq!(decoded, k.verifying_key());
            assert_eq!(decoded.id(), k.id());
            let mut bad = info.clone();
            bad.key_id = "00".repeat(16);
            assert!(PublicKey::decode(&bad).is_err());
            // The other algorithm's reading of the same bytes is another key, or none.
            let other = Algorithm::ALL
                .into_iter()
                .find(|a| *a != algorithm)
                .unwrap();
            let swapped = PublicKeyInfo {
                algorithm: other,
                ..info
            };
            assert!(PublicKey::decode(&swapped).is_err());
        }
    }

    /// The verifier (ring) and the signer's library (p256) agree on P-256 signatures, valid
    /// and altered, and on both halves of the order for `s` (a signature and its mirror).
    #[test]
    fn p256_verification_agrees_with_the_p256_library() {
        use p256::ecdsa::signature::Verifier as _;
        for seed in 1u8..=20 {
            let k = KeyPair::from_secret(Algorithm::EcdsaP256Sha256, [seed; 32]).unwrap();
            let PublicKey::EcdsaP256(vk) = k.verifying_key() else {
                panic!("a P-256 key")
            };
            let message = [seed ^ 0x5a; 32];
            let sig = k.sign_hash(&message);
            let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap();
            // s and n - s verify alike (ECDSA accepts both).
            let mirrored: [u8; 64] = parsed.normalize_s().map_or(sig, |n| {
                let mut out = [0u8; 64];
                out.copy_from_slice(&n.to_bytes());
                out
            });
            for candidate in [sig, mirrored] {
                let by_p256 = p256::ecdsa::Signature::from_slice(&candidate)
                    .is_ok_and(|s| vk.verify(&message, &s).is_ok());
                assert!(by_p256);
                assert_eq!(k.verifying_key().verify(&message, &candidate), by_p256);
            }
            let mut bent = sig;
            bent[(seed as usize) % 64] ^= 0x10;
            let by_p256 = p256::ecdsa::Signature::from_slice(&bent)
                .is_ok_and(|s| vk.verify(&message, &s).is_ok());
            assert_eq!(k.verifying_key().verify(&message, &bent), by_p256);
            assert!(!by_p256);
        }
    }

    #[test]
    fn a_signature_verifies_only_with_its_key_and_message() {
        for algorithm in Algorithm::ALL {
            let k = KeyPair::from_secret(algorithm, [3; 32]).unwrap();
            let sig = k.sign_hash(&[5; 32]);
            assert_eq!(sig, k.sign_hash(&[5; 32]), "{algorithm}: deterministic");
            let public = k.verifying_key();
            assert!(public.verify(&[5; 32], &sig));
            assert!(!public.verify(&[6; 32], &sig));
            let mut bent = sig;
            bent[10] ^= 1;
            assert!(!public.verify(&[5; 32], &bent));
            let other = KeyPair::from_secret(algorithm, [4; 32]).unwrap();
            assert!(!other.verifying_key().verify(&[5; 32], &sig));
        }
    }
}

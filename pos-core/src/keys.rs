//! Signing keys: generation, key files with owner-only permissions, key ids.
//!
//! A secret key file is two lines of text: the header `pos-core ed25519 secret key v1` and the
//! 32-byte seed in lowercase hex. A public key file is `pos-core ed25519 public key v1` and the
//! 32-byte public key in hex. Secret key files are created with mode 0600 and refused when
//! group or others can read them.
//!
//! A key id is the first 16 bytes of `SHA-256(algorithm name || 0x00 || public key bytes)`, so
//! that one public key gets one id per algorithm.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const SECRET_HEADER: &str = "pos-core ed25519 secret key v1";
const PUBLIC_HEADER: &str = "pos-core ed25519 public key v1";

/// The signature algorithm a key uses. Only Ed25519 is implemented; the name is stored in every
/// key description so that another profile (ECDSA P-256) can be added without a format break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032), signatures of 64 bytes.
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl Algorithm {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

/// A key fingerprint (16 bytes), stored in every record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// The id of an Ed25519 public key.
    pub fn of_ed25519(key: &VerifyingKey) -> KeyId {
        let mut d = Sha256::new();
        d.update(Algorithm::Ed25519.as_str().as_bytes());
        d.update([0u8]);
        d.update(key.as_bytes());
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

/// A public key as it appears in record bodies (opening, key change).
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

impl PublicKeyInfo {
    /// Describes an Ed25519 public key.
    pub fn ed25519(key: &VerifyingKey) -> PublicKeyInfo {
        PublicKeyInfo {
            algorithm: Algorithm::Ed25519,
            public_key: hex::encode(key.as_bytes()),
            key_id: KeyId::of_ed25519(key).to_hex(),
        }
    }

    /// Decodes the key and checks that the stated id matches it.
    pub fn decode(&self) -> Result<(KeyId, VerifyingKey), KeyError> {
        let bytes = decode_32(&self.public_key).ok_or(KeyError::Malformed("public key hex"))?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed("public key"))?;
        let id = KeyId::of_ed25519(&key);
        if id.to_hex() != self.key_id {
            return Err(KeyError::Malformed("key id does not match the public key"));
        }
        Ok((id, key))
    }
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
    /// Not a key file of the expected form.
    #[error("malformed key: {0}")]
    Malformed(&'static str),
}

/// Decodes exactly 64 lowercase hex digits (the only form written).
fn decode_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}

/// A signing key with its id.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
    id: KeyId,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secret material.
        f.debug_struct("KeyPair").field("id", &self.id).finish()
    }
}

impl KeyPair {
    /// A new random key from the operating system's generator.
    pub fn generate() -> KeyPair {
        KeyPair::from_signing_key(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// Wraps an existing Ed25519 signing key.
    pub fn from_signing_key(signing: SigningKey) -> KeyPair {
        let id = KeyId::of_ed25519(&signing.verifying_key());
        KeyPair { signing, id }
    }

    /// A key from a 32-byte seed (tests and examples that need a fixed key).
    pub fn from_seed(seed: [u8; 32]) -> KeyPair {
        KeyPair::from_signing_key(SigningKey::from_bytes(&seed))
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as stored in record bodies.
    pub fn public_info(&self) -> PublicKeyInfo {
        PublicKeyInfo::ed25519(&self.verifying_key())
    }

    /// Signs a record hash.
    pub fn sign_hash(&self, hash: &[u8; 32]) -> [u8; 64] {
        self.signing.sign(hash).to_bytes()
    }

    /// Signs an arbitrary message (receipt strings, archive manifests). Callers put a domain
    /// prefix in `message` so that it can never be mistaken for a 32-byte record hash.
    pub fn sign_message(&self, message: &[u8]) -> [u8; 64] {
        debug_assert!(message.len() != 32, "32-byte messages are record hashes");
        self.signing.sign(message).to_bytes()
    }

    /// Writes the secret key to a new file with mode 0600 (refuses to overwrite).
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        if path.exists() {
            return Err(io(std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
        }
        // Written whole under a temporary name, then linked into place: a crash leaves either
        // no key file or a complete one, never an empty file that blocks every restart.
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".{}.tmp", std::process::id()));
        let temp = PathBuf::from(temp);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            let text = format!(
                "{SECRET_HEADER}\n{}\n",
                hex::encode(self.signing.to_bytes())
            );
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            // `hard_link` fails if `path` appeared meanwhile: a key is never overwritten.
            std::fs::hard_link(&temp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        let _ = std::fs::remove_file(&temp);
        result.map_err(io)
    }

    /// Writes the public key file (mode 0644), for auditors.
    pub fn save_public(&self, path: &Path) -> Result<(), KeyError> {
        std::fs::write(path, public_key_file_text(&self.verifying_key())).map_err(|source| {
            KeyError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Loads a secret key file, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<KeyPair, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut lines = text.lines();
        if lines.next() != Some(SECRET_HEADER) {
            return Err(KeyError::Malformed(
                "not a pos-core ed25519 secret key file",
            ));
        }
        let seed = lines
            .next()
            .map(str::trim)
            .and_then(decode_32)
            .ok_or(KeyError::Malformed("secret key is not 32 bytes of hex"))?;
        Ok(KeyPair::from_seed(seed))
    }
}

/// The text of a public key file for `key`.
pub fn public_key_file_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_HEADER}\n{}\n", hex::encode(key.as_bytes()))
}

/// Loads a public key file (or a bare 64-character hex public key).
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let hex_line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && *l != PUBLIC_HEADER)
        .ok_or(KeyError::Malformed("empty public key file"))?;
    let bytes =
        decode_32(hex_line).ok_or(KeyError::Malformed("public key is not 32 bytes of hex"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed("not an Ed25519 public key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let k = KeyPair::generate();
        k.save(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(KeyPair::load(&path).unwrap().id(), k.id());
        assert!(k.save(&path).is_err(), "never overwrite a key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            KeyPair::load(&path),
            Err(KeyError::TooOpen { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "garbage\n").unwrap();
        assert!(matches!(KeyPair::load(&path), Err(KeyError::Malformed(_))));
        let public = dir.path().join("key.pub");
        k.save_public(&public).unwrap();
        assert_eq!(load_public_key(&public).unwrap(), k.verifying_key());
    }

    #[test]
    fn info_round_trip() {
        let k = KeyPair::from_seed([9; 32]);
        let (id, vk) = k.public_info().decode().unwrap();
        assert_eq!(id, k.id());
        assert_eq!(vk, k.verifying_key());
        let mut bad = k.public_info();
        bad.key_id = "00".repeat(16);
        assert!(bad.decode().is_err());
    }
}

//! In-process key pairs and their files.
//!
//! A secret key file is two lines of text: the header `pos-core <algorithm> secret key v1` and
//! the 32-byte secret (the Ed25519 seed, or the P-256 scalar, big-endian) in lowercase hex. A
//! public key file is `pos-core <algorithm> public key v1` and the public key in hex (32 bytes
//! for Ed25519, the 65-byte uncompressed point for P-256). Secret key files are created with
//! mode 0600 and refused when group or others can read them.

use super::public::{KeyError, PublicKey, SignatureBytes};
use super::signer::{SignError, Signer};
use pos_format::key::decode_lowercase_hex;
use pos_format::key::{Algorithm, KeyId, PublicKeyInfo};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn secret_header(algorithm: Algorithm) -> String {
    format!("pos-core {algorithm} secret key v1")
}

fn public_header(algorithm: Algorithm) -> String {
    format!("pos-core {algorithm} public key v1")
}

/// The secret half, by algorithm.
#[derive(Clone)]
enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    EcdsaP256(p256::ecdsa::SigningKey),
}

/// A signing key held in memory, with its public key and id.
#[derive(Clone)]
pub struct KeyPair {
    secret: Secret,
    public: PublicKey,
    id: KeyId,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secret material.
        f.debug_struct("KeyPair")
            .field("algorithm", &self.public.algorithm())
            .field("id", &self.id)
            .finish()
    }
}

impl KeyPair {
    fn of(secret: Secret) -> KeyPair {
        let public = match &secret {
            Secret::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            Secret::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
        };
        KeyPair {
            id: public.id(),
            secret,
            public,
        }
    }

    /// A new random Ed25519 key from the operating system's generator.
    pub fn generate() -> KeyPair {
        KeyPair::generate_for(Algorithm::Ed25519)
    }

    /// A new random key of `algorithm` from the operating system's generator.
    pub fn generate_for(algorithm: Algorithm) -> KeyPair {
        match algorithm {
            Algorithm::Ed25519 => KeyPair::of(Secret::Ed25519(
                ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng),
            )),
            Algorithm::EcdsaP256Sha256 => KeyPair::of(Secret::EcdsaP256(
                p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
            )),
        }
    }

    /// Wraps an existing Ed25519 signing key.
    pub fn from_signing_key(signing: ed25519_dalek::SigningKey) -> KeyPair {
        KeyPair::of(Secret::Ed25519(signing))
    }

    /// An Ed25519 key from a 32-byte seed (tests and examples that need a fixed key).
    pub fn from_seed(seed: [u8; 32]) -> KeyPair {
        KeyPair::from_signing_key(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// A key of `algorithm` from its 32 secret bytes (the Ed25519 seed, or the P-256 scalar,
    /// big-endian, which must be between 1 and the curve's order).
    pub fn from_secret(algorithm: Algorithm, secret: [u8; 32]) -> Result<KeyPair, KeyError> {
        match algorithm {
            Algorithm::Ed25519 => Ok(KeyPair::from_seed(secret)),
            Algorithm::EcdsaP256Sha256 => p256::ecdsa::SigningKey::from_slice(&secret)
                .map(|k| KeyPair::of(Secret::EcdsaP256(k)))
                .map_err(|_| KeyError::Malformed("not a P-256 secret scalar")),
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The public half.
    pub fn verifying_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The public key as stored in record bodies.
    pub fn public_info(&self) -> PublicKeyInfo {
        self.public.info()
    }

    /// Signs a record hash.
    pub fn sign_hash(&self, hash: &[u8; 32]) -> SignatureBytes {
        self.sign_bytes(hash)
    }

    /// Signs an arbitrary message (receipt strings, archive manifests). Callers put a domain
    /// prefix in `message` so that it can never be mistaken for a 32-byte record hash.
    pub fn sign_message(&self, message: &[u8]) -> SignatureBytes {
        debug_assert!(message.len() != 32, "32-byte messages are record hashes");
        self.sign_bytes(message)
    }

    fn sign_bytes(&self, message: &[u8]) -> SignatureBytes {
        match &self.secret {
            Secret::Ed25519(k) => ed25519_dalek::Signer::sign(k, message).to_bytes(),
            Secret::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(k, message);
                let mut out = [0u8; 64];
                out.copy_from_slice(&sig.to_bytes());
                out
            }
        }
    }

    fn secret_bytes(&self) -> [u8; 32] {
        match &self.secret {
            Secret::Ed25519(k) => k.to_bytes(),
            Secret::EcdsaP256(k) => k.to_bytes().into(),
        }
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
                "{}\n{}\n",
                secret_header(self.algorithm()),
                hex::encode(self.secret_bytes())
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
        std::fs::write(path, public_key_file_text(&self.public)).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
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
        let header = lines.next().unwrap_or_default();
        let algorithm = Algorithm::ALL
            .into_iter()
            .find(|a| header == secret_header(*a))
            .ok_or(KeyError::Malformed("not a pos-core secret key file"))?;
        let secret: [u8; 32] = lines
            .next()
            .map(str::trim)
            .and_then(decode_lowercase_hex)
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Malformed("secret key is not 32 bytes of hex"))?;
        KeyPair::from_secret(algorithm, secret)
    }
}

impl Signer for KeyPair {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }
    fn key_id(&self) -> KeyId {
        self.id
    }
    fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
        Ok(self.sign_bytes(message))
    }
    fn parallel(&self) -> bool {
        true
    }
}

/// The text of a public key file for `key`.
pub fn public_key_file_text(key: &PublicKey) -> String {
    format!(
        "{}\n{}\n",
        public_header(key.algorithm()),
        hex::encode(key.to_bytes())
    )
}

/// Loads a public key file, or a file holding only the key's hex: 64 digits for an Ed25519
/// key, 130 for a P-256 point.
pub fn load_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .ok_or(KeyError::Malformed("empty public key file"))?;
    let header = Algorithm::ALL
        .into_iter()
        .find(|a| first == public_header(*a));
    let hex_line = match header {
        Some(_) => lines
            .next()
            .ok_or(KeyError::Malformed("the public key file has no key"))?,
        None => first,
    };
    public_key_from_hex(header, hex_line)
}

/// A public key from its hex, of `algorithm` or, when `None`, of the algorithm its length
/// names (64 digits Ed25519, 130 P-256).
pub fn public_key_from_hex(
    algorithm: Option<Algorithm>,
    text: &str,
) -> Result<PublicKey, KeyError> {
    let bytes = decode_lowercase_hex(text)
        .ok_or(KeyError::Malformed("the public key is not lowercase hex"))?;
    let algorithm = match (algorithm, bytes.len()) {
        (Some(a), _) => a,
        (None, 32) => Algorithm::Ed25519,
        (None, 65) => Algorithm::EcdsaP256Sha256,
        (None, _) => {
            return Err(KeyError::Malformed(
                "a public key is 32 bytes (Ed25519) or 65 bytes (P-256) of hex",
            ))
        }
    };
    PublicKey::from_bytes(algorithm, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_permissions() {
        for algorithm in Algorithm::ALL {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("key");
            let k = KeyPair::generate_for(algorithm);
            k.save(&path).unwrap();
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            let loaded = KeyPair::load(&path).unwrap();
            assert_eq!((loaded.id(), loaded.algorithm()), (k.id(), algorithm));
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
            let bare = dir.path().join("bare.pub");
            std::fs::write(&bare, hex::encode(k.verifying_key().to_bytes())).unwrap();
            assert_eq!(load_public_key(&bare).unwrap(), k.verifying_key());
        }
    }

    #[test]
    fn a_p256_secret_outside_the_order_is_refused() {
        assert!(KeyPair::from_secret(Algorithm::EcdsaP256Sha256, [0; 32]).is_err());
        assert!(KeyPair::from_secret(Algorithm::EcdsaP256Sha256, [0xff; 32]).is_err());
    }
}

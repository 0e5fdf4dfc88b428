//! The signing seam: the journal signs through [`Signer`], whatever holds the secret key (a key
//! in memory, a smartcard, an HSM). A device may be slow (100 ms a signature), able to make only
//! one signature at a time, and may fail; a failed signature refuses the commit (nothing is
//! written) and the journal tells of it in an event once signing works again.

use super::public::{PublicKey, SignatureBytes};
use pos_format::key::KeyId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The signing device cannot sign now (absent, busy, locked, failed).
    #[error("the signing device cannot sign: {0}")]
    Unavailable(String),
}

/// Something that signs with one key.
///
/// The journal calls [`Signer::sign`] for every record hash (32 bytes) and for receipt strings
/// and archive manifests (longer messages with a domain prefix). A signer that returns an error
/// refuses the whole commit: no record of it is written.
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// The public half of the key.
    fn public_key(&self) -> PublicKey;

    /// The key's id (computed from the public key; a signer may keep it).
    fn key_id(&self) -> KeyId {
        self.public_key().id()
    }

    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError>;

    /// Whether several signatures may be made at once on several threads (an in-process key);
    /// `false` (the default) for a device that signs one message at a time.
    fn parallel(&self) -> bool {
        false
    }
}

impl<S: Signer + ?Sized> Signer for std::sync::Arc<S> {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }
    fn key_id(&self) -> KeyId {
        (**self).key_id()
    }
    fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
        (**self).sign(message)
    }
    fn parallel(&self) -> bool {
        (**self).parallel()
    }
}

/// A signer that takes `delay` for every signature and makes one at a time, like a smartcard
/// or a hardware security module: for tests and benchmarks of the journal with such a device.
#[derive(Debug)]
pub struct SlowSigner<S> {
    inner: S,
    delay: Duration,
    /// Held while signing: the device signs one message at a time.
    busy: std::sync::Mutex<()>,
}

impl<S: Signer> SlowSigner<S> {
    /// `inner`'s signatures, each taking `delay`, one at a time.
    pub fn new(inner: S, delay: Duration) -> SlowSigner<S> {
        SlowSigner {
            inner,
            delay,
            busy: std::sync::Mutex::new(()),
        }
    }
}

impl<S: Signer> Signer for SlowSigner<S> {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }
    fn key_id(&self) -> KeyId {
        self.inner.key_id()
    }
    fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        std::thread::sleep(self.delay);
        self.inner.sign(message)
    }
}

/// A signer that fails while it is switched off ([`FailingSigner::set_failing`]), like a
/// smartcard pulled out: for tests of what the journal does when signing fails.
#[derive(Debug)]
pub struct FailingSigner<S> {
    inner: S,
    failing: AtomicBool,
}

impl<S: Signer> FailingSigner<S> {
    /// `inner`'s signatures, working until told to fail.
    pub fn new(inner: S) -> FailingSigner<S> {
        FailingSigner {
            inner,
            failing: AtomicBool::new(false),
        }
    }

    /// Makes every signature fail (`true`) or work again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

impl<S: Signer> Signer for FailingSigner<S> {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }
    fn key_id(&self) -> KeyId {
        self.inner.key_id()
    }
    fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SignError::Unavailable(
                "the test device is switched off".into(),
            ));
        }
        self.inner.sign(message)
    }
}

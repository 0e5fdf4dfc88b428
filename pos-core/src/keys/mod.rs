//! Keys: public keys that check signatures ([`PublicKey`]), the [`Signer`] seam the journal
//! signs through, in-process key pairs ([`KeyPair`], Ed25519 or ECDSA P-256) and their files.
//!
//! Both algorithms make 64-byte signatures, stored as they are in every record:
//!
//! - **Ed25519** (RFC 8032) over the message bytes; public keys of 32 bytes.
//! - **ECDSA P-256 with SHA-256** (ES256, FIPS 186-4): the message is hashed with SHA-256 and
//!   signed with a nonce derived as RFC 6979 says (deterministic: the same key and message
//!   always give the same signature); the signature is `r || s`, each 32 bytes big-endian (the
//!   IEEE P1363 form JWS uses), with `s` as computed (not normalized; a verifier accepts either
//!   half of the order); public keys are 65-byte uncompressed SEC1 points (`04 || x || y`).
//!
//! A record's signature signs the 32 bytes of its hash as the message (so ECDSA's digest is
//! SHA-256 of the record hash). Receipt strings and archive manifests sign longer messages with
//! a domain prefix, so that they can never be mistaken for a record hash.
//!
//! A key's algorithm is in every key description ([`PublicKeyInfo`]), so one journal may change
//! from one algorithm to the other at a key change.

mod pair;
mod public;
mod signer;

pub use pair::{load_public_key, public_key_file_text, public_key_from_hex, KeyPair};
pub use pos_format::key::{Algorithm, KeyId, KeyInfoError, PublicKeyInfo};
pub use public::{decode_key, KeyError, PublicKey, SignatureBytes};
pub use signer::{FailingSigner, SignError, Signer, SlowSigner};

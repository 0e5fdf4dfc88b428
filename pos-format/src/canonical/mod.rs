//! RFC 8785 canonical JSON, restricted to integers, for record bodies.
//!
//! A body is encoded once, at append, and its bytes are what is stored, hashed and signed. A
//! verifier never re-encodes a live struct: it checks that the stored bytes are already in
//! canonical form (parsing them and canonicalizing the parsed *JSON value*, which is independent
//! of any Rust type) and hashes the stored bytes as they are.
//!
//! Numbers must be integers of magnitude at most 2^53 - 1 (see [`crate::money::MAX_JSON_INT`]):
//! every JSON reader handles those exactly, and RFC 8785 then prints them as plain digits.

mod encode;
mod error;
mod order;
mod scan;
#[cfg(test)]
mod tests;

pub use encode::to_canonical;
pub(crate) use encode::{write_integer, write_string};
pub use error::CanonicalError;
pub use scan::{check_canonical, is_surely_canonical, validate_canonical};

//! # pos-format
//!
//! The signed format of the point-of-sale journal, as pure functions and plain data: what a
//! record is and how its hash is computed, every body schema, the canonical JSON the bodies are
//! stored in (with the exact-layout fast path for sales), money and VAT in integers, ticket
//! arithmetic, the technical event codes and barcodes.
//!
//! **Architecture invariant:** this crate knows nothing of storage, signing, threads or I/O. It
//! builds without SQLite, zip, rayon or any signature library, so that a driver, a fuzz target
//! or another implementation can use the format alone. `pos-core` re-exports every module
//! under the same name.
//!
//! - [`money`] and [`ticket`]: cents, quantities, VAT rates; sale and refund computation and
//!   validation.
//! - [`record`]: the record, its kinds and the documented hash preimage; [`key`]: how records
//!   name their signing keys.
//! - [`body`] and [`closure`]: the schema of every record body; [`events`]: the event codes.
//! - [`canonical`] and [`exact_sale`]: the canonical JSON encoding and its checks.
//! - [`barcode`]: EAN-13, EAN-8, UPC-A and variable-measure codes.
#![deny(missing_docs)]

pub mod barcode;
pub mod body;
pub mod canonical;
pub mod closure;
pub mod events;
pub mod exact_sale;
pub mod key;
pub mod money;
pub mod record;
pub mod sample;
pub mod ticket;

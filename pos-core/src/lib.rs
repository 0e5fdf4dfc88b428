//! # pos-core
//!
//! The fiscal core of a point-of-sale system: an append-only, SHA-256 hash-chained journal on
//! SQLite, signed with Ed25519 or ECDSA P-256 keys through the [`keys::Signer`] seam, built for
//! the French ISCA conditions (inalterability, securing, conservation, archiving), with money
//! and VAT rules in integers and a streaming verifier.
//!
//! - [`money`], [`ticket`], [`record`], [`canonical`], [`body`]: the signed format, from the
//!   pure `pos-format` crate (re-exported): cents, quantities, VAT rates; sale and refund
//!   computation; the record, its hash preimage, canonical JSON bodies.
//! - [`keys`]: public keys, the `Signer` seam, in-process key pairs and key files.
//! - [`journal::Journal`]: the single writer of a journal file; appends are durable and
//!   group-committed.
//! - [`closure`]: day, month and fiscal-year closures, grand totals, the X report.
//! - [`reader::JournalReader`] and [`verify`]: reading and verifying, in constant memory.
//!
//! ```
//! use pos_core::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("journal.db");
//! let journal = Journal::create(&path, KeyPair::generate(), sample_opening(), JournalOptions::default())?;
//! let sale = journal.sale(&SaleInput {
//!     operator: "alice".into(),
//!     lines: vec![LineInput {
//!         sku: "BAGUETTE".into(),
//!         label: "Baguette tradition".into(),
//!         quantity: Qty::pieces(2),
//!         unit: Unit::Piece,
//!         unit_price: Cents(130),
//!         vat_rate: VatRate(550),
//!         discount: Cents::ZERO,
//!     }],
//!     ticket_discount: Cents::ZERO,
//!     payments: vec![Payment { method: PaymentMethod::Cash, amount: Cents(500) }],
//! })?;
//! assert_eq!(sale.kind_seq, 1); // ticket number 1
//! journal.close();
//!
//! let mut findings = CollectFindings::default();
//! let summary = verify_journal(&JournalReader::open(&path)?, &VerifyOptions::default(), &mut findings)?;
//! assert!(findings.findings.is_empty());
//! assert_eq!(summary.records, 3); // the opening, the `journal_opened` event and the sale
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use pos_format::{barcode, canonical, events, money, record, ticket};

pub mod anchor;
pub mod archive;
pub mod batch;
pub mod body;
pub mod closure;
pub mod datetime;
pub mod journal;
pub mod keys;
pub mod rates;
pub mod reader;
pub mod receipt;
pub mod render;
pub mod rules;
pub mod store;
pub mod verify;

/// The types most embedders need.
pub mod prelude {
    pub use crate::body::{EventBody, Merchant, OpeningBody, Software};
    pub use crate::journal::{Appended, Draft, Journal, JournalError, JournalOptions};
    pub use crate::keys::{KeyPair, PublicKeyInfo};
    pub use crate::money::{Cents, Qty, VatRate};
    pub use crate::reader::JournalReader;
    pub use crate::record::{Kind, Record};
    pub use crate::sample::sample_opening;
    pub use crate::ticket::{
        LineInput, Payment, PaymentMethod, RefundInput, RefundLineInput, SaleInput, Unit,
    };
    pub use crate::verify::{verify_journal, CollectFindings, Finding, Problem, VerifyOptions};
}

pub use pos_format::sample;

/// Compiles the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

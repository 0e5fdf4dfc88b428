//! Signed archives: one ZIP per closed period (or sequence range), readable without this
//! software, verifiable on a machine that holds nothing else.
//!
//! An archive holds, in this order:
//!
//! - `README.txt`: what the archive is and how to verify it, in French and English;
//! - `records.jsonl`: every record of the range as stored, one JSON object per line, in sequence
//!   order (see [`RecordLine`]);
//! - `references.jsonl`: records from before the range that its verification needs (the
//!   opening, key changes, the last record of each kind, closures and the records of the open
//!   day, originals of refunds and duplicates and their earlier refunds), same form;
//! - `tickets.csv`, `lines.csv`, `payments.csv`, `vat.csv`, `closures.csv`, `events.csv`:
//!   spreadsheet views (UTF-8, comma-separated, amounts as decimal units with a dot);
//! - `manifest.json`: identity, range, hashes, counts, totals, keys, and the SHA-256 of every
//!   other file ([`Manifest`]);
//! - `manifest.sig`: `ed25519 <key id> <signature hex>`, the register key's signature of the
//!   bytes `POS-ARCHIVE-MANIFEST-1` 0x00 followed by `manifest.json`'s exact bytes.
//!
//! The full specification is `docs/ARCHIVE-FORMAT.md`.

mod blocks;
mod csv_views;
mod export;
mod verify;
pub mod zipcheck;

mod format;
mod open;

pub use csv_views::VIEWS;
pub use export::{export_archive, ArchiveSelection};
pub use format::{
    ArchiveError, FileEntry, JournalIdentity, KeyUse, Manifest, NamedOriginal, RecordLine,
    CONTENT_FILES, FORMAT, FORMAT_VERSION, MANIFEST_SIGNATURE_DOMAIN,
};
pub use verify::{find_record, verify_archives, ArchiveInput};

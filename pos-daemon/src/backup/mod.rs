//! Backups: snapshots of every store to a second medium, checked after they are written,
//! kept by a retention rule, and restored on a new machine.
//!
//! A snapshot is a directory on the backup medium (`[backup] dir`) named after the register and
//! the time: the stores copied by SQLite's online backup API while sales go on
//! ([`snapshot`]), a manifest of the files with their SHA-256, and the result of its check
//! ([`check`]: the journal copy verified in full, reaching its anchors). [`retention`] says which
//! to keep; [`restore`] puts one back. [`service`] holds the medium, [`worker`] runs the
//! backups as posd does (after closures, off-site), [`types`] is what they share.

pub mod check;
pub mod offsite;
pub mod restore;
pub mod retention;
pub mod service;
pub mod snapshot;
pub mod types;
pub mod worker;

pub use service::{same_file_system, sources_of, Backups};
pub use types::{BackupError, Check, FileEntry, Manifest, OffsiteState, SnapshotSummary, Sources};
pub use types::{CHECK, MANIFEST, MANIFEST_FORMAT, PARTIAL, STALE_MS};
pub use worker::{
    offsite_state, send_offsite, take_now, BackupParts, OFFSITE_ERROR, OFFSITE_OK_MS, OFFSITE_SENT,
    RETRY,
};

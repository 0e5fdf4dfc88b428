//! What the backups' modules share: the snapshot's files and manifest, a check's result, a
//! snapshot as listed, the errors.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The manifest's file name in a snapshot.
pub const MANIFEST: &str = "manifest.json";
/// The check's file name in a snapshot.
pub const CHECK: &str = "check.json";
/// The manifest's format.
pub const MANIFEST_FORMAT: &str = "posd-snapshot/1";
/// The suffix of a snapshot being written.
pub const PARTIAL: &str = ".partial";

/// What a snapshot holds (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The snapshot's name (its directory's).
    pub name: String,
    /// The register.
    pub register_id: String,
    /// When it was taken (ms since the epoch).
    pub created_ms: i64,
    /// Why: `closure`, `api`, `command`.
    pub reason: String,
    /// The journal copy's last record.
    pub journal_head_seq: u64,
    /// Its hash (hex).
    pub journal_head_hash: String,
    /// The software that took it.
    pub software: String,
    /// The files, with their sizes and SHA-256.
    pub files: Vec<FileEntry>,
}

/// A file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its name in the snapshot's directory.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// A snapshot's check (`check.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// When it was checked.
    pub checked_ms: i64,
    /// Nothing found.
    pub good: bool,
    /// Journal records verified.
    pub records: u64,
    /// What was found.
    pub problems: Vec<String>,
}

/// A snapshot as listed (`GET /v1/backups`, `posd backup`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SnapshotSummary {
    /// Its name (its directory on the backup medium).
    pub name: String,
    /// When it was taken (ms since the epoch).
    pub created_ms: i64,
    /// Why: `closure` (after a day closure), `api` (`POST /v1/backups`), `command`
    /// (`posd backup`).
    pub reason: String,
    /// The last journal record it holds.
    pub journal_head_seq: u64,
    /// Its size, in bytes.
    pub bytes: u64,
    /// `good` (checked: every file as written, the journal verifies and reaches its anchors),
    /// `bad` (see `problems`) or `unchecked`.
    pub state: &'static str,
    /// When it was last checked.
    pub checked_ms: Option<i64>,
    /// What the check found.
    pub problems: Vec<String>,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// No `[backup]` in the configuration.
    #[error("no backup medium is configured ([backup] dir)")]
    NotConfigured,
    /// The medium's directory is not there (not plugged in, not mounted).
    #[error("the backup medium {0} is not there: is it plugged in and mounted? (its directory is made once, when the medium is prepared)")]
    MediumAbsent(PathBuf),
    /// Another backup is being taken.
    #[error("a backup is being taken")]
    InProgress,
    /// A snapshot of that name exists.
    #[error("a snapshot named {0} exists")]
    Exists(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A store could not be copied or read.
    #[error("{path}: {reason}")]
    Store {
        /// The store.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// A manifest or check file is not what it should be.
    #[error("{path}: {reason}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The snapshot taken does not pass its check.
    #[error("snapshot {name} does not pass its check: {}", problems.join("; "))]
    Bad {
        /// The snapshot.
        name: String,
        /// What the check found.
        problems: Vec<String>,
    },
    /// A restore refused.
    #[error("{0}")]
    Restore(String),
    /// The thread taking the snapshot could not be started or ended without an answer.
    #[error("the backup thread: {0}")]
    Thread(String),
}

impl BackupError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> BackupError {
        BackupError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What a snapshot copies, and from where.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The register's id (the snapshot's name starts with it).
    pub register_id: String,
    /// The journal.
    pub journal: PathBuf,
    /// `ops.db`.
    pub ops: PathBuf,
    /// `stock.db`.
    pub stock: PathBuf,
    /// The anchor file (copied when it exists).
    pub anchors: PathBuf,
    /// The signing key (copied when it exists: a restored till signs on with it).
    pub key: PathBuf,
}

/// A snapshot older than this is stale (health warns).
pub const STALE_MS: i64 = 24 * 3600 * 1000;

/// The off-site copies, as `GET /v1/backups` and health show them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OffsiteState {
    /// The restic repository.
    pub repository: String,
    /// The last snapshot sent.
    pub last_sent: Option<String>,
    /// When it was sent.
    pub last_ok_ms: Option<i64>,
    /// Why the last try failed, when it did (tried again every `retry_secs`).
    pub last_error: Option<String>,
    /// Nothing sent, or the last copy is more than a day old.
    pub stale: bool,
}

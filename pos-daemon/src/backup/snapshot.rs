//! Taking a snapshot: every store copied through SQLite's online backup API while sales go
//! on, into a directory of its own on the backup medium, with a manifest of what it holds.
//!
//! The copies are made in an order that keeps them consistent with each other: the anchor
//! file first, then the stock ledger and `ops.db` (whose projection cursors then never pass
//! the journal's head), then the journal. A restored `ops.db` or `stock.db` behind the journal
//! catches up from it, as after a crash. The snapshot is written under a `.partial` name and
//! renamed once complete and flushed: a snapshot cut short (posd killed, the medium pulled) is
//! never taken for a whole one.

use super::types::{BackupError, FileEntry, Manifest, Sources, MANIFEST, MANIFEST_FORMAT, PARTIAL};
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The register's id as snapshot names start with it (characters other than letters, digits,
/// `-` and `_` replaced by `-`).
pub fn register_prefix(register_id: &str) -> String {
    register_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The snapshot's directory name: the register, then the time (UTC, to the millisecond) it was
/// taken: `TILL-1_20261207T213000123Z`.
pub fn name_for(register_id: &str, created_ms: i64) -> String {
    let when = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(created_ms)
        .map(|t| t.format("%Y%m%dT%H%M%S%3fZ").to_string())
        .unwrap_or_else(|| created_ms.to_string());
    format!("{}_{when}", register_prefix(register_id))
}

/// Whether `name` is a snapshot name of `register_id` (one being written included when
/// `partial`).
pub fn is_name_of(name: &str, register_id: &str, partial: bool) -> bool {
    let name = match (partial, name.strip_suffix(PARTIAL)) {
        (true, Some(n)) => n,
        (false, None) => name,
        _ => return false,
    };
    let Some(when) = name
        .strip_prefix(&register_prefix(register_id))
        .and_then(|rest| rest.strip_prefix('_'))
    else {
        return false;
    };
    let b = when.as_bytes();
    b.len() == 19
        && b[8] == b'T'
        && b[18] == b'Z'
        && b[..8].iter().chain(&b[9..18]).all(u8::is_ascii_digit)
}

/// Takes a snapshot of `sources` into a new directory under `target`; returns its directory
/// and manifest. Nothing is listed as a snapshot until every file is written and flushed.
pub fn take(
    sources: &Sources,
    target: &Path,
    created_ms: i64,
    reason: &str,
) -> Result<(PathBuf, Manifest), BackupError> {
    // Never created here: a medium not mounted (a USB stick left out) would otherwise be
    // replaced by a directory on the till's own disk, where its mount point is.
    if !target.is_dir() {
        return Err(BackupError::MediumAbsent(target.to_path_buf()));
    }
    let name = name_for(&sources.register_id, created_ms);
    let partial = target.join(format!("{name}{PARTIAL}"));
    let done = target.join(&name);
    if done.exists() {
        return Err(BackupError::Exists(name));
    }
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| BackupError::io(&partial, e))?;
    }
    std::fs::create_dir(&partial).map_err(|e| BackupError::io(&partial, e))?;

    let mut files = Vec::new();
    // Anchors before the journal: every anchor copied is then reached by the journal copied.
    if sources.anchors.is_file() {
        files.push(copy_file(
            &sources.anchors,
            &partial,
            "anchors.jsonl",
            false,
        )?);
    }
    files.push(copy_store(&sources.stock, &partial, "stock.db")?);
    files.push(copy_store(&sources.ops, &partial, "ops.db")?);
    files.push(copy_store(&sources.journal, &partial, "journal.db")?);
    if sources.key.is_file() {
        files.push(copy_file(&sources.key, &partial, "signing.key", true)?);
    }
    let (head_seq, head_hash) = journal_head(&partial.join("journal.db"))?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        name: name.clone(),
        register_id: sources.register_id.clone(),
        created_ms,
        reason: reason.to_string(),
        journal_head_seq: head_seq,
        journal_head_hash: head_hash,
        software: format!("posd {}", env!("CARGO_PKG_VERSION")),
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Manifest {
        path: partial.join(MANIFEST),
        reason: e.to_string(),
    })?;
    write_synced(&partial.join(MANIFEST), &text)?;
    sync_dir(&partial)?;
    std::fs::rename(&partial, &done).map_err(|e| BackupError::io(&done, e))?;
    sync_dir(target)?;
    Ok((done, manifest))
}

/// Copies a SQLite store with the online backup API, in one step: one read transaction on
/// the source, which in WAL mode never blocks its writers. The copy is left in rollback mode
/// (no `-wal` file beside it), flushed, and hashed.
fn copy_store(source: &Path, dir: &Path, name: &str) -> Result<FileEntry, BackupError> {
    let to = dir.join(name);
    let sqlite = |e: rusqlite::Error| BackupError::Store {
        path: source.to_path_buf(),
        reason: e.to_string(),
    };
    // Never creates a store that is missing; opened for writing only so that SQLite may
    // create the WAL's index when posd is stopped (the copy itself only reads).
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    src.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sqlite)?;
    let mut dst = Connection::open(&to).map_err(|e| BackupError::Store {
        path: to.clone(),
        reason: e.to_string(),
    })?;
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut dst).map_err(sqlite)?;
        // -1: every page in one step, so the copy is of one moment (a stepwise copy would
        // start again at every commit of the till).
        match backup.step(-1).map_err(sqlite)? {
            rusqlite::backup::StepResult::Done => {}
            other => {
                return Err(BackupError::Store {
                    path: source.to_path_buf(),
                    reason: format!("the copy did not complete ({other:?})"),
                })
            }
        }
    }
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(|e| BackupError::Store {
            path: to.clone(),
            reason: e.to_string(),
        })?;
    drop(dst);
    drop(src);
    let f = std::fs::File::open(&to).map_err(|e| BackupError::io(&to, e))?;
    f.sync_all().map_err(|e| BackupError::io(&to, e))?;
    entry(&to, name)
}

/// Copies a plain file (the anchors, the key: `private` keeps it readable by its owner only).
fn copy_file(
    source: &Path,
    dir: &Path,
    name: &str,
    private: bool,
) -> Result<FileEntry, BackupError> {
    let bytes = std::fs::read(source).map_err(|e| BackupError::io(source, e))?;
    let to = dir.join(name);
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&to)
            .map_err(|e| BackupError::io(&to, e))?;
        std::io::Write::write_all(&mut f, &bytes).map_err(|e| BackupError::io(&to, e))?;
        f.sync_all().map_err(|e| BackupError::io(&to, e))?;
    } else {
        write_synced(&to, &bytes)?;
    }
    entry(&to, name)
}

/// A file's size and SHA-256.
pub(super) fn entry(path: &Path, name: &str) -> Result<FileEntry, BackupError> {
    let (bytes, sha256) = digest(path)?;
    Ok(FileEntry {
        name: name.to_string(),
        bytes,
        sha256,
    })
}

/// A file's size and SHA-256 (hex), read in blocks.
pub(super) fn digest(path: &Path) -> Result<(u64, String), BackupError> {
    let mut f = std::fs::File::open(path).map_err(|e| BackupError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| BackupError::io(path, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// The journal copy's head: its last record's seq and hash.
pub(super) fn journal_head(journal: &Path) -> Result<(u64, String), BackupError> {
    let unreadable = |reason: String| BackupError::Store {
        path: journal.to_path_buf(),
        reason,
    };
    let reader =
        pos_core::reader::JournalReader::open(journal).map_err(|e| unreadable(e.to_string()))?;
    let seq = reader.last_seq().map_err(|e| unreadable(e.to_string()))?;
    let record = reader
        .record(seq)
        .map_err(|e| unreadable(e.to_string()))?
        .and_then(Result::ok)
        .ok_or_else(|| unreadable(format!("its head, record {seq}, cannot be read")))?;
    Ok((seq, hex::encode(record.hash)))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut f = std::fs::File::create(path).map_err(|e| BackupError::io(path, e))?;
    std::io::Write::write_all(&mut f, bytes).map_err(|e| BackupError::io(path, e))?;
    f.sync_all().map_err(|e| BackupError::io(path, e))
}

/// Flushes a directory's entries (a rename or a new file survives a power cut).
pub(super) fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BackupError::io(dir, e))
}

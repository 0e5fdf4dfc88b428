//! Restoring a snapshot into a data directory: the copy checked first (its files, its journal
//! verified, its anchors), then compared with anchors kept elsewhere (a snapshot older than
//! the last anchor means the newest records are lost: which ones is said, and the restore
//! goes on only when told to), then the stores put in place. The journal goes on from the
//! snapshot's head: the next `posd serve` journals a `restored` event naming the snapshot
//! before anything else (the marker file [`MARKER`] carries what it says).
//!
//! A restore never writes into a data directory that holds a journal unless told to (the files
//! found are then moved aside, never merged), and never merges two journals.

use super::check::{check, manifest};
use super::snapshot::{digest, sync_dir};
use super::types::BackupError;
use pos_core::anchor::Anchor;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The marker a restore leaves in the data directory, read (and removed) when the journal is
/// next started.
pub const MARKER: &str = "restored.json";

/// The files of a data directory a restore puts in place (and moves aside when told to
/// replace them).
const STORES: [&str; 5] = [
    "journal.db",
    "ops.db",
    "stock.db",
    "anchors.jsonl",
    "signing.key",
];

/// What to restore, where.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The snapshot's directory.
    pub snapshot: PathBuf,
    /// The data directory to restore into.
    pub data_dir: PathBuf,
    /// Anchors kept elsewhere than the snapshot (the anchor file on its own medium, the QR
    /// codes of the last Z reports), which the journal reached.
    pub anchors: Vec<Anchor>,
    /// Replace the stores of a data directory that holds a journal (moved aside first).
    pub replace: bool,
    /// Go on although the anchors show records written after the snapshot (they are lost).
    pub accept_loss: bool,
}

/// What a restore did (also the marker's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    /// The snapshot's name.
    pub snapshot: String,
    /// When the snapshot was taken.
    pub snapshot_created_ms: i64,
    /// Its journal's last record: the journal goes on after it.
    pub head_seq: u64,
    /// That record's hash.
    pub head_hash: String,
    /// Records the anchors show were written after the snapshot, and are lost: from, to
    /// (at least: records after the last anchor are not known).
    pub lost: Option<(u64, u64)>,
    /// Where the stores the data directory held were moved, when told to replace them.
    pub replaced: Option<PathBuf>,
    /// When it was restored.
    pub restored_ms: i64,
}

/// Restores the snapshot of `req` (blocking).
pub fn restore(req: &RestoreRequest, now_ms: i64) -> Result<Restored, BackupError> {
    let refuse = |m: String| Err(BackupError::Restore(m));
    let m = manifest(&req.snapshot)?;
    let result = check(&req.snapshot, &[], now_ms);
    if !result.good {
        return refuse(format!(
            "snapshot {} does not pass its check, nothing was restored: {}",
            m.name,
            result.problems.join("; ")
        ));
    }
    // Anchors kept elsewhere: those the snapshot reaches must be its own records; those past
    // its head are records it does not hold.
    let mut last_anchor: Option<u64> = None;
    let journal = pos_core::reader::JournalReader::open(&req.snapshot.join("journal.db"))
        .map_err(|e| BackupError::Restore(format!("journal.db: {e}")))?;
    for a in req
        .anchors
        .iter()
        .filter(|a| a.register_id == m.register_id)
    {
        if a.seq > m.journal_head_seq {
            last_anchor = Some(last_anchor.map_or(a.seq, |l| l.max(a.seq)));
            continue;
        }
        let held = journal
            .record(a.seq)
            .ok()
            .flatten()
            .and_then(Result::ok)
            .map(|r| hex::encode(r.hash));
        if held.as_deref() != Some(a.hash.as_str()) {
            return refuse(format!(
                "an anchor names record {} with hash {}, the snapshot holds another record there: it is not this register's journal, or not its chain; nothing was restored",
                a.seq, a.hash
            ));
        }
    }
    drop(journal);
    let lost = last_anchor.map(|to| (m.journal_head_seq + 1, to));
    if let (Some((from, to)), false) = (lost, req.accept_loss) {
        return refuse(format!(
            "snapshot {} ends at record {}, but an anchor shows the journal reached record {to}: records {from} to {to} (at least) were written after it and are lost. Restore from a newer snapshot, or restore this one with --accept-loss (the loss is journaled with the restore); nothing was restored",
            m.name, m.journal_head_seq
        ));
    }

    let replaced = prepare(&req.data_dir, req.replace, now_ms)?;
    for f in &m.files {
        if !STORES.contains(&f.name.as_str()) {
            continue;
        }
        let from = req.snapshot.join(&f.name);
        let to = req.data_dir.join(&f.name);
        std::fs::copy(&from, &to).map_err(|e| BackupError::io(&to, e))?;
        if f.name == "signing.key" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| BackupError::io(&to, e))?;
        }
        std::fs::File::open(&to)
            .and_then(|x| x.sync_all())
            .map_err(|e| BackupError::io(&to, e))?;
        // What was put in place is what was checked.
        let (bytes, sha) = digest(&to)?;
        if bytes != f.bytes || sha != f.sha256 {
            return refuse(format!(
                "{} was not copied whole into {}",
                f.name,
                req.data_dir.display()
            ));
        }
    }
    let restored = Restored {
        snapshot: m.name.clone(),
        snapshot_created_ms: m.created_ms,
        head_seq: m.journal_head_seq,
        head_hash: m.journal_head_hash.clone(),
        lost,
        replaced,
        restored_ms: now_ms,
    };
    let marker = req.data_dir.join(MARKER);
    let text = serde_json::to_vec_pretty(&restored).map_err(|e| BackupError::Manifest {
        path: marker.clone(),
        reason: e.to_string(),
    })?;
    std::fs::write(&marker, text).map_err(|e| BackupError::io(&marker, e))?;
    sync_dir(&req.data_dir)?;
    Ok(restored)
}

/// Makes the data directory ready: created when missing; when it holds a journal, refused, or
/// with `replace` its stores moved into `replaced-<time>/` (returned).
fn prepare(data_dir: &Path, replace: bool, now_ms: i64) -> Result<Option<PathBuf>, BackupError> {
    std::fs::create_dir_all(data_dir).map_err(|e| BackupError::io(data_dir, e))?;
    let present: Vec<&str> = STORES
        .iter()
        .copied()
        .chain([MARKER])
        .filter(|f| data_dir.join(f).exists())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    if !replace {
        return Err(BackupError::Restore(format!(
            "{} holds {}: a restore never writes over a data directory's stores unless told to (--replace moves them aside first); nothing was restored",
            data_dir.display(),
            present.join(", ")
        )));
    }
    let aside = data_dir.join(format!(
        "replaced-{}",
        super::snapshot::name_for("stores", now_ms)
    ));
    std::fs::create_dir(&aside).map_err(|e| BackupError::io(&aside, e))?;
    for f in present {
        // A WAL and its index go with their store.
        for suffix in ["", "-wal", "-shm"] {
            let from = data_dir.join(format!("{f}{suffix}"));
            if from.exists() {
                let to = aside.join(format!("{f}{suffix}"));
                std::fs::rename(&from, &to).map_err(|e| BackupError::io(&from, e))?;
            }
        }
    }
    sync_dir(data_dir)?;
    Ok(Some(aside))
}

/// Journals the restore a marker in `data_dir` records (the first record after the snapshot's
/// head), then removes the marker. Nothing to do without a marker.
pub fn journal_restored(
    journal: &pos_core::journal::Journal,
    data_dir: &Path,
) -> Result<(), BackupError> {
    let marker = data_dir.join(MARKER);
    let Ok(text) = std::fs::read(&marker) else {
        return Ok(());
    };
    let r: Restored = serde_json::from_slice(&text).map_err(|e| BackupError::Manifest {
        path: marker.clone(),
        reason: e.to_string(),
    })?;
    let mut details = std::collections::BTreeMap::new();
    details.insert("snapshot".to_string(), r.snapshot.clone());
    details.insert("head_seq".to_string(), r.head_seq.to_string());
    details.insert("head_hash".to_string(), r.head_hash.clone());
    if let Some((from, to)) = r.lost {
        details.insert("lost_from_seq".to_string(), from.to_string());
        details.insert("lost_to_seq".to_string(), to.to_string());
    }
    let message = match r.lost {
        None => format!("restored from snapshot {}", r.snapshot),
        Some((from, to)) => format!(
            "restored from snapshot {}; records {from} to {to} (at least), written after it, are lost",
            r.snapshot
        ),
    };
    let body = pos_core::body::EventBody {
        code: pos_core::events::RESTORED.to_string(),
        message,
        operator: None,
        details,
    };
    journal
        .append(pos_core::journal::Draft::Event(body))
        .map_err(|e| BackupError::Restore(format!("cannot journal the restore: {e}")))?;
    std::fs::remove_file(&marker).map_err(|e| BackupError::io(&marker, e))
}

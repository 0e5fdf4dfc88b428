//! The backup service: one snapshot at a time on the configured medium, checked, listed,
//! pruned by the retention rule.

use super::types::{BackupError, Check, Manifest, SnapshotSummary, Sources};
use super::{check, retention, snapshot};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What a snapshot of the till configured by `config` copies.
pub fn sources_of(config: &crate::config::Config, register_id: &str) -> Sources {
    Sources {
        register_id: register_id.to_string(),
        journal: config.journal_path(),
        ops: config.ops_path(),
        stock: config.stock_path(),
        anchors: config.anchor_path(),
        key: config.key_path(),
    }
}

/// The backup service: one snapshot at a time, to the configured medium.
#[derive(Debug)]
pub struct Backups {
    /// The configuration (`None`: not configured).
    pub config: Option<crate::config::BackupConfig>,
    /// The register's time zone (the days and months of retention).
    pub time_zone: String,
    /// Held while a snapshot is taken: a second one at the same time is refused, not queued.
    running: Mutex<()>,
    /// Woken when a snapshot is due (a day closure: [`crate::project::BackupProjection`]).
    pub due: Arc<tokio::sync::Notify>,
    /// Held while a copy is sent off-site (one at a time).
    pub(super) offsite_lock: tokio::sync::Mutex<()>,
    /// When the newest good snapshot was taken: `None` until the medium was read (health
    /// asks every few seconds; the medium is read once, then kept up to date by each take).
    last_good: Mutex<Option<Option<i64>>>,
}

impl Backups {
    /// The service for `config`.
    pub fn new(config: Option<crate::config::BackupConfig>, time_zone: &str) -> Backups {
        Backups {
            config,
            time_zone: time_zone.to_string(),
            running: Mutex::new(()),
            due: Arc::new(tokio::sync::Notify::new()),
            offsite_lock: tokio::sync::Mutex::new(()),
            last_good: Mutex::new(None),
        }
    }

    /// The backup medium's directory.
    pub fn dir(&self) -> Result<&Path, BackupError> {
        self.config
            .as_ref()
            .map(|c| c.dir.as_path())
            .ok_or(BackupError::NotConfigured)
    }

    /// Takes a snapshot of `sources`, checks it, applies the retention rule; returns the
    /// snapshot as listed (blocking: disk work). A snapshot that fails its check is kept and
    /// listed as bad, and the answer is [`BackupError::Bad`].
    pub fn take(
        &self,
        sources: &Sources,
        now_ms: i64,
        reason: &str,
    ) -> Result<SnapshotSummary, BackupError> {
        let dir = self.dir()?.to_path_buf();
        let _held = match self.running.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::WouldBlock) => return Err(BackupError::InProgress),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        };
        // Across processes too (`posd backup` while posd runs): one writer on the medium, or
        // each would remove the other's snapshot in progress.
        let _medium = lock_medium(&dir)?;
        remove_partials(&dir, &sources.register_id);
        if sources
            .journal
            .parent()
            .is_some_and(|data| same_file_system(&dir, data))
        {
            tracing::warn!(medium = %dir.display(), "the backup medium is on the data directory's disk: it does not survive it, and its writes slow the sales; put it on another medium");
        }
        let (path, manifest) = snapshot::take(sources, &dir, now_ms, reason)?;
        let result = check::check(&path, &[], now_ms);
        check::record(&path, &result)?;
        let summary = summarize(&manifest, Some(&result));
        if !result.good {
            return Err(BackupError::Bad {
                name: manifest.name,
                problems: result.problems,
            });
        }
        self.prune(&dir, &sources.register_id);
        if let Ok(mut g) = self.last_good.lock() {
            *g = Some(Some(summary.created_ms));
        }
        Ok(summary)
    }

    /// When the newest good snapshot of `register_id` was taken, if any (`None` too when no
    /// medium is configured).
    pub fn last_good_ms(&self, register_id: &str) -> Option<i64> {
        let Ok(dir) = self.dir() else { return None };
        let mut g = match self.last_good.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g.get_or_insert_with(|| {
            list_in(dir, register_id)
                .iter()
                .filter(|s| s.state == "good")
                .map(|s| s.created_ms)
                .max()
        })
    }

    /// Every snapshot of `register_id` on the medium, newest first, with its last check.
    pub fn list(&self, register_id: &str) -> Result<Vec<SnapshotSummary>, BackupError> {
        let dir = self.dir()?;
        Ok(list_in(dir, register_id))
    }

    /// Checks every snapshot of `register_id` again (a medium read back: a byte flipped since
    /// shows), records the results, and lists them.
    pub fn check_all(
        &self,
        register_id: &str,
        now_ms: i64,
    ) -> Result<Vec<SnapshotSummary>, BackupError> {
        let dir = self.dir()?;
        for s in list_in(dir, register_id) {
            let path = dir.join(&s.name);
            let result = check::check(&path, &[], now_ms);
            check::record(&path, &result)?;
        }
        Ok(list_in(dir, register_id))
    }

    /// Deletes the snapshots the retention rule lets go.
    fn prune(&self, dir: &Path, register_id: &str) {
        let Some(c) = &self.config else { return };
        let zone: chrono_tz::Tz = self.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let candidates: Vec<retention::Candidate> = list_in(dir, register_id)
            .into_iter()
            .map(|s| retention::Candidate {
                date: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(s.created_ms)
                    .map(|t| t.with_timezone(&zone).date_naive().to_string())
                    .unwrap_or_default(),
                created_ms: s.created_ms,
                good: match s.state {
                    "good" => Some(true),
                    "bad" => Some(false),
                    _ => None,
                },
                name: s.name,
            })
            .collect();
        for name in retention::to_delete(&candidates, c.keep_daily, c.keep_monthly) {
            let path = dir.join(&name);
            match std::fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(snapshot = %name, "snapshot deleted (retention)"),
                Err(e) => {
                    tracing::warn!(snapshot = %name, error = %e, "cannot delete a snapshot")
                }
            }
        }
    }
}

/// The summary of a snapshot from its manifest and check.
fn summarize(m: &Manifest, check: Option<&Check>) -> SnapshotSummary {
    SnapshotSummary {
        name: m.name.clone(),
        created_ms: m.created_ms,
        reason: m.reason.clone(),
        journal_head_seq: m.journal_head_seq,
        bytes: m.files.iter().map(|f| f.bytes).sum(),
        state: match check {
            Some(c) if c.good => "good",
            Some(_) => "bad",
            None => "unchecked",
        },
        checked_ms: check.map(|c| c.checked_ms),
        problems: check.map(|c| c.problems.clone()).unwrap_or_default(),
    }
}

/// The snapshots of `register_id` in `dir`, newest first. A directory whose manifest cannot
/// be read is listed as bad, with why.
fn list_in(dir: &Path, register_id: &str) -> Vec<SnapshotSummary> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<SnapshotSummary> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|name| snapshot::is_name_of(name, register_id, false))
        .map(|name| {
            let path = dir.join(&name);
            match check::manifest(&path) {
                Ok(m) => summarize(&m, check::recorded(&path).as_ref()),
                Err(e) => SnapshotSummary {
                    name,
                    created_ms: 0,
                    reason: String::new(),
                    journal_head_seq: 0,
                    bytes: 0,
                    state: "bad",
                    checked_ms: None,
                    problems: vec![e.to_string()],
                },
            }
        })
        .collect();
    out.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.name.cmp(&a.name)));
    out
}

/// Removes the snapshots of `register_id` left half-written (a backup cut short).
fn remove_partials(dir: &Path, register_id: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if snapshot::is_name_of(&name, register_id, true) {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => tracing::info!(snapshot = %name, "a snapshot cut short removed"),
                Err(e) => {
                    tracing::warn!(snapshot = %name, error = %e, "cannot remove a snapshot cut short")
                }
            }
        }
    }
}

/// Whether `a` and `b` are on one file system (the nearest existing ancestor of each is
/// looked at: a medium not created yet is where it will be).
pub fn same_file_system(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let device = |p: &Path| {
        p.ancestors()
            .find_map(|a| std::fs::metadata(a).ok())
            .map(|m| m.dev())
    };
    matches!((device(a), device(b)), (Some(x), Some(y)) if x == y)
}

/// The medium's lock file, held (an exclusive `flock`) while a snapshot is written; another
/// process holding it is [`BackupError::InProgress`].
fn lock_medium(dir: &Path) -> Result<std::fs::File, BackupError> {
    if !dir.is_dir() {
        return Err(BackupError::MediumAbsent(dir.to_path_buf()));
    }
    let path = dir.join(".posd-backup.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| BackupError::io(&path, e))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(BackupError::InProgress),
        Err(e) => Err(BackupError::io(&path, e.into())),
    }
}

//! Backups: snapshots of every store to a second medium, checked after they are written,
//! kept by a retention rule, and restored on a new machine.
//!
//! A snapshot is a directory on the backup medium (`[backup] dir`) named after the register and
//! the time: the stores copied by SQLite's online backup API while sales go on
//! ([`snapshot`]), a manifest of the files with their SHA-256, and the result of its check
//! ([`check`]: the journal copy verified in full, reaching its anchors). [`retention`] says which
//! to keep; [`restore`] puts one back.

pub mod check;
pub mod offsite;
pub mod restore;
pub mod retention;
pub mod snapshot;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use snapshot::Sources;

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
}

impl BackupError {
    fn io(path: &Path, source: std::io::Error) -> BackupError {
        BackupError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

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
    offsite_lock: tokio::sync::Mutex<()>,
    /// When the newest good snapshot was taken: `None` until the medium was read (health
    /// asks every few seconds; the medium is read once, then kept up to date by each take).
    last_good: Mutex<Option<Option<i64>>>,
}

/// A snapshot older than this is stale (health warns).
pub const STALE_MS: i64 = 24 * 3600 * 1000;

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

/// How often the worker looks for a snapshot still due (one the medium refused: a USB stick
/// not plugged in) when nothing wakes it.
pub const RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// The `ops.db` meta key of the last snapshot sent off-site (its name).
pub const OFFSITE_SENT: &str = "offsite_last_sent";
/// The `ops.db` meta key of when it was sent (ms).
pub const OFFSITE_OK_MS: &str = "offsite_last_ok_ms";
/// The `ops.db` meta key of the last off-site failure (empty after a success).
pub const OFFSITE_ERROR: &str = "offsite_last_error";

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

/// The off-site copies' state, when configured.
pub fn offsite_state(app: &crate::app::App) -> Option<OffsiteState> {
    let cfg = app.backups.config.as_ref()?.offsite.as_ref()?;
    let meta = |k| {
        app.ops
            .meta(k)
            .ok()
            .flatten()
            .filter(|v: &String| !v.is_empty())
    };
    let last_ok_ms = meta(OFFSITE_OK_MS).and_then(|v| v.parse().ok());
    let now = app.till.clock.now_ms();
    Some(OffsiteState {
        repository: cfg.repository.clone(),
        last_sent: meta(OFFSITE_SENT),
        last_ok_ms,
        last_error: meta(OFFSITE_ERROR),
        stale: last_ok_ms.is_none_or(|t: i64| now.saturating_sub(t) > STALE_MS),
    })
}

/// Sends the newest good snapshot off-site when it is not there yet; returns its name when
/// one was sent. One send at a time.
pub async fn send_offsite(app: &Arc<crate::app::App>) -> Result<Option<String>, String> {
    let Some(cfg) = app.backups.config.as_ref().and_then(|c| c.offsite.clone()) else {
        return Ok(None);
    };
    let _one = app.backups.offsite_lock.lock().await;
    let app2 = app.clone();
    let sent = tokio::task::spawn_blocking(move || {
        let register = app2.till.opening.register_id.clone();
        let list = app2.backups.list(&register).map_err(|e| e.to_string())?;
        let Some(newest) = list.into_iter().find(|s| s.state == "good") else {
            return Ok(None);
        };
        let already = app2.ops.meta(OFFSITE_SENT).ok().flatten();
        if already.as_deref() == Some(newest.name.as_str()) {
            return Ok(None);
        }
        let (dir, c) = match (app2.backups.dir(), &app2.backups.config) {
            (Ok(d), Some(c)) => (d.join(&newest.name), c),
            _ => return Ok(None),
        };
        let result = offsite::Offsite::new(&cfg).send(
            &dir,
            &newest.name,
            &register,
            c.keep_daily,
            c.keep_monthly,
        );
        let now = app2.till.clock.now_ms();
        let set = |k, v: &str| {
            if let Err(e) = app2.ops.set_meta(k, v) {
                tracing::error!(error = %e, "cannot record the off-site copy's state");
            }
        };
        match result {
            Ok(id) => {
                set(OFFSITE_SENT, &newest.name);
                set(OFFSITE_OK_MS, &now.to_string());
                set(OFFSITE_ERROR, "");
                tracing::info!(snapshot = %newest.name, restic_id = %id, "snapshot copied off-site");
                Ok(Some(newest.name))
            }
            Err(e) => {
                set(OFFSITE_ERROR, &e.to_string());
                Err(e.to_string())
            }
        }
    })
    .await
    .map_err(|e| format!("the off-site worker failed: {e}"))?;
    if let Err(e) = &sent {
        tracing::warn!(error = %e, "off-site copy failed; tried again later");
    }
    sent
}

/// Takes the snapshots due after day closures, and sends the newest good one off-site, until
/// `stop` turns true: one at a time, off the async threads; the due mark is cleared once a
/// good snapshot holds the closure.
pub async fn worker(app: Arc<crate::app::App>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(config) = app.backups.config.clone() else {
        return;
    };
    let retry = config.offsite.as_ref().map_or(RETRY, |o| {
        std::time::Duration::from_secs(o.retry_secs.max(1))
    });
    loop {
        let due = app
            .ops
            .meta(crate::project::backup::DUE)
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(seq) = due {
            match take_now(&app, "closure").await {
                Ok(s) if s.journal_head_seq >= seq => {
                    // Cleared only if no later closure made another one due meanwhile.
                    let still = app.ops.meta(crate::project::backup::DUE).ok().flatten();
                    if still.as_deref() == Some(seq.to_string().as_str()) {
                        if let Err(e) = app.ops.set_meta(crate::project::backup::DUE, "") {
                            tracing::error!(error = %e, "cannot clear the backup due mark");
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "the snapshot after the closure failed; tried again later")
                }
            }
        }
        // Logged by send_offsite; tried again at the next round.
        let _ = send_offsite(&app).await;
        tokio::select! {
            _ = app.backups.due.notified() => {}
            _ = tokio::time::sleep(retry) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Takes a snapshot now (off the async threads) and journals it (`backup_written`).
pub async fn take_now(
    app: &Arc<crate::app::App>,
    reason: &'static str,
) -> Result<SnapshotSummary, BackupError> {
    let app2 = app.clone();
    // A thread of its own at the lowest priority (not one of tokio's blocking threads, which
    // serve the sales' appends and would keep it): sales come first.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("backup".into())
        .spawn(move || {
            lower_priority();
            let now = app2.till.clock.now_ms();
            let _ = tx.send(app2.backups.take(&app2.backup_sources(), now, reason));
        })
        .map_err(|e| BackupError::io(Path::new("backup thread"), e))?;
    let result = rx
        .await
        .map_err(|e| BackupError::Restore(format!("the backup thread failed: {e}")))?;
    match &result {
        Ok(s) => {
            tracing::info!(snapshot = %s.name, head = s.journal_head_seq, bytes = s.bytes, "snapshot written and checked");
            // The worker sends it off-site.
            app.backups.due.notify_one();
            app.till
                .journal_event_details(
                    pos_core::events::BACKUP_WRITTEN,
                    &format!("snapshot {} written and checked", s.name),
                    [
                        ("snapshot", s.name.clone()),
                        ("head_seq", s.journal_head_seq.to_string()),
                        ("check", s.state.to_string()),
                    ],
                )
                .await;
        }
        Err(BackupError::Bad { name, problems }) => {
            app.till
                .journal_event_details(
                    pos_core::events::BACKUP_WRITTEN,
                    &format!("snapshot {name} written, but it does not pass its check"),
                    [
                        ("snapshot", name.clone()),
                        ("check", "bad".to_string()),
                        ("problems", problems.join("; ")),
                    ],
                )
                .await;
        }
        Err(_) => {}
    }
    result
}

/// Lowers the calling thread's priority to the least (nice 19); the threads it starts (the
/// check's verification) inherit it. A failure leaves it as it was.
fn lower_priority() {
    // On Linux a nice value is a thread's: setting it on the thread's id leaves the others.
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!(error = %e, "the backup runs at normal priority");
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

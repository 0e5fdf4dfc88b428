//! The backups as posd runs them: the worker that takes the snapshots the day closures make
//! due and sends the newest good one off-site, a snapshot taken now (journaled), and the
//! off-site copies' state. It works on the parts of the till it needs ([`BackupParts`]), not on
//! the whole daemon.

use super::offsite;
use super::service::Backups;
use super::types::{BackupError, OffsiteState, SnapshotSummary, Sources, STALE_MS};
use crate::ops::Ops;
use crate::till::Till;
use std::sync::Arc;

/// What the backups need of the till.
#[derive(Clone)]
pub struct BackupParts {
    /// The backup service.
    pub backups: Arc<Backups>,
    /// The journal (events), the clock, the register.
    pub till: Arc<Till>,
    /// Where the due mark and the off-site state are kept.
    pub ops: Arc<Ops>,
    /// What a snapshot copies.
    pub sources: Sources,
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

/// The off-site copies' state, when configured.
pub fn offsite_state(backups: &Backups, ops: &Ops, now: i64) -> Option<OffsiteState> {
    let cfg = backups.config.as_ref()?.offsite.as_ref()?;
    let meta = |k| {
        ops.meta(k)
            .ok()
            .flatten()
            .filter(|v: &String| !v.is_empty())
    };
    let last_ok_ms = meta(OFFSITE_OK_MS).and_then(|v| v.parse().ok());
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
pub async fn send_offsite(app: &BackupParts) -> Result<Option<String>, String> {
    let Some(cfg) = app.backups.config.as_ref().and_then(|c| c.offsite.clone()) else {
        return Ok(None);
    };
    let _one = app.backups.offsite_lock.lock().await;
    let app2 = app.clone();
    let sent = tokio::task::spawn_blocking(move || {
        let register = app2.sources.register_id.clone();
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
pub async fn worker(app: BackupParts, mut stop: tokio::sync::watch::Receiver<bool>) {
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
    app: &BackupParts,
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
            let _ = tx.send(app2.backups.take(&app2.sources, now, reason));
        })
        .map_err(|e| BackupError::Thread(e.to_string()))?;
    let result = rx.await.map_err(|e| BackupError::Thread(e.to_string()))?;
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

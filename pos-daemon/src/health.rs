//! The daemon's health (`GET /v1/health`), and its changes pushed on the event stream: a
//! front-end learns that sales will be refused (a failing journal, a clock too far ahead) or
//! that the disk is filling up without polling.

use crate::app::App;
use crate::print::PrinterState;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often the watcher looks at the health, in `posd serve`.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// A clock behind the journal by less than this is not reported (a clock stepped back a little).
pub const CLOCK_BEHIND_SLACK_MS: i64 = 60_000;

/// The daemon's health (`GET /v1/health`, the `health` event).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`: sales go through; `journal_unavailable` (the journal could not be opened),
    /// `journal_failing` (its last commit was refused: a full disk, a file moved) or
    /// `clock_ahead` (every record is refused until the clock is corrected or confirmed).
    pub status: &'static str,
    /// The journal.
    pub journal: JournalHealth,
    /// How far the clock is behind the journal's last record, when more than a minute: sales
    /// go through, dated at that record's time, and no day closes until the clock catches up.
    pub clock_behind_ms: Option<i64>,
    /// The clock too far ahead of the journal, when it is.
    pub clock_ahead: Option<ClockAhead>,
    /// The register's id.
    pub register_id: String,
    /// The daemon's name and version.
    #[schema(value_type = SoftwareVersion)]
    pub software: pos_core::body::Software,
    /// Training mode.
    pub training: bool,
    /// The receipt printer.
    pub printer: PrinterState,
    /// The data directory's disk.
    pub disk: DiskHealth,
    /// The backups, when a backup medium is configured.
    pub backup: Option<BackupHealth>,
}

/// The backups.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackupHealth {
    /// When the newest good snapshot was taken.
    pub last_good_ms: Option<i64>,
    /// No good snapshot, or the newest is more than a day old.
    pub stale: bool,
    /// The off-site copies, when configured: nothing sent, or the last copy more than a day
    /// old.
    pub offsite_stale: Option<bool>,
}

/// Software: a name and a version.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Never built: it describes `pos_core::body::Software` in the API document.
pub struct SoftwareVersion {
    /// Its name.
    name: String,
    /// Its version.
    version: String,
}

/// The journal's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JournalHealth {
    /// Whether records are written.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// A clock too far ahead of the journal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClockAhead {
    /// The clock's reading (milliseconds since the epoch).
    pub clock_ms: i64,
    /// The journal's last record's time.
    pub last_record_ms: i64,
    /// Whole days between them.
    pub days: i64,
    /// What to do, for a person.
    pub message: String,
}

/// The data directory's disk.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DiskHealth {
    /// Bytes an unprivileged process may still write, when it could be read.
    pub free_bytes: Option<u64>,
    /// Below `[storage] low_free_mib`, when it could be read.
    pub low: Option<bool>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The health as `GET /v1/health` gives it.
pub fn state(app: &App) -> Health {
    // An open journal whose last commit was refused (a full disk, a file moved) is failing
    // until a commit goes through again.
    let write_failure = app.till.journal.as_ref().and_then(|j| j.write_failure());
    // A clock too far ahead of the journal refuses every record until corrected or confirmed.
    let clock_ahead = app.till.journal.as_ref().and_then(|j| j.clock_ahead());
    // A clock behind the journal's last record: sales go through, dated at that record's time,
    // and no day closes until the clock catches up (a minute's slack for clock steps).
    let clock_behind_ms = app
        .till
        .journal
        .as_ref()
        .and_then(|j| j.clock_behind_ms())
        .filter(|ms| *ms > CLOCK_BEHIND_SLACK_MS);
    let status = match (&app.till.journal, &write_failure, &clock_ahead) {
        (None, _, _) => "journal_unavailable",
        (Some(_), Some(_), _) => "journal_failing",
        (Some(_), None, Some(_)) => "clock_ahead",
        (Some(_), None, None) => "ok",
    };
    Health {
        status,
        journal: JournalHealth {
            ok: status == "ok",
            error: app.till.journal_error.clone().or(write_failure),
        },
        clock_behind_ms,
        clock_ahead: clock_ahead.map(|a| ClockAhead {
            clock_ms: a.clock_ms,
            last_record_ms: a.last_ms,
            days: a.days(),
            message: a.to_string(),
        }),
        register_id: app.till.opening.register_id.clone(),
        software: crate::software(),
        training: app.till.training.load(Ordering::SeqCst),
        printer: app.printer_state(),
        disk: disk_state(&app.config),
        backup: app.backups.config.as_ref().map(|_| {
            let last_good_ms = app.backups.last_good_ms(&app.till.opening.register_id);
            let now = app.till.clock.now_ms();
            BackupHealth {
                last_good_ms,
                stale: last_good_ms.is_none_or(|t| now.saturating_sub(t) > crate::backup::STALE_MS),
                offsite_stale: crate::backup::offsite_state(&app.backups, &app.ops, now)
                    .map(|o| o.stale),
            }
        }),
    }
}

/// What a front-end must react to: whether sales go through and why not, whether the clock is
/// behind the journal, whether the disk is low, and whether the backups are stale. (Not the free bytes or the clock's reading,
/// which change all the time.)
type Alert = (
    &'static str,
    Option<String>,
    bool,
    Option<bool>,
    Option<(bool, Option<bool>)>,
);

fn alert(health: &Health) -> Alert {
    (
        health.status,
        health.journal.error.clone(),
        health.clock_behind_ms.is_some(),
        health.disk.low,
        health.backup.as_ref().map(|b| (b.stale, b.offsite_stale)),
    )
}

/// Publishes a `health` event (the whole health) each time its alert part changes, looking
/// every `every`, until `stop` turns true. Asks for the journal to be reopened
/// ([`crate::till::Till::journal_reopen`]) when it writes nothing more until then.
pub async fn watch(app: Arc<App>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut last: Option<Alert> = None;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let app2 = app.clone();
        // statvfs and the journal's locks: off the async threads.
        let Ok(health) = tokio::task::spawn_blocking(move || state(&app2)).await else {
            return;
        };
        if app.till.journal.as_ref().is_some_and(|j| j.needs_reopen()) {
            app.till.journal_reopen.notify_one();
        }
        let now = alert(&health);
        if last.as_ref() != Some(&now) {
            if last.is_some() {
                app.bus
                    .publish("health", serde_json::to_value(health).unwrap_or_default());
            }
            last = Some(now);
        }
    }
}

/// Free space on the data directory's file system, and whether it is below the warning level
/// (`null` fields when it cannot be read).
fn disk_state(config: &crate::config::Config) -> DiskHealth {
    let low_bytes = config.storage.low_free_mib.saturating_mul(1024 * 1024);
    match rustix::fs::statvfs(&config.data_dir) {
        Ok(fs) => {
            // What an unprivileged process may still write (not the root-reserved blocks).
            let free = fs.f_bavail.saturating_mul(fs.f_frsize);
            DiskHealth {
                free_bytes: Some(free),
                low: Some(free < low_bytes),
                error: None,
            }
        }
        Err(e) => DiskHealth {
            free_bytes: None,
            low: None,
            error: Some(e.to_string()),
        },
    }
}

//! The daemon's health (`GET /v1/health`), and its changes pushed on the event stream: a
//! front-end learns that sales will be refused (a failing journal, a clock too far ahead) or
//! that the disk is filling up without polling.

use crate::app::App;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often the watcher looks at the health, in `posd serve`.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// A clock behind the journal by less than this is not reported (a clock stepped back a little).
pub const CLOCK_BEHIND_SLACK_MS: i64 = 60_000;

/// The health as `GET /v1/health` gives it.
pub fn state(app: &App) -> Value {
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
    json!({
        "status": status,
        "journal": {
            "ok": status == "ok",
            "error": app.till.journal_error.clone().or(write_failure),
        },
        "clock_behind_ms": clock_behind_ms,
        "clock_ahead": clock_ahead.map(|a| json!({
            "clock_ms": a.clock_ms,
            "last_record_ms": a.last_ms,
            "days": a.days(),
            "message": a.to_string(),
        })),
        "register_id": app.till.opening.register_id,
        "software": crate::software(),
        "training": app.till.training.load(Ordering::SeqCst),
        "printer": app.printer_state(),
        "disk": disk_state(&app.config),
    })
}

/// What a front-end must react to: whether sales go through and why not, whether the clock is
/// behind the journal, and whether the disk is low. (Not the free bytes or the clock's reading,
/// which change all the time.)
fn alert(health: &Value) -> Value {
    json!([
        health["status"],
        health["journal"]["error"],
        health["clock_behind_ms"].is_u64(),
        health["disk"]["low"]
    ])
}

/// Publishes a `health` event (the whole health) each time its alert part changes, looking
/// every `every`, until `stop` turns true. Asks for the journal to be reopened
/// ([`crate::till::Till::journal_reopen`]) when it writes nothing more until then.
pub async fn watch(app: Arc<App>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut last = Value::Null;
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
        if now != last {
            if !last.is_null() {
                app.bus.publish("health", health);
            }
            last = now;
        }
    }
}

/// Free space on the data directory's file system, and whether it is below the warning level
/// (`null` fields when it cannot be read).
fn disk_state(config: &crate::config::Config) -> Value {
    let low_bytes = config.storage.low_free_mib.saturating_mul(1024 * 1024);
    match rustix::fs::statvfs(&config.data_dir) {
        Ok(fs) => {
            // What an unprivileged process may still write (not the root-reserved blocks).
            let free = fs.f_bavail.saturating_mul(fs.f_frsize);
            json!({ "free_bytes": free, "low": free < low_bytes })
        }
        Err(e) => json!({ "free_bytes": null, "low": null, "error": e.to_string() }),
    }
}

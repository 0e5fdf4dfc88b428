//! Manager operations: training mode, the clock confirmation, X reports, closures, archives.

use super::error::{journal_error, ApiError};
use super::extract::{blocking, ApiJson, ApiResult, AppState};
use super::operators::{authorize, save_sessions};
use super::Route;
use crate::config::Role;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::Json;
use pos_core::closure::Period;
use pos_core::events;
use pos_core::journal::JournalError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// The routes of this resource.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/v1/training", training),
        Route::new(Method::POST, "/v1/clock/confirm", confirm_clock),
        Route::new(Method::GET, "/v1/reports/x", x_report),
        Route::new(Method::POST, "/v1/reports/x/print", print_x_report),
        Route::new(Method::POST, "/v1/closures", closure),
        Route::new(Method::POST, "/v1/journal/archives", export_archive),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainingRequest {
    on: bool,
    operator: String,
    pin: String,
}

async fn training(State(app): AppState, ApiJson(req): ApiJson<TrainingRequest>) -> ApiResult {
    app.journal()?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let was = app.till.training.swap(req.on, Ordering::SeqCst);
    if was != req.on {
        save_sessions(&app).await?;
        let code = if req.on {
            events::TRAINING_STARTED
        } else {
            events::TRAINING_STOPPED
        };
        app.journal_event_by(
            code,
            if req.on {
                "training mode on"
            } else {
                "training mode off"
            },
            Some(&op.id),
        )
        .await;
        app.bus.publish("training", json!({ "on": req.on }));
    }
    Ok(Json(json!({ "training": req.on })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockConfirmRequest {
    operator: String,
    pin: String,
}

/// A manager confirms that the clock's reading, too far ahead of the journal's last record for
/// records to be written unconfirmed, is right (the shop reopens after a long closure).
async fn confirm_clock(
    State(app): AppState,
    ApiJson(req): ApiJson<ClockConfirmRequest>,
) -> ApiResult {
    let journal = app.journal()?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let app2 = app.clone();
    let confirmed = blocking(move || {
        let a = journal.confirm_clock(&op.id)?;
        // The closures due came before it: the projector prints them.
        app2.appended(a.seq);
        app2.finish_start();
        Ok::<_, JournalError>(a)
    })
    .await?
    .map_err(journal_error)?;
    Ok(Json(json!({
        "seq": confirmed.seq,
        "timestamp_ms": confirmed.timestamp_ms,
    })))
}

async fn x_report(State(app): AppState) -> ApiResult {
    let journal = app.journal()?;
    let x = blocking(move || journal.x_report())
        .await?
        .map_err(journal_error)?;
    Ok(Json(serde_json::to_value(x).unwrap_or_default()))
}

async fn print_x_report(State(app): AppState) -> ApiResult {
    let journal = app.journal()?;
    let app2 = app.clone();
    let id = blocking(move || {
        let x = journal.x_report().map_err(journal_error)?;
        let reader = pos_core::reader::JournalReader::open(journal.path())
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let head = reader
            .record(x.last_seq)
            .ok()
            .flatten()
            .and_then(Result::ok)
            .ok_or_else(|| ApiError::unavailable("the chain head cannot be read"))?;
        let report = crate::printout::x_report_of(&x, &head, &app2.current_opening());
        let bytes = drivers::layout::render_report(&report, app2.paper_width())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let id = app2
            .ops
            .add_x_report(&bytes)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        app2.printing.notify.notify_one();
        Ok::<_, ApiError>(id)
    })
    .await??;
    Ok(Json(json!({ "print_job": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClosureRequest {
    period: Period,
    operator: String,
    pin: String,
    /// A month or fiscal year closed before its end closes it whole: the manager confirms.
    #[serde(default)]
    confirm: bool,
}

async fn closure(State(app): AppState, ApiJson(req): ApiJson<ClosureRequest>) -> ApiResult {
    let journal = app.journal()?;
    if !journal.closes(req.period) {
        // Refused before the PIN is checked: nothing is journaled for a request that names
        // a period this register never closes.
        return Err(ApiError::invalid(
            "invalid_request",
            format!(
                "period {:?}: this register's fiscal rules close day, month and year",
                req.period.as_str()
            ),
        ));
    }
    if !req.confirm {
        // Asked before the PIN: the manager learns what the closure does, and sends it again
        // with `confirm` (a day closure never needs it: the day goes on after a Z).
        let (j, period) = (journal.clone(), req.period);
        let early = blocking(move || j.closes_before_end(period))
            .await?
            .map_err(journal_error)?;
        if let Some(end) = early {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "confirmation_required",
                format!(
                    "closing the {} now closes it whole: sales dated until {end} will be refused. Send \"confirm\": true to close it",
                    req.period.as_str()
                ),
            ));
        }
    }
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let app2 = app.clone();
    let (written, anchor_error) = blocking(move || {
        let written = journal.close_period(req.period)?;
        // The journal appended the head to the anchor file after the closures.
        let anchor_error = journal.anchor_error();
        let mut out = Vec::new();
        for a in &written {
            if a.kind == pos_core::record::Kind::Closure {
                out.push((a.clone(), app2.project(a.seq)));
            } else {
                app2.appended(a.seq);
            }
        }
        Ok::<_, JournalError>((out, anchor_error))
    })
    .await?
    .map_err(journal_error)?;
    if let Some(e) = &anchor_error {
        tracing::error!(error = %e, "cannot write the anchor file");
    }
    let mut closures = Vec::new();
    for (a, job) in written {
        let job = job.await.ok().flatten();
        let body: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        closures
            .push(json!({ "seq": a.seq, "number": a.kind_seq, "body": body, "print_job": job }));
    }
    Ok(Json(
        json!({ "closures": closures, "anchor_error": anchor_error }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchiveRequest {
    /// A closed month, `2026-03`.
    #[serde(default)]
    period: Option<String>,
    /// A closed fiscal year, `2026`.
    #[serde(default)]
    year: Option<String>,
    /// A range of sequence numbers.
    #[serde(default)]
    from_seq: Option<u64>,
    #[serde(default)]
    to_seq: Option<u64>,
    operator: String,
    pin: String,
}

/// The archives' directory in the data directory.
pub const ARCHIVES_DIR: &str = "archives";

async fn export_archive(State(app): AppState, ApiJson(req): ApiJson<ArchiveRequest>) -> ApiResult {
    use pos_core::archive::ArchiveSelection;
    let journal = app.journal()?;
    let bad = |m: String| ApiError::invalid("invalid_selection", m);
    let (selection, name) = match (&req.period, &req.year, req.from_seq, req.to_seq) {
        (Some(p), None, None, None) => (ArchiveSelection::month(p).map_err(bad)?, p.clone()),
        (None, Some(y), None, None) => (ArchiveSelection::year(y).map_err(bad)?, y.clone()),
        (None, None, Some(from), Some(to)) if from >= 1 && from <= to => (
            ArchiveSelection::Range { from, to },
            format!("seq-{from}-{to}"),
        ),
        _ => {
            return Err(bad(
                "give one of `period` (2026-03), `year` (2026) or `from_seq` and `to_seq`".into(),
            ))
        }
    };
    let op = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let dir = app.config.data_dir.join(ARCHIVES_DIR);
    let file_name = format!("{}_{name}.zip", app.till.opening.register_id);
    let out = dir.join(&file_name);
    let app2 = app.clone();
    let (manifest, body, a) = blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
        if out.exists() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "archive_exists",
                format!("{file_name} exists in the archives directory"),
            ));
        }
        let reader = pos_core::reader::JournalReader::open(journal.path())
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let (manifest, body) =
            pos_core::archive::export_archive(&reader, &app2.till.key, &selection, &out).map_err(
                |e| match e {
                    pos_core::archive::ArchiveError::Selection(m) => {
                        ApiError::invalid("invalid_selection", m)
                    }
                    other => {
                        tracing::error!(error = %other, "archive export failed");
                        ApiError::unavailable(other.to_string())
                    }
                },
            )?;
        let a = journal
            .append(pos_core::journal::Draft::Archive(body.clone()))
            .map_err(|e| {
                tracing::error!(error = %e, "archive written but not journaled");
                journal_error(e)
            })?;
        app2.appended(a.seq);
        Ok::<_, ApiError>((manifest, body, a))
    })
    .await??;
    tracing::info!(operator = %op.id, file = %body.file_name, seq = a.seq, "archive written");
    Ok(Json(json!({
        "file": format!("{ARCHIVES_DIR}/{}", body.file_name),
        "label": manifest.label,
        "first_seq": manifest.first_seq,
        "last_seq": manifest.last_seq,
        "records": manifest.counts.values().sum::<u64>(),
        "file_sha256": body.file_sha256,
        "manifest_sha256": body.manifest_sha256,
        "seq": a.seq,
    })))
}

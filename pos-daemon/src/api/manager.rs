//! Manager operations: training mode, the clock confirmation, X reports, closures, archives.

use super::error::{journal_error, ApiError};
use super::extract::{blocking, Answer, ApiJson, AppState};
use super::operators::{authorize, save_sessions};
use crate::app::App;
use crate::config::Role;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pos_core::body::Body;
use pos_core::closure::{ClosureBody, Period, Totals, XReport};
use pos_core::events;
use pos_core::journal::JournalError;
use pos_core::money::Cents;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(training))
        .routes(routes!(confirm_clock))
        .routes(routes!(x_report))
        .routes(routes!(print_x_report))
        .routes(routes!(closure))
        .routes(routes!(export_archive))
}

/// Training mode on or off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TrainingRequest {
    /// On or off.
    on: bool,
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
}

/// Training mode as it now is.
#[derive(Serialize, ToSchema)]
struct TrainingAnswer {
    /// On: sales are journaled as training tickets, never counted.
    training: bool,
}

/// Training mode on or off (manager).
///
/// In training mode sales are journaled as training tickets (printed as such, never in any
/// total); pickups are refused. Journaled as training_started / training_stopped.
#[utoipa::path(post, path = "/v1/training", tag = "manager",
    request_body = TrainingRequest,
    responses((status = 200, description = "Training mode as it now is", body = TrainingAnswer)))]
async fn training(
    State(app): AppState,
    ApiJson(req): ApiJson<TrainingRequest>,
) -> Answer<TrainingAnswer> {
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
    Ok(Json(TrainingAnswer { training: req.on }))
}

/// A manager's approval.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ManagerRequest {
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
}

/// The clock confirmation, journaled.
#[derive(Serialize, ToSchema)]
struct ClockConfirmed {
    /// The confirmation's sequence number.
    seq: u64,
    /// The clock's reading it confirms (milliseconds since the epoch).
    timestamp_ms: i64,
}

/// Confirm a clock reading far ahead of the journal's last record (manager).
///
/// A clock too far ahead (the shop reopens after a long closure, or the clock is wrong) makes
/// every write a 409 clock_ahead until the clock is corrected or a manager confirms it here;
/// the closures due before it are written first.
#[utoipa::path(post, path = "/v1/clock/confirm", tag = "manager",
    request_body = ManagerRequest,
    responses((status = 200, description = "The confirmation, journaled", body = ClockConfirmed)))]
async fn confirm_clock(
    State(app): AppState,
    ApiJson(req): ApiJson<ManagerRequest>,
) -> Answer<ClockConfirmed> {
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
    Ok(Json(ClockConfirmed {
        seq: confirmed.seq,
        timestamp_ms: confirmed.timestamp_ms,
    }))
}

/// The running totals of the open periods, without writing anything.
#[derive(Serialize, ToSchema)]
struct XReportAnswer {
    /// The open business day (`YYYY-MM-DD`), if anything was written since the last day
    /// closure.
    open_day: Option<String>,
    /// First sequence number of the open day.
    day_first_seq: Option<u64>,
    /// Last sequence number written.
    last_seq: u64,
    /// The open day's totals.
    day: Totals,
    /// Month to date (closed days of the open month plus the open day).
    month: Totals,
    /// Fiscal year to date.
    year: Totals,
    /// Perpetual grand total since the journal opened, never reset.
    perpetual_total: Cents,
    /// Perpetual total of absolute values.
    perpetual_absolute_total: Cents,
}

impl From<XReport> for XReportAnswer {
    fn from(x: XReport) -> Self {
        XReportAnswer {
            open_day: x.open_day,
            day_first_seq: x.day_first_seq,
            last_seq: x.last_seq,
            day: x.day,
            month: x.month,
            year: x.year,
            perpetual_total: x.perpetual_total,
            perpetual_absolute_total: x.perpetual_absolute_total,
        }
    }
}

/// X report: running totals of the open day, month and year.
#[utoipa::path(get, path = "/v1/reports/x", tag = "manager",
    responses((status = 200, description = "The running totals", body = XReportAnswer)))]
async fn x_report(State(app): AppState) -> Answer<XReportAnswer> {
    let journal = app.journal()?;
    let x = blocking(move || journal.x_report())
        .await?
        .map_err(journal_error)?;
    Ok(Json(x.into()))
}

/// A print job queued.
#[derive(Serialize, ToSchema)]
struct PrintQueued {
    /// The print job's id (`GET /v1/print-jobs`).
    print_job: i64,
}

/// Print the X report.
///
/// Any client holding a token may ask, without a PIN: the X report reads the running totals
/// and writes nothing to the journal.
#[utoipa::path(post, path = "/v1/reports/x/print", tag = "manager",
    responses((status = 200, description = "The X report, queued for printing", body = PrintQueued)))]
async fn print_x_report(State(app): AppState) -> Answer<PrintQueued> {
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
    Ok(Json(PrintQueued { print_job: id }))
}

/// A closure on demand.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ClosureRequest {
    /// `day`, `month` or `year` (`week` is refused: the French rules close months).
    period: Period,
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
    /// `true` to close a month or fiscal year before its end (it is then closed whole).
    #[serde(default)]
    confirm: bool,
}

/// The closures written.
#[derive(Serialize, ToSchema)]
struct ClosuresAnswer {
    /// Each closure written, the one asked for last (closures it made due come first).
    closures: Vec<ClosureWritten>,
    /// Why the chain head could not be appended to the anchor file, if it could not (the
    /// closures are journaled all the same).
    anchor_error: Option<String>,
}

/// A closure, journaled.
#[derive(Serialize, ToSchema)]
struct ClosureWritten {
    /// Its sequence number.
    seq: u64,
    /// Its number among the closures.
    number: u64,
    /// Its body as signed.
    body: ClosureBody,
    /// The print job that prints its Z, when a printer is configured.
    print_job: Option<i64>,
}

/// Close the day (Z), month or year on demand (manager).
///
/// Prints the Z with the chain head as a QR code and appends the head to the anchor file. A Z
/// during the day lets the day go on: later sales open another part of the same day (the day
/// closure says `continues: true`), and the month sums every part; a second Z with nothing
/// sold since is a 409 nothing_to_close. A month or year closed before its end is closed whole
/// (sales dated until its end are then 409 closed_period): without `confirm: true` the request
/// is a 409 confirmation_required saying so, before the PIN is checked. Closures that a day of
/// an earlier month closed now makes due (its month, its year) are written with it.
#[utoipa::path(post, path = "/v1/closures", tag = "manager",
    request_body = ClosureRequest,
    responses((status = 200, description = "The closures written", body = ClosuresAnswer)))]
async fn closure(
    State(app): AppState,
    ApiJson(req): ApiJson<ClosureRequest>,
) -> Answer<ClosuresAnswer> {
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
        let Ok(Body::Closure(body)) = Body::decode(a.kind, &a.body) else {
            // posd wrote it an instant ago: only a defect of posd itself gets here.
            return Err(ApiError::internal(format!(
                "closure {} is journaled but cannot be read back: see GET /v1/tickets/{}",
                a.seq, a.seq
            )));
        };
        closures.push(ClosureWritten {
            seq: a.seq,
            number: a.kind_seq,
            body,
            print_job: job,
        });
    }
    Ok(Json(ClosuresAnswer {
        closures,
        anchor_error,
    }))
}

/// What to archive: one of `period`, `year`, or `from_seq` with `to_seq`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ArchiveRequest {
    /// A closed month.
    #[serde(default)]
    #[schema(example = "2026-03")]
    period: Option<String>,
    /// A closed fiscal year.
    #[serde(default)]
    #[schema(example = "2026")]
    year: Option<String>,
    /// The first sequence number of a range.
    #[serde(default)]
    #[schema(minimum = 1)]
    from_seq: Option<u64>,
    /// The last sequence number of a range.
    #[serde(default)]
    #[schema(minimum = 1)]
    to_seq: Option<u64>,
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
}

/// An archive written and journaled.
#[derive(Serialize, ToSchema)]
struct ArchiveAnswer {
    /// The archive's file, in the data directory (`archives/<register>_<selection>.zip`).
    file: String,
    /// What it holds, as its manifest says.
    label: String,
    /// The first sequence number in it.
    first_seq: u64,
    /// The last sequence number in it.
    last_seq: u64,
    /// How many records it holds.
    records: u64,
    /// The SHA-256 of the file (hex).
    file_sha256: String,
    /// The SHA-256 of its signed manifest (hex).
    manifest_sha256: String,
    /// The `archive` record that journals it.
    seq: u64,
}

/// The archives' directory in the data directory.
pub const ARCHIVES_DIR: &str = "archives";

/// Export a signed archive (manager): a closed month, a closed fiscal year or a range of
/// records.
///
/// Written into `DATA/archives/` and journaled. `pos-journal verify <file>` checks it
/// anywhere, with the register's public key. 422 invalid_selection (a month or year not
/// closed, a bad range); 409 archive_exists.
#[utoipa::path(post, path = "/v1/journal/archives", tag = "manager",
    request_body = ArchiveRequest,
    responses((status = 200, description = "The archive, written and journaled", body = ArchiveAnswer)))]
async fn export_archive(
    State(app): AppState,
    ApiJson(req): ApiJson<ArchiveRequest>,
) -> Answer<ArchiveAnswer> {
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
    Ok(Json(ArchiveAnswer {
        file: format!("{ARCHIVES_DIR}/{}", body.file_name),
        label: manifest.label,
        first_seq: manifest.first_seq,
        last_seq: manifest.last_seq,
        records: manifest.counts.values().sum::<u64>(),
        file_sha256: body.file_sha256,
        manifest_sha256: body.manifest_sha256,
        seq: a.seq,
    }))
}

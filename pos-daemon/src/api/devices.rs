//! `/v1/devices`, `/v1/print-jobs`, `/v1/scans`, `/v1/events`: the devices and the event stream.

use super::error::ApiError;
use super::extract::{blocking, Answer, AppState};
use crate::app::App;
use crate::devices::{Scan, ScannerState};
use crate::ops::Job;
use crate::print::PrinterState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::Stream;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(devices))
        .routes(routes!(print_jobs))
        .routes(routes!(scans))
        .routes(routes!(sse))
}

/// The devices' states.
#[derive(Serialize, ToSchema)]
struct DevicesAnswer {
    /// The receipt printer.
    printer: PrinterState,
    /// Print jobs per state (`pending`, `sending`, `printed`, `unknown`, `reprinted`, `failed`,
    /// `skipped`, `held`):
    /// only the states that have jobs.
    print_queue: BTreeMap<String, i64>,
    /// The cash drawer.
    drawer: DrawerState,
    /// Each configured scanner.
    scanners: Vec<ScannerState>,
}

/// The cash drawer.
#[derive(Serialize, ToSchema)]
struct DrawerState {
    /// Whether a drawer is configured (`[drawer]`).
    configured: bool,
    /// `open`, `closed`, `unknown` (not reported yet), or `none` when not configured.
    state: &'static str,
}

/// Printer status, print queue counts, drawer and scanners.
#[utoipa::path(get, path = "/v1/devices", tag = "devices",
    responses((status = 200, description = "The devices' states", body = DevicesAnswer)))]
async fn devices(State(app): AppState) -> Answer<DevicesAnswer> {
    let ops = app.ops.clone();
    let counts = blocking(move || ops.counts()).await?.unwrap_or_default();
    let configured = app.config.drawer.is_some();
    Ok(Json(DevicesAnswer {
        printer: app.printer_state(),
        print_queue: counts.into_iter().collect(),
        drawer: DrawerState {
            configured,
            state: if configured {
                app.drawer_state()
            } else {
                "none"
            },
        },
        scanners: app.scanner_states(),
    }))
}

/// Print jobs not done.
#[derive(Serialize, ToSchema)]
struct PrintJobsAnswer {
    /// Jobs pending, sending, of unknown fate or failed, oldest first (at most 200).
    jobs: Vec<Job>,
}

/// Print jobs not done (pending, sending, unknown, failed).
///
/// A job of unknown fate (the printer went away while it was sent) is settled by reprinting
/// its ticket (`POST /v1/tickets/{seq}/reprint`).
#[utoipa::path(get, path = "/v1/print-jobs", tag = "devices",
    responses((status = 200, description = "The jobs not done", body = PrintJobsAnswer)))]
async fn print_jobs(State(app): AppState) -> Answer<PrintJobsAnswer> {
    let ops = app.ops.clone();
    let jobs = blocking(move || ops.list_jobs())
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(PrintJobsAnswer { jobs }))
}

/// The recent scans.
#[derive(Serialize, ToSchema)]
struct ScansAnswer {
    /// The last 50 scans of the serial and wedge scanners, oldest first.
    scans: Vec<Scan>,
}

/// Recent scans, decoded and looked up.
#[utoipa::path(get, path = "/v1/scans", tag = "devices",
    responses((status = 200, description = "The recent scans", body = ScansAnswer)))]
async fn scans(State(app): AppState) -> Answer<ScansAnswer> {
    let scans = app
        .devices
        .scans
        .lock()
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    Ok(Json(ScansAnswer { scans }))
}

/// Server-Sent Events: what changes, as it happens.
///
/// Events (the SSE `event` field; `data` is JSON): `scan` (as in `GET /v1/scans`), `scanner`,
/// `printer`, `drawer`, `print_job` (`id`, `seq`, `state`, `error`), `sale` (`seq`, `kind`,
/// `ticket_number`), `closure` (on demand and automatic), `training` (`on`), `health` (the
/// whole health, when sales stop or resume going through, or the disk runs low), and `lagged`
/// when this client fell behind and missed events.
#[utoipa::path(get, path = "/v1/events", tag = "devices",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String)))]
async fn sse(
    State(app): AppState,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    use tokio_stream::wrappers::BroadcastStream;
    use tokio_stream::StreamExt;
    let stream = BroadcastStream::new(app.bus.subscribe()).map(|item| {
        Ok(match item {
            Ok(ev) => Event::default().event(ev.name).data(ev.data.to_string()),
            Err(_) => Event::default().event("lagged").data("{}"),
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

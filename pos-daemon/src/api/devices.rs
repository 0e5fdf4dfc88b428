//! `/v1/devices`, `/v1/print-jobs`, `/v1/scans`, `/v1/events`: the devices and the event stream.

use super::error::ApiError;
use super::extract::{blocking, ApiResult, AppState};
use super::Route;
use axum::extract::State;
use axum::http::Method;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::Stream;
use serde_json::{json, Value};

/// The routes of this resource.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/v1/devices", devices),
        Route::new(Method::GET, "/v1/print-jobs", print_jobs),
        Route::new(Method::GET, "/v1/scans", scans),
        Route::new(Method::GET, "/v1/events", sse),
    ]
}

async fn devices(State(app): AppState) -> ApiResult {
    let ops = app.ops.clone();
    let counts = blocking(move || ops.counts()).await?.unwrap_or_default();
    let counts: serde_json::Map<String, Value> =
        counts.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(Json(json!({
        "printer": app.printer_state(),
        "print_queue": counts,
        "drawer": {
            "configured": app.config.drawer.is_some(),
            "state": if app.config.drawer.is_some() { app.drawer_state() } else { "none" },
        },
        "scanners": app.scanner_states(),
    })))
}

async fn print_jobs(State(app): AppState) -> ApiResult {
    let ops = app.ops.clone();
    let jobs = blocking(move || ops.list_jobs())
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({ "jobs": jobs })))
}

async fn scans(State(app): AppState) -> ApiResult {
    let list: Vec<Value> = app
        .devices
        .scans
        .lock()
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    Ok(Json(json!({ "scans": list })))
}

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

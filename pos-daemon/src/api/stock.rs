//! `/v1/stock`: levels, receptions, counts, adjustments.

use super::error::ApiError;
use super::extract::{blocking, ApiJson, ApiResult, AppState};
use super::operators::authorize;
use super::Route;
use crate::app::App;
use crate::config::Role;
use axum::extract::State;
use axum::http::Method;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes of this resource.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/v1/stock", stock_levels),
        Route::new(Method::GET, "/v1/stock/low", low_stock),
        Route::new(Method::POST, "/v1/stock/receptions", stock_reception),
        Route::new(Method::POST, "/v1/stock/counts", stock_count),
        Route::new(Method::POST, "/v1/stock/adjustments", stock_adjustment),
    ]
}

pub(super) fn ledger_error(e: shop_sync::ledger::LedgerError) -> ApiError {
    match e {
        shop_sync::ledger::LedgerError::Invalid(m) => ApiError::invalid("invalid_stock", m),
        other => ApiError::internal(other.to_string()),
    }
}

/// Runs a ledger call on a blocking thread.
pub(super) async fn with_ledger<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&mut shop_sync::ledger::Ledger) -> Result<T, shop_sync::ledger::LedgerError>
        + Send
        + 'static,
) -> Result<T, ApiError> {
    let ledger = app.stock.ledger.clone();
    blocking(move || f(&mut crate::stock::lock(&ledger)))
        .await?
        .map_err(ledger_error)
}

fn level_json(l: &shop_sync::ledger::Level) -> Value {
    json!({
        "sku": l.sku, "on_hand_milli": l.on_hand_milli, "reserved_milli": l.reserved_milli,
        "available_milli": l.available_milli(), "low_milli": l.low_milli,
    })
}

#[derive(Deserialize)]
struct LevelsQuery {
    #[serde(default)]
    after: String,
}

async fn stock_levels(
    State(app): AppState,
    axum::extract::Query(q): axum::extract::Query<LevelsQuery>,
) -> ApiResult {
    let levels = with_ledger(&app, move |l| l.levels(&q.after)).await?;
    Ok(Json(json!({
        "levels": levels.iter().map(level_json).collect::<Vec<_>>(),
        "limit": shop_sync::ledger::MAX_LISTED,
    })))
}

async fn low_stock(State(app): AppState) -> ApiResult {
    let levels = with_ledger(&app, |l| l.low_stock()).await?;
    Ok(Json(json!({
        "low": levels.iter().map(level_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StockLine {
    sku: String,
    quantity_milli: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StockRequest {
    operator: String,
    pin: String,
    /// The client's id of this reception or count: sending it again changes nothing.
    #[serde(default)]
    id: Option<String>,
    lines: Vec<StockLine>,
}

fn stock_id(id: Option<String>) -> Result<String, ApiError> {
    match id {
        Some(i) if i.is_empty() || i.len() > 64 || i.contains(':') => Err(ApiError::invalid(
            "invalid_stock",
            "id: 1 to 64 bytes, without ':'",
        )),
        Some(i) => Ok(i),
        None => Ok(crate::stock::unique_id()),
    }
}

fn tracked_lines(app: &App, lines: &[StockLine]) -> Result<Vec<(String, i64)>, ApiError> {
    if lines.is_empty() || lines.len() > shop_sync::ledger::MAX_LINES {
        return Err(ApiError::invalid(
            "invalid_stock",
            format!("1 to {} lines", shop_sync::ledger::MAX_LINES),
        ));
    }
    let catalog = app
        .catalog
        .read()
        .map_err(|_| ApiError::internal("catalog lock"))?;
    lines
        .iter()
        .map(|l| match catalog.get(&l.sku) {
            Some(p) if p.track_stock => Ok((l.sku.clone(), l.quantity_milli)),
            Some(_) => Err(ApiError::invalid(
                "untracked_sku",
                format!("the stock of {:?} is not tracked", l.sku),
            )),
            None => Err(ApiError::invalid(
                "unknown_sku",
                format!("no product {:?}", l.sku),
            )),
        })
        .collect()
}

async fn stock_reception(State(app): AppState, ApiJson(req): ApiJson<StockRequest>) -> ApiResult {
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let lines = tracked_lines(&app, &req.lines)?;
    let id = stock_id(req.id)?;
    let id2 = id.clone();
    let n = with_ledger(&app, move |l| l.receive(&id2, &lines)).await?;
    tracing::info!(id = %id, by = %req.operator, movements = n, "stock received");
    Ok(Json(json!({ "id": id, "movements": n })))
}

async fn stock_count(State(app): AppState, ApiJson(req): ApiJson<StockRequest>) -> ApiResult {
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let lines = tracked_lines(&app, &req.lines)?;
    if lines.iter().any(|(_, q)| *q < 0) {
        return Err(ApiError::invalid(
            "invalid_stock",
            "counted quantities cannot be negative",
        ));
    }
    let id = stock_id(req.id)?;
    let id2 = id.clone();
    let n = with_ledger(&app, move |l| l.count(&id2, &lines)).await?;
    tracing::info!(id = %id, by = %req.operator, movements = n, "inventory counted");
    Ok(Json(json!({ "id": id, "movements": n })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustRequest {
    operator: String,
    pin: String,
    #[serde(default)]
    id: Option<String>,
    sku: String,
    delta_milli: i64,
    reason: String,
}

async fn stock_adjustment(State(app): AppState, ApiJson(req): ApiJson<AdjustRequest>) -> ApiResult {
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let lines = tracked_lines(
        &app,
        &[StockLine {
            sku: req.sku.clone(),
            quantity_milli: req.delta_milli,
        }],
    )?;
    if req.reason.len() > pos_core::ticket::MAX_TEXT_LEN {
        return Err(ApiError::invalid("invalid_stock", "the reason is too long"));
    }
    let id = stock_id(req.id)?;
    let (id2, reason) = (id.clone(), req.reason.clone());
    let n = with_ledger(&app, move |l| {
        l.adjust(&id2, &lines[0].0, lines[0].1, &reason)
    })
    .await?;
    tracing::info!(id = %id, by = %req.operator, sku = %req.sku, delta = req.delta_milli,
        reason = %req.reason, "stock adjusted");
    Ok(Json(json!({ "id": id, "movements": n })))
}

//! `/v1/stock`: levels, receptions, counts, adjustments.

use super::error::ApiError;
use super::extract::{blocking, Answer, ApiJson, AppState};
use super::operators::authorize;
use crate::app::App;
use crate::config::Role;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(stock_levels))
        .routes(routes!(low_stock))
        .routes(routes!(stock_reception))
        .routes(routes!(stock_count))
        .routes(routes!(stock_adjustment))
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

/// A tracked product's stock level.
#[derive(Serialize, ToSchema)]
struct Level {
    /// The product.
    sku: String,
    /// On the shelves, thousandths of a piece or grams.
    on_hand_milli: i64,
    /// Reserved for click & collect orders not yet picked up.
    reserved_milli: i64,
    /// On hand minus reserved: what can be sold.
    available_milli: i64,
    /// The low-stock threshold on the available quantity, if any.
    low_milli: Option<i64>,
}

impl From<&shop_sync::ledger::Level> for Level {
    fn from(l: &shop_sync::ledger::Level) -> Self {
        Level {
            sku: l.sku.clone(),
            on_hand_milli: l.on_hand_milli,
            reserved_milli: l.reserved_milli,
            available_milli: l.available_milli(),
            low_milli: l.low_milli,
        }
    }
}

/// Where a page of levels starts.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LevelsQuery {
    /// The levels of the SKUs after this one (the last SKU of the previous page).
    #[serde(default)]
    after: String,
}

/// A page of stock levels.
#[derive(Serialize, ToSchema)]
struct LevelsAnswer {
    /// The levels, by SKU.
    levels: Vec<Level>,
    /// The most levels a page holds: a full page has more after it.
    limit: usize,
}

/// Stock levels per tracked product, by SKU: on hand, reserved for click & collect,
/// available, low-stock threshold.
///
/// At most 500 a page, from `?after=SKU`.
#[utoipa::path(get, path = "/v1/stock", tag = "stock",
    params(LevelsQuery),
    responses((status = 200, description = "A page of levels", body = LevelsAnswer)))]
async fn stock_levels(
    State(app): AppState,
    axum::extract::Query(q): axum::extract::Query<LevelsQuery>,
) -> Answer<LevelsAnswer> {
    let levels = with_ledger(&app, move |l| l.levels(&q.after)).await?;
    Ok(Json(LevelsAnswer {
        levels: levels.iter().map(Level::from).collect(),
        limit: shop_sync::ledger::MAX_LISTED,
    }))
}

/// The products low in stock.
#[derive(Serialize, ToSchema)]
struct LowAnswer {
    /// Their levels, by SKU.
    low: Vec<Level>,
}

/// Products whose available stock is at or below their low-stock threshold.
///
/// The thresholds: `[stock] default_low_milli`, and per product `[stock.low_milli]`.
#[utoipa::path(get, path = "/v1/stock/low", tag = "stock",
    responses((status = 200, description = "The products low in stock", body = LowAnswer)))]
async fn low_stock(State(app): AppState) -> Answer<LowAnswer> {
    let levels = with_ledger(&app, |l| l.low_stock()).await?;
    Ok(Json(LowAnswer {
        low: levels.iter().map(Level::from).collect(),
    }))
}

/// A product received or counted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StockLine {
    /// A product whose stock is tracked.
    sku: String,
    /// Thousandths of a piece, or grams.
    quantity_milli: i64,
}

/// A reception of goods or an inventory count.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StockRequest {
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
    /// The client's id of this reception or count (1 to 64 bytes, no `:`): sending it again
    /// changes nothing. One is made when absent.
    #[serde(default)]
    id: Option<String>,
    /// 1 to 1,000 lines.
    lines: Vec<StockLine>,
}

/// Stock movements recorded.
#[derive(Serialize, ToSchema)]
struct MovementsAnswer {
    /// The id they are recorded under.
    id: String,
    /// Movements recorded now (0 when the id was recorded before).
    movements: usize,
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

/// A reception of goods (manager): positive quantities added to stock, once per id.
///
/// 422 untracked_sku, unknown_sku, invalid_stock.
#[utoipa::path(post, path = "/v1/stock/receptions", tag = "stock",
    request_body = StockRequest,
    responses((status = 200, description = "Recorded", body = MovementsAnswer)))]
async fn stock_reception(
    State(app): AppState,
    ApiJson(req): ApiJson<StockRequest>,
) -> Answer<MovementsAnswer> {
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let lines = tracked_lines(&app, &req.lines)?;
    let id = stock_id(req.id)?;
    let id2 = id.clone();
    let n = with_ledger(&app, move |l| l.receive(&id2, &lines)).await?;
    tracing::info!(id = %id, by = %req.operator, movements = n, "stock received");
    Ok(Json(MovementsAnswer { id, movements: n }))
}

/// An inventory count (manager): each counted product's on-hand level becomes the count, once
/// per id and product.
///
/// 422 untracked_sku, unknown_sku, invalid_stock (a negative count).
#[utoipa::path(post, path = "/v1/stock/counts", tag = "stock",
    request_body = StockRequest,
    responses((status = 200, description = "Recorded", body = MovementsAnswer)))]
async fn stock_count(
    State(app): AppState,
    ApiJson(req): ApiJson<StockRequest>,
) -> Answer<MovementsAnswer> {
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
    Ok(Json(MovementsAnswer { id, movements: n }))
}

/// A stock adjustment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AdjustRequest {
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
    /// The client's id of this adjustment: sending it again changes nothing.
    #[serde(default)]
    id: Option<String>,
    /// A product whose stock is tracked.
    sku: String,
    /// The change, thousandths of a piece or grams (negative: taken off).
    delta_milli: i64,
    /// Why: breakage, theft, correction (at most 256 bytes).
    reason: String,
}

/// A stock adjustment with its reason (manager): breakage, theft, correction; once per id.
#[utoipa::path(post, path = "/v1/stock/adjustments", tag = "stock",
    request_body = AdjustRequest,
    responses((status = 200, description = "Recorded", body = MovementsAnswer)))]
async fn stock_adjustment(
    State(app): AppState,
    ApiJson(req): ApiJson<AdjustRequest>,
) -> Answer<MovementsAnswer> {
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
    Ok(Json(MovementsAnswer { id, movements: n }))
}

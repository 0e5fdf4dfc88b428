//! `/v1/sync` and the online shop's webhook.

use super::error::ApiError;
use super::extract::{blocking, raw_body_bytes, ApiJson, ApiResult, AppState, Caller};
use super::operators::{authorize, signed_in};
use super::stock::ledger_error;
use super::Route;
use crate::app::App;
use crate::config::Role;
use crate::config::ShopConfig;
use crate::stock::ShopSync;
use axum::extract::{Path, Request, State};
use axum::http::Method;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use shop_sync::sync::WebhookError;
use std::sync::Arc;

/// The routes of this resource.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/v1/sync", sync_status),
        Route::new(Method::POST, "/v1/sync/reconcile", sync_reconcile),
        Route::new(Method::POST, "/v1/sync/run", sync_run),
        // Signed by the shop (a shop sends no bearer token). The first form is the first
        // WooCommerce shop's, as webhooks were set up before shops were a list.
        Route::public(Method::POST, "/v1/webhooks/woocommerce", woo_webhook),
        Route::public(Method::POST, "/v1/webhooks/{shop}", shop_webhook),
    ]
}

async fn sync_status(State(app): AppState) -> ApiResult {
    let mut shops = Vec::new();
    for shop in app.stock.shops.clone() {
        let (status, drift) = blocking(move || (shop.status(), shop.drift())).await?;
        let status = status.map_err(|e| ApiError::internal(e.to_string()))?;
        let drift = drift.map_err(ledger_error)?;
        shops.push(json!({
            "shop": status.shop,
            "backlog": status.backlog,
            "problems": status.problems,
            "last_error": status.last_error,
            "last_ok_ms": status.last_ok_ms,
            "pending_pickups": status.pending_pickups,
            "drift": drift,
        }));
    }
    let mut problems = app.stock.problems.clone();
    {
        let catalog = app
            .catalog
            .read()
            .map_err(|_| ApiError::internal("catalog lock"))?;
        for shop in &app.config.shops.list {
            for sku in shop.listed_skus().unwrap_or_default() {
                if !catalog.get(sku).is_some_and(|p| p.track_stock) {
                    problems.push(format!(
                        "shops.woocommerce.skus: {sku:?} is not a product whose stock the till tracks"
                    ));
                }
            }
        }
    }
    Ok(Json(json!({
        "configured": !app.config.shops.list.is_empty(),
        "config_problems": problems,
        "shops": shops,
    })))
}

/// The shops a request names: the one of `shop`, or every shop.
fn targets(app: &App, shop: Option<&str>) -> Result<Vec<Arc<ShopSync>>, ApiError> {
    match shop {
        Some(name) => app.shop_named(name).map(|s| vec![s]).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_shop",
                format!("no online shop is named {name:?}"),
            )
        }),
        None if app.stock.shops.is_empty() => Err(no_shop(app)),
        None => Ok(app.stock.shops.clone()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileRequest {
    operator: String,
    pin: String,
    /// One shop; every shop when absent.
    #[serde(default)]
    shop: Option<String>,
}

/// Reconciles the shops now. The answer lists each shop's drift (`shops`); `shop` and
/// `drift` are the first one's, for clients of a till with one shop.
async fn sync_reconcile(
    State(app): AppState,
    ApiJson(req): ApiJson<ReconcileRequest>,
) -> ApiResult {
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let mut answers = Vec::new();
    for shop in targets(&app, req.shop.as_deref())? {
        let drift = shop.reconcile().await.map_err(|e| {
            ApiError::new(StatusCode::BAD_GATEWAY, "shop_unreachable", e.to_string())
        })?;
        tracing::info!(shop = %shop.name, by = %req.operator, corrections = drift.len(), "reconciliation");
        answers.push(json!({ "shop": shop.name, "drift": drift }));
    }
    Ok(Json(first_and_all(answers)))
}

/// The first shop's answer, with every shop's under `shops`.
fn first_and_all(answers: Vec<Value>) -> Value {
    let mut out = answers.first().cloned().unwrap_or_else(|| json!({}));
    out["shops"] = Value::Array(answers);
    out
}

/// The longest a "sync now" waits for its run.
const SYNC_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncRunRequest {
    operator: String,
    /// One shop; every shop when absent.
    #[serde(default)]
    shop: Option<String>,
}

/// "Sync now" from the till: one run of each shop's syncer at once (orders polled, outbox
/// pushed), without waiting for the poll interval. Sales never wait for it. The answer lists
/// each shop's run (`shops`); `shop`, `run` and `status` are the first one's. A shop that
/// fails makes the answer an error naming it, once every shop has had its run.
async fn sync_run(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SyncRunRequest>,
) -> ApiResult {
    signed_in(&app, &caller, &req.operator)?;
    let mut answers = Vec::new();
    let mut failure = None;
    for shop in targets(&app, req.shop.as_deref())? {
        let report = match tokio::time::timeout(SYNC_RUN_WAIT, shop.run_once()).await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                failure.get_or_insert(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "shop_unreachable",
                    e.to_string(),
                ));
                continue;
            }
            Err(_) => {
                failure.get_or_insert(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "shop_slow",
                    format!(
                        "the shop {:?} did not answer within {} s; the sync goes on in the background",
                        shop.name,
                        SYNC_RUN_WAIT.as_secs()
                    ),
                ));
                continue;
            }
        };
        tracing::info!(shop = %shop.name, by = %req.operator, pushed = report.pushed, orders = report.orders_seen, "sync run on demand");
        let status = shop
            .status()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        answers.push(json!({ "shop": shop.name, "run": report, "status": status }));
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(Json(first_and_all(answers))),
    }
}

fn no_shop(app: &App) -> ApiError {
    let why = if app.stock.problems.is_empty() {
        "no online shop is configured ([[shops]])".to_string()
    } else {
        format!(
            "the online shop is not usable: {}",
            app.stock.problems.join("; ")
        )
    };
    ApiError::new(StatusCode::CONFLICT, "no_shop", why)
}

/// A webhook at `/v1/webhooks/woocommerce`: the first WooCommerce shop's.
async fn woo_webhook(State(app): AppState, req: Request) -> ApiResult {
    let first = app
        .config
        .shops
        .list
        .iter()
        .find(|s| matches!(s, ShopConfig::Woocommerce(_)))
        .map(|s| s.name().to_string());
    webhook(&app, first.as_deref(), req).await
}

/// A webhook at `/v1/webhooks/{shop}`.
async fn shop_webhook(State(app): AppState, Path(shop): Path<String>, req: Request) -> ApiResult {
    webhook(&app, Some(&shop), req).await
}

/// A webhook delivery for the shop named `shop`: if its signature is right, that shop's
/// syncer polls now (the body is never applied).
async fn webhook(app: &App, shop: Option<&str>, req: Request) -> ApiResult {
    // Read first: an oversized body is the JSON 413 whether or not a shop is configured.
    let headers = req.headers().clone();
    let body = raw_body_bytes(req, &()).await?;
    let Some(shop) = shop.and_then(|name| app.shop_named(name)) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_shop",
            "no online shop is configured",
        ));
    };
    let sig = headers
        .get("x-wc-webhook-signature")
        .and_then(|v| v.to_str().ok());
    match shop.webhook(sig, &body) {
        Ok(()) => Ok(Json(json!({ "accepted": true }))),
        Err(e @ WebhookError::NotSupported) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_webhooks",
            e.to_string(),
        )),
        Err(e) => {
            tracing::warn!(shop = %shop.name, error = %e, "webhook refused");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                e.to_string(),
            ))
        }
    }
}

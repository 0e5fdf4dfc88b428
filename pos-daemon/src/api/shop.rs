//! `/v1/sync` and the online shop's webhook.

use super::error::ApiError;
use super::extract::{blocking, raw_body_bytes, ApiJson, ApiResult, AppState, Caller};
use super::operators::{authorize, signed_in};
use super::stock::ledger_error;
use super::Route;
use crate::app::App;
use crate::config::Role;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

/// The routes of this resource.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/v1/sync", sync_status),
        Route::new(Method::POST, "/v1/sync/reconcile", sync_reconcile),
        Route::new(Method::POST, "/v1/sync/run", sync_run),
        Route::public(Method::POST, "/v1/webhooks/woocommerce", woo_webhook),
    ]
}

async fn sync_status(State(app): AppState) -> ApiResult {
    let mut shops = Vec::new();
    if let Some(shop) = app.shop.clone() {
        let s2 = shop.clone();
        let (status, drift) = blocking(move || (s2.status(), s2.drift())).await?;
        let status = status.map_err(ApiError::internal)?;
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
    let mut problems = app.shop_problems.clone();
    if let Some(w) = &app.config.shops.woocommerce {
        if let crate::config::SyncSkus::List(skus) = &w.skus {
            let catalog = app
                .catalog
                .read()
                .map_err(|_| ApiError::internal("catalog lock"))?;
            for sku in skus {
                if !catalog.get(sku).is_some_and(|p| p.track_stock) {
                    problems.push(format!(
                        "shops.woocommerce.skus: {sku:?} is not a product whose stock the till tracks"
                    ));
                }
            }
        }
    }
    Ok(Json(json!({
        "configured": app.config.shops.woocommerce.is_some(),
        "config_problems": problems,
        "shops": shops,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManagerRequest {
    operator: String,
    pin: String,
}

async fn sync_reconcile(State(app): AppState, ApiJson(req): ApiJson<ManagerRequest>) -> ApiResult {
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let Some(shop) = app.shop.clone() else {
        return Err(no_shop(&app));
    };
    let drift = shop
        .reconcile()
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "shop_unreachable", e))?;
    tracing::info!(shop = %shop.name, by = %req.operator, corrections = drift.len(), "reconciliation");
    Ok(Json(json!({ "shop": shop.name, "drift": drift })))
}

/// The longest a "sync now" waits for its run.
const SYNC_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncRunRequest {
    operator: String,
}

/// "Sync now" from the till: one run of the syncer at once (orders polled, outbox pushed),
/// without waiting for the poll interval. Sales never wait for it.
async fn sync_run(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SyncRunRequest>,
) -> ApiResult {
    signed_in(&app, &caller, &req.operator)?;
    let Some(shop) = app.shop.clone() else {
        return Err(no_shop(&app));
    };
    let report = match tokio::time::timeout(SYNC_RUN_WAIT, shop.run_once()).await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "shop_unreachable",
                e,
            ))
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "shop_slow",
                format!(
                    "the shop did not answer within {} s; the sync goes on in the background",
                    SYNC_RUN_WAIT.as_secs()
                ),
            ))
        }
    };
    tracing::info!(shop = %shop.name, by = %req.operator, pushed = report.pushed, orders = report.orders_seen, "sync run on demand");
    let status = shop.status().map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "shop": shop.name, "run": report, "status": status }),
    ))
}

fn no_shop(app: &App) -> ApiError {
    let why = if app.shop_problems.is_empty() {
        "no online shop is configured ([shops.woocommerce])".to_string()
    } else {
        format!(
            "the online shop is not usable: {}",
            app.shop_problems.join("; ")
        )
    };
    ApiError::new(StatusCode::CONFLICT, "no_shop", why)
}

async fn woo_webhook(State(app): AppState, req: Request) -> ApiResult {
    // Read first: an oversized body is the JSON 413 whether or not a shop is configured.
    let headers = req.headers().clone();
    let body = raw_body_bytes(req, &()).await?;
    let Some(shop) = app.shop.clone() else {
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
        Err(e) => {
            tracing::warn!(shop = %shop.name, "webhook refused: bad signature");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                e.to_string(),
            ))
        }
    }
}

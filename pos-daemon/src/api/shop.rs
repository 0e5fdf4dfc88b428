//! `/v1/sync` and the online shop's webhook.

use super::error::{ApiError, ErrorAnswer};
use super::extract::{blocking, raw_body_bytes, Answer, ApiJson, AppState, Caller};
use super::operators::{authorize, signed_in};
use super::stock::ledger_error;
use crate::app::App;
use crate::config::Role;
use crate::config::ShopConfig;
use crate::stock::ShopSync;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use shop_sync::sync::WebhookError;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource that need a bearer token.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(sync_status))
        .routes(routes!(sync_reconcile))
        .routes(routes!(sync_run))
}

/// The webhooks: signed by the shop, which sends no bearer token. The first form is the first
/// WooCommerce shop's, as webhooks were set up before shops were a list.
pub(super) fn public_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(woo_webhook))
        .routes(routes!(shop_webhook))
}

/// The sync with the online shops.
#[derive(Serialize, ToSchema)]
struct SyncAnswer {
    /// Whether any online shop is configured (`[[shops]]`).
    configured: bool,
    /// What in the configuration keeps a shop or a product from syncing.
    config_problems: Vec<String>,
    /// Each shop's sync.
    shops: Vec<ShopState>,
}

/// One shop's sync, and the drift its reconciliations found.
#[derive(Serialize, ToSchema)]
struct ShopState {
    /// The sync's state.
    #[serde(flatten)]
    status: ShopStatus,
    /// What the reconciliations found and corrected, latest first.
    drift: Vec<DriftAnswer>,
}

/// One shop's sync state.
#[derive(Clone, Serialize, ToSchema)]
struct ShopStatus {
    /// The shop's name (`[[shops]] name`).
    shop: String,
    /// The outbox: stock changes waiting to be pushed to the shop.
    backlog: BacklogAnswer,
    /// Synced products that do not sync (unknown online, stock not managed online, errors).
    problems: Vec<ProductProblem>,
    /// The last run's error, cleared by a successful run.
    last_error: Option<String>,
    /// When the last run succeeded (milliseconds since the epoch).
    last_ok_ms: Option<i64>,
    /// Click & collect orders waiting to be picked up.
    pending_pickups: usize,
}

impl From<shop_sync::sync::SyncStatus> for ShopStatus {
    fn from(s: shop_sync::sync::SyncStatus) -> Self {
        ShopStatus {
            shop: s.shop,
            backlog: BacklogAnswer {
                pending: s.backlog.pending,
                inflight: s.backlog.inflight,
                uncertain: s.backlog.uncertain,
                blocked: s.backlog.blocked,
                oldest_pending_ms: s.backlog.oldest_pending_ms,
            },
            problems: s
                .problems
                .into_iter()
                .map(|p| ProductProblem {
                    sku: p.sku,
                    status: p.status,
                    remote: p.remote,
                    message: p.message,
                })
                .collect(),
            last_error: s.last_error,
            last_ok_ms: s.last_ok_ms,
            pending_pickups: s.pending_pickups,
        }
    }
}

/// A shop's outbox.
#[derive(Clone, Serialize, ToSchema)]
struct BacklogAnswer {
    /// Changes waiting to be pushed.
    pending: i64,
    /// Changes sent whose outcome is not known yet.
    inflight: i64,
    /// Changes whose outcome could not be decided: the next reconciliation settles them.
    uncertain: i64,
    /// Pending changes of products that cannot sync (unknown online, unmanaged stock).
    blocked: i64,
    /// When the oldest pending change was queued (milliseconds since the epoch).
    oldest_pending_ms: Option<i64>,
}

/// A synced product that does not sync.
#[derive(Clone, Serialize, ToSchema)]
struct ProductProblem {
    /// The product.
    sku: String,
    /// `unknown_sku` (no product online has it), `unmanaged` (its stock is not managed
    /// online) or `error`.
    status: String,
    /// Its id online (`parent/variation` for a variation), when known.
    remote: Option<String>,
    /// Why it does not sync.
    message: Option<String>,
}

/// One reconciliation finding: a product whose online level differed from the till's.
#[derive(Clone, Serialize, ToSchema)]
struct DriftAnswer {
    /// The reconciliation run.
    run: i64,
    /// The product.
    sku: String,
    /// What the shop showed, whole units.
    online: i64,
    /// What it should have shown (the till's available level minus changes still queued).
    expected: i64,
    /// The correction queued, whole units.
    correction: i64,
    /// When (milliseconds since the epoch).
    at_ms: i64,
    /// The finding settled changes whose outcome could not be read (the correction completes
    /// or undoes one of them); `false`: the level changed by something the till does not
    /// know of, such as an edit in the shop's back office.
    after_uncertain_write: bool,
}

impl From<&shop_sync::ledger::Drift> for DriftAnswer {
    fn from(d: &shop_sync::ledger::Drift) -> Self {
        DriftAnswer {
            run: d.run,
            sku: d.sku.clone(),
            online: d.online,
            expected: d.expected,
            correction: d.correction,
            at_ms: d.at_ms,
            after_uncertain_write: d.after_uncertain_write,
        }
    }
}

fn drift_answers(drift: &[shop_sync::ledger::Drift]) -> Vec<DriftAnswer> {
    drift.iter().map(DriftAnswer::from).collect()
}

/// Online shop sync: configuration problems, and per shop the outbox backlog, the products
/// that cannot sync, the last error, the last successful run, pending pickups and the drift
/// found by reconciliations.
#[utoipa::path(get, path = "/v1/sync", tag = "shops",
    responses((status = 200, description = "The sync's state", body = SyncAnswer)))]
async fn sync_status(State(app): AppState) -> Answer<SyncAnswer> {
    let mut shops = Vec::new();
    for shop in app.stock.shops.clone() {
        let (status, drift) = blocking(move || (shop.status(), shop.drift())).await?;
        let status = status.map_err(|e| ApiError::internal(e.to_string()))?;
        let drift = drift.map_err(ledger_error)?;
        shops.push(ShopState {
            status: status.into(),
            drift: drift_answers(&drift),
        });
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
    Ok(Json(SyncAnswer {
        configured: !app.config.shops.list.is_empty(),
        config_problems: problems,
        shops,
    }))
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

/// A reconciliation on demand.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReconcileRequest {
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
    /// Only this shop (every shop when absent).
    #[serde(default)]
    shop: Option<String>,
}

/// One shop's reconciliation.
#[derive(Clone, Serialize, ToSchema)]
struct ShopDrift {
    /// The shop.
    shop: String,
    /// What it found and queued.
    drift: Vec<DriftAnswer>,
}

/// The reconciliations: each shop's under `shops`; `shop` and `drift` are the first one's,
/// for clients of a till with one shop.
#[derive(Serialize, ToSchema)]
struct ReconcileAnswer {
    /// The first shop.
    shop: String,
    /// The first shop's findings.
    drift: Vec<DriftAnswer>,
    /// Each shop's.
    shops: Vec<ShopDrift>,
}

/// Reconcile now (manager).
///
/// Compares every synced product's online level with the till's and queues corrections (the
/// till is the source of truth), for every shop or the one named (404 unknown_shop; 409
/// no_shop when none is configured); 502 shop_unreachable when a shop cannot be reached.
#[utoipa::path(post, path = "/v1/sync/reconcile", tag = "shops",
    request_body = ReconcileRequest,
    responses(
        (status = 200, description = "The reconciliations", body = ReconcileAnswer),
        (status = 502, description = "A shop cannot be reached (shop_unreachable)", body = ErrorAnswer)
    ))]
async fn sync_reconcile(
    State(app): AppState,
    ApiJson(req): ApiJson<ReconcileRequest>,
) -> Answer<ReconcileAnswer> {
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let mut shops = Vec::new();
    for shop in targets(&app, req.shop.as_deref())? {
        let drift = shop.reconcile().await.map_err(|e| {
            ApiError::new(StatusCode::BAD_GATEWAY, "shop_unreachable", e.to_string())
        })?;
        tracing::info!(shop = %shop.name, by = %req.operator, corrections = drift.len(), "reconciliation");
        shops.push(ShopDrift {
            shop: shop.name.clone(),
            drift: drift_answers(&drift),
        });
    }
    // `targets` gives at least one shop.
    let first = shops
        .first()
        .cloned()
        .ok_or_else(|| ApiError::internal("no shop reconciled"))?;
    Ok(Json(ReconcileAnswer {
        shop: first.shop,
        drift: first.drift,
        shops,
    }))
}

/// The longest a "sync now" waits for its run.
const SYNC_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A sync on demand.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SyncRunRequest {
    /// The operator asking: signed in at the till, or the session's own operator.
    operator: String,
    /// Only this shop (every shop when absent).
    #[serde(default)]
    shop: Option<String>,
}

/// What one run of a shop's syncer did.
#[derive(Clone, Serialize, ToSchema)]
struct RunAnswer {
    /// Orders read (those seen before included).
    orders_seen: usize,
    /// Stock movements the new orders caused.
    order_movements: usize,
    /// Changes confirmed applied online.
    pushed: usize,
    /// Changes whose outcome was decided by reading the shop again.
    resolved_by_reading: usize,
    /// Changes left to the next reconciliation.
    uncertain: usize,
    /// Changes read at their old level but too recent to be called not applied: left in
    /// flight.
    awaiting_deadline: usize,
    /// What a reconciliation in this run found.
    drift: Vec<DriftAnswer>,
    /// Changes sent again with their key after a lost answer (shops whose writes are
    /// idempotent).
    resent: usize,
}

impl From<&shop_sync::sync::RunReport> for RunAnswer {
    fn from(r: &shop_sync::sync::RunReport) -> Self {
        RunAnswer {
            orders_seen: r.orders_seen,
            order_movements: r.order_movements,
            pushed: r.pushed,
            resolved_by_reading: r.resolved_by_reading,
            uncertain: r.uncertain,
            awaiting_deadline: r.awaiting_deadline,
            drift: drift_answers(&r.drift),
            resent: r.resent,
        }
    }
}

/// One shop's run.
#[derive(Clone, Serialize, ToSchema)]
struct ShopRun {
    /// The shop.
    shop: String,
    /// What the run did.
    run: RunAnswer,
    /// The sync's state after it.
    status: ShopStatus,
}

/// The runs: each shop's under `shops`; `shop`, `run` and `status` are the first one's, for
/// clients of a till with one shop.
#[derive(Serialize, ToSchema)]
struct SyncRunAnswer {
    /// The first shop.
    shop: String,
    /// The first shop's run.
    run: RunAnswer,
    /// The first shop's state after it.
    status: ShopStatus,
    /// Each shop's.
    shops: Vec<ShopRun>,
}

/// Sync now (any signed-in operator): one run of each shop's syncer at once, or of the shop
/// named.
///
/// Writes left in flight decided, orders polled, the outbox pushed, without waiting for the
/// poll interval. 404 unknown_shop for a shop not configured; 502 shop_unreachable when a
/// shop fails, 504 shop_slow when one does not answer within 30 s (the run goes on in the
/// background), once every shop has had its run. Sales never wait for it.
#[utoipa::path(post, path = "/v1/sync/run", tag = "shops",
    request_body = SyncRunRequest,
    responses(
        (status = 200, description = "The runs", body = SyncRunAnswer),
        (status = 502, description = "A shop failed (shop_unreachable)", body = ErrorAnswer),
        (status = 504, description = "A shop did not answer in time (shop_slow)", body = ErrorAnswer)
    ))]
async fn sync_run(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SyncRunRequest>,
) -> Answer<SyncRunAnswer> {
    signed_in(&app, &caller, &req.operator)?;
    let mut shops = Vec::new();
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
        shops.push(ShopRun {
            shop: shop.name.clone(),
            run: RunAnswer::from(&report),
            status: status.into(),
        });
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // `targets` gives at least one shop, and each one that did not fail has its run here.
    let first = shops
        .first()
        .cloned()
        .ok_or_else(|| ApiError::internal("no shop ran"))?;
    Ok(Json(SyncRunAnswer {
        shop: first.shop,
        run: first.run,
        status: first.status,
        shops,
    }))
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

/// A webhook delivery taken.
#[derive(Serialize, ToSchema)]
struct WebhookAnswer {
    /// Always true: the signature was right, the shop's orders are polled sooner.
    accepted: bool,
}

/// WooCommerce webhook delivery for the first WooCommerce shop of `[[shops]]`.
///
/// The path webhooks were set up with before shops were a list (`/v1/webhooks/{shop}` is each
/// shop's). No bearer token: signed with `X-WC-Webhook-Signature`, the base64 HMAC-SHA256 of
/// the raw body with the webhook's secret. Only a hint: the till polls the shop's orders
/// sooner (the body is never applied). 401 bad_signature; 404 no_shop when no WooCommerce
/// shop is configured.
#[utoipa::path(post, path = "/v1/webhooks/woocommerce", tag = "shops", security(()),
    params(("X-WC-Webhook-Signature" = String, Header, description = "base64 HMAC-SHA256 of the raw body")),
    request_body(content = Object, description = "The shop's notification (not read: only its signature)"),
    responses((status = 200, description = "Taken", body = WebhookAnswer)))]
async fn woo_webhook(State(app): AppState, req: Request) -> Answer<WebhookAnswer> {
    let first = app
        .config
        .shops
        .list
        .iter()
        .find(|s| matches!(s, ShopConfig::Woocommerce(_)))
        .map(|s| s.name().to_string());
    webhook(&app, first.as_deref(), req).await
}

/// Webhook delivery for the shop named `{shop}` in `[[shops]]`.
///
/// No bearer token: signed as its platform signs (`X-WC-Webhook-Signature` for WooCommerce).
/// Only a hint: that shop's orders are polled sooner. 401 bad_signature; 404 no_shop for a
/// shop not configured, no_webhooks for a platform that sends none.
#[utoipa::path(post, path = "/v1/webhooks/{shop}", tag = "shops", security(()),
    params(
        ("shop" = String, Path, description = "The shop's name in [[shops]]"),
        ("X-WC-Webhook-Signature" = String, Header, description = "base64 HMAC-SHA256 of the raw body (WooCommerce)")
    ),
    request_body(content = Object, description = "The shop's notification (not read: only its signature)"),
    responses((status = 200, description = "Taken", body = WebhookAnswer)))]
async fn shop_webhook(
    State(app): AppState,
    Path(shop): Path<String>,
    req: Request,
) -> Answer<WebhookAnswer> {
    webhook(&app, Some(&shop), req).await
}

/// A webhook delivery for the shop named `shop`: if its signature is right, that shop's
/// syncer polls now (the body is never applied).
async fn webhook(app: &App, shop: Option<&str>, req: Request) -> Answer<WebhookAnswer> {
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
        Ok(()) => Ok(Json(WebhookAnswer { accepted: true })),
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

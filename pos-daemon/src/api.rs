//! The local HTTP API, versioned under `/v1`. Every answer is JSON; every error is
//! `{ "error": { "code", "message" } }`, 4xx for bad input (with nothing journaled), 503 when
//! the journal is unavailable.

use crate::app::App;
use crate::auth::{bearer_token, same_secret, PinRefusal, PinReport};
use crate::catalog::{CatalogError, LineRequest, Product};
use crate::config::{OperatorConfig, Role};
use crate::idempotency::{self, RequestKey, Start};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::Stream;
use pos_core::body::Body;
use pos_core::closure::{ClosureError, Period};
use pos_core::events;
use pos_core::journal::{Appended, Journal, JournalError};
use pos_core::money::Cents;
use pos_core::ticket::{
    Payment, PaymentMethod, RefundInput, RefundLineInput, SaleInput, MAX_LINES_PER_TICKET,
    MAX_PAYMENTS_PER_TICKET,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The OpenAPI document served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route: (method, path as in the OpenAPI document).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/products"),
    ("post", "/v1/products"),
    ("put", "/v1/products/{sku}"),
    ("get", "/v1/products/by-barcode/{code}"),
    ("post", "/v1/operators/sign-in"),
    ("post", "/v1/operators/sign-out"),
    ("post", "/v1/sales"),
    ("post", "/v1/refunds"),
    ("get", "/v1/tickets/{seq}"),
    ("post", "/v1/tickets/{seq}/reprint"),
    ("post", "/v1/training"),
    ("post", "/v1/clock/confirm"),
    ("get", "/v1/reports/x"),
    ("post", "/v1/reports/x/print"),
    ("post", "/v1/closures"),
    ("post", "/v1/journal/verify"),
    ("post", "/v1/journal/archives"),
    ("get", "/v1/config"),
    ("put", "/v1/config/vat-rates"),
    ("put", "/v1/config/merchant"),
    ("get", "/v1/devices"),
    ("get", "/v1/print-jobs"),
    ("get", "/v1/scans"),
    ("get", "/v1/events"),
    ("get", "/v1/stock"),
    ("get", "/v1/stock/low"),
    ("post", "/v1/stock/receptions"),
    ("post", "/v1/stock/counts"),
    ("post", "/v1/stock/adjustments"),
    ("get", "/v1/sync"),
    ("post", "/v1/sync/reconcile"),
    ("post", "/v1/sync/run"),
    ("post", "/v1/webhooks/woocommerce"),
    ("get", "/v1/pickups"),
    ("post", "/v1/pickups/{shop}/{order}"),
];

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    /// An error with a status, a stable code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The error with machine-readable details (`error.details`).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// A 422: the request is well-formed but refused.
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// A 503: the journal cannot be used.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "journal_unavailable",
            message,
        )
    }

    /// A 503 for a failure of the daemon itself.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(d) = self.details {
            body["error"]["details"] = d;
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let code = match e {
            CatalogError::BadBarcode(_) => "bad_barcode",
            CatalogError::UnknownBarcode(_) => "unknown_barcode",
            CatalogError::UnknownSku(_) => "unknown_sku",
            CatalogError::BadLine(_) => "invalid_line",
            CatalogError::BadProduct(_) => "invalid_product",
        };
        ApiError::invalid(code, e.to_string())
    }
}

pub(crate) fn journal_error(e: JournalError) -> ApiError {
    use JournalError as E;
    match e {
        E::Ticket(t) => {
            let code = match t {
                pos_core::ticket::TicketError::PaymentsShort { .. } => "payments_short",
                _ => "invalid_ticket",
            };
            ApiError::invalid(code, t.to_string())
        }
        E::OriginalNotFound { .. } | E::NotDuplicable { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        E::Closure(ClosureError::NothingToClose(_)) => {
            ApiError::new(StatusCode::CONFLICT, "nothing_to_close", e.to_string())
        }
        E::Closure(ClosureError::ClosedPeriod { .. }) => {
            ApiError::new(StatusCode::CONFLICT, "closed_period", e.to_string())
        }
        E::Invalid(_) | E::Canonical(_) => ApiError::invalid("invalid_record", e.to_string()),
        E::ClockAhead(_) => ApiError::new(StatusCode::CONFLICT, "clock_ahead", e.to_string()),
        E::OutcomeUnknown { .. } => {
            // Not a refusal: the sale may be in the journal after a restart (and its receipt
            // then printed), so a front-end must not simply ring it up again.
            tracing::error!(error = %e, "journal commit of unknown outcome");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome_unknown",
                e.to_string(),
            )
        }
        other => {
            tracing::error!(error = %other, "journal failure");
            ApiError::unavailable(other.to_string())
        }
    }
}

/// A JSON body: malformed JSON is a 400, a well-formed body of the wrong shape a 422, a body
/// over the limit a 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        parse_json(&body_bytes(req, state).await?).map(ApiJson)
    }
}

/// A JSON body as [`ApiJson`] takes it, with the request's idempotency key, if any.
pub struct KeyedJson<T> {
    body: T,
    key: Option<RequestKey>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for KeyedJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = body_bytes(req, state).await?;
        let key = RequestKey::of(&headers, &bytes)?;
        Ok(KeyedJson {
            body: parse_json(&bytes)?,
            key,
        })
    }
}

/// Whether a `Content-Type` value names JSON (`application/json`, parameters allowed, the
/// media type case-insensitive).
fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
}

/// A request's JSON body, within the configured limit: a request that does not say its body is
/// JSON is a 415 (a form or plain text posted by mistake is not read as a sale).
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""));
    if !content_type.is_some_and(is_json) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, sent with `Content-Type: application/json`",
        ));
    }
    raw_body_bytes(req, state).await
}

/// A request's body as it came, within the configured limit (too large: the JSON error 413).
async fn raw_body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than the configured limit",
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
        }
    })
}

/// Malformed JSON is a 400, well-formed JSON of the wrong shape a 422.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::invalid("invalid_request", e.to_string()),
            _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()),
        }
    })
}

type AppState = State<Arc<App>>;
type ApiResult = Result<Json<Value>, ApiError>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.api.max_body_bytes;
    let protected = Router::new()
        .route("/v1/products", get(list_products).post(create_product))
        .route("/v1/products/{sku}", put(update_product))
        .route("/v1/products/by-barcode/{code}", get(product_by_barcode))
        .route("/v1/operators/sign-in", post(sign_in))
        .route("/v1/operators/sign-out", post(sign_out))
        .route("/v1/sales", post(post_sale))
        .route("/v1/refunds", post(post_refund))
        .route("/v1/tickets/{seq}", get(get_ticket))
        .route("/v1/tickets/{seq}/reprint", post(reprint))
        .route("/v1/training", post(training))
        .route("/v1/clock/confirm", post(confirm_clock))
        .route("/v1/reports/x", get(x_report))
        .route("/v1/reports/x/print", post(print_x_report))
        .route("/v1/closures", post(closure))
        .route("/v1/journal/verify", post(verify))
        .route("/v1/journal/archives", post(export_archive))
        .route("/v1/config", get(get_config))
        .route("/v1/config/vat-rates", put(set_vat_rates))
        .route("/v1/config/merchant", put(set_merchant))
        .route("/v1/devices", get(devices))
        .route("/v1/print-jobs", get(print_jobs))
        .route("/v1/scans", get(scans))
        .route("/v1/events", get(sse))
        .route("/v1/stock", get(stock_levels))
        .route("/v1/stock/low", get(low_stock))
        .route("/v1/stock/receptions", post(stock_reception))
        .route("/v1/stock/counts", post(stock_count))
        .route("/v1/stock/adjustments", post(stock_adjustment))
        .route("/v1/sync", get(sync_status))
        .route("/v1/sync/reconcile", post(sync_reconcile))
        .route("/v1/sync/run", post(sync_run))
        .route("/v1/pickups", get(pickups))
        .route("/v1/pickups/{shop}/{order}", post(pickup))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_token));
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        // Signed by the shop (WooCommerce sends no bearer token).
        .route("/v1/webhooks/woocommerce", post(woo_webhook))
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such route; the {} routes are described at /v1/openapi.json",
            ROUTES.len()
        ),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method",
    )
}

async fn require_token(State(app): AppState, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let ok = given.is_some_and(|t| {
        app.config
            .api
            .tokens
            .iter()
            .any(|k| same_secret(k.as_bytes(), t.as_bytes()))
    });
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
        .into_response();
    }
    next.run(req).await
}

async fn health(State(app): AppState) -> Json<Value> {
    Json(crate::health::state(&app))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

// ---------------------------------------------------------------- catalog

async fn list_products(State(app): AppState) -> ApiResult {
    let app2 = app.clone();
    let products = blocking(move || {
        let mut products = app2.ops.products().map_err(|e| e.to_string())?;
        let l = crate::stock::lock(&app2.ledger);
        for p in products.iter_mut().filter(|p| p.track_stock) {
            p.stock_milli = l
                .level(&p.sku)
                .map_err(|e| e.to_string())?
                .map(|lv| lv.on_hand_milli);
        }
        Ok::<_, String>(products)
    })
    .await?
    .map_err(ApiError::internal)?;
    Ok(Json(json!({ "products": products })))
}

/// A product created or changed by a manager.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductRequest {
    operator: String,
    pin: String,
    product: Product,
}

async fn save_product(app: Arc<App>, req: ProductRequest, must_exist: Option<bool>) -> ApiResult {
    let journal = app.journal().map_err(ApiError::unavailable)?;
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let p = req.product;
    {
        let catalog = app
            .catalog
            .read()
            .map_err(|_| ApiError::internal("catalog lock"))?;
        match must_exist {
            Some(true) if catalog.get(&p.sku).is_none() => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_sku",
                    format!("no product {:?}", p.sku),
                ))
            }
            Some(false) if catalog.get(&p.sku).is_some() => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "sku_exists",
                    format!("product {:?} exists: use PUT", p.sku),
                ))
            }
            _ => {}
        }
        catalog.check(&p, &journal.vat_rates())?;
    }
    let app2 = app.clone();
    let stored = p.clone();
    blocking(move || {
        app2.ops
            .upsert_product(&stored)
            .map_err(|e| e.to_string())?;
        if stored.track_stock {
            let mut l = crate::stock::lock(&app2.ledger);
            l.track(&stored.sku, app2.config.stock.low_of(&stored.sku))
                .map_err(|e| e.to_string())?;
            if let Some(q) = stored.stock_milli {
                // A level given with the product is an inventory count.
                let id = format!("product-{}", crate::stock::unique_id());
                l.count(&id, &[(stored.sku.clone(), q)])
                    .map_err(|e| e.to_string())?;
            }
            if let Some(w) = &app2.config.shops.woocommerce {
                if w.skus.includes(&stored.sku) {
                    l.sync_with(&w.name, &stored.sku)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok::<_, String>(())
    })
    .await?
    .map_err(ApiError::internal)?;
    let mut p = p;
    // The level lives in the ledger only.
    p.stock_milli = None;
    if let Ok(mut c) = app.catalog.write() {
        c.insert(p.clone());
    }
    with_level(&app, &mut p);
    Ok(Json(json!({ "product": p })))
}

/// Fills a tracked product's `stock_milli` (on hand) from the ledger.
fn with_level(app: &App, p: &mut Product) {
    if p.track_stock {
        p.stock_milli = crate::stock::lock(&app.ledger)
            .level(&p.sku)
            .ok()
            .flatten()
            .map(|l| l.on_hand_milli);
    }
}

async fn create_product(State(app): AppState, ApiJson(p): ApiJson<ProductRequest>) -> ApiResult {
    save_product(app, p, Some(false)).await
}

async fn update_product(
    State(app): AppState,
    Path(sku): Path<String>,
    ApiJson(p): ApiJson<ProductRequest>,
) -> ApiResult {
    if p.product.sku != sku {
        return Err(ApiError::invalid(
            "invalid_product",
            "the body's sku differs from the path",
        ));
    }
    save_product(app, p, Some(true)).await
}

async fn product_by_barcode(State(app): AppState, Path(code): Path<String>) -> ApiResult {
    let catalog = app
        .catalog
        .read()
        .map_err(|_| ApiError::internal("catalog lock"))?;
    let mut found = catalog.lookup(&code, &app.barcodes).map_err(|e| match e {
        CatalogError::UnknownBarcode(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_barcode", e.to_string())
        }
        other => other.into(),
    })?;
    drop(catalog);
    with_level(&app, &mut found.product);
    Ok(Json(serde_json::to_value(found).unwrap_or_default()))
}

// ---------------------------------------------------------------- operators

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    operator: String,
    pin: String,
}

fn operator(app: &App, id: &str) -> Result<OperatorConfig, ApiError> {
    app.operators
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::invalid("unknown_operator", format!("no operator {id:?}")))
}

/// An attempt taken from the PIN guard: given back if its request goes away before the PIN is
/// judged (the handler's future dropped while argon2 runs).
struct PinAttempt<'a> {
    app: &'a App,
    operator: &'a str,
    judged: bool,
}

impl PinAttempt<'_> {
    /// Records the outcome; returns the journal event it calls for.
    fn judge(mut self, right: bool) -> Result<Option<PinReport>, ApiError> {
        self.judged = true;
        Ok(self
            .app
            .pins
            .lock()
            .map_err(|_| ApiError::internal("pin lock"))?
            .finish(self.operator, right))
    }
}

impl Drop for PinAttempt<'_> {
    fn drop(&mut self) {
        if !self.judged {
            if let Ok(mut g) = self.app.pins.lock() {
                g.abandon(self.operator);
            }
        }
    }
}

/// Checks an operator's PIN and role. The attempt is counted before the PIN is checked, so a
/// burst checks no more PINs than the lock-out allows; a series of wrong PINs is journaled at
/// its first PIN and at its end (lock-out, or the right PIN), with its count.
async fn authorize(
    app: &Arc<App>,
    id: &str,
    pin: &str,
    need: Role,
) -> Result<OperatorConfig, ApiError> {
    let op = operator(app, id)?;
    let taken = app
        .pins
        .lock()
        .map_err(|_| ApiError::internal("pin lock"))?
        .begin(id);
    match taken {
        Ok(()) => {}
        Err(PinRefusal::LockedOut(secs)) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "pin_locked",
                format!("too many wrong PINs: try again in {secs} s"),
            ))
        }
        Err(PinRefusal::TooManyAttempts) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "pin_locked",
                "as many PINs as the lock-out allows are being checked for this operator: try again in 1 s",
            ))
        }
    }
    let attempt = PinAttempt {
        app,
        operator: id,
        judged: false,
    };
    let hash = op.pin_hash.clone();
    let pin = pin.to_string();
    let right = blocking(move || crate::auth::verify_pin(&pin, &hash)).await?;
    let report = attempt.judge(right)?;
    if !right {
        tracing::warn!(operator = id, "wrong PIN");
    }
    if let Some(report) = report {
        let message = match report {
            PinReport::FirstWrong => "wrong PIN".to_string(),
            PinReport::LockedOut(n) => format!(
                "{n} wrong PINs in a row; operator locked out for {} s",
                app.config.policy.pin_lockout_secs
            ),
            PinReport::RightAfter(n) => format!("{n} wrong PINs in a row before the right one"),
        };
        app.journal_event_by(events::OPERATOR_PIN_REJECTED, &message, Some(id))
            .await;
    }
    if !right {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_pin",
            "wrong PIN",
        ));
    }
    if need == Role::Manager && op.role != Role::Manager {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "manager_required",
            format!("operator {id:?} is not a manager"),
        ));
    }
    Ok(op)
}

async fn sign_in(State(app): AppState, ApiJson(req): ApiJson<SignIn>) -> ApiResult {
    app.journal().map_err(ApiError::unavailable)?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Cashier).await?;
    if let Ok(mut s) = app.signed_in.write() {
        s.insert(op.id.clone());
    }
    save_sessions(&app).await?;
    app.journal_event_by(events::OPERATOR_SIGNED_IN, "signed in", Some(&op.id))
        .await;
    Ok(Json(
        json!({ "operator": op.id, "name": op.name, "role": op.role }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignOut {
    operator: String,
}

async fn sign_out(State(app): AppState, ApiJson(req): ApiJson<SignOut>) -> ApiResult {
    let was = app
        .signed_in
        .write()
        .map(|mut s| s.remove(&req.operator))
        .unwrap_or(false);
    if !was {
        return Err(ApiError::invalid(
            "operator_not_signed_in",
            format!("operator {:?} is not signed in", req.operator),
        ));
    }
    save_sessions(&app).await?;
    app.journal_event_by(
        events::OPERATOR_SIGNED_OUT,
        "signed out",
        Some(&req.operator),
    )
    .await;
    Ok(Json(json!({ "operator": req.operator })))
}

/// Keeps the sessions (operators signed in, training mode) in `ops.db` for the next start.
async fn save_sessions(app: &Arc<App>) -> Result<(), ApiError> {
    let app = app.clone();
    blocking(move || app.save_sessions())
        .await?
        .map_err(|e| ApiError::internal(format!("cannot keep the session in ops.db: {e}")))
}

/// Checks that a write may go on for operator `id`: the clock first (a clock far ahead refuses
/// every write, whoever sends it: its answer says what to do), then the operator's session.
fn signed_in(app: &App, id: &str) -> Result<(), ApiError> {
    if let Some(ahead) = app.journal().ok().and_then(|j| j.clock_ahead()) {
        return Err(journal_error(JournalError::ClockAhead(ahead)));
    }
    operator(app, id)?;
    let ok = app
        .signed_in
        .read()
        .map(|s| s.contains(id))
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_not_signed_in",
            format!("operator {id:?} must sign in first (POST /v1/operators/sign-in)"),
        ))
    }
}

// ---------------------------------------------------------------- sales

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentRequest {
    method: PaymentMethod,
    amount_cents: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaleRequest {
    operator: String,
    lines: Vec<LineRequest>,
    payments: Vec<PaymentRequest>,
    #[serde(default)]
    ticket_discount_cents: i64,
}

/// The payments of a request, each within the policy's ceiling (compared by absolute value,
/// whatever the sign a client sends).
fn payments(
    policy: &crate::config::Policy,
    p: &[PaymentRequest],
) -> Result<Vec<Payment>, ApiError> {
    if p.len() > MAX_PAYMENTS_PER_TICKET {
        return Err(ApiError::invalid(
            "invalid_ticket",
            format!("at most {MAX_PAYMENTS_PER_TICKET} payments"),
        ));
    }
    let max = policy.max_payment_cents;
    if let Some(big) = p
        .iter()
        .find(|p| p.amount_cents.unsigned_abs() > max.unsigned_abs())
    {
        return Err(ApiError::invalid(
            "payment_too_large",
            format!(
                "a payment of {} is above the till's ceiling of {} (policy.max_payment_cents); nothing was journaled",
                Cents(big.amount_cents),
                Cents(max)
            ),
        ));
    }
    Ok(p.iter()
        .map(|p| Payment {
            method: p.method,
            amount: Cents(p.amount_cents),
        })
        .collect())
}

fn ticket_answer(app: &App, a: &Appended, code: Option<String>, job: Option<i64>) -> Value {
    let body = Body::decode(a.kind, &a.body).ok();
    let (total, change, vat, lines, pays) = match &body {
        Some(Body::Sale(s)) | Some(Body::Training(s)) => (
            s.total,
            s.change,
            &s.vat,
            serde_json::to_value(&s.lines).unwrap_or_default(),
            serde_json::to_value(&s.payments).unwrap_or_default(),
        ),
        Some(Body::Refund(r)) => (
            r.total,
            Cents::ZERO,
            &r.vat,
            serde_json::to_value(&r.lines).unwrap_or_default(),
            serde_json::to_value(&r.payments).unwrap_or_default(),
        ),
        _ => return json!({ "seq": a.seq, "kind": a.kind.as_str(), "number": a.kind_seq }),
    };
    json!({
        "seq": a.seq,
        "kind": a.kind.as_str(),
        "ticket_number": a.kind_seq,
        "timestamp_ms": a.timestamp_ms,
        "date_time": crate::printout::local_time(a.timestamp_ms, &app.opening.time_zone),
        "total_cents": total.0,
        "change_cents": change.0,
        "vat": vat.iter().map(|v| json!({
            "rate": v.rate.0, "net_cents": v.net.0, "vat_cents": v.vat.0, "gross_cents": v.gross.0
        })).collect::<Vec<_>>(),
        "lines": lines,
        "payments": pays,
        "receipt_code": code,
        "print_job": job,
    })
}

async fn post_sale(
    State(app): AppState,
    KeyedJson { body: req, key }: KeyedJson<SaleRequest>,
) -> ApiResult {
    let journal = app.journal().map_err(ApiError::unavailable)?;
    // A sale sent again under its idempotency key gets its first answer, not a second ticket.
    let (_held, unsettled) = match key.as_ref().map(|k| idempotency::start(&app, k)) {
        None => (None, None),
        Some(Err(e)) => return Err(e),
        Some(Ok(Start::Replay(seq))) => return replay(&app, &journal, seq).await,
        Some(Ok(Start::Serve { held, unsettled })) => (Some(held), unsettled),
    };
    signed_in(&app, &req.operator)?;
    if req.lines.is_empty() || req.lines.len() > MAX_LINES_PER_TICKET {
        return Err(ApiError::invalid(
            "invalid_ticket",
            format!("a ticket has 1 to {MAX_LINES_PER_TICKET} lines"),
        ));
    }
    let lines = {
        let catalog = app
            .catalog
            .read()
            .map_err(|_| ApiError::internal("catalog lock"))?;
        req.lines
            .iter()
            .enumerate()
            .map(|(i, l)| catalog.resolve_line(i, l, &app.barcodes))
            .collect::<Result<Vec<_>, _>>()?
    };
    if req
        .payments
        .iter()
        .any(|p| p.method == PaymentMethod::Online)
    {
        return Err(ApiError::invalid(
            "invalid_ticket",
            "`online` payments are recorded by click & collect pickups (POST /v1/pickups/{shop}/{order})",
        ));
    }
    let input = SaleInput {
        operator: req.operator.clone(),
        lines,
        ticket_discount: Cents(req.ticket_discount_cents),
        payments: payments(&app.config.policy, &req.payments)?,
    };
    // Computed once here for the checks below; the journal computes it again as it validates.
    let expected = pos_core::ticket::compute_sale(&input, &journal.vat_rates()).ok();
    // Cash given far beyond the total is a mistyped amount, not a sale to journal for good.
    if let Some(computed) = &expected {
        let max = app.config.policy.max_change_cents;
        if computed.change.0 > max {
            return Err(ApiError::invalid(
                "change_too_large",
                format!(
                    "{} of change is more than the till gives (policy.max_change_cents: {}); check the amount tendered; nothing was journaled",
                    computed.change,
                    Cents(max)
                ),
            ));
        }
    }
    if let (Some(k), Some(after_seq)) = (&key, unsettled) {
        // Remembered, but its answer was never recorded: the journal says whether the sale
        // was written.
        let (app2, k2) = (app.clone(), k.key.clone());
        let written = blocking(move || {
            idempotency::settle(&app2, &k2, after_seq, |r| {
                expected.as_ref().is_some_and(|e| is_sale(r, e))
            })
        })
        .await??;
        if let Some(seq) = written {
            return replay(&app, &journal, seq).await;
        }
    }
    // The journal validates the ticket before writing anything: a refused ticket changes
    // nothing.
    let training = app.training.load(Ordering::SeqCst);
    let warnings = if training {
        Vec::new()
    } else {
        let wanted: Vec<(String, i64)> = input
            .lines
            .iter()
            .map(|l| (l.sku.clone(), l.quantity.0))
            .collect();
        let ledger = app.ledger.clone();
        match blocking(move || crate::stock::lock(&ledger).check_sale(&wanted)).await? {
            Ok(w) => w,
            Err(shop_sync::ledger::LedgerError::Insufficient(short)) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "insufficient_stock",
                    format!(
                        "not enough stock for {}; nothing was journaled",
                        short
                            .iter()
                            .map(|s| s.sku.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_details(json!({ "shortages": short })))
            }
            Err(e) => return Err(ApiError::invalid("invalid_ticket", e.to_string())),
        }
    };
    let app2 = app.clone();
    let (a, code, job) = blocking(move || {
        let a = idempotency::append_keyed(&app2, &journal, key.as_ref(), || {
            if training {
                journal.training(&input)
            } else {
                journal.sale(&input)
            }
        })?;
        // Durable now: only from here on is anything printed or answered.
        let code = journal.receipt_code(&a).ok();
        let job = app2.project(a.seq);
        Ok::<_, ApiError>((a, code, job))
    })
    .await??;
    let job = job.await.ok().flatten();
    let mut answer = ticket_answer(&app, &a, code, job);
    if !warnings.is_empty() {
        if let Some(held_back) = app.below_zero_warnings.pass() {
            tracing::warn!(seq = a.seq, shortages = ?warnings, held_back, "sold below zero stock");
        }
        answer["stock_warnings"] = json!(warnings);
    }
    app.bus.publish(
        "sale",
        json!({ "seq": a.seq, "kind": a.kind.as_str(), "ticket_number": a.kind_seq }),
    );
    Ok(Json(answer))
}

/// The answer to a sale already journaled under the idempotency key sent again.
async fn replay(app: &Arc<App>, journal: &Arc<Journal>, seq: u64) -> ApiResult {
    let (app, journal) = (app.clone(), journal.clone());
    blocking(move || {
        let record = pos_core::reader::JournalReader::open(&app.config.journal_path())
            .and_then(|r| r.record(seq))
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let Some(Ok(r)) = record else {
            return Err(ApiError::unavailable(format!(
                "record {seq} cannot be read"
            )));
        };
        let kind = r
            .known_kind()
            .ok_or_else(|| ApiError::unavailable(format!("record {seq} has an unknown kind")))?;
        let a = Appended {
            seq: r.seq,
            kind,
            kind_seq: r.kind_seq,
            timestamp_ms: r.timestamp_ms,
            hash: r.hash,
            signature: r.signature,
            body: r.body,
            clock_went_back: false,
        };
        let code = journal.receipt_code(&a).ok();
        let job = app.ops.job_of_seq(seq).ok().flatten().map(|j| j.id);
        let mut answer = ticket_answer(&app, &a, code, job);
        answer["idempotent_replay"] = json!(true);
        Ok(Json(answer))
    })
    .await?
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundLineRequest {
    original_line: u32,
    quantity_milli: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundRequest {
    operator: String,
    original_seq: u64,
    reason: String,
    lines: Vec<RefundLineRequest>,
    payments: Vec<PaymentRequest>,
    #[serde(default)]
    void: bool,
    /// A manager's id and PIN, for voids and refunds above the cashier's limit.
    #[serde(default)]
    manager: Option<String>,
    #[serde(default)]
    manager_pin: Option<String>,
}

/// posd sells pieces whole (the catalogue takes whole quantities), so it returns them whole:
/// a refund of half a piece is refused before the PIN checks. (The journal itself counts in
/// thousandths of a piece: another till may sell pieces in parts.) An original that cannot be
/// read is left to the journal, which says why.
async fn whole_pieces(
    app: &Arc<App>,
    original_seq: u64,
    lines: &[RefundLineRequest],
) -> Result<(), ApiError> {
    let partial: Vec<(usize, u32, i64)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.quantity_milli % 1000 != 0)
        .map(|(i, l)| (i, l.original_line, l.quantity_milli))
        .collect();
    if partial.is_empty() {
        return Ok(());
    }
    let path = app.config.journal_path();
    let original = blocking(move || {
        let record = pos_core::reader::JournalReader::open(&path)
            .ok()?
            .record(original_seq)
            .ok()??
            .ok()?;
        match Body::decode(record.known_kind()?, &record.body) {
            Ok(Body::Sale(s)) => Some(s),
            _ => None,
        }
    })
    .await?;
    let Some(sale) = original else { return Ok(()) };
    for (i, original_line, milli) in partial {
        let piece = sale
            .lines
            .get(original_line as usize)
            .is_some_and(|l| l.unit == pos_core::ticket::Unit::Piece);
        if piece {
            return Err(ApiError::invalid(
                "invalid_ticket",
                format!(
                    "refund line {i}: {milli} thousandths of a piece of original line {original_line}: pieces are returned whole"
                ),
            ));
        }
    }
    Ok(())
}

async fn post_refund(
    State(app): AppState,
    KeyedJson { body: req, key }: KeyedJson<RefundRequest>,
) -> ApiResult {
    let journal = app.journal().map_err(ApiError::unavailable)?;
    // A refund sent again under its idempotency key gets its first answer: money goes out once.
    let (_held, unsettled) = match key.as_ref().map(|k| idempotency::start(&app, k)) {
        None => (None, None),
        Some(Err(e)) => return Err(e),
        Some(Ok(Start::Replay(seq))) => return replay(&app, &journal, seq).await,
        Some(Ok(Start::Serve { held, unsettled })) => (Some(held), unsettled),
    };
    signed_in(&app, &req.operator)?;
    if req.lines.len() > MAX_LINES_PER_TICKET {
        return Err(ApiError::invalid("invalid_ticket", "too many lines"));
    }
    let pays = payments(&app.config.policy, &req.payments)?;
    whole_pieces(&app, req.original_seq, &req.lines).await?;
    let amount = pays
        .iter()
        .try_fold(0i64, |acc, p| acc.checked_add(p.amount.0.checked_abs()?))
        .ok_or_else(|| ApiError::invalid("invalid_ticket", "amount overflow"))?;
    let op = operator(&app, &req.operator)?;
    let needs_manager = req.void || amount > app.config.policy.cashier_refund_limit_cents;
    let mut override_by = None;
    if needs_manager && op.role != Role::Manager {
        let (Some(m), Some(pin)) = (&req.manager, &req.manager_pin) else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "manager_required",
                "voids and refunds above the cashier limit need `manager` and `manager_pin`",
            ));
        };
        authorize(&app, m, pin, Role::Manager).await?;
        override_by = Some(m.clone());
    }
    let input = RefundInput {
        operator: req.operator.clone(),
        reason: req.reason.clone(),
        lines: req
            .lines
            .iter()
            .map(|l| RefundLineInput {
                original_line: l.original_line,
                quantity: pos_core::money::Qty(l.quantity_milli),
            })
            .collect(),
        payments: pays,
        void: req.void,
    };
    let original = req.original_seq;
    if let (Some(k), Some(after_seq)) = (&key, unsettled) {
        // Remembered, but its answer was never recorded: the journal says whether the refund
        // was written.
        let (app2, k2, wanted) = (app.clone(), k.key.clone(), input.clone());
        let written = blocking(move || {
            idempotency::settle(&app2, &k2, after_seq, |r| is_refund(r, original, &wanted))
        })
        .await??;
        if let Some(seq) = written {
            return replay(&app, &journal, seq).await;
        }
    }
    let app2 = app.clone();
    let (a, code, job) = blocking(move || {
        let a = idempotency::append_keyed(&app2, &journal, key.as_ref(), || {
            journal.refund(original, &input)
        })?;
        let code = journal.receipt_code(&a).ok();
        let job = app2.project(a.seq);
        Ok::<_, ApiError>((a, code, job))
    })
    .await??;
    let job = job.await.ok().flatten();
    if let Some(m) = override_by {
        let what = if req.void {
            "void"
        } else {
            "refund above the cashier limit"
        };
        app.journal_event_by(
            events::MANAGER_OVERRIDE,
            &format!("{what} of seq {original} (refund seq {})", a.seq),
            Some(&m),
        )
        .await;
    }
    Ok(Json(ticket_answer(&app, &a, code, job)))
}

/// Whether `record` is the sale (or training ticket) `expected`.
fn is_sale(record: &pos_core::record::Record, expected: &pos_core::ticket::SaleBody) -> bool {
    use pos_core::record::Kind;
    let Some(kind @ (Kind::Sale | Kind::Training)) = record.known_kind() else {
        return false;
    };
    matches!(
        Body::decode(kind, &record.body),
        Ok(Body::Sale(b) | Body::Training(b)) if b == *expected
    )
}

/// Whether `record` is the refund `input` of the sale at `original`.
fn is_refund(record: &pos_core::record::Record, original: u64, input: &RefundInput) -> bool {
    use pos_core::record::Kind;
    record.known_kind() == Some(Kind::Refund)
        && matches!(
            Body::decode(Kind::Refund, &record.body),
            Ok(Body::Refund(b)) if refund_of(&b, original, input)
        )
}

/// Whether `body` is the refund `input` of the sale at `original` asked for (a refund body
/// holds the quantities and payments negated).
fn refund_of(body: &pos_core::ticket::RefundBody, original: u64, input: &RefundInput) -> bool {
    let same_lines = body.lines.len() == input.lines.len()
        && body.lines.iter().zip(&input.lines).all(|(b, i)| {
            b.original_line == i.original_line && Some(b.quantity.0) == i.quantity.0.checked_neg()
        });
    let same_payments = body.payments.len() == input.payments.len()
        && body
            .payments
            .iter()
            .zip(&input.payments)
            .all(|(b, i)| b.method == i.method && Some(b.amount.0) == i.amount.0.checked_neg());
    body.original.seq == original
        && body.operator == input.operator
        && body.reason == input.reason
        && body.void == input.void
        && same_lines
        && same_payments
}

fn parse_seq(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
        .ok_or_else(|| ApiError::invalid("invalid_seq", format!("{s:?} is not a sequence number")))
}

async fn get_ticket(State(app): AppState, Path(seq): Path<String>) -> ApiResult {
    let seq = parse_seq(&seq)?;
    let path = app.config.journal_path();
    let rec = blocking(move || {
        pos_core::reader::JournalReader::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|r| r.record(seq).map_err(|e| e.to_string()))
    })
    .await?
    .map_err(ApiError::unavailable)?;
    let Some(Ok(rec)) = rec else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no record {seq}"),
        ));
    };
    let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    let total = body.get("total").and_then(Value::as_i64);
    let code = match (rec.kind.as_str(), total) {
        ("sale" | "refund" | "training", Some(t)) => {
            crate::printout::receipt_code(&rec, &app.opening.register_id, t, &app.key).ok()
        }
        _ => None,
    };
    let ops = app.ops.clone();
    let job = blocking(move || ops.job_of_seq(seq)).await?.ok().flatten();
    Ok(Json(json!({
        "seq": rec.seq,
        "kind": rec.kind,
        "number": rec.kind_seq,
        "timestamp_ms": rec.timestamp_ms,
        "hash": hex::encode(rec.hash),
        "body": body,
        "receipt_code": code,
        "print_job": job,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReprintRequest {
    operator: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn reprint(
    State(app): AppState,
    Path(seq): Path<String>,
    ApiJson(req): ApiJson<ReprintRequest>,
) -> ApiResult {
    let seq = parse_seq(&seq)?;
    let journal = app.journal().map_err(ApiError::unavailable)?;
    signed_in(&app, &req.operator)?;
    let path = app.config.journal_path();
    let kind = blocking(move || {
        pos_core::reader::JournalReader::open(&path)
            .ok()
            .and_then(|r| r.record(seq).ok().flatten())
            .and_then(Result::ok)
            .map(|r| r.kind)
    })
    .await?;
    match kind.as_deref() {
        Some("sale" | "refund" | "training" | "closure") => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "not_reprintable",
                format!("record {seq} is neither a ticket nor a closure"),
            ))
        }
        None => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no record {seq}"),
            ))
        }
    }
    let reason = req.reason.unwrap_or_else(|| "reprint".into());
    let operator = req.operator.clone();
    let app2 = app.clone();
    let (a, job) = blocking(move || {
        let a = journal.duplicate(seq, &operator, &reason)?;
        let job = app2.project(a.seq);
        // A job whose fate was unknown is settled by this duplicate.
        if let Ok(Some(old)) = app2.ops.job_of_seq(seq) {
            if old.state == crate::ops::JobState::Unknown {
                let _ = app2.ops.set_state(
                    old.id,
                    crate::ops::JobState::Reprinted,
                    Some(&format!("reprinted as duplicate seq {}", a.seq)),
                );
            }
        }
        Ok::<_, JournalError>((a, job))
    })
    .await?
    .map_err(journal_error)?;
    let job = job.await.ok().flatten();
    let copy = Body::decode(a.kind, &a.body).ok().and_then(|b| match b {
        Body::Duplicate(d) => Some(d.copy),
        _ => None,
    });
    app.journal_event_by(
        events::DUPLICATE_PRINTED,
        &format!("duplicate seq {} of seq {seq}", a.seq),
        Some(&req.operator),
    )
    .await;
    Ok(Json(
        json!({ "seq": a.seq, "kind": "duplicate", "original_seq": seq, "copy": copy, "print_job": job }),
    ))
}

// ---------------------------------------------------------------- manager operations

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainingRequest {
    on: bool,
    operator: String,
    pin: String,
}

async fn training(State(app): AppState, ApiJson(req): ApiJson<TrainingRequest>) -> ApiResult {
    app.journal().map_err(ApiError::unavailable)?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let was = app.training.swap(req.on, Ordering::SeqCst);
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
    let journal = app.journal().map_err(ApiError::unavailable)?;
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
    let journal = app.journal().map_err(ApiError::unavailable)?;
    let x = blocking(move || journal.x_report())
        .await?
        .map_err(journal_error)?;
    Ok(Json(serde_json::to_value(x).unwrap_or_default()))
}

async fn print_x_report(State(app): AppState) -> ApiResult {
    let journal = app.journal().map_err(ApiError::unavailable)?;
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
        app2.print_notify.notify_one();
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
    let journal = app.journal().map_err(ApiError::unavailable)?;
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
    let journal = app.journal().map_err(ApiError::unavailable)?;
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
    let file_name = format!("{}_{name}.zip", app.opening.register_id);
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
        let (manifest, body) = pos_core::archive::export_archive(
            &reader, &app2.key, &selection, &out,
        )
        .map_err(|e| match e {
            pos_core::archive::ArchiveError::Selection(m) => {
                ApiError::invalid("invalid_selection", m)
            }
            other => {
                tracing::error!(error = %other, "archive export failed");
                ApiError::unavailable(other.to_string())
            }
        })?;
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

// ---------------------------------------------------------------- configuration

async fn get_config(State(app): AppState) -> ApiResult {
    let journal = app.journal().map_err(ApiError::unavailable)?;
    let merchant = app.current_opening().merchant;
    Ok(Json(json!({
        "merchant": merchant,
        "register_id": app.opening.register_id,
        "time_zone": app.opening.time_zone,
        "vat_rates": journal.vat_rates(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VatRatesRequest {
    /// Rates in hundredths of a percent.
    rates: Vec<u32>,
    operator: String,
    pin: String,
}

async fn set_vat_rates(State(app): AppState, ApiJson(req): ApiJson<VatRatesRequest>) -> ApiResult {
    let journal = app.journal().map_err(ApiError::unavailable)?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    // A rate still used by a product stays: its sales would be refused.
    let in_use: Vec<String> = app
        .catalog
        .read()
        .map_err(|_| ApiError::internal("catalog lock"))?
        .products()
        .filter(|p| !req.rates.contains(&p.vat_rate))
        .map(|p| p.sku.clone())
        .collect();
    if !in_use.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "vat_rate_in_use",
            format!("products use a rate left out: {}", in_use.join(", ")),
        ));
    }
    let rates: Vec<pos_core::money::VatRate> = req
        .rates
        .iter()
        .map(|r| pos_core::money::VatRate(*r))
        .collect();
    let old = journal.vat_rates();
    if rates == old {
        return Ok(Json(json!({ "vat_rates": old, "changed": false })));
    }
    let app2 = app.clone();
    let a = blocking(move || {
        let a = journal.append(pos_core::journal::Draft::SetVatRates {
            rates,
            operator: op.id,
        })?;
        app2.appended(a.seq);
        Ok::<_, JournalError>((a, journal.vat_rates()))
    })
    .await?
    .map_err(journal_error)?;
    Ok(Json(
        json!({ "vat_rates": a.1, "changed": true, "seq": a.0.seq }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantRequest {
    merchant: pos_core::body::Merchant,
    operator: String,
    pin: String,
}

async fn set_merchant(State(app): AppState, ApiJson(req): ApiJson<MerchantRequest>) -> ApiResult {
    let journal = app.journal().map_err(ApiError::unavailable)?;
    let mut check = app.opening.clone();
    check.merchant = req.merchant.clone();
    crate::config::check_merchant_text(&check.merchant)
        .and_then(|()| pos_core::body::validate_opening(&check))
        .map_err(|e| ApiError::invalid("invalid_merchant", e))?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let old = app.current_opening().merchant;
    if old == req.merchant {
        return Ok(Json(json!({ "merchant": old, "changed": false })));
    }
    let new = req.merchant;
    let to_json = |m: &pos_core::body::Merchant| serde_json::to_string(m).unwrap_or_default();
    let body = pos_core::body::EventBody {
        code: events::CONFIGURATION_CHANGED.to_string(),
        message: "merchant identity changed".to_string(),
        operator: Some(op.id.clone()),
        details: [
            ("setting".to_string(), "merchant".to_string()),
            ("old".to_string(), to_json(&old)),
            ("new".to_string(), to_json(&new)),
        ]
        .into(),
    };
    let app2 = app.clone();
    let stored = to_json(&new);
    let a = blocking(move || {
        // Journaled first: the change exists once the event is durable.
        let a = journal
            .append(pos_core::journal::Draft::Event(body))
            .map_err(journal_error)?;
        app2.appended(a.seq);
        app2.ops
            .set_meta(crate::app::MERCHANT, &stored)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok::<_, ApiError>(a)
    })
    .await??;
    if let Ok(mut m) = app.merchant.write() {
        *m = new.clone();
    }
    Ok(Json(
        json!({ "merchant": new, "changed": true, "seq": a.seq }),
    ))
}

async fn verify(State(app): AppState) -> ApiResult {
    let path = app.config.journal_path();
    let (records, findings) = blocking(move || {
        let reader = pos_core::reader::JournalReader::open(&path).map_err(|e| e.to_string())?;
        let mut sink = pos_core::verify::CollectFindings::default();
        let summary = pos_core::verify::verify_journal(
            &reader,
            &pos_core::verify::VerifyOptions::default(),
            &mut sink,
        )
        .map_err(|e| e.to_string())?;
        Ok::<_, String>((summary.records, sink.findings))
    })
    .await?
    .map_err(ApiError::unavailable)?;
    let list: Vec<String> = findings
        .iter()
        .take(100)
        .map(|f| format!("{f:?}"))
        .collect();
    if findings.is_empty() {
        app.journal_event(
            events::INTEGRITY_CHECK_PASSED,
            &format!("{records} records verified"),
        )
        .await;
    } else {
        app.journal_event(
            events::INTEGRITY_CHECK_FAILED,
            &format!("{} findings in {records} records", findings.len()),
        )
        .await;
    }
    Ok(Json(
        json!({ "intact": findings.is_empty(), "records": records, "findings": list }),
    ))
}

// ---------------------------------------------------------------- devices

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

// ---------------------------------------------------------------- stock

fn ledger_error(e: shop_sync::ledger::LedgerError) -> ApiError {
    match e {
        shop_sync::ledger::LedgerError::Invalid(m) => ApiError::invalid("invalid_stock", m),
        other => ApiError::internal(other.to_string()),
    }
}

/// Runs a ledger call on a blocking thread.
async fn with_ledger<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&mut shop_sync::ledger::Ledger) -> Result<T, shop_sync::ledger::LedgerError>
        + Send
        + 'static,
) -> Result<T, ApiError> {
    let ledger = app.ledger.clone();
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

// ---------------------------------------------------------------- online shop

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
async fn sync_run(State(app): AppState, ApiJson(req): ApiJson<SyncRunRequest>) -> ApiResult {
    signed_in(&app, &req.operator)?;
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

// ---------------------------------------------------------------- click & collect

async fn pickups(State(app): AppState) -> ApiResult {
    let p = with_ledger(&app, |l| l.pending_pickups()).await?;
    Ok(Json(json!({ "pickups": p })))
}

/// The longest wait for the poll before a pickup.
const PICKUP_POLL: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PickupRequest {
    operator: String,
}

async fn pickup(
    State(app): AppState,
    Path((shop, order)): Path<(String, String)>,
    ApiJson(req): ApiJson<PickupRequest>,
) -> ApiResult {
    let journal = app.journal().map_err(ApiError::unavailable)?;
    signed_in(&app, &req.operator)?;
    if app.training.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "training_mode",
            "pickups are not recorded in training mode",
        ));
    }
    let _gate = app.pickup_gate.lock().await;
    if let Some(s) = app.shop.clone().filter(|s| s.name == shop) {
        // The order may have been cancelled since the last poll. A shop that does not answer
        // in time does not hold the customer at the till: the last poll decides.
        match tokio::time::timeout(PICKUP_POLL, s.run_once()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(shop = %shop, error = %e, "no poll before the pickup: the shop failed")
            }
            Err(_) => tracing::warn!(shop = %shop, "no poll before the pickup: the shop is slow"),
        }
    }
    let (s2, o2) = (shop.clone(), order.clone());
    let picked = with_ledger(&app, move |l| l.pickup_items(&s2, &o2))
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "not_pickable", e.message))?;
    let mut warnings: Vec<String> = Vec::new();
    let lines = {
        let catalog = app
            .catalog
            .read()
            .map_err(|_| ApiError::internal("catalog lock"))?;
        pickup_ticket_lines(&picked, |sku| catalog.get(sku).cloned(), &mut warnings)?
    };
    for w in &warnings {
        tracing::warn!(shop = %shop, order = %order, "{w}");
    }
    let mut input = SaleInput {
        operator: req.operator.clone(),
        lines,
        ticket_discount: Cents::ZERO,
        payments: vec![Payment {
            method: PaymentMethod::Cash,
            // Only to learn the total: the payment is replaced below.
            amount: Cents(pos_core::money::MAX_JSON_INT / 4),
        }],
    };
    let total = pos_core::ticket::compute_sale(&input, &journal.vat_rates())
        .map_err(|e| ApiError::invalid("invalid_ticket", e.to_string()))?
        .total;
    input.payments = vec![Payment {
        method: PaymentMethod::Online,
        amount: total,
    }];
    if let Some(paid) = picked.total_cents.filter(|t| *t != total.0) {
        let w = format!(
            "the order's total paid online ({}) differs from the ticket's ({}): shipping or \
             fees paid online are not on the ticket",
            Cents(paid),
            total
        );
        tracing::warn!(shop = %shop, order = %order, "{w}");
        warnings.push(w);
    }
    let intent = crate::stock::PickupIntent {
        shop: shop.clone(),
        order: order.clone(),
    };
    with_ledger(&app, move |l| crate::stock::set_intent(l, Some(&intent))).await?;
    let app2 = app.clone();
    let r = blocking(move || {
        let a = journal.sale(&input)?;
        let code = journal.receipt_code(&a).ok();
        let job = app2.project(a.seq);
        Ok::<_, JournalError>((a, code, job))
    })
    .await?;
    let (a, code, job) = match r {
        Ok(x) => x,
        Err(e) => {
            with_ledger(&app, |l| crate::stock::set_intent(l, None)).await?;
            return Err(journal_error(e));
        }
    };
    let job = job.await.ok().flatten();
    tracing::info!(shop = %shop, order = %order, seq = a.seq, "click & collect order picked up");
    let mut answer = ticket_answer(&app, &a, code, job);
    answer["pickup"] = json!({
        "shop": shop,
        "order": order,
        "order_total_cents": picked.total_cents,
        "ticket_total_cents": total.0,
        "warnings": warnings,
    });
    app.bus.publish(
        "sale",
        json!({ "seq": a.seq, "kind": a.kind.as_str(), "ticket_number": a.kind_seq }),
    );
    Ok(Json(answer))
}

/// The ticket lines of a click & collect pickup: one per order item, with the catalogue's
/// label, VAT rate and unit, the quantity in thousandths (one online unit is one piece, or one
/// kilogram of goods sold by weight), and a price that makes the line's total exactly what the
/// customer paid online: `unit_price = ceil(paid / units)` and a line discount of
/// `unit_price * units - paid` (less than one unit price). An item without an amount paid
/// takes the catalogue's price (and adds a warning). An item whose product is not in the
/// catalogue, a negative amount, or a quantity below one refuses the whole pickup (409).
fn pickup_ticket_lines(
    order: &shop_sync::ledger::PendingPickup,
    product: impl Fn(&str) -> Option<Product>,
    warnings: &mut Vec<String>,
) -> Result<Vec<pos_core::ticket::LineInput>, ApiError> {
    use pos_core::ticket::{LineInput, Unit as TicketUnit};
    let bad = |message: String, item: &shop_sync::ledger::OrderItem| {
        ApiError::new(StatusCode::CONFLICT, "bad_order_line", message).with_details(json!({
            "line_id": item.line_id, "sku": item.sku, "name": item.name,
        }))
    };
    if order.items.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "bad_order_line",
            format!("order {} has no lines", order.order_id),
        ));
    }
    let mut lines = Vec::with_capacity(order.items.len());
    for item in &order.items {
        let Some(p) = (!item.sku.is_empty()).then(|| product(&item.sku)).flatten() else {
            let what = if item.sku.is_empty() {
                "has no SKU".to_string()
            } else {
                format!(
                    "has SKU {:?}, which is not in the till's catalogue",
                    item.sku
                )
            };
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "unknown_product",
                format!(
                    "order {} line {:?} {what}: add the product to the catalogue (with the SKU \
                     the shop uses), then retry the pickup",
                    order.order_id, item.name
                ),
            )
            .with_details(json!({
                "line_id": item.line_id, "sku": item.sku, "name": item.name,
            })));
        };
        if item.quantity <= 0 {
            return Err(bad(
                format!(
                    "order {} line {:?} ({}): quantity {} is not a positive number of units",
                    order.order_id, item.name, item.sku, item.quantity
                ),
                item,
            ));
        }
        let units = item.quantity;
        let quantity = units.checked_mul(1000).ok_or_else(|| {
            bad(
                format!("order {}: quantity too large", order.order_id),
                item,
            )
        })?;
        let (unit_price, discount) = match item.paid_cents {
            Some(paid) if paid < 0 => {
                return Err(bad(
                    format!(
                        "order {} line {:?} ({}): the amount paid {} is negative",
                        order.order_id,
                        item.name,
                        item.sku,
                        Cents(paid)
                    ),
                    item,
                ))
            }
            Some(paid) => {
                // paid >= 0 and units >= 1: no overflow in the ceiling.
                let unit_price = paid / units + i64::from(paid % units != 0);
                let gross = unit_price.checked_mul(units).ok_or_else(|| {
                    bad(format!("order {}: amount too large", order.order_id), item)
                })?;
                (unit_price, gross - paid)
            }
            None => {
                warnings.push(format!(
                    "order {} line {:?} ({}): the shop gave no amount paid; the catalogue's \
                     price is used",
                    order.order_id, item.name, item.sku
                ));
                (p.price_cents, 0)
            }
        };
        lines.push(LineInput {
            sku: p.sku.clone(),
            label: p.label.clone(),
            quantity: pos_core::money::Qty(quantity),
            unit: match p.unit {
                crate::catalog::Unit::Piece => TicketUnit::Piece,
                crate::catalog::Unit::Kg => TicketUnit::Kg,
            },
            unit_price: Cents(unit_price),
            vat_rate: pos_core::money::VatRate(p.vat_rate),
            discount: Cents(discount),
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router serves (read from this file's source) is in [`ROUTES`], and
    /// every entry of [`ROUTES`] is documented in the OpenAPI file with its method.
    #[test]
    fn every_route_is_documented() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        for (method, path) in ROUTES {
            assert!(
                paths.get(*path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is not in openapi.json"
            );
        }
        let source = include_str!("api.rs");
        let mut served = 0;
        for chunk in source.split(".route(\"").skip(1) {
            let path = chunk.split('"').next().unwrap_or_default();
            served += 1;
            assert!(
                ROUTES.iter().any(|(_, p)| *p == path),
                "route {path} is served but not listed in ROUTES"
            );
        }
        assert!(
            served >= ROUTES.len() - 1,
            "routes found in source: {served}"
        );
        let documented: usize = paths
            .values()
            .map(|p| p.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(
            documented,
            ROUTES.len(),
            "openapi.json documents routes posd does not serve"
        );
    }

    /// A front-end must tell a sale the journal refused (ring it up again once the disk is
    /// back) from one whose commit may be in the journal after a restart (do not).
    #[test]
    fn a_commit_of_unknown_outcome_is_told_apart_from_a_refused_one() {
        let refused = journal_error(JournalError::Storage("disk I/O error".into()));
        assert_eq!(
            (refused.status, refused.code),
            (StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable")
        );
        let unknown = journal_error(JournalError::OutcomeUnknown {
            cause: "disk I/O error".into(),
        });
        assert_eq!(
            (unknown.status, unknown.code),
            (StatusCode::SERVICE_UNAVAILABLE, "outcome_unknown")
        );
        assert!(unknown.message.contains("open the journal again"));
    }

    fn item(sku: &str, quantity: i64, paid: Option<i64>) -> shop_sync::ledger::OrderItem {
        shop_sync::ledger::OrderItem {
            line_id: format!("l-{sku}"),
            sku: sku.into(),
            name: format!("Web {sku}"),
            quantity,
            paid_cents: paid,
        }
    }

    fn order(items: Vec<shop_sync::ledger::OrderItem>) -> shop_sync::ledger::PendingPickup {
        shop_sync::ledger::PendingPickup {
            shop: "woo".into(),
            order_id: "42".into(),
            lines: Vec::new(),
            items,
            total_cents: None,
        }
    }

    fn catalog(sku: &str) -> Option<Product> {
        let (price_cents, unit) = match sku {
            "PAIN" => (130, crate::catalog::Unit::Piece),
            "COMTE" => (2490, crate::catalog::Unit::Kg),
            _ => return None,
        };
        Some(Product {
            sku: sku.into(),
            label: format!("Till {sku}"),
            price_cents,
            vat_rate: 550,
            unit,
            track_stock: false,
            stock_milli: None,
            barcodes: Vec::new(),
        })
    }

    #[test]
    fn pickup_lines_total_exactly_what_was_paid() {
        let mut warnings = Vec::new();
        let o = order(vec![
            item("PAIN", 3, Some(1000)),
            item("COMTE", 2, Some(5382)),
            item("PAIN", 1, Some(0)),
            item("PAIN", 2, None),
        ]);
        let lines = pickup_ticket_lines(&o, catalog, &mut warnings).expect("lines");
        let t = pos_core::ticket::compute_sale(
            &SaleInput {
                operator: "alice".into(),
                lines: lines.clone(),
                ticket_discount: Cents::ZERO,
                payments: vec![Payment {
                    method: PaymentMethod::Online,
                    amount: Cents(1000 + 5382 + 260),
                }],
            },
            &[pos_core::money::VatRate(550)],
        )
        .expect("ticket");
        let totals: Vec<i64> = t.lines.iter().map(|l| l.total.0).collect();
        assert_eq!(totals, vec![1000, 5382, 0, 260]);
        // ceil(1000 / 3) = 334 a piece, less 2 on the line.
        assert_eq!((lines[0].unit_price.0, lines[0].discount.0), (334, 2));
        assert_eq!(lines[0].quantity.0, 3000);
        // Weighed goods: 2 online units are 2 kg, priced per kg.
        assert_eq!(lines[1].unit, pos_core::ticket::Unit::Kg);
        assert_eq!(lines[1].quantity.0, 2000);
        assert_eq!((lines[1].unit_price.0, lines[1].discount.0), (2691, 0));
        assert_eq!(lines[0].label, "Till PAIN");
        // No amount given: the catalogue's price, with a warning.
        assert_eq!((lines[3].unit_price.0, lines[3].discount.0), (130, 0));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn a_pickup_line_that_cannot_be_priced_refuses_the_pickup() {
        let mut w = Vec::new();
        for (o, code) in [
            (order(vec![item("VIN", 1, Some(100))]), "unknown_product"),
            (order(vec![item("", 1, Some(100))]), "unknown_product"),
            (order(vec![item("PAIN", 0, Some(100))]), "bad_order_line"),
            (order(vec![item("PAIN", -1, Some(100))]), "bad_order_line"),
            (order(vec![item("PAIN", 1, Some(-1))]), "bad_order_line"),
            (order(Vec::new()), "bad_order_line"),
        ] {
            let e = pickup_ticket_lines(&o, catalog, &mut w).expect_err("refused");
            assert_eq!(
                (e.status, e.code),
                (StatusCode::CONFLICT, code),
                "{}",
                e.message
            );
        }
        let e = pickup_ticket_lines(&order(vec![item("VIN", 1, Some(100))]), catalog, &mut w)
            .expect_err("refused");
        assert!(
            e.message.contains("Web VIN")
                && e.message.contains("\"VIN\"")
                && e.message.contains("add the product to the catalogue"),
            "{}",
            e.message
        );
    }
}

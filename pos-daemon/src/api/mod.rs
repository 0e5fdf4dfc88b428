//! The local HTTP API, versioned under `/v1`. Every answer is JSON; every error is
//! `{ "error": { "code", "message" } }`, 4xx for bad input (with nothing journaled), 503 when
//! the journal is unavailable.
//!
//! Each resource file lists its handlers; each handler carries its OpenAPI description
//! (`#[utoipa::path]`), and the router and the document are built from the same list
//! (`utoipa_axum::routes!`): a route cannot be served without being documented, nor documented
//! without being served.

mod archives;
mod backups;
mod catalog;
mod devices;
mod error;
mod extract;
mod manager;
mod operators;
mod pickups;
mod sales;
mod session;
mod settings;
mod shop;
mod staff;
mod stock;
mod ticket;
mod tickets;

use self::extract::AppState;
use crate::app::App;
use crate::auth::{bearer_token, same_secret};
use crate::sessions::Found;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
pub use error::ApiError;
use extract::Caller;
use std::sync::{Arc, LazyLock};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, Response as DocResponse};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The parts of the document that no handler describes: what every route shares.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "posd local API",
        version = "1",
        description = "The cash-register daemon's local API. Every error is {\"error\": {\"code\", \"message\"}}: 4xx for bad input (nothing journaled), 409 clock_ahead while the clock reads too far ahead of the journal (POST /v1/clock/confirm), 503 when the journal is unavailable (outcome_unknown when a commit may or may not be in it). A sale is answered only once it is durable in the journal; printing follows. Every request with a body sends it as JSON with `Content-Type: application/json` (any other or none: 415 unsupported_media_type); the bearer scheme is case-insensitive. Amounts are integers: cents, VAT rates in hundredths of a percent (2000 = 20 %), quantities in thousandths of a piece or in grams.",
        license(name = "MIT OR Apache-2.0")
    ),
    servers((url = "http://127.0.0.1:8420", description = "posd demo")),
    security(("bearer" = [])),
    components(schemas(error::ErrorAnswer))
)]
struct Base;

/// Adds what every operation shares: the bearer scheme, and the error answers (4XX for a
/// refusal, 503 when the journal or the daemon cannot serve), unless the operation lists its own.
struct Shared;

impl utoipa::Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token of the configuration ([api] tokens: machine clients, which name the operator they act for) or a session's token from POST /v1/operators/sign-in (acts as its operator only)",
                    ))
                    .build(),
            ),
        );
        components.responses.insert(
            "Error".to_string(),
            RefOr::T(
                DocResponse::builder()
                    .description("Refused or failed: `{\"error\": {\"code\", \"message\", \"details\"?}}`; nothing was changed (but see outcome_unknown)")
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "ErrorAnswer",
                            ))))
                            .build(),
                    )
                    .build(),
            ),
        );
        let error = || RefOr::Ref(utoipa::openapi::Ref::from_response_name("Error"));
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for status in ["4XX", "503"] {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(error);
                }
            }
        }
    }
}

/// The routes served without a bearer token: their requests carry their own proof (a webhook's
/// signature) or nothing secret is served.
fn public_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(health))
        .routes(routes!(openapi))
        .merge(shop::public_routes())
        .merge(session::public_routes())
}

/// The routes that need a bearer token, every resource's.
fn protected_routes() -> OpenApiRouter<Arc<App>> {
    [
        catalog::routes,
        operators::routes,
        session::routes,
        sales::routes,
        tickets::routes,
        manager::routes,
        settings::routes,
        devices::routes,
        stock::routes,
        shop::routes,
        pickups::routes,
        backups::routes,
        archives::routes,
        staff::routes,
    ]
    .into_iter()
    .fold(OpenApiRouter::default(), |router, resource| {
        router.merge(resource())
    })
}

/// The OpenAPI document, as built from the handlers (what `/v1/openapi.json` serves).
pub fn document() -> Document {
    let mut doc = Base::openapi();
    doc.merge(public_routes().merge(protected_routes()).into_openapi());
    // The shared answers are added once every path is in.
    utoipa::Modify::modify(&Shared, &mut doc);
    doc
}

/// The document as JSON, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the API document cannot be written: {e}\"}}"))
});

/// The OpenAPI document served at `/v1/openapi.json`, as JSON.
pub fn document_json() -> &'static str {
    &DOCUMENT
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.api.max_body_bytes;
    let protected =
        protected_routes().route_layer(middleware::from_fn_with_state(app.clone(), require_token));
    let (router, _) = public_routes().merge(protected).split_for_parts();
    router
        .merge(crate::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// How many operations there are (counted once: a 404 must not build the document again).
static ROUTE_COUNT: LazyLock<usize> = LazyLock::new(|| {
    document()
        .paths
        .paths
        .values()
        .map(|p| {
            [&p.get, &p.put, &p.post, &p.delete, &p.patch]
                .iter()
                .filter(|o| o.is_some())
                .count()
        })
        .sum()
});

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such route; the {} routes are described at /v1/openapi.json",
            *ROUTE_COUNT
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

/// Lets through a request carrying one of the configuration's tokens (a machine client), a
/// live session's token as its bearer token, or a browser's session cookie, and tells the
/// handlers which ([`Caller`]). A browser's writes (any method but GET and HEAD) must also carry
/// the session's CSRF token (403 csrf_failed). A session left idle too long is ended here, with
/// its sign-out journaled.
async fn require_token(State(app): AppState, mut req: Request, next: Next) -> Response {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (a configured token, or a session's from POST /v1/operators/sign-in), or a browser's session (POST /v1/session/sign-in)",
        )
        .into_response()
    };
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    // The cookie counts only without an Authorization header: a machine client's token is
    // never read from a cookie.
    let (given, from_cookie) = match bearer {
        Some(token) => (token, false),
        None => match session::session_cookie(req.headers()) {
            Some(token) => (token, true),
            None => return unauthorized(),
        },
    };
    let machine = !from_cookie
        && app
            .config
            .api
            .tokens
            .iter()
            .any(|k| same_secret(k.as_bytes(), given.as_bytes()));
    let caller = if machine {
        Caller::Machine
    } else {
        let now = app.till.clock.now_ms();
        let found = match app.staff.sessions.lock() {
            Ok(mut s) => s.touch(given, now),
            Err(_) => return ApiError::internal("session lock").into_response(),
        };
        match found {
            Found::Live { operator, csrf } => {
                let safe = matches!(*req.method(), Method::GET | Method::HEAD);
                if from_cookie && !safe {
                    let sent = req
                        .headers()
                        .get(session::CSRF_HEADER)
                        .map(|v| v.as_bytes())
                        .unwrap_or_default();
                    if !same_secret(sent, csrf.as_bytes()) {
                        return ApiError::new(
                            StatusCode::FORBIDDEN,
                            "csrf_failed",
                            "a browser's write must carry its session's CSRF token in the X-CSRF-Token header",
                        )
                        .into_response();
                    }
                }
                Caller::Session {
                    operator,
                    token: given.to_string(),
                    csrf,
                }
            }
            Found::Expired { operator } => {
                app.journal_idle_session_end(&operator).await;
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "session_expired",
                    format!(
                        "the session ended after {} s without a request: sign in again",
                        app.config.api.session_idle_secs
                    ),
                )
                .into_response();
            }
            Found::Unknown => return unauthorized(),
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Health: the journal's state (`ok`, `journal_unavailable`, `journal_failing` or
/// `clock_ahead`), the clock, the disk, the printer and training mode.
///
/// Served without a bearer token. A front-end polls it, or follows the `health` events of
/// `GET /v1/events`, to know whether sales go through.
#[utoipa::path(get, path = "/v1/health", tag = "health", security(()),
    responses((status = 200, description = "The daemon's health", body = crate::health::Health)))]
async fn health(State(app): AppState) -> Json<crate::health::Health> {
    Json(crate::health::state(&app))
}

/// This document.
///
/// Served without a bearer token. Generated from posd's handlers and types; `posd openapi`
/// prints the same document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
        .into_response()
}

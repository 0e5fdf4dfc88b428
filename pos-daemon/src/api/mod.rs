//! The local HTTP API, versioned under `/v1`. Every answer is JSON; every error is
//! `{ "error": { "code", "message" } }`, 4xx for bad input (with nothing journaled), 503 when
//! the journal is unavailable.

mod catalog;
mod devices;
mod error;
mod extract;
mod manager;
mod operators;
mod pickups;
mod sales;
mod settings;
mod shop;
mod stock;

use self::extract::AppState;
use crate::app::App;
use crate::auth::{bearer_token, same_secret};
use crate::sessions::Found;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
pub use error::ApiError;
use extract::Caller;
use serde_json::Value;
use std::sync::Arc;
/// The OpenAPI document served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// One route: a method and a path (as the OpenAPI document writes them) and its handler.
pub(super) struct Route {
    /// The method.
    method: Method,
    /// The path, with `{name}` for each parameter.
    path: &'static str,
    /// Whether it is served without a bearer token (its requests are checked otherwise).
    public: bool,
    /// The handler, for this method only.
    handler: MethodRouter<Arc<App>>,
}

impl Route {
    /// A route that needs a bearer token.
    pub(super) fn new<H, T>(method: Method, path: &'static str, handler: H) -> Route
    where
        H: Handler<T, Arc<App>>,
        T: 'static,
    {
        // Every method the routes use is a standard one, which a filter exists for.
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        Route {
            method,
            path,
            public: false,
            handler: on(filter, handler),
        }
    }

    /// A route served without a bearer token: its requests carry their own proof (a webhook's
    /// signature) or nothing secret is served.
    pub(super) fn public<H, T>(method: Method, path: &'static str, handler: H) -> Route
    where
        H: Handler<T, Arc<App>>,
        T: 'static,
    {
        Route {
            public: true,
            ..Route::new(method, path, handler)
        }
    }
}

/// Every route of every resource.
fn all_routes() -> Vec<Route> {
    let mut routes = vec![
        Route::public(Method::GET, "/v1/health", health),
        Route::public(Method::GET, "/v1/openapi.json", openapi),
    ];
    for resource in [
        catalog::routes,
        operators::routes,
        sales::routes,
        manager::routes,
        settings::routes,
        devices::routes,
        stock::routes,
        shop::routes,
        pickups::routes,
    ] {
        routes.extend(resource());
    }
    routes
}

/// Every route posd serves: (method in lowercase, path as in the OpenAPI document).
pub fn routes() -> Vec<(String, &'static str)> {
    all_routes()
        .iter()
        .map(|r| (r.method.as_str().to_ascii_lowercase(), r.path))
        .collect()
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.api.max_body_bytes;
    let (mut public, mut protected) = (Router::new(), Router::new());
    for r in all_routes() {
        if r.public {
            public = public.route(r.path, r.handler);
        } else {
            protected = protected.route(r.path, r.handler);
        }
    }
    let protected =
        protected.route_layer(middleware::from_fn_with_state(app.clone(), require_token));
    public
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// How many routes there are (counted once: a 404 must not build the route table again).
static ROUTE_COUNT: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| all_routes().len());

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

/// Lets through a request carrying one of the configuration's tokens (a machine client) or a
/// live session's token, and tells the handlers which ([`Caller`]). A session left idle too
/// long is ended here, with its sign-out journaled.
async fn require_token(State(app): AppState, mut req: Request, next: Next) -> Response {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (a configured token, or a session's from POST /v1/operators/sign-in)",
        )
        .into_response()
    };
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
    else {
        return unauthorized();
    };
    let machine = app
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
            Found::Live { operator } => Caller::Session {
                operator,
                token: given.to_string(),
            },
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

async fn health(State(app): AppState) -> Json<Value> {
    Json(crate::health::state(&app))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the table is documented in the OpenAPI file with its method, and the
    /// file documents no other. (That the router serves each one: `tests/flows`.)
    #[test]
    fn every_route_is_documented() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let routes = routes();
        for (method, path) in &routes {
            assert!(
                paths.get(*path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} is not in openapi.json"
            );
        }
        let documented: usize = paths
            .values()
            .map(|p| p.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(
            documented,
            routes.len(),
            "openapi.json documents routes posd does not serve"
        );
    }
}

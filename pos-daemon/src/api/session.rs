//! `/v1/session`: a browser's session (the web till and the back office).
//!
//! A browser signs in with an operator's PIN, without any configured token: the page never
//! holds one. Its session token is set in an httpOnly, SameSite=Strict cookie that scripts
//! cannot read and that no other site's request carries; the answer gives the page the
//! session's CSRF token, which every write must send back in the `X-CSRF-Token` header (checked
//! by the router's token layer). The PIN lock-out applies as at any sign-in.

use super::error::ApiError;
use super::extract::{Answer, ApiJson, AppState, Caller};
use super::operators::{authorize, open_session};
use crate::app::App;
use crate::config::Role;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse};
use axum::{Extension, Json};
use pos_core::events;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The cookie holding a browser's session token.
pub const COOKIE: &str = "posd_session";

/// The header a browser's writes carry the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The routes served without a token: what the sign-in screen needs.
pub(super) fn public_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(sign_in_operators))
        .routes(routes!(browser_sign_in))
}

/// The routes of a signed-in browser.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(browser_session))
        .routes(routes!(browser_sign_out))
}

/// The session token a request's `Cookie` header carries, if any.
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that gives a browser its session (no `Max-Age`: the browser forgets
/// it when it closes; posd ends it after `api.session_idle_secs` without a request). Behind a
/// TLS proxy (`api.tls_proxy`) it is `Secure`: never sent over plain HTTP.
fn set_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that removes it.
fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// An operator as the sign-in screen lists them.
#[derive(Serialize, ToSchema)]
struct OperatorEntry {
    /// The operator's id.
    id: String,
    /// Their name.
    name: String,
    /// Their role.
    role: Role,
}

/// The operators who may sign in.
#[derive(Serialize, ToSchema)]
struct OperatorList {
    /// By name.
    operators: Vec<OperatorEntry>,
}

/// The operators, for the sign-in screen.
///
/// Served without a token: names and roles only (the PINs' hashes never leave the daemon).
#[utoipa::path(get, path = "/v1/session/operators", tag = "operators", security(()),
    responses((status = 200, description = "The operators, by name", body = OperatorList)))]
async fn sign_in_operators(State(app): AppState) -> Json<OperatorList> {
    let mut operators: Vec<OperatorEntry> = app
        .staff
        .operators()
        .into_iter()
        .map(|o| OperatorEntry {
            id: o.id,
            name: o.name,
            role: o.role,
        })
        .collect();
    operators.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Json(OperatorList { operators })
}

/// A browser's sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BrowserSignIn {
    /// The operator's id.
    operator: String,
    /// Their PIN.
    pin: String,
}

/// A browser's session, as its page sees it.
#[derive(Serialize, ToSchema)]
struct BrowserSession {
    /// The operator's id.
    operator: String,
    /// Their name.
    name: String,
    /// Their role.
    role: Role,
    /// The token every write must carry in the `X-CSRF-Token` header (64 hex digits).
    csrf: String,
    /// Seconds without a request after which the session ends.
    session_idle_secs: u64,
    /// Whether the till is in training mode ("MODE ÉCOLE").
    training: bool,
    /// Whether tickets' receipts wait for the customer to ask (`[printer] receipts =
    /// "on_request"`: the till offers to print them, `POST /v1/tickets/{seq}/print`).
    receipts_on_request: bool,
}

fn session_answer(app: &App, operator: &str, csrf: String) -> Result<BrowserSession, ApiError> {
    let op = super::operators::operator(app, operator)?;
    Ok(BrowserSession {
        operator: op.id,
        name: op.name,
        role: op.role,
        csrf,
        session_idle_secs: app.config.api.session_idle_secs,
        training: app.till.training.load(Ordering::SeqCst),
        receipts_on_request: app.printing.receipts_on_request(),
    })
}

/// Sign a browser in with an operator's PIN.
///
/// Served without a token. The answer sets the session's cookie (`posd_session`, httpOnly,
/// SameSite=Strict) and gives the CSRF token the page sends with every write. The session acts
/// as this operator only, as a session from POST /v1/operators/sign-in does; manager actions
/// still need a manager's PIN in each request. The PIN lock-out and its journal events are
/// those of any sign-in: 403 wrong_pin, 429 pin_locked, 422 unknown_operator.
#[utoipa::path(post, path = "/v1/session/sign-in", tag = "operators", security(()),
    request_body = BrowserSignIn,
    responses((status = 200, description = "Signed in; the cookie is set", body = BrowserSession,
        headers(("Set-Cookie" = String, description = "posd_session=...; Path=/; HttpOnly; SameSite=Strict")))))]
async fn browser_sign_in(
    State(app): AppState,
    ApiJson(req): ApiJson<BrowserSignIn>,
) -> Result<impl IntoResponse, ApiError> {
    app.journal()?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Cashier).await?;
    let opened = open_session(&app, &op.id).await?;
    let answer = session_answer(&app, &op.id, opened.csrf)?;
    Ok((
        AppendHeaders([
            (
                header::SET_COOKIE,
                set_cookie(&opened.token, app.config.api.tls_proxy),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ]),
        Json(answer),
    ))
}

/// The browser's session: who is signed in, and the CSRF token again (after a page reload).
///
/// 403 not_a_session when called with a configured token.
#[utoipa::path(get, path = "/v1/session", tag = "operators",
    responses((status = 200, description = "The session", body = BrowserSession)))]
async fn browser_session(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Answer<BrowserSession> {
    match caller {
        Caller::Session { operator, csrf, .. } => Ok(Json(session_answer(&app, &operator, csrf)?)),
        Caller::Machine => Err(not_a_session()),
    }
}

fn not_a_session() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_a_session",
        "a configured token has no session: sign in (POST /v1/session/sign-in)",
    )
}

/// A browser signed out.
#[derive(Serialize, ToSchema)]
struct BrowserSignedOut {
    /// The operator whose session ended.
    operator: String,
}

/// Sign the browser out: its session ends and its cookie is removed.
///
/// 403 not_a_session when called with a configured token.
#[utoipa::path(post, path = "/v1/session/sign-out", tag = "operators",
    responses((status = 200, description = "Signed out; the cookie is removed", body = BrowserSignedOut)))]
async fn browser_sign_out(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let Caller::Session {
        operator, token, ..
    } = caller
    else {
        return Err(not_a_session());
    };
    app.staff
        .sessions
        .lock()
        .map_err(|_| ApiError::internal("session lock"))?
        .close(&token);
    app.journal_event_by(
        events::OPERATOR_SIGNED_OUT,
        "signed out (browser)",
        Some(&operator),
    )
    .await;
    Ok((
        AppendHeaders([(header::SET_COOKIE, clear_cookie())]),
        Json(BrowserSignedOut { operator }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_session_cookie_is_found_among_others_and_only_by_its_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; posd_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("xposd_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("posd_session="));
        assert_eq!(session_cookie(&h), None);
        h.append(header::COOKIE, HeaderValue::from_static("posd_session=def"));
        assert_eq!(session_cookie(&h), Some("def"));
    }
}

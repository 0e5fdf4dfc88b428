//! Request extractors shared by every resource: JSON bodies (400, 415, 422, 413 told apart),
//! idempotency keys, and blocking work off the async workers.

use super::error::ApiError;
use crate::app::App;
use crate::idempotency::{self, RequestKey};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;
use std::sync::Arc;
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
    /// The body.
    pub(super) body: T,
    /// Its idempotency key, if the request carried one.
    pub(super) key: Option<RequestKey>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for KeyedJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = body_bytes(req, state).await?;
        let key = RequestKey::of(
            headers.get(idempotency::HEADER).map(|v| v.as_bytes()),
            &bytes,
        )?;
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
pub(super) async fn raw_body_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<Bytes, ApiError> {
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

pub(super) type AppState = State<Arc<App>>;
/// A handler's answer: a typed JSON body, or an error.
pub(super) type Answer<T> = Result<Json<T>, ApiError>;

/// The `Idempotency-Key` header of sales and refunds, for the API document (the value itself is
/// read by [`KeyedJson`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Never built: it only describes the header.
pub(super) struct IdempotencyKeyHeader {
    /// 1 to 128 visible ASCII characters chosen by the front-end for this ticket (kept 7
    /// days). Sent again with the same body, the sale or refund is answered as the first time
    /// (`idempotent_replay: true`) instead of being journaled twice; with another body, 422
    /// idempotency_key_reused; while the first is being served, 409 idempotency_in_progress.
    #[param(
        rename = "Idempotency-Key",
        required = false,
        min_length = 1,
        max_length = 128,
        pattern = "^[!-~]+$"
    )]
    idempotency_key: String,
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))
}

/// Who sends a request, as the bearer-token layer found it.
#[derive(Debug, Clone)]
pub(super) enum Caller {
    /// A machine client holding one of the configuration's tokens: it names the operator it
    /// acts for, who must be signed in.
    Machine,
    /// An operator's session (one client): it acts as that operator only.
    Session {
        /// The session's operator.
        operator: String,
        /// Its token (to end it on sign-out).
        token: String,
        /// Its CSRF token (what a browser's page is given again after a reload).
        csrf: String,
    },
}

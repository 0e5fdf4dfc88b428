//! The API's one error type: a status, a stable code and a message, as `{ "error": { "code",
//! "message" } }`; the journal's errors mapped to it.

use crate::catalog::CatalogError;
use crate::idempotency::IdempotencyError;
use crate::pickup::PickupLineError;
use crate::till::JournalUnavailable;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pos_core::closure::ClosureError;
use pos_core::journal::JournalError;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub(super) status: StatusCode,
    /// The stable code (`error.code`).
    pub(super) code: &'static str,
    /// What went wrong, for a person (`error.message`).
    pub(super) message: String,
    /// Machine-readable details (`error.details`).
    pub(super) details: Option<Value>,
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

/// Every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ErrorAnswer {
    /// What went wrong.
    error: ErrorBody,
}

/// An error: a stable code to act on, a message for a person, and for some errors details.
#[derive(Debug, Serialize, ToSchema)]
struct ErrorBody {
    /// Stable, snake_case (`insufficient_stock`, `wrong_pin`...): what a client acts on.
    code: &'static str,
    /// What went wrong, for a person (English).
    message: String,
    /// More about some errors: `insufficient_stock`: `{"shortages": [{"sku",
    /// "available_milli", "requested_milli"}]}`; `unknown_product` and `bad_order_line` of a
    /// pickup: `{"line_id", "sku", "name"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    details: Option<Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorAnswer {
            error: ErrorBody {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
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

impl From<PickupLineError> for ApiError {
    fn from(e: PickupLineError) -> Self {
        let message = e.to_string();
        let (code, line) = match e {
            PickupLineError::NoLines(_) => ("bad_order_line", None),
            PickupLineError::UnknownProduct { line, .. } => ("unknown_product", Some(line)),
            PickupLineError::BadLine { line, .. } => ("bad_order_line", Some(line)),
        };
        let error = ApiError::new(StatusCode::CONFLICT, code, message);
        match line {
            Some(l) => error.with_details(json!({
                "line_id": l.line_id, "sku": l.sku, "name": l.name,
            })),
            None => error,
        }
    }
}

impl From<JournalUnavailable> for ApiError {
    fn from(e: JournalUnavailable) -> Self {
        ApiError::unavailable(e.0)
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(e: IdempotencyError) -> Self {
        use IdempotencyError as E;
        let message = e.to_string();
        match e {
            E::BadKey => ApiError::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", message),
            E::InProgress => {
                ApiError::new(StatusCode::CONFLICT, "idempotency_in_progress", message)
            }
            E::Reused(_) => ApiError::invalid("idempotency_key_reused", message),
            E::Remember(_) | E::Store(_) => ApiError::internal(message),
            E::JournalUnreadable(_) => ApiError::unavailable(message),
            E::Journal(j) => journal_error(j),
        }
    }
}

/// The answer to a journal error: a refusal of the request (4xx, nothing written), or the
/// journal unavailable (503; `outcome_unknown` when the commit may be in it).
pub(super) fn journal_error(e: JournalError) -> ApiError {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

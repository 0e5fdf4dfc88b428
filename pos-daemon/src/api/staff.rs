//! `/v1/operators/{id}` (manager): operators added, changed (name, role, PIN) and removed from
//! the back office, over the configuration's. Each change is journaled as
//! configuration_changed (never the PIN nor its hash) and kept in `ops.db`; an operator whose
//! PIN changes or who is removed is signed out of every session.

use super::error::{journal_error, ApiError};
use super::extract::{blocking, Answer, ApiJson, AppState};
use super::operators::authorize;
use crate::app::App;
use crate::config::{OperatorConfig, Role};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pos_core::events;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest operator id the back office gives.
const MAX_ID_LEN: usize = 32;
/// The longest operator name, in characters.
const MAX_NAME_CHARS: usize = 64;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(put_operator))
        .routes(routes!(remove_operator))
}

/// An operator added or changed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OperatorChange {
    /// The manager making the change.
    operator: String,
    /// The manager's PIN.
    pin: String,
    /// The operator's name.
    name: String,
    /// Their role.
    role: Role,
    /// Their new PIN (4 to 12 digits): required for a new operator, else only to change it.
    #[serde(default)]
    new_pin: Option<String>,
}

/// A manager's approval.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Approval {
    /// The manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
}

/// An operator as now in force.
#[derive(Serialize, ToSchema)]
struct OperatorChanged {
    /// The operator's id.
    id: String,
    /// Their name.
    name: String,
    /// Their role.
    role: Role,
    /// Whether they were removed.
    removed: bool,
    /// The configuration_changed event that journals the change.
    seq: u64,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid("invalid_operator", message)
}

/// An id the back office may give: 1 to 32 lowercase letters, digits, `-` or `_`.
fn check_new_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "an operator id is 1 to {MAX_ID_LEN} lowercase letters, digits, - or _"
        )))
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(invalid(format!(
            "a name is 1 to {MAX_NAME_CHARS} characters, none a control character"
        )));
    }
    Ok(())
}

fn check_pin(pin: &str) -> Result<(), ApiError> {
    if (4..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid("a PIN is 4 to 12 digits"))
    }
}

/// Whether, once `id` is changed to `role` (or removed: `None`), a manager remains: the shop
/// must never lock itself out of manager actions.
fn a_manager_remains(app: &App, id: &str, role: Option<Role>) -> bool {
    role == Some(Role::Manager)
        || app
            .staff
            .operators()
            .iter()
            .any(|o| o.id != id && o.role == Role::Manager)
}

/// Journals a change of operator `id` by `manager`, then keeps it in `ops.db`.
async fn journal_and_keep(
    app: &Arc<App>,
    manager: &str,
    message: String,
    details: Vec<(&str, String)>,
    kept: OperatorConfig,
    active: bool,
) -> Result<u64, ApiError> {
    let journal = app.journal()?;
    let body = pos_core::body::EventBody {
        code: events::CONFIGURATION_CHANGED.to_string(),
        message,
        operator: Some(manager.to_string()),
        details: details
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    };
    let app2 = app.clone();
    blocking(move || {
        // Journaled first: the change exists once the event is durable.
        let a = journal
            .append(pos_core::journal::Draft::Event(body))
            .map_err(journal_error)?;
        app2.appended(a.seq);
        app2.ops
            .put_operator(&kept, active)
            .map_err(|e| ApiError::internal(format!("ops.db: {e}")))?;
        Ok::<_, ApiError>(a.seq)
    })
    .await?
}

/// Ends every session of `id` and signs them out of the till.
fn sign_out_everywhere(app: &App, id: &str) {
    if let Ok(mut s) = app.staff.sessions.lock() {
        s.close_operator(id);
    }
    if let Ok(mut s) = app.staff.signed_in.write() {
        s.remove(id);
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Manager => "manager",
        Role::Cashier => "cashier",
    }
}

/// Add or change an operator (manager).
///
/// A new operator needs `new_pin`; an existing one keeps their PIN unless `new_pin` is given
/// (then every session of theirs ends). Journaled as configuration_changed with the old and new
/// name and role (never the PIN). 422 invalid_operator; 409 last_manager when the change would
/// leave no manager; 403 wrong_pin, manager_required; 429 pin_locked.
#[utoipa::path(put, path = "/v1/operators/{id}", tag = "operators",
    params(("id" = String, Path, description = "The operator's id")),
    request_body = OperatorChange,
    responses((status = 200, description = "The operator, as now in force", body = OperatorChanged)))]
async fn put_operator(
    State(app): AppState,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OperatorChange>,
) -> Answer<OperatorChanged> {
    let old = app.staff.operator(&id);
    if old.is_none() {
        check_new_id(&id)?;
    }
    check_name(&req.name)?;
    match (&req.new_pin, &old) {
        (Some(pin), _) => check_pin(pin)?,
        (None, None) => return Err(invalid("a new operator needs `new_pin`")),
        (None, Some(_)) => {}
    }
    if !a_manager_remains(&app, &id, Some(req.role)) {
        return Err(last_manager());
    }
    let manager = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let pin_hash = match (&req.new_pin, &old) {
        (Some(pin), _) => {
            let pin = pin.clone();
            blocking(move || crate::auth::hash_pin(&pin))
                .await?
                .map_err(|e| ApiError::internal(e.to_string()))?
        }
        (None, Some(o)) => o.pin_hash.clone(),
        (None, None) => return Err(invalid("a new operator needs `new_pin`")),
    };
    let op = OperatorConfig {
        id: id.clone(),
        name: req.name.trim().to_string(),
        role: req.role,
        pin_hash,
    };
    let mut details = vec![
        ("setting", "operator".to_string()),
        ("id", id.clone()),
        ("new_name", op.name.clone()),
        ("new_role", role_name(op.role).to_string()),
    ];
    if let Some(o) = &old {
        details.push(("old_name", o.name.clone()));
        details.push(("old_role", role_name(o.role).to_string()));
    }
    if req.new_pin.is_some() {
        details.push(("pin", "changed".to_string()));
    }
    let message = match &old {
        None => format!("operator {id} added"),
        Some(_) => format!("operator {id} changed"),
    };
    let seq = journal_and_keep(&app, &manager.id, message, details, op.clone(), true).await?;
    if req.new_pin.is_some() && old.is_some() {
        sign_out_everywhere(&app, &id);
    }
    app.staff.put_operator(op.clone());
    Ok(Json(OperatorChanged {
        id,
        name: op.name,
        role: op.role,
        removed: false,
        seq,
    }))
}

fn last_manager() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "last_manager",
        "the till must keep at least one manager",
    )
}

/// Remove an operator (manager).
///
/// Their sessions end and they are signed out; their tickets stay theirs in the journal.
/// Journaled as configuration_changed. 404 unknown_operator; 409 last_manager; 403 wrong_pin,
/// manager_required; 429 pin_locked.
#[utoipa::path(post, path = "/v1/operators/{id}/remove", tag = "operators",
    params(("id" = String, Path, description = "The operator's id")),
    request_body = Approval,
    responses((status = 200, description = "The operator, removed", body = OperatorChanged)))]
async fn remove_operator(
    State(app): AppState,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Approval>,
) -> Answer<OperatorChanged> {
    let Some(old) = app.staff.operator(&id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_operator",
            format!("no operator {id:?}"),
        ));
    };
    if !a_manager_remains(&app, &id, None) {
        return Err(last_manager());
    }
    let manager = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let details = vec![
        ("setting", "operator".to_string()),
        ("id", id.clone()),
        ("old_name", old.name.clone()),
        ("old_role", role_name(old.role).to_string()),
        ("removed", "true".to_string()),
    ];
    let seq = journal_and_keep(
        &app,
        &manager.id,
        format!("operator {id} removed"),
        details,
        old.clone(),
        false,
    )
    .await?;
    sign_out_everywhere(&app, &id);
    app.staff.remove_operator(&id);
    Ok(Json(OperatorChanged {
        id,
        name: old.name,
        role: old.role,
        removed: true,
        seq,
    }))
}

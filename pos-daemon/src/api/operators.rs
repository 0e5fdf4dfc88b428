//! `/v1/operators`: sign-in and sign-out, PIN checks with the lock-out, manager approvals.

use super::error::{journal_error, ApiError};
use super::extract::{blocking, Answer, ApiJson, AppState, Caller};
use crate::app::App;
use crate::auth::{PinRefusal, PinReport};
use crate::config::{OperatorConfig, Role};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use pos_core::events;
use pos_core::journal::JournalError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
}

/// A sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// The operator's id.
    operator: String,
    /// Their PIN.
    pin: String,
}

/// An operator signed in, and their session.
#[derive(Serialize, ToSchema)]
struct SignedIn {
    /// The operator's id.
    operator: String,
    /// Their name.
    name: String,
    /// Their role.
    role: Role,
    /// The session's bearer token (64 hex digits); only its SHA-256 is kept by posd, in memory
    /// (a restart ends every session).
    session: String,
    /// Seconds without a request after which the session ends.
    session_idle_secs: u64,
}

/// An operator signed out.
#[derive(Serialize, ToSchema)]
struct SignedOut {
    /// The operator's id.
    operator: String,
}

pub(super) fn operator(app: &App, id: &str) -> Result<OperatorConfig, ApiError> {
    app.staff
        .operator(id)
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
            .staff
            .pins
            .lock()
            .map_err(|_| ApiError::internal("pin lock"))?
            .finish(self.operator, right))
    }
}

impl Drop for PinAttempt<'_> {
    fn drop(&mut self) {
        if !self.judged {
            if let Ok(mut g) = self.app.staff.pins.lock() {
                g.abandon(self.operator);
            }
        }
    }
}

/// Checks an operator's PIN and role. The attempt is counted before the PIN is checked, so a
/// burst checks no more PINs than the lock-out allows; a series of wrong PINs is journaled at
/// its first PIN and at its end (lock-out, or the right PIN), with its count.
pub(super) async fn authorize(
    app: &Arc<App>,
    id: &str,
    pin: &str,
    need: Role,
) -> Result<OperatorConfig, ApiError> {
    let op = operator(app, id)?;
    let taken = app
        .staff
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

/// Sign an operator in with their PIN (argon2).
///
/// After `[policy] pin_max_failures` wrong PINs in a row the operator is locked out for
/// `pin_lockout_secs` (429 pin_locked, the right PIN included); attempts are counted before
/// their PIN is checked, so a burst checks no more PINs than that (the others: 429
/// pin_locked). A series of wrong PINs is journaled as operator_pin_rejected at its first PIN
/// and at its end (lock-out, or the right PIN), with its count. The operator is signed in at
/// the till (machine clients holding a configured token may act for them) and the answer
/// carries a session for the client that signed in: its token, sent as the bearer token, acts
/// as this operator only (another operator named in a request: 403 operator_mismatch) until
/// signed out or left idle `api.session_idle_secs` (then 401 session_expired, journaled as a
/// sign-out); manager actions still need the manager's PIN in each request. 403 wrong_pin,
/// 422 unknown_operator.
#[utoipa::path(post, path = "/v1/operators/sign-in", tag = "operators",
    request_body = SignIn,
    responses((status = 200, description = "Signed in, with a session", body = SignedIn)))]
async fn sign_in(State(app): AppState, ApiJson(req): ApiJson<SignIn>) -> Answer<SignedIn> {
    app.journal()?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Cashier).await?;
    if let Ok(mut s) = app.staff.signed_in.write() {
        s.insert(op.id.clone());
    }
    save_sessions(&app).await?;
    let opened = open_session(&app, &op.id).await?;
    Ok(Json(SignedIn {
        operator: op.id,
        name: op.name,
        role: op.role,
        session: opened.token,
        session_idle_secs: app.config.api.session_idle_secs,
    }))
}

/// Opens a session for operator `id` (its sign-in journaled; a session ended to make room
/// journaled as a sign-out).
pub(super) async fn open_session(
    app: &Arc<App>,
    id: &str,
) -> Result<crate::sessions::Opened, ApiError> {
    let now = app.till.clock.now_ms();
    let opened = app
        .staff
        .sessions
        .lock()
        .map_err(|_| ApiError::internal("session lock"))?
        .open(id, now);
    if let Some(evicted) = &opened.evicted {
        app.journal_event_by(
            events::OPERATOR_SIGNED_OUT,
            "session ended: the most sessions allowed are open, this one was idle longest",
            Some(evicted),
        )
        .await;
    }
    app.journal_event_by(events::OPERATOR_SIGNED_IN, "signed in", Some(id))
        .await;
    Ok(opened)
}

/// A sign-out.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignOut {
    /// The operator signing out.
    operator: String,
}

/// Sign out.
///
/// Sent with a session's token: that session ends (its operator must be the one named, else
/// 403 operator_mismatch). Sent with a configured token: the operator is signed out of the
/// till and every session of theirs ends (422 operator_not_signed_in when they were not).
#[utoipa::path(post, path = "/v1/operators/sign-out", tag = "operators",
    request_body = SignOut,
    responses((status = 200, description = "Signed out", body = SignedOut)))]
async fn sign_out(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SignOut>,
) -> Answer<SignedOut> {
    match caller {
        Caller::Session {
            operator, token, ..
        } => {
            if operator != req.operator {
                return Err(not_this_session(&operator, &req.operator));
            }
            app.staff
                .sessions
                .lock()
                .map_err(|_| ApiError::internal("session lock"))?
                .close(&token);
            app.journal_event_by(
                events::OPERATOR_SIGNED_OUT,
                "signed out (session)",
                Some(&req.operator),
            )
            .await;
        }
        Caller::Machine => {
            let was = app
                .staff
                .signed_in
                .write()
                .map(|mut s| s.remove(&req.operator))
                .unwrap_or(false);
            let sessions = app
                .staff
                .sessions
                .lock()
                .map_err(|_| ApiError::internal("session lock"))?
                .close_operator(&req.operator);
            if !was && sessions == 0 {
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
        }
    }
    Ok(Json(SignedOut {
        operator: req.operator,
    }))
}

/// A session used to act as another operator than its own.
fn not_this_session(session: &str, named: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "operator_mismatch",
        format!("this session is operator {session:?}'s: it cannot act as {named:?}"),
    )
}

/// Keeps the sessions (operators signed in, training mode) in `ops.db` for the next start.
pub(super) async fn save_sessions(app: &Arc<App>) -> Result<(), ApiError> {
    let app = app.clone();
    blocking(move || app.save_sessions())
        .await?
        .map_err(|e| ApiError::internal(format!("cannot keep the session in ops.db: {e}")))
}

/// Checks that a write may go on for operator `id`: the clock first (a clock far ahead refuses
/// every write, whoever sends it: its answer says what to do), then who sends it: a session
/// acts as its own operator only; a machine client acts for an operator signed in at the till.
pub(super) fn signed_in(app: &App, caller: &Caller, id: &str) -> Result<(), ApiError> {
    if let Some(ahead) = app.journal().ok().and_then(|j| j.clock_ahead()) {
        return Err(journal_error(JournalError::ClockAhead(ahead)));
    }
    operator(app, id)?;
    if let Caller::Session { operator, .. } = caller {
        return if operator == id {
            Ok(())
        } else {
            Err(not_this_session(operator, id))
        };
    }
    let ok = app
        .staff
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

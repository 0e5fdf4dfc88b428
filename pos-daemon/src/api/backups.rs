//! `/v1/backups`: snapshots of the stores on the backup medium, listed and taken on demand.

use super::error::ApiError;
use super::extract::{blocking, Answer, ApiJson, AppState, Caller};
use super::operators::signed_in;
use crate::app::App;
use crate::backup::{BackupError, SnapshotSummary};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default().routes(routes!(list_backups, take_backup))
}

/// The snapshots on the backup medium.
#[derive(Serialize, ToSchema)]
struct BackupsAnswer {
    /// Whether a backup medium is configured (`[backup] dir`).
    configured: bool,
    /// The medium's directory.
    dir: Option<String>,
    /// The medium is on the data directory's file system: it does not survive that disk, and
    /// its writes slow the sales (a file system's journal flushes them with each sale). Put it
    /// on another medium.
    on_data_disk: bool,
    /// This register's snapshots, newest first, each with its last check.
    snapshots: Vec<SnapshotSummary>,
    /// When the newest good snapshot was taken.
    last_good_ms: Option<i64>,
    /// The copies on another machine, when configured (`[backup.offsite]`).
    offsite: Option<crate::backup::OffsiteState>,
}

/// The snapshots on the backup medium, newest first, with their checks.
///
/// A snapshot is `good` once checked: every file as written, the journal copy verified in
/// full (chain, signatures, closures) and reaching the anchors copied with it.
#[utoipa::path(get, path = "/v1/backups", tag = "backups",
    responses((status = 200, description = "The snapshots", body = BackupsAnswer)))]
async fn list_backups(State(app): AppState) -> Answer<BackupsAnswer> {
    let Ok(dir) = app.backups.dir() else {
        return Ok(Json(BackupsAnswer {
            configured: false,
            dir: None,
            on_data_disk: false,
            snapshots: Vec::new(),
            last_good_ms: None,
            offsite: None,
        }));
    };
    let on_data_disk = crate::backup::same_file_system(dir, &app.config.data_dir);
    let dir = dir.display().to_string();
    let app2 = app.clone();
    let snapshots = blocking(move || app2.backups.list(&app2.till.opening.register_id))
        .await?
        .map_err(backup_error)?;
    let last_good_ms = snapshots
        .iter()
        .filter(|s| s.state == "good")
        .map(|s| s.created_ms)
        .max();
    Ok(Json(BackupsAnswer {
        configured: true,
        dir: Some(dir),
        on_data_disk,
        snapshots,
        last_good_ms,
        offsite: crate::backup::offsite_state(&app.backups, &app.ops, app.till.clock.now_ms()),
    }))
}

/// A snapshot asked for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    /// The operator asking: signed in at the till, or the session's own operator.
    operator: String,
}

/// A snapshot taken.
#[derive(Serialize, ToSchema)]
struct BackupAnswer {
    /// The snapshot, checked.
    snapshot: SnapshotSummary,
}

/// Take a snapshot now (any signed-in operator), check it, apply the retention rule.
///
/// Sales go on while it is taken (SQLite's online backup API). Journaled as `backup_written`.
/// 409 no_backup_medium when `[backup]` is not configured, 409 backup_medium_absent when its
/// directory is not there (the medium not mounted), 409 backup_in_progress while another is
/// taken; 503 backup_failed when the medium refuses it or the snapshot does not
/// pass its check (it is then listed as `bad`).
#[utoipa::path(post, path = "/v1/backups", tag = "backups",
    request_body = BackupRequest,
    responses((status = 200, description = "The snapshot, written and checked", body = BackupAnswer)))]
async fn take_backup(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<BackupRequest>,
) -> Answer<BackupAnswer> {
    signed_in(&app, &caller, &req.operator)?;
    let snapshot = crate::backup::take_now(&app.backup_parts(), "api")
        .await
        .map_err(backup_error)?;
    tracing::info!(snapshot = %snapshot.name, by = %req.operator, "snapshot on demand");
    Ok(Json(BackupAnswer { snapshot }))
}

fn backup_error(e: BackupError) -> ApiError {
    match e {
        BackupError::NotConfigured => {
            ApiError::new(StatusCode::CONFLICT, "no_backup_medium", e.to_string())
        }
        BackupError::MediumAbsent(_) => {
            ApiError::new(StatusCode::CONFLICT, "backup_medium_absent", e.to_string())
        }
        BackupError::InProgress => {
            ApiError::new(StatusCode::CONFLICT, "backup_in_progress", e.to_string())
        }
        other => {
            tracing::error!(error = %other, "backup failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "backup_failed",
                other.to_string(),
            )
        }
    }
}

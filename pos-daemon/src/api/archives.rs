//! `/v1/journal/archives` and `/v1/journal/public-key`: what an auditor is handed, downloaded
//! from the back office: the signed archives written into `DATA/archives/`, and the register's
//! public key file (as `pos-journal public-key` writes it).

use super::error::ApiError;
use super::extract::{blocking, Answer, AppState};
use super::manager::ARCHIVES_DIR;
use crate::app::App;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(list_archives))
        .routes(routes!(download_archive))
        .routes(routes!(public_key))
        .routes(routes!(public_key_file))
}

/// An archive's bytes (a zip), for the API document.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Never built: it describes the download.
struct ZipFile(Vec<u8>);

/// A public key file's text, for the API document: its algorithm's header line, then the key
/// in hex.
#[derive(ToSchema)]
#[schema(value_type = String)]
#[allow(dead_code)] // Never built: it describes the download.
struct PublicKeyFile(String);

/// An archive in the archives directory.
#[derive(Serialize, ToSchema)]
struct ArchiveFile {
    /// Its file name (`REGISTER_2026-11.zip`).
    name: String,
    /// Its size in bytes.
    bytes: u64,
    /// When it was written (milliseconds since the epoch).
    modified_ms: Option<i64>,
}

/// The archives written.
#[derive(Serialize, ToSchema)]
struct ArchivesAnswer {
    /// By name.
    archives: Vec<ArchiveFile>,
}

/// The archives in `dir`, by name: regular `.zip` files only.
fn archives_in(dir: &std::path::Path) -> Vec<ArchiveFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<ArchiveFile> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            let name = e.file_name().into_string().ok()?;
            name.ends_with(".zip").then(|| ArchiveFile {
                name,
                bytes: meta.len(),
                modified_ms: meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_millis()).ok()),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The archives written (`POST /v1/journal/archives`), to download.
#[utoipa::path(get, path = "/v1/journal/archives", tag = "manager",
    responses((status = 200, description = "The archives, by name", body = ArchivesAnswer)))]
async fn list_archives(State(app): AppState) -> Answer<ArchivesAnswer> {
    let dir = app.config.data_dir.join(ARCHIVES_DIR);
    let archives = blocking(move || archives_in(&dir)).await?;
    Ok(Json(ArchivesAnswer { archives }))
}

/// Download an archive (a zip: `pos-journal verify` checks it anywhere).
///
/// Only a name `GET /v1/journal/archives` lists is served (404 not_found otherwise).
#[utoipa::path(get, path = "/v1/journal/archives/{name}", tag = "manager",
    params(("name" = String, Path, description = "The archive's file name")),
    responses((status = 200, description = "The archive", content_type = "application/zip", body = ZipFile)))]
async fn download_archive(
    State(app): AppState,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let dir = app.config.data_dir.join(ARCHIVES_DIR);
    let wanted = name.clone();
    // Served by its listed name only: nothing outside the directory can be named.
    let listed = blocking(move || {
        archives_in(&dir)
            .into_iter()
            .find(|a| a.name == wanted)
            .map(|a| (dir.join(&a.name), a.bytes))
    })
    .await?;
    let Some((path, bytes)) = listed else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no archive {name:?}"),
        ));
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("{name}: {e}")))?;
    // Streamed from the file: a year's archive is not read into memory.
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_LENGTH, bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The register's public key.
#[derive(Serialize, ToSchema)]
struct PublicKeyAnswer {
    /// `ed25519` or `p256`.
    algorithm: String,
    /// The key's id (hex): the fingerprint an auditor compares.
    key_id: String,
    /// The public key file's text (`GET /v1/journal/public-key.pub` downloads it).
    file: String,
}

/// The register's public key: what an auditor verifies the journal, the archives and the
/// receipts' codes with.
#[utoipa::path(get, path = "/v1/journal/public-key", tag = "manager",
    responses((status = 200, description = "The public key", body = PublicKeyAnswer)))]
async fn public_key(State(app): AppState) -> Answer<PublicKeyAnswer> {
    let key = app.till.key.verifying_key();
    Ok(Json(PublicKeyAnswer {
        algorithm: key.algorithm().as_str().to_string(),
        key_id: app.till.key.id().to_hex(),
        file: pos_core::keys::public_key_file_text(&key),
    }))
}

/// Download the register's public key file (as `pos-journal public-key` writes it).
#[utoipa::path(get, path = "/v1/journal/public-key.pub", tag = "manager",
    responses((status = 200, description = "The public key file", content_type = "text/plain", body = PublicKeyFile)))]
async fn public_key_file(State(app): AppState) -> Response {
    let text = pos_core::keys::public_key_file_text(&app.till.key.verifying_key());
    let name = format!("{}.pub", app.till.opening.register_id);
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text,
    )
        .into_response()
}

//! `/v1/tickets`: journal records read back (by sequence number, or a sale by its printed
//! number, with what was returned of it), a held receipt printed, a duplicate printed.

use super::error::{journal_error, ApiError};
use super::extract::{blocking, Answer, ApiJson, AppState, Caller};
use super::operators::signed_in;
use crate::app::App;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use pos_core::body::Body;
use pos_core::events;
use pos_core::journal::JournalError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(get_ticket))
        .routes(routes!(ticket_by_number))
        .routes(routes!(reprint))
        .routes(routes!(print_receipt))
}

/// A sequence number from a path: 1 to the largest the journal stores.
fn parse_seq(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
        .ok_or_else(|| ApiError::invalid("invalid_seq", format!("{s:?} is not a sequence number")))
}

/// A journal record, as signed: its body, receipt code and print job.
#[derive(Serialize, ToSchema)]
struct RecordAnswer {
    /// Its sequence number.
    seq: u64,
    /// Its kind (`sale`, `refund`, `training`, `closure`, `duplicate`, `event`, ...).
    kind: String,
    /// Its number among the records of its kind.
    number: u64,
    /// When it was journaled (milliseconds since the epoch).
    timestamp_ms: i64,
    /// Its hash (hex), the link the next record signs.
    hash: String,
    /// Its body as journaled: the kind's schema in JOURNAL-FORMAT.md.
    #[schema(value_type = Object)]
    body: Value,
    /// The receipt's signed code, for tickets.
    receipt_code: Option<String>,
    /// Its print job (the whole job: state, error), if one was queued.
    print_job: Option<crate::ops::Job>,
    /// For a sale: what its refunds and voids have returned so far (absent for other kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    returned: Option<Returned>,
}

/// What has been returned of a sale.
#[derive(Serialize, ToSchema, Default)]
struct Returned {
    /// The refunds and voids of the sale, by sequence number.
    refunds: Vec<u64>,
    /// Per line of the sale returned at least in part: how much (thousandths of a piece or
    /// grams, positive).
    lines: Vec<ReturnedLine>,
    /// The money given back, in cents (positive).
    total_cents: i64,
    /// Whether a void cancelled what remained.
    voided: bool,
}

/// How much of one line of a sale has been returned.
#[derive(Serialize, ToSchema)]
struct ReturnedLine {
    /// The sale's line, counted from 0.
    original_line: u32,
    /// Thousandths of a piece or grams returned (positive).
    quantity_milli: i64,
    /// The money given back for it, in cents (positive): what remains of the line is its
    /// total minus this.
    amount_cents: i64,
}

/// What the refunds in `refunds` (records of one sale's refunds) returned of it.
fn returned_of(refunds: &[pos_core::record::Record]) -> Returned {
    use pos_core::record::Kind;
    let mut out = Returned::default();
    let mut by_line: std::collections::BTreeMap<u32, (i64, i64)> = Default::default();
    for r in refunds {
        let Ok(Body::Refund(b)) = Body::decode(Kind::Refund, &r.body) else {
            continue;
        };
        out.refunds.push(r.seq);
        out.total_cents = out.total_cents.saturating_sub(b.total.0);
        out.voided |= b.void;
        for l in &b.lines {
            let line = by_line.entry(l.original_line).or_default();
            line.0 = line.0.saturating_sub(l.quantity.0);
            line.1 = line.1.saturating_sub(l.total.0);
        }
    }
    out.lines = by_line
        .into_iter()
        .map(
            |(original_line, (quantity_milli, amount_cents))| ReturnedLine {
                original_line,
                quantity_milli,
                amount_cents,
            },
        )
        .collect();
    out
}

/// A journal record by sequence number, with its receipt code and print job.
///
/// 422 invalid_seq for a number that is not one; 404 not_found for a record not written.
#[utoipa::path(get, path = "/v1/tickets/{seq}", tag = "tickets",
    params(("seq" = u64, Path, description = "Journal sequence number")),
    responses((status = 200, description = "The record", body = RecordAnswer)))]
async fn get_ticket(State(app): AppState, Path(seq): Path<String>) -> Answer<RecordAnswer> {
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
    record_answer(&app, rec).await
}

/// A sale by the number printed on its receipt ("Ticket n° 42").
///
/// What the till looks up when a customer brings a receipt back whose code cannot be scanned.
/// 404 not_found when no sale has that number.
#[utoipa::path(get, path = "/v1/tickets/by-number/{number}", tag = "tickets",
    params(("number" = u64, Path, description = "The sale's number, as printed")),
    responses((status = 200, description = "The sale", body = RecordAnswer)))]
async fn ticket_by_number(
    State(app): AppState,
    Path(number): Path<String>,
) -> Answer<RecordAnswer> {
    let number = parse_seq(&number)?;
    let path = app.config.journal_path();
    let rec = blocking(move || {
        pos_core::reader::JournalReader::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|r| r.sale_by_number(number).map_err(|e| e.to_string()))
    })
    .await?
    .map_err(ApiError::unavailable)?;
    let Some(rec) = rec else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no sale number {number}"),
        ));
    };
    record_answer(&app, rec).await
}

/// A record as the API gives it: its body, its receipt code (tickets) and its print job.
async fn record_answer(app: &Arc<App>, rec: pos_core::record::Record) -> Answer<RecordAnswer> {
    let seq = rec.seq;
    let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    let total = body.get("total").and_then(Value::as_i64);
    let code = match (rec.kind.as_str(), total) {
        ("sale" | "refund" | "training", Some(t)) => {
            crate::printout::receipt_code(&rec, &app.till.opening.register_id, t, &app.till.key)
                .ok()
        }
        _ => None,
    };
    let ops = app.ops.clone();
    let job = blocking(move || ops.job_of_seq(seq)).await?.ok().flatten();
    let returned = if rec.kind == "sale" {
        let path = app.config.journal_path();
        let refunds = blocking(move || {
            pos_core::reader::JournalReader::open(&path)
                // Every refund so far (the store's bound is a signed 64-bit seq).
                .and_then(|r| r.refunds_of(seq, i64::MAX.unsigned_abs()))
                .map_err(|e| e.to_string())
        })
        .await?
        .map_err(ApiError::unavailable)?;
        Some(returned_of(&refunds))
    } else {
        None
    };
    Ok(Json(RecordAnswer {
        seq: rec.seq,
        kind: rec.kind,
        number: rec.kind_seq,
        timestamp_ms: rec.timestamp_ms,
        hash: hex::encode(rec.hash),
        body,
        receipt_code: code,
        print_job: job,
        returned,
    }))
}

/// A receipt asked for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PrintRequest {
    /// The operator asking: signed in at the till, or the session's own operator.
    operator: String,
}

/// A held receipt let print.
#[derive(Serialize, ToSchema)]
struct ReceiptQueued {
    /// The record whose receipt prints.
    seq: u64,
    /// Its print job.
    print_job: i64,
}

/// Print a ticket's receipt the customer asked for.
///
/// Under `[printer] receipts = "on_request"` a ticket's receipt waits (`held`) until asked for:
/// this prints it, once, as the original, within 15 minutes of the ticket. 409 not_held when it
/// has no receipt waiting (printed already, never held, or no printer: reprint it as a
/// duplicate, `POST /v1/tickets/{seq}/reprint`); 409 too_late after 15 minutes (a duplicate
/// then); 404 not_found.
#[utoipa::path(post, path = "/v1/tickets/{seq}/print", tag = "tickets",
    params(("seq" = u64, Path, description = "Journal sequence number")),
    request_body = PrintRequest,
    responses((status = 200, description = "The receipt, queued for printing", body = ReceiptQueued)))]
async fn print_receipt(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(seq): Path<String>,
    ApiJson(req): ApiJson<PrintRequest>,
) -> Answer<ReceiptQueued> {
    let seq = parse_seq(&seq)?;
    signed_in(&app, &caller, &req.operator)?;
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
    // The same window as the print projection's: an original printed long after its ticket
    // would be a second original.
    if app.till.clock.now_ms().saturating_sub(rec.timestamp_ms) > crate::project::PRINT_WINDOW_MS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_late",
            "the ticket is more than 15 minutes old: reprint it as a duplicate",
        ));
    }
    let ops = app.ops.clone();
    let (released, job) = blocking(move || {
        let released = ops.release_held(seq)?;
        Ok::<_, rusqlite::Error>((released, ops.job_of_seq(seq)?))
    })
    .await?
    .map_err(|e| ApiError::internal(format!("ops.db: {e}")))?;
    let (true, Some(job)) = (released, job) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_held",
            "this record has no receipt waiting: reprint it as a duplicate",
        ));
    };
    app.printing.notify.notify_one();
    Ok(Json(ReceiptQueued {
        seq,
        print_job: job.id,
    }))
}

/// A reprint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReprintRequest {
    /// The operator asking: signed in at the till, or the session's own operator.
    operator: String,
    /// Why (journaled with the duplicate; `reprint` when absent).
    #[serde(default)]
    reason: Option<String>,
}

/// A duplicate, journaled.
#[derive(Serialize, ToSchema)]
struct DuplicateAnswer {
    /// The duplicate's sequence number.
    seq: u64,
    /// Always `duplicate`.
    kind: &'static str,
    /// The record reprinted.
    original_seq: u64,
    /// The duplicate's number among the copies of that record (1 for the first).
    copy: Option<u64>,
    /// The print job that prints it, when a printer is configured.
    print_job: Option<i64>,
}

/// Reprint a ticket or a closure (Z).
///
/// Journals a duplicate and prints it marked DUPLICATA; settles a print job of unknown fate.
/// 422 not_reprintable for a record that is neither a ticket nor a closure; 404 not_found.
#[utoipa::path(post, path = "/v1/tickets/{seq}/reprint", tag = "tickets",
    params(("seq" = u64, Path, description = "Journal sequence number of the ticket or closure")),
    request_body = ReprintRequest,
    responses((status = 200, description = "The duplicate, journaled", body = DuplicateAnswer)))]
async fn reprint(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(seq): Path<String>,
    ApiJson(req): ApiJson<ReprintRequest>,
) -> Answer<DuplicateAnswer> {
    let seq = parse_seq(&seq)?;
    let journal = app.journal()?;
    signed_in(&app, &caller, &req.operator)?;
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
    Ok(Json(DuplicateAnswer {
        seq: a.seq,
        kind: "duplicate",
        original_seq: seq,
        copy,
        print_job: job,
    }))
}

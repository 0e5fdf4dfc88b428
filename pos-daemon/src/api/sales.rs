//! `/v1/sales`, `/v1/refunds`: tickets journaled and answered (read back, printed and
//! reprinted in `tickets.rs`).

use super::error::ApiError;
use super::extract::{blocking, Answer, AppState, Caller, IdempotencyKeyHeader, KeyedJson};
use super::operators::{authorize, operator, signed_in};
use super::ticket::{Shortage, TicketAnswer};
use crate::app::App;
use crate::catalog::LineRequest;
use crate::config::Role;
use crate::idempotency::{self, RequestKey, Start};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use pos_core::body::Body;
use pos_core::events;
use pos_core::journal::{Appended, Journal};
use pos_core::money::Cents;
use pos_core::ticket::{
    Payment, PaymentMethod, RefundInput, RefundLineInput, SaleInput, MAX_LINES_PER_TICKET,
    MAX_PAYMENTS_PER_TICKET,
};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(post_sale))
        .routes(routes!(post_refund))
}

/// A payment as the till sends it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PaymentRequest {
    /// How it was paid (`online` is reserved to click & collect pickups).
    method: PaymentMethod,
    /// Cents; at most `[policy] max_payment_cents` either way (default 1,000,000), else 422
    /// payment_too_large. Refunds pay back positive amounts.
    amount_cents: i64,
}

/// A sale as the till sends it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SaleRequest {
    /// The cashier: signed in at the till, or the session's own operator.
    operator: String,
    /// 1 to 200 lines.
    lines: Vec<LineRequest>,
    /// At most 16 payments; cash beyond the total is given back as change.
    payments: Vec<PaymentRequest>,
    /// A discount on the whole ticket, in cents, shared among its lines.
    #[serde(default)]
    ticket_discount_cents: i64,
    /// A manager's id, for a price override or discounts above the cashier's share
    /// (`[policy] cashier_max_discount_percent`).
    #[serde(default)]
    manager: Option<String>,
    /// That manager's PIN.
    #[serde(default)]
    manager_pin: Option<String>,
}

/// The payments of a request, each within the policy's ceiling (compared by absolute value,
/// whatever the sign a client sends).
fn payments(
    policy: &crate::config::Policy,
    p: &[PaymentRequest],
) -> Result<Vec<Payment>, ApiError> {
    if p.len() > MAX_PAYMENTS_PER_TICKET {
        return Err(ApiError::invalid(
            "invalid_ticket",
            format!("at most {MAX_PAYMENTS_PER_TICKET} payments"),
        ));
    }
    let max = policy.max_payment_cents;
    if let Some(big) = p
        .iter()
        .find(|p| p.amount_cents.unsigned_abs() > max.unsigned_abs())
    {
        return Err(ApiError::invalid(
            "payment_too_large",
            format!(
                "a payment of {} is above the till's ceiling of {} (policy.max_payment_cents); nothing was journaled",
                Cents(big.amount_cents),
                Cents(max)
            ),
        ));
    }
    Ok(p.iter()
        .map(|p| Payment {
            method: p.method,
            amount: Cents(p.amount_cents),
        })
        .collect())
}

/// Record a sale (a training ticket in training mode).
///
/// Answered once the ticket is durable in the journal, with its number, totals, VAT breakdown,
/// receipt code and print job; printing follows. Under `[stock] zero_stock = "refuse"` a sale
/// taking a tracked product below zero is a 409 insufficient_stock (`error.details.shortages`),
/// nothing journaled; under `"warn"` it is sold and the answer has `stock_warnings`. The online
/// payment method is reserved to pickups. Cash tendered beyond the total by more than
/// `[policy] max_change_cents` (default 100,000: twice the largest euro banknote) is a 422
/// change_too_large, nothing journaled. Other refusals: 403 operator_not_signed_in or
/// operator_mismatch, 422 unknown_sku, unknown_barcode, bad_barcode, invalid_line,
/// invalid_ticket, payments_short, payment_too_large; 409 closed_period, clock_ahead. A
/// cashier's price override (`unit_price_cents`) or discounts above `[policy]
/// cashier_max_discount_percent` of the gross need `manager` and `manager_pin` (403
/// manager_required, wrong_pin; 429 pin_locked), journaled as manager_override.
#[utoipa::path(post, path = "/v1/sales", tag = "tickets",
    params(IdempotencyKeyHeader),
    request_body = SaleRequest,
    responses((status = 200, description = "The ticket, journaled", body = TicketAnswer)))]
async fn post_sale(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    KeyedJson { body: req, key }: KeyedJson<SaleRequest>,
) -> Answer<TicketAnswer> {
    let journal = app.journal()?;
    // A sale sent again under its idempotency key gets its first answer, not a second ticket.
    let (_held, unsettled) = match start_keyed(&app, &journal, key.as_ref()).await? {
        Keyed::Replayed(answer) => return Ok(*answer),
        Keyed::Serve { held, unsettled } => (held, unsettled),
    };
    signed_in(&app, &caller, &req.operator)?;
    if req.lines.is_empty() || req.lines.len() > MAX_LINES_PER_TICKET {
        return Err(ApiError::invalid(
            "invalid_ticket",
            format!("a ticket has 1 to {MAX_LINES_PER_TICKET} lines"),
        ));
    }
    let lines = {
        let catalog = app
            .catalog
            .read()
            .map_err(|_| ApiError::internal("catalog lock"))?;
        req.lines
            .iter()
            .enumerate()
            .map(|(i, l)| catalog.resolve_line(i, l, &app.barcodes))
            .collect::<Result<Vec<_>, _>>()?
    };
    if req
        .payments
        .iter()
        .any(|p| p.method == PaymentMethod::Online)
    {
        return Err(ApiError::invalid(
            "invalid_ticket",
            "`online` payments are recorded by click & collect pickups (POST /v1/pickups/{shop}/{order})",
        ));
    }
    let input = SaleInput {
        operator: req.operator.clone(),
        lines,
        ticket_discount: Cents(req.ticket_discount_cents),
        payments: payments(&app.config.policy, &req.payments)?,
    };
    // Computed once here for the checks below; the journal computes it again as it validates.
    let expected = pos_core::ticket::compute_sale(&input, &journal.vat_rates()).ok();
    // Cash given far beyond the total is a mistyped amount, not a sale to journal for good.
    if let Some(computed) = &expected {
        let max = app.config.policy.max_change_cents;
        if computed.change.0 > max {
            return Err(ApiError::invalid(
                "change_too_large",
                format!(
                    "{} of change is more than the till gives (policy.max_change_cents: {}); check the amount tendered; nothing was journaled",
                    computed.change,
                    Cents(max)
                ),
            ));
        }
    }
    let override_by = approve_sale(&app, &req, expected.as_ref()).await?;
    let written =
        move |r: &pos_core::record::Record| expected.as_ref().is_some_and(|e| is_sale(r, e));
    if let Some(answer) = settled(&app, &journal, key.as_ref(), unsettled, written).await? {
        return Ok(answer);
    }
    // The journal validates the ticket before writing anything: a refused ticket changes
    // nothing.
    let training = app.till.training.load(Ordering::SeqCst);
    let warnings = if training {
        Vec::new()
    } else {
        let (app2, demand) = (app.clone(), crate::stock::demand(&input.lines));
        match blocking(move || app2.stock.check_sale(&demand)).await? {
            Ok(w) => w,
            Err(shop_sync::ledger::LedgerError::Insufficient(short)) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "insufficient_stock",
                    format!(
                        "not enough stock for {}; nothing was journaled",
                        short
                            .iter()
                            .map(|s| s.sku.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_details(json!({
                    "shortages": short.iter().map(Shortage::from).collect::<Vec<_>>()
                })))
            }
            Err(e) => return Err(ApiError::invalid("invalid_ticket", e.to_string())),
        }
    };
    let app2 = app.clone();
    let (a, code, job) = blocking(move || {
        let a = idempotency::append_keyed(&app2, &journal, key.as_ref(), || {
            if training {
                journal.training(&input)
            } else {
                journal.sale(&input)
            }
        })?;
        // Durable now: only from here on is anything printed or answered.
        let code = journal.receipt_code(&a).ok();
        let job = app2.project(a.seq);
        Ok::<_, ApiError>((a, code, job))
    })
    .await??;
    let job = job.await.ok().flatten();
    let answer = TicketAnswer::of(&app, &a, code, job)?.with_stock_warnings(&warnings);
    if !warnings.is_empty() {
        if let Some(held_back) = app.stock.below_zero_warnings.pass() {
            tracing::warn!(seq = a.seq, shortages = ?warnings, held_back, "sold below zero stock");
        }
    }
    if let Some((manager, what)) = override_by {
        app.journal_event_by(
            events::MANAGER_OVERRIDE,
            &format!("{what} on sale seq {}", a.seq),
            Some(&manager),
        )
        .await;
    }
    app.bus.publish(
        "sale",
        json!({ "seq": a.seq, "kind": a.kind.as_str(), "ticket_number": a.kind_seq }),
    );
    Ok(Json(answer))
}

/// A cashier's price override or discounts above their share need a manager's approval, with
/// the manager's PIN in the request (403 manager_required without it); returns the manager and
/// what they approved, to journal as manager_override once the sale is.
async fn approve_sale(
    app: &Arc<App>,
    req: &SaleRequest,
    computed: Option<&pos_core::ticket::SaleBody>,
) -> Result<Option<(String, String)>, ApiError> {
    // A ticket the journal cannot compute is refused by it, with its own reason.
    let Some(computed) = computed else {
        return Ok(None);
    };
    let overrides = req
        .lines
        .iter()
        .filter(|l| l.unit_price_cents.is_some())
        .count();
    let discount = req.lines.iter().fold(req.ticket_discount_cents, |sum, l| {
        sum.saturating_add(l.discount_cents)
    });
    let gross = computed.lines.iter().map(|l| l.gross.0).sum::<i64>();
    if !app
        .config
        .policy
        .sale_needs_manager(overrides > 0, discount, gross)
        || operator(app, &req.operator)?.role == Role::Manager
    {
        return Ok(None);
    }
    let (Some(m), Some(pin)) = (&req.manager, &req.manager_pin) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "manager_required",
            format!(
                "a price override or discounts above {} % of the ticket need `manager` and `manager_pin`",
                app.config.policy.cashier_max_discount_percent
            ),
        ));
    };
    authorize(app, m, pin, Role::Manager).await?;
    let what = match (overrides, discount) {
        (0, d) => format!("discount of {}", Cents(d)),
        (n, 0) => format!("{n} price override(s)"),
        (n, d) => format!("{n} price override(s) and a discount of {}", Cents(d)),
    };
    Ok(Some((m.clone(), what)))
}

/// How a request sent with an idempotency key goes on.
enum Keyed {
    /// Served before: its first answer.
    Replayed(Box<Json<TicketAnswer>>),
    /// To serve: its key held (none without a key); `unsettled` as [`Start::Serve`] says.
    Serve {
        /// The key, held while the request is served.
        held: Option<idempotency::InFlight>,
        /// The seq after which its record may already be.
        unsettled: Option<u64>,
    },
}

/// Starts a sale or refund under its idempotency key, if it has one.
async fn start_keyed(
    app: &Arc<App>,
    journal: &Arc<Journal>,
    key: Option<&RequestKey>,
) -> Result<Keyed, ApiError> {
    match key.map(|k| idempotency::start(app, k)).transpose()? {
        None => Ok(Keyed::Serve {
            held: None,
            unsettled: None,
        }),
        Some(Start::Replay(seq)) => Ok(Keyed::Replayed(Box::new(replay(app, journal, seq).await?))),
        Some(Start::Serve { held, unsettled }) => Ok(Keyed::Serve {
            held: Some(held),
            unsettled,
        }),
    }
}

/// A key remembered whose answer was never recorded (posd stopped meanwhile): the journal says
/// whether its ticket was written (`written` recognises it); if so, its answer.
async fn settled(
    app: &Arc<App>,
    journal: &Arc<Journal>,
    key: Option<&RequestKey>,
    unsettled: Option<u64>,
    written: impl Fn(&pos_core::record::Record) -> bool + Send + 'static,
) -> Result<Option<Json<TicketAnswer>>, ApiError> {
    let (Some(k), Some(after_seq)) = (key, unsettled) else {
        return Ok(None);
    };
    let (app2, k2) = (app.clone(), k.key.clone());
    let seq = blocking(move || idempotency::settle(&app2, &k2, after_seq, written)).await??;
    match seq {
        Some(seq) => Ok(Some(replay(app, journal, seq).await?)),
        None => Ok(None),
    }
}

/// The answer to a sale already journaled under the idempotency key sent again.
async fn replay(app: &Arc<App>, journal: &Arc<Journal>, seq: u64) -> Answer<TicketAnswer> {
    let (app, journal) = (app.clone(), journal.clone());
    blocking(move || {
        let record = pos_core::reader::JournalReader::open(&app.config.journal_path())
            .and_then(|r| r.record(seq))
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let Some(Ok(r)) = record else {
            return Err(ApiError::unavailable(format!(
                "record {seq} cannot be read"
            )));
        };
        let kind = r
            .known_kind()
            .ok_or_else(|| ApiError::unavailable(format!("record {seq} has an unknown kind")))?;
        let a = Appended {
            seq: r.seq,
            kind,
            kind_seq: r.kind_seq,
            timestamp_ms: r.timestamp_ms,
            hash: r.hash,
            signature: r.signature,
            body: r.body,
            clock_went_back: false,
        };
        let code = journal.receipt_code(&a).ok();
        let job = app.ops.job_of_seq(seq).ok().flatten().map(|j| j.id);
        Ok(Json(TicketAnswer::of(&app, &a, code, job)?.replayed()))
    })
    .await?
}

/// A line of the sale to return.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundLineRequest {
    /// The sale's line, counted from 0 in the order of the sale's `lines`.
    original_line: u32,
    /// How much to return: thousandths of a piece (whole pieces: multiples of 1000) or grams.
    quantity_milli: i64,
}

/// A refund or void of lines of a sale.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundRequest {
    /// The cashier: signed in at the till, or the session's own operator.
    operator: String,
    /// The sale's sequence number (`seq` of its answer).
    original_seq: u64,
    /// Why, as the auditor reads it.
    reason: String,
    /// The lines returned.
    lines: Vec<RefundLineRequest>,
    /// The money given back, as positive amounts summing to the refund's total.
    payments: Vec<PaymentRequest>,
    /// A void: cancels all that remains of the sale (every line returned whole).
    #[serde(default)]
    void: bool,
    /// A manager's id, for voids and refunds above the cashier's limit.
    #[serde(default)]
    manager: Option<String>,
    /// That manager's PIN.
    #[serde(default)]
    manager_pin: Option<String>,
}

/// posd sells pieces whole (the catalogue takes whole quantities), so it returns them whole:
/// a refund of half a piece is refused before the PIN checks. (The journal itself counts in
/// thousandths of a piece: another till may sell pieces in parts.) An original that cannot be
/// read is left to the journal, which says why.
async fn whole_pieces(
    app: &Arc<App>,
    original_seq: u64,
    lines: &[RefundLineRequest],
) -> Result<(), ApiError> {
    let partial: Vec<(usize, u32, i64)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.quantity_milli % 1000 != 0)
        .map(|(i, l)| (i, l.original_line, l.quantity_milli))
        .collect();
    if partial.is_empty() {
        return Ok(());
    }
    let path = app.config.journal_path();
    let original = blocking(move || {
        let record = pos_core::reader::JournalReader::open(&path)
            .ok()?
            .record(original_seq)
            .ok()??
            .ok()?;
        match Body::decode(record.known_kind()?, &record.body) {
            Ok(Body::Sale(s)) => Some(s),
            _ => None,
        }
    })
    .await?;
    let Some(sale) = original else { return Ok(()) };
    for (i, original_line, milli) in partial {
        let piece = sale
            .lines
            .get(original_line as usize)
            .is_some_and(|l| l.unit == pos_core::ticket::Unit::Piece);
        if piece {
            return Err(ApiError::invalid(
                "invalid_ticket",
                format!(
                    "refund line {i}: {milli} thousandths of a piece of original line {original_line}: pieces are returned whole"
                ),
            ));
        }
    }
    Ok(())
}

/// Refund or void (`void: true`) lines of a sale.
///
/// Voids and refunds above the cashier limit (`[policy] cashier_refund_limit_cents`) need a
/// manager (`manager`, `manager_pin`; else 403 manager_required), journaled as
/// manager_override. Lines name the sale's lines by `original_line`, counted from 0; a piece is
/// returned whole (422 invalid_ticket for part of one); payments are positive amounts paid
/// back. Other refusals: 404 not_found (no such sale), 422 invalid_ticket (more than was sold,
/// payments not matching), 403 wrong_pin, 429 pin_locked.
#[utoipa::path(post, path = "/v1/refunds", tag = "tickets",
    params(IdempotencyKeyHeader),
    request_body = RefundRequest,
    responses((status = 200, description = "The refund, journaled", body = TicketAnswer)))]
async fn post_refund(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    KeyedJson { body: req, key }: KeyedJson<RefundRequest>,
) -> Answer<TicketAnswer> {
    let journal = app.journal()?;
    // A refund sent again under its idempotency key gets its first answer: money goes out once.
    let (_held, unsettled) = match start_keyed(&app, &journal, key.as_ref()).await? {
        Keyed::Replayed(answer) => return Ok(*answer),
        Keyed::Serve { held, unsettled } => (held, unsettled),
    };
    signed_in(&app, &caller, &req.operator)?;
    if req.lines.len() > MAX_LINES_PER_TICKET {
        return Err(ApiError::invalid("invalid_ticket", "too many lines"));
    }
    let pays = payments(&app.config.policy, &req.payments)?;
    whole_pieces(&app, req.original_seq, &req.lines).await?;
    let amount = pays
        .iter()
        .try_fold(0i64, |acc, p| acc.checked_add(p.amount.0.checked_abs()?))
        .ok_or_else(|| ApiError::invalid("invalid_ticket", "amount overflow"))?;
    let op = operator(&app, &req.operator)?;
    let needs_manager = app.config.policy.refund_needs_manager(req.void, amount);
    let mut override_by = None;
    if needs_manager && op.role != Role::Manager {
        let (Some(m), Some(pin)) = (&req.manager, &req.manager_pin) else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "manager_required",
                "voids and refunds above the cashier limit need `manager` and `manager_pin`",
            ));
        };
        authorize(&app, m, pin, Role::Manager).await?;
        override_by = Some(m.clone());
    }
    let input = RefundInput {
        operator: req.operator.clone(),
        reason: req.reason.clone(),
        lines: req
            .lines
            .iter()
            .map(|l| RefundLineInput {
                original_line: l.original_line,
                quantity: pos_core::money::Qty(l.quantity_milli),
            })
            .collect(),
        payments: pays,
        void: req.void,
    };
    let original = req.original_seq;
    let wanted = input.clone();
    let written = move |r: &pos_core::record::Record| is_refund(r, original, &wanted);
    if let Some(answer) = settled(&app, &journal, key.as_ref(), unsettled, written).await? {
        return Ok(answer);
    }
    let app2 = app.clone();
    let (a, code, job) = blocking(move || {
        let a = idempotency::append_keyed(&app2, &journal, key.as_ref(), || {
            journal.refund(original, &input)
        })?;
        let code = journal.receipt_code(&a).ok();
        let job = app2.project(a.seq);
        Ok::<_, ApiError>((a, code, job))
    })
    .await??;
    let job = job.await.ok().flatten();
    if let Some(m) = override_by {
        let what = if req.void {
            "void"
        } else {
            "refund above the cashier limit"
        };
        app.journal_event_by(
            events::MANAGER_OVERRIDE,
            &format!("{what} of seq {original} (refund seq {})", a.seq),
            Some(&m),
        )
        .await;
    }
    Ok(Json(TicketAnswer::of(&app, &a, code, job)?))
}

/// Whether `record` is the sale (or training ticket) `expected`.
fn is_sale(record: &pos_core::record::Record, expected: &pos_core::ticket::SaleBody) -> bool {
    use pos_core::record::Kind;
    let Some(kind @ (Kind::Sale | Kind::Training)) = record.known_kind() else {
        return false;
    };
    matches!(
        Body::decode(kind, &record.body),
        Ok(Body::Sale(b) | Body::Training(b)) if b == *expected
    )
}

/// Whether `record` is the refund `input` of the sale at `original`.
fn is_refund(record: &pos_core::record::Record, original: u64, input: &RefundInput) -> bool {
    use pos_core::record::Kind;
    record.known_kind() == Some(Kind::Refund)
        && matches!(
            Body::decode(Kind::Refund, &record.body),
            Ok(Body::Refund(b)) if refund_of(&b, original, input)
        )
}

/// Whether `body` is the refund `input` of the sale at `original` asked for (a refund body
/// holds the quantities and payments negated).
fn refund_of(body: &pos_core::ticket::RefundBody, original: u64, input: &RefundInput) -> bool {
    let same_lines = body.lines.len() == input.lines.len()
        && body.lines.iter().zip(&input.lines).all(|(b, i)| {
            b.original_line == i.original_line && Some(b.quantity.0) == i.quantity.0.checked_neg()
        });
    let same_payments = body.payments.len() == input.payments.len()
        && body
            .payments
            .iter()
            .zip(&input.payments)
            .all(|(b, i)| b.method == i.method && Some(b.amount.0) == i.amount.0.checked_neg());
    body.original.seq == original
        && body.operator == input.operator
        && body.reason == input.reason
        && body.void == input.void
        && same_lines
        && same_payments
}

//! `/v1/pickups`: click & collect orders handed over as tickets paid online.

use super::error::{journal_error, ApiError};
use super::extract::{blocking, Answer, ApiJson, AppState, Caller};
use super::operators::signed_in;
use super::stock::with_ledger;
use super::ticket::{PickupNote, TicketAnswer};
use crate::app::App;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use pos_core::journal::JournalError;
use pos_core::money::Cents;
use pos_core::ticket::{Payment, PaymentMethod, SaleInput};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(pickups))
        .routes(routes!(pickup))
}

/// The click & collect orders waiting.
#[derive(Serialize, ToSchema)]
struct PickupsAnswer {
    /// Each order waiting to be picked up.
    pickups: Vec<PendingPickup>,
}

/// A click & collect order waiting at the till.
#[derive(Serialize, ToSchema)]
struct PendingPickup {
    /// The shop's name.
    shop: String,
    /// The order's id in the shop.
    order_id: String,
    /// The lines holding stock at the till (products whose stock it tracks): what the pickup
    /// takes off the shelves.
    lines: Vec<ReservedLine>,
    /// Every line of the order as the customer bought it: what the ticket shows.
    items: Vec<OrderItem>,
    /// What the customer paid for the whole order, in cents, when the shop said.
    total_cents: Option<i64>,
}

/// A line of an order holding stock.
#[derive(Serialize, ToSchema)]
struct ReservedLine {
    /// The shop's line id.
    line_id: String,
    /// The product.
    sku: String,
    /// Whole units reserved.
    quantity: i64,
}

/// One line of an order as the customer bought it (tracked product or not).
#[derive(Serialize, ToSchema)]
struct OrderItem {
    /// The shop's line id.
    line_id: String,
    /// The product's SKU; empty when the shop gave none.
    sku: String,
    /// The line's name in the shop.
    name: String,
    /// Whole units (kilograms for goods sold by weight).
    quantity: i64,
    /// What the customer paid for the line, VAT included, after discounts, in cents; null when
    /// the shop did not say.
    paid_cents: Option<i64>,
}

impl From<shop_sync::ledger::PendingPickup> for PendingPickup {
    fn from(p: shop_sync::ledger::PendingPickup) -> Self {
        PendingPickup {
            shop: p.shop,
            order_id: p.order_id,
            lines: p
                .lines
                .into_iter()
                .map(|l| ReservedLine {
                    line_id: l.line_id,
                    sku: l.sku,
                    quantity: l.quantity,
                })
                .collect(),
            items: p
                .items
                .into_iter()
                .map(|i| OrderItem {
                    line_id: i.line_id,
                    sku: i.sku,
                    name: i.name,
                    quantity: i.quantity,
                    paid_cents: i.paid_cents,
                })
                .collect(),
            total_cents: p.total_cents,
        }
    }
}

/// Click & collect orders seen online, their stock reserved at the till, waiting to be picked
/// up.
///
/// Every line of each order with its name and the amount paid online (`items`), the lines
/// holding stock (`lines`), and the order's total paid online.
#[utoipa::path(get, path = "/v1/pickups", tag = "shops",
    responses((status = 200, description = "The orders waiting", body = PickupsAnswer)))]
async fn pickups(State(app): AppState) -> Answer<PickupsAnswer> {
    let p = with_ledger(&app, |l| l.pending_pickups()).await?;
    Ok(Json(PickupsAnswer {
        pickups: p.into_iter().map(PendingPickup::from).collect(),
    }))
}

/// The longest wait for the poll before a pickup.
const PICKUP_POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// A pickup.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PickupRequest {
    /// The cashier: signed in at the till, or the session's own operator.
    operator: String,
}

/// Record a click & collect pickup as a journaled sale paid online.
///
/// One line per order item, with the catalogue's label, VAT rate and unit (one online unit is
/// one piece, or one kilogram of goods sold by weight), priced so that the line's total is
/// what the customer paid online (unit price ceil(paid / units), the remainder as a line
/// discount; the catalogue's price, with a warning, when the shop gave no amount); one
/// payment, online, of the ticket's total; the reservation ends. When the order's total paid
/// online differs from the ticket's (shipping, fees), the answer says so in
/// `pickup.warnings` (no line is invented). 409 not_pickable when the order is not pickable
/// (cancelled, unknown, already picked up), 409 unknown_product when a line's SKU is empty or
/// not in the catalogue (`error.details`: line_id, sku, name; add the product, then retry),
/// 409 bad_order_line for a quantity below one or a negative amount: nothing is journaled and
/// the reservation stays. 409 training_mode in training mode.
#[utoipa::path(post, path = "/v1/pickups/{shop}/{order}", tag = "shops",
    params(
        ("shop" = String, Path, description = "The shop's name in [[shops]]"),
        ("order" = String, Path, description = "The order's id in the shop")
    ),
    request_body = PickupRequest,
    responses((status = 200, description = "The ticket, as for POST /v1/sales, with `pickup`", body = TicketAnswer)))]
async fn pickup(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path((shop, order)): Path<(String, String)>,
    ApiJson(req): ApiJson<PickupRequest>,
) -> Answer<TicketAnswer> {
    let journal = app.journal()?;
    signed_in(&app, &caller, &req.operator)?;
    if app.till.training.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "training_mode",
            "pickups are not recorded in training mode",
        ));
    }
    let _gate = app.stock.pickup_gate.lock().await;
    if let Some(s) = app.shop_named(&shop) {
        // The order may have been cancelled since the last poll. A shop that does not answer
        // in time does not hold the customer at the till: the last poll decides.
        match tokio::time::timeout(PICKUP_POLL, s.run_once()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(shop = %shop, error = %e, "no poll before the pickup: the shop failed")
            }
            Err(_) => tracing::warn!(shop = %shop, "no poll before the pickup: the shop is slow"),
        }
    }
    let (s2, o2) = (shop.clone(), order.clone());
    let picked = with_ledger(&app, move |l| l.pickup_items(&s2, &o2))
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "not_pickable", e.message))?;
    let mut warnings: Vec<String> = Vec::new();
    let lines = {
        let catalog = app
            .catalog
            .read()
            .map_err(|_| ApiError::internal("catalog lock"))?;
        crate::pickup::ticket_lines(&picked, |sku| catalog.get(sku).cloned(), &mut warnings)?
    };
    for w in &warnings {
        tracing::warn!(shop = %shop, order = %order, "{w}");
    }
    let mut input = SaleInput {
        operator: req.operator.clone(),
        lines,
        ticket_discount: Cents::ZERO,
        payments: vec![Payment {
            method: PaymentMethod::Cash,
            // Only to learn the total: the payment is replaced below.
            amount: Cents(pos_core::money::MAX_JSON_INT / 4),
        }],
    };
    let total = pos_core::ticket::compute_sale(&input, &journal.vat_rates())
        .map_err(|e| ApiError::invalid("invalid_ticket", e.to_string()))?
        .total;
    input.payments = vec![Payment {
        method: PaymentMethod::Online,
        amount: total,
    }];
    if let Some(paid) = picked.total_cents.filter(|t| *t != total.0) {
        let w = format!(
            "the order's total paid online ({}) differs from the ticket's ({}): shipping or \
             fees paid online are not on the ticket",
            Cents(paid),
            total
        );
        tracing::warn!(shop = %shop, order = %order, "{w}");
        warnings.push(w);
    }
    let intent = crate::stock::PickupIntent {
        shop: shop.clone(),
        order: order.clone(),
    };
    with_ledger(&app, move |l| crate::stock::set_intent(l, Some(&intent))).await?;
    let app2 = app.clone();
    let r = blocking(move || {
        let a = journal.sale(&input)?;
        let code = journal.receipt_code(&a).ok();
        let job = app2.project(a.seq);
        Ok::<_, JournalError>((a, code, job))
    })
    .await?;
    let (a, code, job) = match r {
        Ok(x) => x,
        Err(e) => {
            with_ledger(&app, |l| crate::stock::set_intent(l, None)).await?;
            return Err(journal_error(e));
        }
    };
    let job = job.await.ok().flatten();
    tracing::info!(shop = %shop, order = %order, seq = a.seq, "click & collect order picked up");
    let answer = TicketAnswer::of(&app, &a, code, job)?.with_pickup(PickupNote {
        shop,
        order,
        order_total_cents: picked.total_cents,
        ticket_total_cents: total.0,
        warnings,
    });
    app.bus.publish(
        "sale",
        json!({ "seq": a.seq, "kind": a.kind.as_str(), "ticket_number": a.kind_seq }),
    );
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Product;

    fn item(sku: &str, quantity: i64, paid: Option<i64>) -> shop_sync::ledger::OrderItem {
        shop_sync::ledger::OrderItem {
            line_id: format!("l-{sku}"),
            sku: sku.into(),
            name: format!("Web {sku}"),
            quantity,
            paid_cents: paid,
        }
    }

    fn order(items: Vec<shop_sync::ledger::OrderItem>) -> shop_sync::ledger::PendingPickup {
        shop_sync::ledger::PendingPickup {
            shop: "woo".into(),
            order_id: "42".into(),
            lines: Vec::new(),
            items,
            total_cents: None,
        }
    }

    fn catalog(sku: &str) -> Option<Product> {
        let (price_cents, unit) = match sku {
            "PAIN" => (130, crate::catalog::Unit::Piece),
            "COMTE" => (2490, crate::catalog::Unit::Kg),
            _ => return None,
        };
        Some(Product {
            sku: sku.into(),
            label: format!("Till {sku}"),
            price_cents,
            vat_rate: 550,
            unit,
            track_stock: false,
            stock_milli: None,
            barcodes: Vec::new(),
            category: None,
        })
    }

    #[test]
    fn pickup_lines_total_exactly_what_was_paid() {
        let mut warnings = Vec::new();
        let o = order(vec![
            item("PAIN", 3, Some(1000)),
            item("COMTE", 2, Some(5382)),
            item("PAIN", 1, Some(0)),
            item("PAIN", 2, None),
        ]);
        let lines = crate::pickup::ticket_lines(&o, catalog, &mut warnings).expect("lines");
        let t = pos_core::ticket::compute_sale(
            &SaleInput {
                operator: "alice".into(),
                lines: lines.clone(),
                ticket_discount: Cents::ZERO,
                payments: vec![Payment {
                    method: PaymentMethod::Online,
                    amount: Cents(1000 + 5382 + 260),
                }],
            },
            &[pos_core::money::VatRate(550)],
        )
        .expect("ticket");
        let totals: Vec<i64> = t.lines.iter().map(|l| l.total.0).collect();
        assert_eq!(totals, vec![1000, 5382, 0, 260]);
        // ceil(1000 / 3) = 334 a piece, less 2 on the line.
        assert_eq!((lines[0].unit_price.0, lines[0].discount.0), (334, 2));
        assert_eq!(lines[0].quantity.0, 3000);
        // Weighed goods: 2 online units are 2 kg, priced per kg.
        assert_eq!(lines[1].unit, pos_core::ticket::Unit::Kg);
        assert_eq!(lines[1].quantity.0, 2000);
        assert_eq!((lines[1].unit_price.0, lines[1].discount.0), (2691, 0));
        assert_eq!(lines[0].label, "Till PAIN");
        // No amount given: the catalogue's price, with a warning.
        assert_eq!((lines[3].unit_price.0, lines[3].discount.0), (130, 0));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn a_pickup_line_that_cannot_be_priced_refuses_the_pickup() {
        let mut w = Vec::new();
        for (o, code) in [
            (order(vec![item("VIN", 1, Some(100))]), "unknown_product"),
            (order(vec![item("", 1, Some(100))]), "unknown_product"),
            (order(vec![item("PAIN", 0, Some(100))]), "bad_order_line"),
            (order(vec![item("PAIN", -1, Some(100))]), "bad_order_line"),
            (order(vec![item("PAIN", 1, Some(-1))]), "bad_order_line"),
            (order(Vec::new()), "bad_order_line"),
        ] {
            let e = ApiError::from(
                crate::pickup::ticket_lines(&o, catalog, &mut w).expect_err("refused"),
            );
            assert_eq!(
                (e.status, e.code),
                (StatusCode::CONFLICT, code),
                "{}",
                e.message
            );
        }
        let e =
            crate::pickup::ticket_lines(&order(vec![item("VIN", 1, Some(100))]), catalog, &mut w)
                .map_err(ApiError::from)
                .expect_err("refused");
        assert!(
            e.message.contains("Web VIN")
                && e.message.contains("\"VIN\"")
                && e.message.contains("add the product to the catalogue"),
            "{}",
            e.message
        );
    }
}

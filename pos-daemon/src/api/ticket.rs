//! The answer for a ticket just journaled (a sale, a training ticket, a refund, a pickup), shared
//! by the resources that write them.

use super::error::ApiError;
use crate::app::App;
use pos_core::body::Body;
use pos_core::journal::Appended;
use pos_core::money::Cents;
use pos_core::ticket::{Payment, RefundLine, TicketLine};
use serde::Serialize;
use utoipa::ToSchema;

/// A ticket as journaled: its numbers, lines, totals, VAT breakdown and payments, the code for
/// its receipt's QR code and the print job that prints it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TicketAnswer {
    /// The record's sequence number in the journal.
    seq: u64,
    /// `sale`, `training` or `refund`.
    kind: String,
    /// The ticket's number among the records of its kind (the number printed).
    ticket_number: u64,
    /// When it was journaled (milliseconds since the epoch).
    timestamp_ms: i64,
    /// The same, as the receipt prints it (the register's time zone).
    date_time: String,
    /// The total incl. VAT, in cents (negative for a refund).
    total_cents: i64,
    /// Change given back in cash, in cents.
    change_cents: i64,
    /// The VAT breakdown, highest rate first.
    vat: Vec<VatLine>,
    /// The lines as journaled: a sale's computed lines, or a refund's returned lines (negative
    /// quantities and totals, `original_line` counted from 0).
    lines: TicketLines,
    /// The payments as journaled (negative on a refund: money given back).
    payments: Vec<Payment>,
    /// The receipt's signed code (its QR code), when it could be made.
    receipt_code: Option<String>,
    /// The print job that prints it, when a printer is configured.
    print_job: Option<i64>,
    /// The sale is answered as it was the first time: it was sent again with its
    /// idempotency key (absent otherwise).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    idempotent_replay: bool,
    /// Products the sale took below zero, under `[stock] zero_stock = "warn"` (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stock_warnings: Vec<Shortage>,
    /// The click & collect order this ticket hands over (pickups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pickup: Option<PickupNote>,
}

/// The lines of a sale or of a refund.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
enum TicketLines {
    /// A sale's (or training ticket's) lines.
    Sale(Vec<TicketLine>),
    /// A refund's returned lines.
    Refund(Vec<RefundLine>),
}

/// The totals of one VAT rate on a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VatLine {
    /// Hundredths of a percent (2000 = 20 %).
    rate: u32,
    /// Total excl. VAT, in cents.
    net_cents: i64,
    /// The VAT, in cents.
    vat_cents: i64,
    /// Total incl. VAT, in cents.
    gross_cents: i64,
}

/// A tracked product a sale takes (or would take) below zero.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(super) struct Shortage {
    /// The product.
    sku: String,
    /// Available (on hand minus reserved for click & collect) before the sale, thousandths.
    available_milli: i64,
    /// What the sale takes, thousandths.
    requested_milli: i64,
}

impl From<&shop_sync::ledger::Shortage> for Shortage {
    fn from(s: &shop_sync::ledger::Shortage) -> Self {
        Shortage {
            sku: s.sku.clone(),
            available_milli: s.available_milli,
            requested_milli: s.requested_milli,
        }
    }
}

/// What a pickup's ticket hands over, and how its total compares with what was paid online.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PickupNote {
    /// The shop's name (`[[shops]] name`).
    pub(super) shop: String,
    /// The order's id in the shop.
    pub(super) order: String,
    /// What the shop says the customer paid for the whole order, when it says.
    pub(super) order_total_cents: Option<i64>,
    /// The ticket's total: what the order's items were paid.
    pub(super) ticket_total_cents: i64,
    /// What differs from the order as paid online (shipping or fees not on the ticket, items
    /// priced from the catalogue), for the person at the till.
    pub(super) warnings: Vec<String>,
}

impl TicketAnswer {
    /// The answer for ticket `a`, just journaled (or read back), with its receipt code and
    /// print job.
    pub(super) fn of(
        app: &App,
        a: &Appended,
        receipt_code: Option<String>,
        print_job: Option<i64>,
    ) -> Result<TicketAnswer, ApiError> {
        let (total, change, vat, lines, payments) = match Body::decode(a.kind, &a.body) {
            Ok(Body::Sale(s) | Body::Training(s)) => (
                s.total,
                s.change,
                s.vat,
                TicketLines::Sale(s.lines),
                s.payments,
            ),
            Ok(Body::Refund(r)) => (
                r.total,
                Cents::ZERO,
                r.vat,
                TicketLines::Refund(r.lines),
                r.payments,
            ),
            // posd wrote it an instant ago: only a defect of posd itself gets here.
            _ => {
                return Err(ApiError::internal(format!(
                    "record {} is journaled, but is not a ticket that can be read back: see GET /v1/tickets/{}",
                    a.seq, a.seq
                )))
            }
        };
        Ok(TicketAnswer {
            seq: a.seq,
            kind: a.kind.as_str().to_string(),
            ticket_number: a.kind_seq,
            timestamp_ms: a.timestamp_ms,
            date_time: crate::printout::local_time(a.timestamp_ms, &app.till.opening.time_zone),
            total_cents: total.0,
            change_cents: change.0,
            vat: vat
                .iter()
                .map(|v| VatLine {
                    rate: v.rate.0,
                    net_cents: v.net.0,
                    vat_cents: v.vat.0,
                    gross_cents: v.gross.0,
                })
                .collect(),
            lines,
            payments,
            receipt_code,
            print_job,
            idempotent_replay: false,
            stock_warnings: Vec::new(),
            pickup: None,
        })
    }

    /// The answer marked as a replay of the first one.
    pub(super) fn replayed(mut self) -> Self {
        self.idempotent_replay = true;
        self
    }

    /// The answer with the products the sale took below zero.
    pub(super) fn with_stock_warnings(mut self, warnings: &[shop_sync::ledger::Shortage]) -> Self {
        self.stock_warnings = warnings.iter().map(Shortage::from).collect();
        self
    }

    /// The answer with the pickup it hands over.
    pub(super) fn with_pickup(mut self, pickup: PickupNote) -> Self {
        self.pickup = Some(pickup);
        self
    }
}

//! Checking a stored sale against its recomputation, its text borrowed.

use super::error::TicketError;
use super::sale::*;
use super::types::*;
use crate::money::{Cents, Qty, VatRate};

/// Recomputes a stored sale from its own inputs and reports the first field that differs.
pub fn check_sale(body: &SaleBody, rates: &[VatRate]) -> Result<(), TicketError> {
    check_sale_against(body, |r| rates.contains(&r))
}

/// [`check_sale`] with the rates the sale itself names taken as known: the verifier checks
/// rates in force separately, in order (they can change from one record to the next).
pub fn check_sale_arithmetic(body: &SaleBody) -> Result<(), TicketError> {
    check_sale_against(body, |_| true)
}

pub(super) fn check_sale_against(
    body: &SaleBody,
    rate_known: impl Fn(VatRate) -> bool,
) -> Result<(), TicketError> {
    check_stored_sale(
        &body.operator,
        body.lines.iter().map(TicketLine::view),
        body,
        rate_known,
    )
}

/// A stored sale line as the arithmetic check reads it, its text borrowed (from the line, or
/// straight from a body's bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineView<'a> {
    pub sku: &'a str,
    pub label: &'a str,
    pub quantity: Qty,
    pub unit: Unit,
    pub unit_price: Cents,
    pub vat_rate: VatRate,
    pub gross: Cents,
    pub line_discount: Cents,
    pub ticket_discount: Cents,
    pub total: Cents,
}

impl TicketLine {
    /// The line, borrowed.
    pub(crate) fn view(&self) -> LineView<'_> {
        LineView {
            sku: &self.sku,
            label: &self.label,
            quantity: self.quantity,
            unit: self.unit,
            unit_price: self.unit_price,
            vat_rate: self.vat_rate,
            gross: self.gross,
            line_discount: self.line_discount,
            ticket_discount: self.ticket_discount,
            total: self.total,
        }
    }
}

impl From<LineView<'_>> for TicketLine {
    fn from(l: LineView<'_>) -> TicketLine {
        TicketLine {
            sku: l.sku.to_owned(),
            label: l.label.to_owned(),
            quantity: l.quantity,
            unit: l.unit,
            unit_price: l.unit_price,
            vat_rate: l.vat_rate,
            gross: l.gross,
            line_discount: l.line_discount,
            ticket_discount: l.ticket_discount,
            total: l.total,
        }
    }
}

/// [`check_sale`] of a sale given as its operator, its lines, and the rest of its body (whose
/// own lines and operator are not read).
pub(crate) fn check_stored_sale<'a>(
    operator: &str,
    lines: impl ExactSizeIterator<Item = LineView<'a>> + Clone,
    rest: &SaleBody,
    rate_known: impl Fn(VatRate) -> bool,
) -> Result<(), TicketError> {
    let again = sale_figures(
        operator,
        lines.clone().map(|l| LineAmounts {
            sku: l.sku,
            label: l.label,
            quantity: l.quantity,
            unit_price: l.unit_price,
            vat_rate: l.vat_rate,
            discount: l.line_discount,
        }),
        rest.ticket_discount,
        &rest.payments,
        rate_known,
    )?;
    // Every other field of a line is its own input, equal to itself.
    let lines_differ = lines.len() != again.lines.len()
        || lines.zip(&again.lines).any(|(l, f)| {
            l.gross != f.gross || l.ticket_discount != f.ticket_discount || l.total != f.total
        });
    let field = if lines_differ {
        Some("lines")
    } else if rest.vat != again.vat {
        Some("vat")
    } else if rest.total != again.total {
        Some("total")
    } else if rest.change != again.change {
        Some("change")
    } else {
        None
    };
    field.map_or(Ok(()), |field| Err(TicketError::Inconsistent { field }))
}

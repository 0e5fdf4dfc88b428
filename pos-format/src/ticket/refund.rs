//! Refunds: what remains refundable of a sale, computing a refund and checking a stored one.

use super::error::TicketError;
use super::sale::{check_counts, check_text, vat_breakdown};
use super::types::*;
use crate::money::{div_round, to_cents, Cents, Overflow, Qty};

/// What remains refundable of each line of a sale: quantity and amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remaining {
    /// Per original line: (quantity left, amount left), both non-negative.
    pub lines: Vec<(Qty, Cents)>,
}

impl Remaining {
    /// Everything of `sale` remains.
    pub fn of_sale(sale: &SaleBody) -> Remaining {
        Remaining {
            lines: sale.lines.iter().map(|l| (l.quantity, l.total)).collect(),
        }
    }

    /// Takes an accepted refund into account.
    pub fn apply(&mut self, refund: &RefundBody) -> Result<(), TicketError> {
        for (i, line) in refund.lines.iter().enumerate() {
            let slot = self.lines.get_mut(line.original_line as usize).ok_or(
                TicketError::UnknownOriginalLine {
                    line: i,
                    original_line: line.original_line,
                },
            )?;
            slot.0 = Qty(slot.0 .0.checked_add(line.quantity.0).ok_or(Overflow)?);
            slot.1 = slot.1.checked_add(line.total)?;
        }
        Ok(())
    }

    /// Whether nothing remains to refund.
    pub fn is_exhausted(&self) -> bool {
        self.lines.iter().all(|(q, _)| q.0 == 0)
    }
}

/// Computes a refund of `original` (sale record `original_ref`) given what `remaining` of it.
pub fn compute_refund(
    original_ref: OriginalRef,
    original: &SaleBody,
    remaining: &Remaining,
    input: &RefundInput,
) -> Result<RefundBody, TicketError> {
    check_text("operator", &input.operator, MAX_TEXT_LEN, true)?;
    check_text("reason", &input.reason, MAX_TEXT_LEN, true)?;
    check_counts(input.lines.len(), input.payments.len())?;
    // Work on a copy so that two refund lines naming the same original line add up.
    let mut left = remaining.clone();
    let mut lines = Vec::with_capacity(input.lines.len());
    for (i, req) in input.lines.iter().enumerate() {
        let idx = req.original_line as usize;
        let (orig, slot) = match (original.lines.get(idx), left.lines.get_mut(idx)) {
            (Some(o), Some(s)) => (o, s),
            _ => {
                return Err(TicketError::UnknownOriginalLine {
                    line: i,
                    original_line: req.original_line,
                })
            }
        };
        if orig.quantity.0 <= 0 {
            // Only a forged or damaged original can have this; the pro rata below divides by it.
            return Err(TicketError::Inconsistent {
                field: "original quantity",
            });
        }
        if req.quantity.0 <= 0 || req.quantity.0 > slot.0 .0 {
            return Err(TicketError::RefundExceedsRemaining {
                line: i,
                original_line: req.original_line,
                requested: req.quantity.0,
                remaining: slot.0 .0,
            });
        }
        let amount = if req.quantity == slot.0 {
            slot.1
        } else {
            let pro_rata = to_cents(div_round(
                i128::from(orig.total.0) * i128::from(req.quantity.0),
                i128::from(orig.quantity.0),
            ))?;
            pro_rata.min(slot.1)
        }
        .in_json_range()?;
        slot.0 = Qty(slot.0 .0 - req.quantity.0);
        slot.1 = slot.1.checked_sub(amount)?;
        lines.push(RefundLine {
            original_line: req.original_line,
            sku: orig.sku.clone(),
            label: orig.label.clone(),
            quantity: Qty(-req.quantity.0),
            unit: orig.unit,
            unit_price: orig.unit_price,
            vat_rate: orig.vat_rate,
            total: -amount,
        });
    }
    if input.void && !left.is_exhausted() {
        return Err(TicketError::IncompleteVoid);
    }
    let total = Cents::sum(lines.iter().map(|l| l.total))?;
    let vat = vat_breakdown(lines.iter().map(|l| (l.vat_rate, l.total)))?;
    let mut paid = Cents::ZERO;
    let mut payments = Vec::with_capacity(input.payments.len());
    for (i, p) in input.payments.iter().enumerate() {
        if p.amount.0 <= 0 {
            return Err(TicketError::BadPayment {
                index: i,
                amount: p.amount.0,
            });
        }
        paid = paid.checked_add(p.amount)?;
        payments.push(Payment {
            method: p.method,
            amount: -p.amount,
        });
    }
    if paid != -total {
        return Err(TicketError::RefundPaymentsMismatch {
            total: -total.0,
            paid: paid.0,
        });
    }
    Ok(RefundBody {
        original: original_ref,
        operator: input.operator.clone(),
        reason: input.reason.clone(),
        lines,
        vat,
        total,
        payments,
        void: input.void,
    })
}

/// Recomputes a stored refund from its own requests against what remained of the original, and
/// reports the first field that differs (or why the refund is not allowed).
pub fn check_refund(
    body: &RefundBody,
    original: &SaleBody,
    remaining: &Remaining,
) -> Result<(), TicketError> {
    let input = RefundInput {
        operator: body.operator.clone(),
        reason: body.reason.clone(),
        lines: body
            .lines
            .iter()
            .map(|l| {
                Ok(RefundLineInput {
                    original_line: l.original_line,
                    quantity: Qty(l.quantity.0.checked_neg().ok_or(Overflow)?),
                })
            })
            .collect::<Result<_, Overflow>>()?,
        payments: body
            .payments
            .iter()
            .map(|p| Payment {
                method: p.method,
                amount: Cents(p.amount.0.saturating_neg()),
            })
            .collect(),
        void: body.void,
    };
    let again = compute_refund(body.original, original, remaining, &input)?;
    let field = if body.lines != again.lines {
        Some("lines")
    } else if body.vat != again.vat {
        Some("vat")
    } else if body.total != again.total {
        Some("total")
    } else if body.payments != again.payments {
        Some("payments")
    } else {
        None
    };
    field.map_or(Ok(()), |field| Err(TicketError::Inconsistent { field }))
}

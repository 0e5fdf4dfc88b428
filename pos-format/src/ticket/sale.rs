//! Computing a sale: lines, discounts, VAT breakdown, payments and change.

#[allow(unused_imports)]
use super::error::TicketError;
use super::types::*;
use crate::money::{extend, to_cents, vat_included, Cents, Overflow, Qty, VatRate};

pub(super) fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), TicketError> {
    if required && value.trim().is_empty() {
        return Err(TicketError::BadText {
            field,
            problem: "must not be empty",
        });
    }
    if value.len() > max {
        return Err(TicketError::BadText {
            field,
            problem: "is too long",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(TicketError::BadText {
            field,
            problem: "must not hold control characters",
        });
    }
    Ok(())
}

/// Checks a required free-text field (operator, reason): not empty, at most
/// [`MAX_TEXT_LEN`] bytes, no control characters.
pub fn check_text_field(field: &'static str, value: &str) -> Result<(), TicketError> {
    check_text(field, value, MAX_TEXT_LEN, true)
}

/// Checks the line and payment counts of a ticket against the limits.
pub(super) fn check_counts(lines: usize, payments: usize) -> Result<(), TicketError> {
    if lines == 0 {
        return Err(TicketError::Empty);
    }
    if lines > MAX_LINES_PER_TICKET {
        return Err(TicketError::TooManyLines {
            count: lines,
            max: MAX_LINES_PER_TICKET,
        });
    }
    if payments > MAX_PAYMENTS_PER_TICKET {
        return Err(TicketError::TooManyPayments {
            count: payments,
            max: MAX_PAYMENTS_PER_TICKET,
        });
    }
    Ok(())
}

/// Computes a sale from what the till sent, validating everything. `rates` are the configured
/// VAT rates.
pub fn compute_sale(input: &SaleInput, rates: &[VatRate]) -> Result<SaleBody, TicketError> {
    let figures = sale_figures(
        &input.operator,
        input.lines.iter().map(|l| LineAmounts {
            sku: &l.sku,
            label: &l.label,
            quantity: l.quantity,
            unit_price: l.unit_price,
            vat_rate: l.vat_rate,
            discount: l.discount,
        }),
        input.ticket_discount,
        &input.payments,
        |r| rates.contains(&r),
    )?;
    let lines = input
        .lines
        .iter()
        .zip(figures.lines)
        .map(|(l, f)| TicketLine {
            sku: l.sku.clone(),
            label: l.label.clone(),
            quantity: l.quantity,
            unit: l.unit,
            unit_price: l.unit_price,
            vat_rate: l.vat_rate,
            gross: f.gross,
            line_discount: l.discount,
            ticket_discount: f.ticket_discount,
            total: f.total,
        })
        .collect();
    Ok(SaleBody {
        operator: input.operator.clone(),
        lines,
        ticket_discount: input.ticket_discount,
        vat: figures.vat,
        total: figures.total,
        payments: input.payments.clone(),
        change: figures.change,
    })
}

/// What a sale line is computed from, borrowed from an input or a stored body.
pub(super) struct LineAmounts<'a> {
    pub(super) sku: &'a str,
    pub(super) label: &'a str,
    pub(super) quantity: Qty,
    pub(super) unit_price: Cents,
    pub(super) vat_rate: VatRate,
    pub(super) discount: Cents,
}

/// The derived amounts of one line.
pub(super) struct LineFigures {
    pub(super) vat_rate: VatRate,
    pub(super) gross: Cents,
    pub(super) ticket_discount: Cents,
    pub(super) total: Cents,
}

/// The derived amounts of a sale.
pub(super) struct SaleFigures {
    pub(super) lines: Vec<LineFigures>,
    pub(super) vat: Vec<VatTotal>,
    pub(super) total: Cents,
    pub(super) change: Cents,
}

/// Validates a sale and derives its amounts: the one computation behind [`compute_sale`]
/// (building a body) and [`check_sale`] (checking a stored one without copying its text).
pub(super) fn sale_figures<'a>(
    operator: &str,
    input_lines: impl ExactSizeIterator<Item = LineAmounts<'a>>,
    ticket_discount: Cents,
    payments: &[Payment],
    rate_known: impl Fn(VatRate) -> bool,
) -> Result<SaleFigures, TicketError> {
    check_text("operator", operator, MAX_TEXT_LEN, true)?;
    check_counts(input_lines.len(), payments.len())?;

    let mut lines = Vec::with_capacity(input_lines.len());
    for (i, l) in input_lines.enumerate() {
        check_text("sku", l.sku, MAX_SKU_LEN, true)?;
        check_text("label", l.label, MAX_TEXT_LEN, true)?;
        if l.quantity.0 <= 0 || l.quantity.0 > MAX_QUANTITY {
            return Err(TicketError::BadQuantity {
                line: i,
                quantity: l.quantity.0,
                max: MAX_QUANTITY,
            });
        }
        if l.unit_price.0 < 0 || l.unit_price.0 > MAX_UNIT_PRICE {
            return Err(TicketError::BadUnitPrice {
                line: i,
                price: l.unit_price.0,
                max: MAX_UNIT_PRICE,
            });
        }
        if !rate_known(l.vat_rate) {
            return Err(TicketError::UnknownVatRate {
                line: i,
                rate: l.vat_rate.0,
            });
        }
        let gross = extend(l.quantity, l.unit_price)?;
        if l.discount.0 < 0 || l.discount > gross {
            return Err(TicketError::BadLineDiscount {
                line: i,
                discount: l.discount.0,
                gross: gross.0,
            });
        }
        lines.push(LineFigures {
            vat_rate: l.vat_rate,
            gross,
            ticket_discount: Cents::ZERO,
            total: gross.checked_sub(l.discount)?,
        });
    }

    let before_discount = Cents::sum(lines.iter().map(|l| l.total))?;
    let discount = ticket_discount;
    if discount.0 < 0 || discount > before_discount {
        return Err(TicketError::BadTicketDiscount {
            discount: discount.0,
            total: before_discount.0,
        });
    }
    if discount.0 != 0 {
        let weights: Vec<Cents> = lines.iter().map(|l| l.total).collect();
        for (line, share) in lines.iter_mut().zip(share_pro_rata(discount, &weights)?) {
            line.ticket_discount = share;
            line.total = line.total.checked_sub(share)?;
        }
    }
    let total = before_discount.checked_sub(discount)?;
    let vat = vat_breakdown(lines.iter().map(|l| (l.vat_rate, l.total)))?;

    let mut paid = Cents::ZERO;
    let mut cash = Cents::ZERO;
    for (i, p) in payments.iter().enumerate() {
        if p.amount.0 <= 0 {
            return Err(TicketError::BadPayment {
                index: i,
                amount: p.amount.0,
            });
        }
        paid = paid.checked_add(p.amount)?;
        if p.method == PaymentMethod::Cash {
            cash = cash.checked_add(p.amount)?;
        }
    }
    if paid < total {
        return Err(TicketError::PaymentsShort {
            total: total.0,
            paid: paid.0,
        });
    }
    let change = paid.checked_sub(total)?;
    if change > cash {
        return Err(TicketError::ChangeOnNonCash {
            change: change.0,
            cash: cash.0,
        });
    }
    Ok(SaleFigures {
        lines,
        vat,
        total,
        change,
    })
}

/// Shares `amount` (non-negative) between `weights` (non-negative) pro rata, each share rounded
/// toward zero, leftover cents to the largest remainders (ties: the earlier index).
pub(super) fn share_pro_rata(amount: Cents, weights: &[Cents]) -> Result<Vec<Cents>, Overflow> {
    let total: i128 = weights.iter().map(|w| i128::from(w.0)).sum();
    if amount.0 == 0 || total == 0 {
        return Ok(vec![Cents::ZERO; weights.len()]);
    }
    let amount_wide = i128::from(amount.0);
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let product = amount_wide * i128::from(w.0);
        shares.push(product / total);
        remainders.push((product % total, i));
    }
    let given: i128 = shares.iter().sum();
    let mut left = amount_wide - given;
    // Largest remainder first; on equal remainders the earlier line first.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in &remainders {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    debug_assert_eq!(left, 0, "pro rata shares must sum to the amount");
    shares.into_iter().map(to_cents).collect()
}

/// Groups `(rate, amount incl. VAT)` pairs into a breakdown by rate, highest rate first.
pub fn vat_breakdown<I>(amounts: I) -> Result<Vec<VatTotal>, Overflow>
where
    I: IntoIterator<Item = (VatRate, Cents)>,
{
    let mut by_rate: Vec<(VatRate, Cents)> = Vec::new();
    for (rate, amount) in amounts {
        match by_rate.iter_mut().find(|(r, _)| *r == rate) {
            Some((_, sum)) => *sum = sum.checked_add(amount)?,
            None => by_rate.push((rate, amount)),
        }
    }
    by_rate.sort_by_key(|r| std::cmp::Reverse(r.0));
    by_rate
        .into_iter()
        .map(|(rate, gross)| {
            let vat = vat_included(gross, rate);
            Ok(VatTotal {
                rate,
                net: gross.checked_sub(vat)?,
                vat,
                gross,
            })
        })
        .collect()
}

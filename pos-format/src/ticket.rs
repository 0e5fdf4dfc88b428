//! Tickets: sale and refund computation, VAT breakdown and validation. Pure functions, no I/O.
//!
//! A sale is computed from a [`SaleInput`] into a [`SaleBody`], the exact content the journal
//! signs. The rules, in order:
//!
//! 1. each line's `gross` is `quantity * unit_price / 1000`, rounded half away from zero;
//! 2. its `line_discount` (cents, `0..=gross`) is subtracted;
//! 3. the ticket discount is shared between lines pro rata to what step 2 left, each share
//!    rounded toward zero, and the cents left over go one by one to the lines with the largest
//!    remainders (ties: the earlier line), so the shares sum exactly to the ticket discount;
//! 4. a line's `total` is `gross - line_discount - ticket_discount share`;
//! 5. the VAT breakdown groups line totals by rate: `gross` is their sum, `vat` is
//!    `gross * rate / (10000 + rate)` rounded half away from zero, `net` is `gross - vat`. The
//!    breakdown's `gross` values therefore sum to the ticket total to the cent;
//! 6. payments must cover the total; the excess is change, which only cash can give.
//!
//! A refund returns quantities of an original sale's lines. A refunded line's amount is its
//! original total pro rata of the quantity, rounded half away from zero, capped by what remains
//! of the line; returning all that remains of a line returns exactly its remaining amount, so a
//! sale and all its refunds always sum to zero. Refund bodies hold negative quantities and
//! amounts, and a full refund is the exact negation of its sale.

use crate::money::{div_round, extend, to_cents, vat_included, Cents, Overflow, Qty, VatRate};
use serde::{Deserialize, Serialize};

/// At most this many lines on one ticket.
pub const MAX_LINES_PER_TICKET: usize = 500;
/// At most this many payments on one ticket.
pub const MAX_PAYMENTS_PER_TICKET: usize = 16;
/// The largest quantity on one line: one million units (or tonnes).
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// The largest unit price: 100,000,000.00.
pub const MAX_UNIT_PRICE: i64 = 10_000_000_000;
/// The longest SKU, in bytes.
pub const MAX_SKU_LEN: usize = 64;
/// The longest label, operator id or reason, in bytes.
pub const MAX_TEXT_LEN: usize = 256;

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Notes and coins; the only method that gives change.
    Cash,
    /// Bank card.
    Card,
    /// Cheque.
    Cheque,
    /// Meal voucher (titre-restaurant).
    MealVoucher,
    /// A credit note issued earlier by the shop.
    CreditNote,
    /// Paid on the online shop before the goods were collected (click & collect).
    Online,
    /// Anything else (gift card, transfer...).
    Other,
}

impl PaymentMethod {
    /// Every method, in a stable order.
    pub const ALL: [PaymentMethod; 7] = [
        PaymentMethod::Cash,
        PaymentMethod::Card,
        PaymentMethod::Cheque,
        PaymentMethod::MealVoucher,
        PaymentMethod::CreditNote,
        PaymentMethod::Online,
        PaymentMethod::Other,
    ];

    /// The stored name (`cash`, `card`, `cheque`, `meal_voucher`, `credit_note`, `online`,
    /// `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Card => "card",
            PaymentMethod::Cheque => "cheque",
            PaymentMethod::MealVoucher => "meal_voucher",
            PaymentMethod::CreditNote => "credit_note",
            PaymentMethod::Online => "online",
            PaymentMethod::Other => "other",
        }
    }
}

/// One payment: a method and an amount (positive on a sale, negative on a refund body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// How it was paid.
    pub method: PaymentMethod,
    /// How much, in cents.
    pub amount: Cents,
}

/// What a quantity counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Pieces; the quantity is in thousandths of a piece.
    #[default]
    Piece,
    /// Weight; the quantity is in grams, the unit price is per kilogram.
    Kg,
}

/// A line of a sale as the till sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineInput {
    /// The product's stock-keeping unit.
    pub sku: String,
    /// The label printed on the receipt.
    pub label: String,
    /// Quantity in thousandths (grams for [`Unit::Kg`]); must be positive.
    pub quantity: Qty,
    /// What the quantity counts.
    #[serde(default)]
    pub unit: Unit,
    /// Unit price including VAT, in cents (per kg for weights).
    pub unit_price: Cents,
    /// The VAT rate.
    pub vat_rate: VatRate,
    /// A discount on this line, in cents (0 for none).
    #[serde(default)]
    pub discount: Cents,
}

/// A sale as the till sends it, before computation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SaleInput {
    /// The operator who rang it up (an id, not a name).
    pub operator: String,
    /// The lines, at least one.
    pub lines: Vec<LineInput>,
    /// A discount on the whole ticket, in cents (0 for none).
    #[serde(default)]
    pub ticket_discount: Cents,
    /// The payments; their sum must cover the total.
    pub payments: Vec<Payment>,
}

/// A computed line, as stored in a sale body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketLine {
    /// The product's SKU.
    pub sku: String,
    /// The label.
    pub label: String,
    /// Quantity in thousandths.
    pub quantity: Qty,
    /// What the quantity counts.
    pub unit: Unit,
    /// Unit price incl. VAT.
    pub unit_price: Cents,
    /// VAT rate.
    pub vat_rate: VatRate,
    /// `quantity * unit_price`, rounded.
    pub gross: Cents,
    /// The line's own discount.
    pub line_discount: Cents,
    /// This line's share of the ticket discount.
    pub ticket_discount: Cents,
    /// What the line costs: `gross - line_discount - ticket_discount`.
    pub total: Cents,
}

/// The totals of one VAT rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VatTotal {
    /// The rate.
    pub rate: VatRate,
    /// Total excluding VAT.
    pub net: Cents,
    /// The VAT.
    pub vat: Cents,
    /// Total including VAT.
    pub gross: Cents,
}

/// A computed sale: the body of a `sale` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleBody {
    /// The operator id.
    pub operator: String,
    /// The computed lines.
    pub lines: Vec<TicketLine>,
    /// The ticket discount.
    pub ticket_discount: Cents,
    /// The VAT breakdown, by rate, highest rate first.
    pub vat: Vec<VatTotal>,
    /// The total incl. VAT.
    pub total: Cents,
    /// The payments as given.
    pub payments: Vec<Payment>,
    /// The change given back in cash.
    pub change: Cents,
}

/// A line to return in a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLineInput {
    /// The index (from 0) of the line in the original sale.
    pub original_line: u32,
    /// The quantity to return, positive, in thousandths.
    pub quantity: Qty,
}

/// A refund as the till asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RefundInput {
    /// The operator id.
    pub operator: String,
    /// Why (free text, shown to the auditor).
    pub reason: String,
    /// The lines returned.
    pub lines: Vec<RefundLineInput>,
    /// The money given back, as positive amounts; they must sum to the refund's amount exactly.
    pub payments: Vec<Payment>,
    /// A void: cancels everything that remains of the original (every line must be returned
    /// whole).
    #[serde(default)]
    pub void: bool,
}

/// The original ticket a refund refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginalRef {
    /// The original record's global sequence number.
    pub seq: u64,
    /// The original ticket number (its per-kind number).
    pub ticket: u64,
}

/// A returned line, as stored in a refund body (negative quantity and total).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    /// Index of the line in the original sale.
    pub original_line: u32,
    /// The SKU, copied from the original.
    pub sku: String,
    /// The label, copied from the original.
    pub label: String,
    /// Negative quantity returned.
    pub quantity: Qty,
    /// The unit, copied from the original.
    pub unit: Unit,
    /// The unit price, copied from the original.
    pub unit_price: Cents,
    /// The VAT rate, copied from the original.
    pub vat_rate: VatRate,
    /// The (negative) amount refunded for this line.
    pub total: Cents,
}

/// A computed refund: the body of a `refund` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// The original sale.
    pub original: OriginalRef,
    /// The operator id.
    pub operator: String,
    /// Why.
    pub reason: String,
    /// The returned lines.
    pub lines: Vec<RefundLine>,
    /// The VAT breakdown (negative amounts).
    pub vat: Vec<VatTotal>,
    /// The (negative) total.
    pub total: Cents,
    /// The money given back (negative amounts).
    pub payments: Vec<Payment>,
    /// A void: everything that remained of the original is cancelled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub void: bool,
}

/// Why a ticket was refused. Nothing is journaled when a ticket is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// No line.
    #[error("the ticket has no line")]
    Empty,
    /// More lines than [`MAX_LINES_PER_TICKET`].
    #[error("the ticket has {count} lines, the limit is {max}")]
    TooManyLines {
        /// Lines sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More payments than [`MAX_PAYMENTS_PER_TICKET`].
    #[error("the ticket has {count} payments, the limit is {max}")]
    TooManyPayments {
        /// Payments sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A quantity that is zero, negative or above [`MAX_QUANTITY`].
    #[error("line {line}: quantity {quantity} must be positive and at most {max}")]
    BadQuantity {
        /// Line index.
        line: usize,
        /// Quantity sent.
        quantity: i64,
        /// The limit.
        max: i64,
    },
    /// A negative unit price or one above [`MAX_UNIT_PRICE`].
    #[error("line {line}: unit price {price} must be between 0 and {max} cents")]
    BadUnitPrice {
        /// Line index.
        line: usize,
        /// Price sent.
        price: i64,
        /// The limit.
        max: i64,
    },
    /// A VAT rate the journal does not know.
    #[error("line {line}: VAT rate {rate} (hundredths of a percent) is not a configured rate")]
    UnknownVatRate {
        /// Line index.
        line: usize,
        /// Rate sent.
        rate: u32,
    },
    /// A line discount below zero or above the line's amount.
    #[error("line {line}: discount {discount} must be between 0 and the line amount {gross}")]
    BadLineDiscount {
        /// Line index.
        line: usize,
        /// Discount sent.
        discount: i64,
        /// The line's amount.
        gross: i64,
    },
    /// A ticket discount below zero or above the lines' total.
    #[error("ticket discount {discount} must be between 0 and the lines' total {total}")]
    BadTicketDiscount {
        /// Discount sent.
        discount: i64,
        /// Lines' total.
        total: i64,
    },
    /// A text field that is empty (where required) or too long.
    #[error("{field}: {problem}")]
    BadText {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A payment amount that is zero or negative.
    #[error("payment {index}: amount {amount} must be positive")]
    BadPayment {
        /// Payment index.
        index: usize,
        /// Amount sent.
        amount: i64,
    },
    /// Payments below the total.
    #[error("payments {paid} do not cover the total {total}")]
    PaymentsShort {
        /// Ticket total.
        total: i64,
        /// Sum of payments.
        paid: i64,
    },
    /// Change larger than the cash paid: change is only given on cash.
    #[error("change {change} exceeds the cash paid {cash}: change is only given on cash")]
    ChangeOnNonCash {
        /// Change due.
        change: i64,
        /// Cash paid.
        cash: i64,
    },
    /// Refund payments that do not sum to the refund amount.
    #[error("refund payments {paid} must equal the refund amount {total}")]
    RefundPaymentsMismatch {
        /// Refund amount (positive).
        total: i64,
        /// Sum of payments.
        paid: i64,
    },
    /// A refund line naming a line the original does not have.
    #[error("refund line {line}: the original ticket has no line {original_line}")]
    UnknownOriginalLine {
        /// Refund line index.
        line: usize,
        /// The line index asked for.
        original_line: u32,
    },
    /// A void that does not return everything that remains.
    #[error("a void must return everything that remains of the original ticket")]
    IncompleteVoid,
    /// A refund asking for more than what remains of a line.
    #[error(
        "refund line {line}: returning {requested} of original line {original_line} but only {remaining} remains"
    )]
    RefundExceedsRemaining {
        /// Refund line index.
        line: usize,
        /// Original line index.
        original_line: u32,
        /// Quantity asked for (thousandths).
        requested: i64,
        /// Quantity left (thousandths).
        remaining: i64,
    },
    /// An amount left the representable range.
    #[error("amount overflow")]
    Overflow,
    /// A stored ticket does not match its recomputation from its own lines and payments.
    #[error("stored {field} does not match its recomputation")]
    Inconsistent {
        /// The first field found different.
        field: &'static str,
    },
}

impl From<Overflow> for TicketError {
    fn from(_: Overflow) -> Self {
        TicketError::Overflow
    }
}

fn check_text(
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
fn check_counts(lines: usize, payments: usize) -> Result<(), TicketError> {
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
struct LineAmounts<'a> {
    sku: &'a str,
    label: &'a str,
    quantity: Qty,
    unit_price: Cents,
    vat_rate: VatRate,
    discount: Cents,
}

/// The derived amounts of one line.
struct LineFigures {
    vat_rate: VatRate,
    gross: Cents,
    ticket_discount: Cents,
    total: Cents,
}

/// The derived amounts of a sale.
struct SaleFigures {
    lines: Vec<LineFigures>,
    vat: Vec<VatTotal>,
    total: Cents,
    change: Cents,
}

/// Validates a sale and derives its amounts: the one computation behind [`compute_sale`]
/// (building a body) and [`check_sale`] (checking a stored one without copying its text).
fn sale_figures<'a>(
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
fn share_pro_rata(amount: Cents, weights: &[Cents]) -> Result<Vec<Cents>, Overflow> {
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

/// Recomputes a stored sale from its own inputs and reports the first field that differs.
pub fn check_sale(body: &SaleBody, rates: &[VatRate]) -> Result<(), TicketError> {
    check_sale_against(body, |r| rates.contains(&r))
}

/// [`check_sale`] with the rates the sale itself names taken as known: the verifier checks
/// rates in force separately, in order (they can change from one record to the next).
pub fn check_sale_arithmetic(body: &SaleBody) -> Result<(), TicketError> {
    check_sale_against(body, |_| true)
}

fn check_sale_against(
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const FR: [VatRate; 5] = [
        VatRate(2000),
        VatRate(1000),
        VatRate(550),
        VatRate(210),
        VatRate(0),
    ];

    fn line(sku: &str, qty: i64, price: i64, rate: u32) -> LineInput {
        LineInput {
            sku: sku.into(),
            label: format!("Article {sku}"),
            quantity: Qty(qty),
            unit: Unit::Piece,
            unit_price: Cents(price),
            vat_rate: VatRate(rate),
            discount: Cents::ZERO,
        }
    }

    fn pay(method: PaymentMethod, amount: i64) -> Payment {
        Payment {
            method,
            amount: Cents(amount),
        }
    }

    #[test]
    fn bakery_ticket() {
        let input = SaleInput {
            operator: "op1".into(),
            lines: vec![
                line("BAG", 3000, 120, 550),
                line("CAFE", 1000, 250, 1000),
                LineInput {
                    unit: Unit::Kg,
                    ..line("COMTE", 253, 2890, 550)
                },
            ],
            ticket_discount: Cents(50),
            payments: vec![
                pay(PaymentMethod::Card, 500),
                pay(PaymentMethod::Cash, 1000),
            ],
        };
        let t = compute_sale(&input, &FR).unwrap();
        // 253 g at 28.90/kg = 7.3117 -> 7.31
        assert_eq!(t.lines[2].gross, Cents(731));
        let before: i64 = 360 + 250 + 731;
        assert_eq!(t.total, Cents(before - 50));
        let shares: i64 = t.lines.iter().map(|l| l.ticket_discount.0).sum();
        assert_eq!(shares, 50);
        let vat_sum: i64 = t.vat.iter().map(|v| v.gross.0).sum();
        assert_eq!(vat_sum, t.total.0);
        assert_eq!(t.change, Cents(1500 - t.total.0));
        assert_eq!(t.vat[0].rate, VatRate(1000));
        check_sale(&t, &FR).unwrap();
    }

    #[test]
    fn validation_errors() {
        let ok = SaleInput {
            operator: "op".into(),
            lines: vec![line("A", 1000, 100, 2000)],
            ticket_discount: Cents::ZERO,
            payments: vec![pay(PaymentMethod::Cash, 100)],
        };
        assert!(compute_sale(&ok, &FR).is_ok());
        let mut t = ok.clone();
        t.lines.clear();
        assert_eq!(compute_sale(&t, &FR), Err(TicketError::Empty));
        let mut t = ok.clone();
        t.lines[0].quantity = Qty(0);
        assert!(matches!(
            compute_sale(&t, &FR),
            Err(TicketError::BadQuantity { .. })
        ));
        t.lines[0].quantity = Qty(-1000);
        assert!(matches!(
            compute_sale(&t, &FR),
            Err(TicketError::BadQuantity { .. })
        ));
        let mut t = ok.clone();
        t.lines[0].vat_rate = VatRate(1960);
        assert!(matches!(
            compute_sale(&t, &FR),
            Err(TicketError::UnknownVatRate { .. })
        ));
        let mut t = ok.clone();
        t.payments = vec![pay(PaymentMethod::Card, 99)];
        assert!(matches!(
            compute_sale(&t, &FR),
            Err(TicketError::PaymentsShort { .. })
        ));
        t.payments = vec![pay(PaymentMethod::Card, 150)];
        assert!(matches!(
            compute_sale(&t, &FR),
            Err(TicketError::ChangeOnNonCash { .. })
        ));
        t.payments = vec![pay(PaymentMethod::Card, 60), pay(PaymentMethod::Cash, 50)];
        assert_eq!(compute_sale(&t, &FR).unwrap().change, Cents(10));
        let mut t = ok.clone();
        t.lines = vec![line("A", 1000, 1, 2000); MAX_LINES_PER_TICKET + 1];
        assert!(matches!(
            compute_sale(&t, &FR),
            Err(TicketError::TooManyLines { .. })
        ));
        let mut t = ok.clone();
        t.lines[0].unit_price = Cents(MAX_UNIT_PRICE);
        t.lines[0].quantity = Qty(MAX_QUANTITY);
        assert_eq!(compute_sale(&t, &FR), Err(TicketError::Overflow));
        let mut t = ok.clone();
        t.operator = "".into();
        assert!(matches!(
            compute_sale(&t, &FR),
            Err(TicketError::BadText { .. })
        ));
    }

    #[test]
    fn partial_refunds_never_exceed_the_sale() {
        let sale = compute_sale(
            &SaleInput {
                operator: "op".into(),
                lines: vec![line("A", 4000, 50, 2000)],
                ticket_discount: Cents(1),
                payments: vec![pay(PaymentMethod::Cash, 199)],
            },
            &FR,
        )
        .unwrap();
        let orig = OriginalRef { seq: 2, ticket: 1 };
        let mut rem = Remaining::of_sale(&sale);
        let mut refunded = 0;
        for _ in 0..4 {
            let r = RefundInput {
                operator: "op".into(),
                reason: "broken".into(),
                lines: vec![RefundLineInput {
                    original_line: 0,
                    quantity: Qty(1000),
                }],
                payments: vec![],
                void: false,
            };
            // Ask with the right amount: compute once without payments to learn it.
            let amount = match compute_refund(orig, &sale, &rem, &r) {
                Err(TicketError::RefundPaymentsMismatch { total, .. }) => total,
                other => panic!("{other:?}"),
            };
            let r = RefundInput {
                payments: vec![pay(PaymentMethod::Cash, amount)],
                ..r
            };
            let body = compute_refund(orig, &sale, &rem, &r).unwrap();
            check_refund(&body, &sale, &rem).unwrap();
            rem.apply(&body).unwrap();
            refunded += amount;
        }
        assert_eq!(refunded, sale.total.0);
        assert!(rem.is_exhausted());
        let again = RefundInput {
            operator: "op".into(),
            reason: "again".into(),
            lines: vec![RefundLineInput {
                original_line: 0,
                quantity: Qty(1000),
            }],
            payments: vec![],
            void: false,
        };
        assert!(matches!(
            compute_refund(orig, &sale, &rem, &again),
            Err(TicketError::RefundExceedsRemaining { .. })
        ));
    }
}

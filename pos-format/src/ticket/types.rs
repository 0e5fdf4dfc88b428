//! What tills send and what ticket bodies hold.

use crate::money::{Cents, Qty, VatRate};
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// How it was paid.
    pub method: PaymentMethod,
    /// How much, in cents.
    pub amount: Cents,
}

/// What a quantity counts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginalRef {
    /// The original record's global sequence number.
    pub seq: u64,
    /// The original ticket number (its per-kind number).
    pub ticket: u64,
}

/// A returned line, as stored in a refund body (negative quantity and total).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

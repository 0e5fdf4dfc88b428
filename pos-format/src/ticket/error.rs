//! Why a ticket was refused.

use crate::money::Overflow;

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

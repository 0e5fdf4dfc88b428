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

mod check;
mod error;
mod refund;
mod sale;
#[cfg(test)]
mod tests;
mod types;

pub use check::{check_sale, check_sale_arithmetic};
pub(crate) use check::{check_stored_sale, LineView};
pub use error::TicketError;
pub use refund::{check_refund, compute_refund, Remaining};
pub use sale::{check_text_field, compute_sale, vat_breakdown};
pub use types::*;

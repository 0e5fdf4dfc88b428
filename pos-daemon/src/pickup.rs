//! The ticket of a click & collect pickup, priced from what the customer paid online (pure:
//! the order's items and the catalogue in, ticket lines or why not out).

use crate::catalog::Product;
use pos_core::money::Cents;
use shop_sync::ledger::{OrderItem, PendingPickup};

/// The order line a refusal is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRef {
    /// The shop's line id.
    pub line_id: String,
    /// Its SKU (may be empty).
    pub sku: String,
    /// Its name on the shop.
    pub name: String,
}

impl LineRef {
    fn of(item: &OrderItem) -> LineRef {
        LineRef {
            line_id: item.line_id.clone(),
            sku: item.sku.clone(),
            name: item.name.clone(),
        }
    }
}

/// Why an order cannot be handed over as a ticket (nothing is journaled).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickupLineError {
    /// The order has no lines.
    #[error("{0}")]
    NoLines(String),
    /// A line's product is not in the till's catalogue (or the line has no SKU).
    #[error("{message}")]
    UnknownProduct {
        /// What to do.
        message: String,
        /// The line.
        line: LineRef,
    },
    /// A line's quantity or amount cannot be a ticket line.
    #[error("{message}")]
    BadLine {
        /// What is wrong.
        message: String,
        /// The line.
        line: LineRef,
    },
}

/// The ticket lines of a click & collect pickup: one per order item, with the catalogue's
/// label, VAT rate and unit, the quantity in thousandths (one online unit is one piece, or one
/// kilogram of goods sold by weight), and a price that makes the line's total exactly what the
/// customer paid online: `unit_price = ceil(paid / units)` and a line discount of
/// `unit_price * units - paid` (less than one unit price). An item without an amount paid
/// takes the catalogue's price (and adds a warning). An item whose product is not in the
/// catalogue, a negative amount, or a quantity below one refuses the whole pickup.
pub fn ticket_lines(
    order: &PendingPickup,
    product: impl Fn(&str) -> Option<Product>,
    warnings: &mut Vec<String>,
) -> Result<Vec<pos_core::ticket::LineInput>, PickupLineError> {
    use pos_core::ticket::{LineInput, Unit as TicketUnit};
    let bad = |message: String, item: &OrderItem| PickupLineError::BadLine {
        message,
        line: LineRef::of(item),
    };
    if order.items.is_empty() {
        return Err(PickupLineError::NoLines(format!(
            "order {} has no lines",
            order.order_id
        )));
    }
    let mut lines = Vec::with_capacity(order.items.len());
    for item in &order.items {
        let Some(p) = (!item.sku.is_empty()).then(|| product(&item.sku)).flatten() else {
            let what = if item.sku.is_empty() {
                "has no SKU".to_string()
            } else {
                format!(
                    "has SKU {:?}, which is not in the till's catalogue",
                    item.sku
                )
            };
            return Err(PickupLineError::UnknownProduct {
                message: format!(
                    "order {} line {:?} {what}: add the product to the catalogue (with the SKU \
                     the shop uses), then retry the pickup",
                    order.order_id, item.name
                ),
                line: LineRef::of(item),
            });
        };
        if item.quantity <= 0 {
            return Err(bad(
                format!(
                    "order {} line {:?} ({}): quantity {} is not a positive number of units",
                    order.order_id, item.name, item.sku, item.quantity
                ),
                item,
            ));
        }
        let units = item.quantity;
        let quantity = units.checked_mul(1000).ok_or_else(|| {
            bad(
                format!("order {}: quantity too large", order.order_id),
                item,
            )
        })?;
        let (unit_price, discount) = match item.paid_cents {
            Some(paid) if paid < 0 => {
                return Err(bad(
                    format!(
                        "order {} line {:?} ({}): the amount paid {} is negative",
                        order.order_id,
                        item.name,
                        item.sku,
                        Cents(paid)
                    ),
                    item,
                ))
            }
            Some(paid) => {
                // paid >= 0 and units >= 1: no overflow in the ceiling.
                let unit_price = paid / units + i64::from(paid % units != 0);
                let gross = unit_price.checked_mul(units).ok_or_else(|| {
                    bad(format!("order {}: amount too large", order.order_id), item)
                })?;
                (unit_price, gross - paid)
            }
            None => {
                warnings.push(format!(
                    "order {} line {:?} ({}): the shop gave no amount paid; the catalogue's \
                     price is used",
                    order.order_id, item.name, item.sku
                ));
                (p.price_cents, 0)
            }
        };
        lines.push(LineInput {
            sku: p.sku.clone(),
            label: p.label.clone(),
            quantity: pos_core::money::Qty(quantity),
            unit: match p.unit {
                crate::catalog::Unit::Piece => TicketUnit::Piece,
                crate::catalog::Unit::Kg => TicketUnit::Kg,
            },
            unit_price: Cents(unit_price),
            vat_rate: pos_core::money::VatRate(p.vat_rate),
            discount: Cents(discount),
        });
    }
    Ok(lines)
}

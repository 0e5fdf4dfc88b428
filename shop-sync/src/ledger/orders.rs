//! Online orders: the stock they hold and give back, click & collect reservations and their
//! pickup at the till.

use super::*;

impl Ledger {
    /// Applies an online order seen by polling: deduped on (id, modified, status) (two changes
    /// within one second share a modification time); a transition into a
    /// holding state takes the stock (or reserves it for click & collect), a transition out
    /// of it gives back exactly what was taken (or releases the reservation).
    pub fn apply_order(
        &mut self,
        shop: &str,
        order: &OnlineOrder,
    ) -> Result<OrderApplied, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let prev: Option<(String, bool, i64, bool, bool, String, String)> = tx
            .query_row(
                "SELECT modified, held, holds, pickup, picked_up, lines, status FROM orders
                 WHERE shop = ?1 AND order_id = ?2",
                params![shop, order.id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, i64>(1)? != 0,
                        r.get(2)?,
                        r.get::<_, i64>(3)? != 0,
                        r.get::<_, i64>(4)? != 0,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()?;
        let mut out = OrderApplied::default();
        if let Some(p) = &prev {
            if p.0 == order.modified && p.6 == order.status {
                out.duplicate = true;
                return Ok(out);
            }
        }
        let (held, mut holds, pickup0, picked_up, taken) = match &prev {
            Some(p) => (
                p.1,
                p.2,
                p.3,
                p.4,
                serde_json::from_str::<Vec<PickupLine>>(&p.5).unwrap_or_default(),
            ),
            None => (false, 0, order.pickup, false, Vec::new()),
        };
        let want = match order.effect {
            StockEffect::Holds => true,
            StockEffect::Releases => false,
            StockEffect::Keeps => held,
        };
        let mut lines_json = serde_json::to_string(&taken).unwrap_or_else(|_| "[]".into());
        let mut pickup = pickup0;
        if !held && want {
            holds += 1;
            pickup = order.pickup;
            let mut now_taken = Vec::new();
            for l in &order.lines {
                if l.sku.is_empty() || l.quantity <= 0 || !is_tracked(&tx, &l.sku)? {
                    if !l.sku.is_empty() {
                        out.unknown_skus.push(l.sku.clone());
                    }
                    continue;
                }
                let q = l.quantity.saturating_mul(1000);
                let (tag, on_hand, reserved) = if pickup {
                    ("reserve", 0, q)
                } else {
                    ("take", -q, 0)
                };
                out.movements += insert_move(
                    &tx,
                    &Move {
                        key: format!("{shop}:order:{}:line:{}:{tag}#{holds}", order.id, l.line_id),
                        sku: &l.sku,
                        kind: if pickup {
                            "reservation"
                        } else {
                            "online_order"
                        },
                        on_hand,
                        reserved,
                        origin: Some(shop),
                        reason: None,
                    },
                )?;
                now_taken.push(PickupLine {
                    line_id: l.line_id.clone(),
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                });
            }
            lines_json = serde_json::to_string(&now_taken).unwrap_or_else(|_| "[]".into());
        } else if held && !want {
            for l in &taken {
                let q = l.quantity.saturating_mul(1000);
                if pickup && picked_up {
                    // The goods left with the customer; the shop restocked them anyway: put
                    // the shop back in line with the till.
                    tx.execute(
                        "INSERT OR IGNORE INTO outbox(shop, sku, delta, cause, queued_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            shop,
                            l.sku,
                            -l.quantity,
                            format!(
                                "{shop}:order:{}:line:{}:restock-after-pickup#{holds}",
                                order.id, l.line_id
                            ),
                            now_ms()
                        ],
                    )?;
                    continue;
                }
                let (tag, on_hand, reserved) = if pickup {
                    ("release", 0, -q)
                } else {
                    ("give", q, 0)
                };
                out.movements += insert_move(
                    &tx,
                    &Move {
                        key: format!("{shop}:order:{}:line:{}:{tag}#{holds}", order.id, l.line_id),
                        sku: &l.sku,
                        kind: if pickup { "release" } else { "online_cancel" },
                        on_hand,
                        reserved,
                        origin: Some(shop),
                        reason: None,
                    },
                )?;
            }
        }
        // Every line as the customer bought it, refreshed with each state seen.
        let items: Vec<OrderItem> = order
            .lines
            .iter()
            .map(|l| OrderItem {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                name: l.name.clone(),
                quantity: l.quantity,
                paid_cents: l.paid_cents,
            })
            .collect();
        let items_json = serde_json::to_string(&items).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO orders(shop, order_id, modified, status, held, holds, pickup, lines,
                                items, total_cents)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(shop, order_id) DO UPDATE SET modified = excluded.modified,
               status = excluded.status, held = excluded.held, holds = excluded.holds,
               pickup = excluded.pickup, lines = excluded.lines, items = excluded.items,
               total_cents = excluded.total_cents",
            params![
                shop,
                order.id,
                order.modified,
                order.status,
                want as i64,
                holds,
                pickup as i64,
                lines_json,
                items_json,
                order.total_cents
            ],
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// Click & collect orders holding a reservation, not yet picked up, with every line as
    /// the customer bought it (names and amounts paid).
    pub fn pending_pickups(&self) -> Result<Vec<PendingPickup>, LedgerError> {
        let mut st = self.conn.prepare(
            "SELECT shop, order_id, lines, items, total_cents FROM orders
             WHERE pickup = 1 AND held = 1 AND picked_up = 0 ORDER BY shop, order_id LIMIT ?1",
        )?;
        let rows = st.query_map([MAX_LISTED as i64], |r| {
            let lines: String = r.get(2)?;
            let items: String = r.get(3)?;
            let lines: Vec<PickupLine> = serde_json::from_str(&lines).unwrap_or_default();
            let items = items_or_lines(serde_json::from_str(&items).unwrap_or_default(), &lines);
            Ok(PendingPickup {
                shop: r.get(0)?,
                order_id: r.get(1)?,
                lines,
                items,
                total_cents: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A click & collect order ready to be handed over, or why not (not seen, not click &
    /// collect, already picked up, holding no stock).
    fn pickable(&self, shop: &str, order_id: &str) -> Result<PendingPickup, LedgerError> {
        type Row = (bool, bool, bool, String, String, Option<i64>);
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT held, pickup, picked_up, lines, items, total_cents FROM orders
                 WHERE shop = ?1 AND order_id = ?2",
                params![shop, order_id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? != 0,
                        r.get::<_, i64>(1)? != 0,
                        r.get::<_, i64>(2)? != 0,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?;
        match row {
            None => Err(LedgerError::Invalid(format!(
                "order {order_id} of {shop} has not been seen"
            ))),
            Some((_, false, ..)) => Err(LedgerError::Invalid(format!(
                "order {order_id} is not a click & collect order"
            ))),
            Some((_, _, true, ..)) => Err(LedgerError::Invalid(format!(
                "order {order_id} was already picked up"
            ))),
            Some((false, ..)) => Err(LedgerError::Invalid(format!(
                "order {order_id} holds no stock (pending or cancelled)"
            ))),
            Some((true, true, false, lines, items, total_cents)) => {
                let lines: Vec<PickupLine> = serde_json::from_str(&lines)
                    .map_err(|e| LedgerError::Invalid(format!("stored order lines: {e}")))?;
                let items: Vec<OrderItem> = serde_json::from_str(&items)
                    .map_err(|e| LedgerError::Invalid(format!("stored order items: {e}")))?;
                Ok(PendingPickup {
                    shop: shop.to_string(),
                    order_id: order_id.to_string(),
                    items: items_or_lines(items, &lines),
                    lines,
                    total_cents,
                })
            }
        }
    }

    /// The stock-taking lines of a click & collect order ready to be handed over, or why not.
    /// [`Ledger::record_pickup`] takes these off the shelves.
    pub fn pickup_lines(&self, shop: &str, order_id: &str) -> Result<Vec<PickupLine>, LedgerError> {
        Ok(self.pickable(shop, order_id)?.lines)
    }

    /// Every line of a click & collect order ready to be handed over (tracked or not, with
    /// names and amounts paid) and the order's total: what the pickup ticket shows. Refused,
    /// with the reason, like [`Ledger::pickup_lines`]. The daemon journals the pickup as a sale
    /// paid online, then calls [`Ledger::record_pickup`].
    pub fn pickup_items(&self, shop: &str, order_id: &str) -> Result<PendingPickup, LedgerError> {
        self.pickable(shop, order_id)
    }

    /// Records the pickup of a click & collect order, journaled at the till as sale `seq`
    /// (lines in the order of [`Ledger::pickup_lines`]): the goods leave the shelves and the
    /// reservation ends. Nothing is pushed (the shop took the stock when the order was placed).
    /// Once per seq.
    pub fn record_pickup(
        &mut self,
        shop: &str,
        order_id: &str,
        seq: u64,
    ) -> Result<usize, LedgerError> {
        let picked_by = format!("pickup:{shop}:{order_id}");
        let lines = match self.pickup_lines(shop, order_id) {
            Ok(l) => l,
            // A replay of the same ticket (also one of goods whose stock is not tracked, which
            // moved nothing).
            Err(LedgerError::Invalid(_))
                if self.meta(&picked_by)?.as_deref() == Some(&seq.to_string())
                    || self.has_key(&format!("till:{seq}:0"))? =>
            {
                return Ok(0)
            }
            Err(e) => return Err(e),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        for (i, l) in lines.iter().enumerate() {
            let q = l.quantity.saturating_mul(1000);
            n += insert_move(
                &tx,
                &Move {
                    key: format!("till:{seq}:{i}"),
                    sku: &l.sku,
                    kind: "pickup",
                    on_hand: -q,
                    reserved: 0,
                    origin: Some(""),
                    reason: Some("paid online"),
                },
            )?;
            n += insert_move(
                &tx,
                &Move {
                    key: format!("{shop}:order:{order_id}:line:{}:picked-up", l.line_id),
                    sku: &l.sku,
                    kind: "release",
                    on_hand: 0,
                    reserved: -q,
                    origin: Some(""),
                    reason: Some("picked up"),
                },
            )?;
        }
        tx.execute(
            "UPDATE orders SET picked_up = 1 WHERE shop = ?1 AND order_id = ?2",
            params![shop, order_id],
        )?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![picked_by, seq.to_string()],
        )?;
        tx.commit()?;
        Ok(n)
    }
}

/// The items of an order stored before items were kept (an older `stock.db`): its
/// stock-taking lines, without names or amounts.
fn items_or_lines(items: Vec<OrderItem>, lines: &[PickupLine]) -> Vec<OrderItem> {
    if !items.is_empty() {
        return items;
    }
    lines
        .iter()
        .map(|l| OrderItem {
            line_id: l.line_id.clone(),
            sku: l.sku.clone(),
            name: String::new(),
            quantity: l.quantity,
            paid_cents: None,
        })
        .collect()
}

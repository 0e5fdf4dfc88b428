//! Movements of the till and of the shop's staff: sales and refunds, receptions, adjustments,
//! inventory counts, and the bounded insertion every movement goes through.

use super::*;

impl Ledger {
    /// Records the stock movements of a journaled till sale or refund: `lines` are
    /// (sku, change in thousandths: negative for a sale, positive for goods coming back),
    /// line numbers are positions. Once per seq: a second call changes nothing. Never refuses
    /// for stock (the record is journaled). Returns the movements recorded.
    pub fn record_till(&mut self, seq: u64, lines: &[(String, i64)]) -> Result<usize, LedgerError> {
        self.record_tills(&[(seq, lines)])
    }

    /// [`Ledger::record_till`] for several records in one transaction (one disk sync), as a
    /// projector batch gives them.
    pub fn record_tills(
        &mut self,
        records: &[(u64, &[(String, i64)])],
    ) -> Result<usize, LedgerError> {
        self.record_tills_noting(records, None)
    }

    /// [`Ledger::record_tills`], setting the meta key `note.0` to `note.1` in the same
    /// transaction (a projection's cursor, moved with the movements it recorded: one commit).
    pub fn record_tills_noting(
        &mut self,
        records: &[(u64, &[(String, i64)])],
        note: Option<(&str, &str)>,
    ) -> Result<usize, LedgerError> {
        if records.is_empty() {
            if let Some((key, value)) = note {
                self.set_meta(key, value)?;
            }
            return Ok(0);
        }
        if records.iter().any(|(_, l)| l.len() > MAX_LINES) {
            return Err(LedgerError::Invalid(format!("more than {MAX_LINES} lines")));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        for (seq, lines) in records {
            n += till_moves(&tx, *seq, lines)?;
        }
        if let Some((key, value)) = note {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Records a reception of goods (quantities in thousandths, positive), once per id.
    pub fn receive(&mut self, id: &str, lines: &[(String, i64)]) -> Result<usize, LedgerError> {
        if lines.iter().any(|(_, q)| *q <= 0) {
            return Err(LedgerError::Invalid(
                "received quantities must be positive".into(),
            ));
        }
        self.simple_moves(
            lines,
            |sku| format!("reception:{id}:{sku}"),
            "reception",
            None,
        )
    }

    /// Records an adjustment (breakage, theft, correction) with its reason, once per id.
    pub fn adjust(
        &mut self,
        id: &str,
        sku: &str,
        delta_milli: i64,
        reason: &str,
    ) -> Result<usize, LedgerError> {
        if reason.trim().is_empty() {
            return Err(LedgerError::Invalid("an adjustment needs a reason".into()));
        }
        self.simple_moves(
            &[(sku.to_string(), delta_milli)],
            |_| format!("adjust:{id}"),
            "adjustment",
            Some(reason),
        )
    }

    /// Records an inventory count: each counted product's on-hand level becomes the count
    /// (the movement is the difference), once per id and product.
    pub fn count(&mut self, id: &str, counted: &[(String, i64)]) -> Result<usize, LedgerError> {
        if counted.len() > MAX_LINES {
            return Err(LedgerError::Invalid(format!("more than {MAX_LINES} lines")));
        }
        if let Some((sku, c)) = counted
            .iter()
            .find(|(_, c)| !(0..=MAX_LEVEL_MILLI).contains(c))
        {
            return Err(LedgerError::Invalid(format!(
                "{sku}: a count of {c} thousandths; counts are 0 to {MAX_LEVEL_MILLI}"
            )));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        for (sku, c) in counted {
            let cur: Option<i64> = tx
                .query_row(
                    "SELECT on_hand_milli FROM items WHERE sku = ?1",
                    [sku],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(cur) = cur else { continue };
            let key = format!("inventory:{id}:{sku}");
            let exists: bool = tx
                .query_row("SELECT 1 FROM movements WHERE key = ?1", [&key], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                continue;
            }
            n += bounded_move(
                &tx,
                &Move {
                    key,
                    sku,
                    kind: "inventory",
                    on_hand: c.checked_sub(cur).ok_or_else(|| {
                        LedgerError::Invalid(format!("{sku}: {cur} thousandths on hand"))
                    })?,
                    reserved: 0,
                    origin: None,
                    reason: Some("inventory count"),
                },
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    fn simple_moves(
        &mut self,
        lines: &[(String, i64)],
        key: impl Fn(&str) -> String,
        kind: &'static str,
        reason: Option<&str>,
    ) -> Result<usize, LedgerError> {
        if lines.len() > MAX_LINES {
            return Err(LedgerError::Invalid(format!("more than {MAX_LINES} lines")));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        for (sku, q) in lines {
            n += bounded_move(
                &tx,
                &Move {
                    key: key(sku),
                    sku,
                    kind,
                    on_hand: *q,
                    reserved: 0,
                    origin: None,
                    reason,
                },
            )?;
        }
        tx.commit()?;
        Ok(n)
    }
}

/// The movements of one till record: line `i` is `till:{seq}:{i}`.
pub(super) fn till_moves(
    tx: &Connection,
    seq: u64,
    lines: &[(String, i64)],
) -> Result<usize, rusqlite::Error> {
    let mut n = 0;
    for (i, (sku, delta)) in lines.iter().enumerate() {
        let kind = if *delta < 0 { "sale" } else { "refund" };
        n += insert_move(
            tx,
            &Move {
                key: format!("till:{seq}:{i}"),
                sku,
                kind,
                on_hand: *delta,
                reserved: 0,
                origin: None,
                reason: None,
            },
        )?;
    }
    Ok(n)
}

pub(super) fn is_tracked(tx: &Connection, sku: &str) -> Result<bool, rusqlite::Error> {
    Ok(tx
        .query_row("SELECT 1 FROM items WHERE sku = ?1", [sku], |_| Ok(()))
        .optional()?
        .is_some())
}

/// [`insert_move`] for a movement asked by a person (reception, count, adjustment): refused
/// when it moves more than [`MAX_LEVEL_MILLI`] or would leave the level beyond it. The caller's
/// transaction is then dropped: nothing of the request is written.
pub(super) fn bounded_move(tx: &Connection, m: &Move<'_>) -> Result<usize, LedgerError> {
    let beyond = |what: String| {
        Err(LedgerError::Invalid(format!(
            "{}: {what}; stock levels stay within {MAX_LEVEL_MILLI} thousandths either way",
            m.sku
        )))
    };
    if m.on_hand.unsigned_abs() > MAX_LEVEL_MILLI.unsigned_abs() {
        return beyond(format!("a movement of {} thousandths", m.on_hand));
    }
    let on_hand: Option<i64> = tx
        .query_row(
            "SELECT on_hand_milli FROM items WHERE sku = ?1",
            [m.sku],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(on_hand) = on_hand {
        match on_hand.checked_add(m.on_hand) {
            Some(level) if level.unsigned_abs() <= MAX_LEVEL_MILLI.unsigned_abs() => {}
            _ => {
                return beyond(format!(
                    "{on_hand} thousandths on hand and a movement of {}",
                    m.on_hand
                ))
            }
        }
    }
    Ok(insert_move(tx, m)?)
}

/// Inserts a movement once (by key), updates the level, and queues the pushes it causes.
/// Returns 1 if recorded, 0 if already there or the product is not tracked.
pub(super) fn insert_move(tx: &Connection, m: &Move<'_>) -> Result<usize, rusqlite::Error> {
    let level: Option<(i64, i64)> = tx
        .query_row(
            "SELECT on_hand_milli, reserved_milli FROM items WHERE sku = ?1",
            [m.sku],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((oh, rs)) = level else {
        return Ok(0);
    };
    let origin = match m.origin {
        None => "till",
        Some(s) => s,
    };
    let at = now_ms();
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO movements(key, sku, kind, on_hand_milli, reserved_milli, origin,
                                          reason, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![m.key, m.sku, m.kind, m.on_hand, m.reserved, origin, m.reason, at],
    )?;
    if inserted == 0 {
        return Ok(0);
    }
    let (noh, nrs) = (oh.saturating_add(m.on_hand), rs.saturating_add(m.reserved));
    tx.execute(
        "UPDATE items SET on_hand_milli = ?2, reserved_milli = ?3 WHERE sku = ?1",
        params![m.sku, noh, nrs],
    )?;
    let push = units(noh - nrs) - units(oh - rs);
    if push != 0 && m.origin != Some("") {
        tx.execute(
            "INSERT OR IGNORE INTO outbox(shop, sku, delta, cause, queued_ms)
             SELECT shop, ?1, ?2, ?3, ?4 FROM synced WHERE sku = ?1 AND shop != ?5",
            params![m.sku, push, m.key, at, origin],
        )?;
    }
    Ok(1)
}

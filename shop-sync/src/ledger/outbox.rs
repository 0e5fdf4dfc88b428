//! What each shop knows of the products (remote status) and the outbox of changes to push.

use super::*;

impl Ledger {
    // ---- remote status ----

    /// Records a product's sync status with a shop.
    pub fn set_remote(
        &mut self,
        shop: &str,
        sku: &str,
        status: &str,
        remote: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE synced SET status = ?3, remote = ?4, message = ?5 WHERE shop = ?1 AND sku = ?2",
            params![shop, sku, status, remote, message],
        )?;
        Ok(())
    }

    /// Every synced product's status with a shop.
    pub fn remote_statuses(&self, shop: &str) -> Result<Vec<RemoteStatus>, LedgerError> {
        let mut st = self.conn.prepare(
            "SELECT sku, status, remote, message FROM synced WHERE shop = ?1 ORDER BY sku LIMIT ?2",
        )?;
        let rows = st.query_map(params![shop, MAX_LISTED as i64], |r| {
            Ok(RemoteStatus {
                sku: r.get(0)?,
                status: r.get(1)?,
                remote: r.get(2)?,
                message: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- outbox ----

    /// The backlog of a shop's outbox.
    pub fn backlog(&self, shop: &str) -> Result<Backlog, LedgerError> {
        let mut b = Backlog::default();
        let mut st = self.conn.prepare(
            "SELECT o.state, (s.status IS NOT NULL AND s.status NOT IN ('ok', 'new')),
                    COUNT(*), MIN(o.queued_ms)
             FROM outbox o LEFT JOIN synced s ON s.shop = o.shop AND s.sku = o.sku
             WHERE o.shop = ?1 AND o.state != 'done' GROUP BY 1, 2",
        )?;
        let rows = st.query_map([shop], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        for row in rows {
            let (state, bad, n, oldest) = row?;
            match (state.as_str(), bad) {
                ("pending", true) => b.blocked += n,
                ("pending", false) => {
                    b.pending += n;
                    b.oldest_pending_ms = match (b.oldest_pending_ms, oldest) {
                        (Some(a), Some(o)) => Some(a.min(o)),
                        (a, o) => a.or(o),
                    };
                }
                ("inflight", _) => b.inflight += n,
                ("uncertain", _) => b.uncertain += n,
                _ => {}
            }
        }
        Ok(b)
    }

    /// Up to `limit` products with pending pushes to a shop (products whose status is `ok`,
    /// without a write in flight), each with its summed change.
    pub fn pending_pushes(
        &self,
        shop: &str,
        limit: usize,
    ) -> Result<Vec<PendingPush>, LedgerError> {
        let mut st = self.conn.prepare(
            "SELECT o.sku, SUM(o.delta), MAX(o.id) FROM outbox o
             JOIN synced s ON s.shop = o.shop AND s.sku = o.sku AND s.status = 'ok'
             WHERE o.shop = ?1 AND o.state = 'pending'
               AND NOT EXISTS (SELECT 1 FROM inflight f WHERE f.shop = o.shop AND f.sku = o.sku)
             GROUP BY o.sku ORDER BY MIN(o.id) LIMIT ?2",
        )?;
        let rows = st.query_map(params![shop, limit as i64], |r| {
            Ok(PendingPush {
                sku: r.get(0)?,
                delta: r.get(1)?,
                upto: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Queues a correction found by reconciliation (a push without a movement).
    pub fn queue_correction(
        &mut self,
        shop: &str,
        sku: &str,
        delta: i64,
        cause: &str,
    ) -> Result<bool, LedgerError> {
        Ok(self.conn.execute(
            "INSERT OR IGNORE INTO outbox(shop, sku, delta, cause, queued_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![shop, sku, delta, cause, now_ms()],
        )? == 1)
    }

    /// Marks pending rows as settled without sending them (a push of zero).
    pub fn settle_zero(&mut self, shop: &str, sku: &str, upto: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE outbox SET state = 'done'
             WHERE shop = ?1 AND sku = ?2 AND state = 'pending' AND id <= ?3",
            params![shop, sku, upto],
        )?;
        Ok(())
    }

    /// Records writes as in flight, before sending them (one per product).
    pub fn begin_writes(&mut self, shop: &str, writes: &[InFlight]) -> Result<(), LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for w in writes {
            tx.execute(
                "INSERT INTO inflight(shop, sku, delta, before, mark, upto, sent_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![shop, w.sku, w.delta, w.before, w.mark, w.upto, w.sent_ms],
            )?;
            tx.execute(
                "UPDATE outbox SET state = 'inflight'
                 WHERE shop = ?1 AND sku = ?2 AND state = 'pending' AND id <= ?3",
                params![shop, w.sku, w.upto],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes in flight (after a crash: writes whose fate must be decided by re-reading).
    pub fn inflight(&self, shop: &str) -> Result<Vec<InFlight>, LedgerError> {
        let mut st = self.conn.prepare(
            "SELECT sku, delta, before, mark, upto, sent_ms FROM inflight WHERE shop = ?1
             ORDER BY sku",
        )?;
        let rows = st.query_map([shop], |r| {
            Ok(InFlight {
                sku: r.get(0)?,
                delta: r.get(1)?,
                before: r.get(2)?,
                mark: r.get(3)?,
                upto: r.get(4)?,
                sent_ms: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ends an in-flight write: `applied` → its rows are done; not applied → pending again;
    /// `None` (undecidable) → uncertain, for reconciliation to settle.
    pub fn end_write(
        &mut self,
        shop: &str,
        sku: &str,
        applied: Option<bool>,
    ) -> Result<(), LedgerError> {
        let state = match applied {
            Some(true) => "done",
            Some(false) => "pending",
            None => "uncertain",
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE outbox SET state = ?3 WHERE shop = ?1 AND sku = ?2 AND state = 'inflight'",
            params![shop, sku, state],
        )?;
        tx.execute(
            "DELETE FROM inflight WHERE shop = ?1 AND sku = ?2",
            params![shop, sku],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The summed pending change of a product (queued, not yet sent), whole units.
    pub fn pending_delta(&self, shop: &str, sku: &str) -> Result<i64, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(delta), 0) FROM outbox
             WHERE shop = ?1 AND sku = ?2 AND state = 'pending'",
            params![shop, sku],
            |r| r.get(0),
        )?)
    }

    /// Marks a product's uncertain rows as settled (reconciliation compared the levels);
    /// returns how many there were.
    pub fn settle_uncertain(&mut self, shop: &str, sku: &str) -> Result<usize, LedgerError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET state = 'done' WHERE shop = ?1 AND sku = ?2 AND state = 'uncertain'",
            params![shop, sku],
        )?)
    }

    /// Records a reconciliation finding.
    pub fn record_drift(&mut self, shop: &str, d: &Drift) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO drift(run, shop, sku, online, expected, correction, at_ms,
             after_uncertain_write) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                d.run,
                shop,
                d.sku,
                d.online,
                d.expected,
                d.correction,
                d.at_ms,
                d.after_uncertain_write
            ],
        )?;
        Ok(())
    }

    /// The latest reconciliation findings (newest first, at most [`MAX_LISTED`]).
    pub fn drift(&self, shop: &str) -> Result<Vec<Drift>, LedgerError> {
        let mut st = self.conn.prepare(
            "SELECT run, sku, online, expected, correction, at_ms, after_uncertain_write FROM drift
             WHERE shop = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![shop, MAX_LISTED as i64], |r| {
            Ok(Drift {
                run: r.get(0)?,
                sku: r.get(1)?,
                online: r.get(2)?,
                expected: r.get(3)?,
                correction: r.get(4)?,
                at_ms: r.get(5)?,
                after_uncertain_write: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Merges pending rows per shop and product when the outbox grows past
    /// [`MAX_OUTBOX_PENDING`] (days offline with a busy till). Returns rows removed.
    pub fn compact(&mut self) -> Result<usize, LedgerError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut removed = tx.execute("DELETE FROM outbox WHERE state = 'done'", [])?;
        if n > MAX_OUTBOX_PENDING {
            let upto: i64 = tx.query_row(
                "SELECT COALESCE(MAX(id), 0) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO outbox(shop, sku, delta, cause, queued_ms)
                 SELECT shop, sku, SUM(delta), 'merged:' || MAX(id), MIN(queued_ms)
                 FROM outbox WHERE state = 'pending' AND id <= ?1 GROUP BY shop, sku",
                [upto],
            )?;
            removed += tx.execute(
                "DELETE FROM outbox WHERE state = 'pending' AND id <= ?1",
                [upto],
            )?;
        }
        tx.commit()?;
        Ok(removed)
    }
}

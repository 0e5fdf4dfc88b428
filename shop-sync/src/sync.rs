//! The syncer: pushes the outbox to one shop, polls its orders into the ledger, and reconciles.
//!
//! Exactly-once without idempotency (WooCommerce): for each product, at most one write is in
//! flight. Before a write the syncer polls orders, reads the online level (`before`) and records
//! the write as in flight together with the last movement id (`mark`). When the answer is lost
//! it polls orders again and re-reads the level: `before + delta` means applied, `before` means
//! not applied, provided the shop itself moved no stock of that product since `mark`; otherwise
//! the rows become *uncertain* and reconciliation settles them by comparing levels. A crash
//! between recording and answering leaves the write in flight; the next run decides it the same
//! way.
//!
//! Only "applied" is decided at once. "Not applied" and "uncertain" wait until the write can no
//! longer land: a request the shop is still processing (PHP runs on after the client gave up
//! or died) applies its change later, and a write re-sent meanwhile, or a correction queued by
//! reconciliation, would be applied on top of it. Until [`SyncConfig::write_deadline`] has
//! passed since it was sent, such a write stays in flight: its product is neither written again
//! nor reconciled.

use crate::clock::Clock;
use crate::connector::{ChangeOutcome, Connector, ConnectorError, OrderCursor, StockChange};
use crate::ledger::{units, Drift, InFlight, Ledger, LedgerError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The most order pages read in one poll.
pub const MAX_PAGES_PER_POLL: u32 = 50;
/// The most push batches in one run.
pub const MAX_BATCHES_PER_RUN: usize = 20;

/// Syncer settings.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// How far below the newest order seen the next poll starts (late commits).
    pub overlap: Duration,
    /// Time between polls when nothing happens.
    pub poll_every: Duration,
    /// Time between scheduled reconciliations.
    pub reconcile_every: Duration,
    /// The longest wait after repeated failures.
    pub max_backoff: Duration,
    /// How long after it was sent a write may still land: at least the shop's longest request
    /// (PHP's `max_execution_time`, 30 s by default, or the web server's timeout if longer).
    pub write_deadline: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            overlap: Duration::from_secs(120),
            poll_every: Duration::from_secs(60),
            reconcile_every: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(900),
            write_deadline: Duration::from_secs(120),
        }
    }
}

/// How many times a change whose answer was lost is sent again to a shop whose writes are
/// idempotent, before it is decided by reading.
pub const IDEMPOTENT_RESENDS: usize = 2;

/// Syncer errors.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The shop failed.
    #[error(transparent)]
    Shop(#[from] ConnectorError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A webhook delivery that was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// The signature is missing or wrong.
    #[error("bad webhook signature")]
    BadSignature,
    /// The platform sends no webhooks (its connector says so): nothing is listened for.
    #[error("this shop sends no webhooks")]
    NotSupported,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Orders read (duplicates included).
    pub orders_seen: usize,
    /// Stock movements the orders caused.
    pub order_movements: usize,
    /// Changes confirmed applied online.
    pub pushed: usize,
    /// Writes whose outcome had to be decided by re-reading.
    pub resolved_by_reading: usize,
    /// Writes left to reconciliation.
    pub uncertain: usize,
    /// Writes read at their old level but too recent to be called not applied: left in flight.
    pub awaiting_deadline: usize,
    /// Drift found by a reconciliation in this run.
    pub drift: Vec<Drift>,
    /// Changes sent again with their key after a lost answer (shops whose writes are
    /// idempotent).
    pub resent: usize,
}

/// The sync state of one shop, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    /// The shop.
    pub shop: String,
    /// The outbox backlog.
    pub backlog: crate::ledger::Backlog,
    /// Synced products that do not sync (unknown SKU, unmanaged stock, errors).
    pub problems: Vec<crate::ledger::RemoteStatus>,
    /// The last error of a run, cleared by a successful run.
    pub last_error: Option<String>,
    /// When the last run succeeded (ms).
    pub last_ok_ms: Option<i64>,
    /// Click & collect orders waiting.
    pub pending_pickups: usize,
}

/// Syncs one shop.
pub struct Syncer {
    ledger: Arc<Mutex<Ledger>>,
    shop: Arc<dyn Connector>,
    clock: Arc<dyn Clock>,
    cfg: SyncConfig,
    failures: u32,
    /// Whether this process has looked the SKUs up (the connector learns ids from it: order
    /// lines without a SKU are matched by id).
    mapped: bool,
    hint: Arc<tokio::sync::Notify>,
    /// An absolute write may have overwritten a change the shop made meanwhile: reconcile at
    /// the end of this run instead of waiting for the next scheduled one.
    reconcile_soon: bool,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("shop", &self.shop.name())
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

fn lock(l: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    match l.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Syncer {
    /// A syncer for `shop` over a ledger shared with the till.
    pub fn new(
        ledger: Arc<Mutex<Ledger>>,
        shop: Arc<dyn Connector>,
        clock: Arc<dyn Clock>,
        cfg: SyncConfig,
    ) -> Self {
        Syncer {
            ledger,
            shop,
            clock,
            cfg,
            failures: 0,
            mapped: false,
            hint: Arc::new(tokio::sync::Notify::new()),
            reconcile_soon: false,
        }
    }

    /// The connector.
    pub fn connector(&self) -> &dyn Connector {
        self.shop.as_ref()
    }

    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.shop.name())
    }

    /// Handles a webhook delivery: checks the signature and, if valid, wakes the syncer to poll.
    /// The body is never applied: webhooks are late, lost and carry the state at delivery.
    pub fn webhook(&self, signature: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
        webhook_hint(self.shop.as_ref(), signature, body)?;
        self.hint.notify_one();
        Ok(())
    }

    /// Sync status for the API.
    pub fn status(&self) -> Result<SyncStatus, SyncError> {
        status_of(&self.ledger, self.shop.name())
    }

    /// Runs forever: a run, then a wait (the poll interval, shortened by a webhook, lengthened
    /// by failures). Meant to be spawned by the daemon.
    pub async fn run(mut self) {
        loop {
            let wait = match self.run_once().await {
                Ok(r) => {
                    if !r.drift.is_empty() {
                        tracing::warn!(shop = %self.shop.name(), drift = ?r.drift, "stock drift corrected");
                    }
                    self.cfg.poll_every
                }
                Err(e) => {
                    tracing::warn!(shop = %self.shop.name(), error = %e, "shop sync failed");
                    self.next_delay()
                }
            };
            let hint = self.hint.clone();
            tokio::select! {
                _ = self.clock.sleep(wait) => {}
                _ = hint.notified() => {}
            }
        }
    }

    /// The wait before the next attempt after failures (exponential, capped).
    pub fn next_delay(&self) -> Duration {
        if self.failures == 0 {
            return self.cfg.poll_every;
        }
        let secs = 5u64.saturating_mul(1u64 << self.failures.min(16));
        Duration::from_secs(secs).min(self.cfg.max_backoff)
    }

    /// One run: decide writes left in flight, refresh the SKU mapping if needed (never done
    /// by this process, due, or a product synced since), poll orders, push the outbox, and
    /// reconcile when due.
    pub async fn run_once(&mut self) -> Result<RunReport, SyncError> {
        let r = self.run_inner().await;
        let mut l = lock(&self.ledger);
        match &r {
            Ok(_) => {
                self.failures = 0;
                l.set_meta(&self.key("last_error"), "")?;
                l.set_meta(&self.key("last_ok_ms"), &self.clock.now_ms().to_string())?;
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                l.set_meta(&self.key("last_error"), &e.to_string())?;
            }
        }
        drop(l);
        r
    }

    async fn run_inner(&mut self) -> Result<RunReport, SyncError> {
        let mut rep = RunReport::default();
        let due = {
            let l = lock(&self.ledger);
            // A product synced since the last mapping (created at the till while the syncer
            // runs) is looked up now: until then its pushes wait.
            l.has_unmapped(self.shop.name())?
                || l.meta(&self.key("mapped_ms"))?
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_none_or(|t| {
                        self.clock.now_ms() - t > self.cfg.reconcile_every.as_millis() as i64
                    })
        };
        if due || !self.mapped {
            self.refresh_mapping().await?;
        }
        self.resolve_inflight(&mut rep).await?;
        self.poll_orders(&mut rep).await?;
        self.push(&mut rep).await?;
        let reconcile_due = {
            let l = lock(&self.ledger);
            l.meta(&self.key("reconciled_ms"))?
                .and_then(|v| v.parse::<i64>().ok())
                .is_none_or(|t| {
                    self.clock.now_ms() - t > self.cfg.reconcile_every.as_millis() as i64
                })
        };
        if reconcile_due || std::mem::take(&mut self.reconcile_soon) {
            rep.drift = self.reconcile().await?;
        }
        Ok(rep)
    }

    /// Looks every synced SKU up online and records which ones sync (`ok`), which are unknown
    /// online (`unknown_sku`) and which have no managed stock (`unmanaged`).
    pub async fn refresh_mapping(&mut self) -> Result<(), SyncError> {
        let name = self.shop.name().to_string();
        let skus = lock(&self.ledger).synced(&name)?;
        let found = self.shop.lookup(&skus).await?;
        let by_sku: HashMap<&str, _> = found.iter().map(|i| (i.sku.as_str(), i)).collect();
        let mut l = lock(&self.ledger);
        for sku in &skus {
            match by_sku.get(sku.as_str()) {
                None => {
                    tracing::warn!(shop = %name, sku, "SKU unknown online: not synced");
                    l.set_remote(
                        &name,
                        sku,
                        "unknown_sku",
                        None,
                        Some("no product or variation has this SKU online"),
                    )?
                }
                Some(i) if !i.managed => {
                    tracing::warn!(shop = %name, sku, "stock not managed online: not synced");
                    l.set_remote(
                        &name,
                        sku,
                        "unmanaged",
                        Some(&remote_name(i)),
                        Some("the shop does not manage this product's stock"),
                    )?
                }
                Some(i) => l.set_remote(&name, sku, "ok", Some(&remote_name(i)), None)?,
            }
        }
        l.set_meta(&self.key("mapped_ms"), &self.clock.now_ms().to_string())?;
        self.mapped = true;
        Ok(())
    }

    /// Reads orders modified since the cursor (with overlap) into the ledger.
    pub async fn poll_orders(&mut self, rep: &mut RunReport) -> Result<(), SyncError> {
        let name = self.shop.name().to_string();
        let stored: i64 = lock(&self.ledger)
            .meta(&self.key("orders_after_ms"))?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut cursor = OrderCursor {
            after_ms: stored,
            page: 1,
        };
        let mut newest = stored;
        for _ in 0..MAX_PAGES_PER_POLL {
            let page = self.shop.orders(&cursor).await?;
            let mut l = lock(&self.ledger);
            for o in &page.orders {
                rep.orders_seen += 1;
                let a = l.apply_order(&name, o)?;
                rep.order_movements += a.movements;
                if !a.unknown_skus.is_empty() {
                    tracing::debug!(shop = %name, order = %o.id, skus = ?a.unknown_skus, "order lines not tracked");
                }
                newest = newest.max(o.modified_ms);
            }
            drop(l);
            if !page.more {
                break;
            }
            // Keyset paging: continue from the newest second seen; only when a whole page
            // shares that second, turn the page.
            let next_sec = newest.div_euclid(1000) * 1000;
            if next_sec > cursor.after_ms.div_euclid(1000) * 1000 {
                cursor = OrderCursor {
                    after_ms: next_sec,
                    page: 1,
                };
            } else {
                cursor.page += 1;
            }
        }
        let next = (newest - self.cfg.overlap.as_millis() as i64).max(stored);
        lock(&self.ledger).set_meta(&self.key("orders_after_ms"), &next.to_string())?;
        Ok(())
    }

    async fn read_levels(
        &self,
        skus: &[String],
    ) -> Result<HashMap<String, crate::connector::RemoteItem>, SyncError> {
        let found = self.shop.lookup(skus).await?;
        Ok(found.into_iter().map(|i| (i.sku.clone(), i)).collect())
    }

    /// Decides writes left in flight (lost answers, a crash mid-write) by re-reading.
    async fn resolve_inflight(&mut self, rep: &mut RunReport) -> Result<(), SyncError> {
        let name = self.shop.name().to_string();
        let pending = lock(&self.ledger).inflight(&name)?;
        if pending.is_empty() {
            return Ok(());
        }
        self.poll_orders(rep).await?;
        let skus: Vec<String> = pending.iter().map(|w| w.sku.clone()).collect();
        let now = self.read_levels(&skus).await?;
        let now_ms = self.clock.now_ms();
        let deadline = i64::try_from(self.cfg.write_deadline.as_millis()).unwrap_or(i64::MAX);
        let mut l = lock(&self.ledger);
        for w in &pending {
            let level = now.get(&w.sku).and_then(|i| i.level);
            let moved = l.shop_moved_since(&name, &w.sku, w.mark)?;
            let applied = matches!(level, Some(n) if !moved && n == w.before + w.delta);
            if !applied && now_ms.saturating_sub(w.sent_ms) < deadline {
                // It may still land: decided by a later run. This holds for an undecidable
                // write too (the shop moved the level meanwhile): as an uncertain row, its
                // product would be compared by reconciliation, and a correction queued before
                // the write lands would be applied on top of it.
                rep.awaiting_deadline += 1;
                continue;
            }
            let decision = match level {
                _ if applied => Some(true),
                Some(n) if !moved && n == w.before => Some(false),
                _ => None,
            };
            rep.resolved_by_reading += 1;
            if decision.is_none() {
                rep.uncertain += 1;
                tracing::warn!(shop = %name, sku = %w.sku, "write outcome undecidable: left to reconciliation");
            }
            l.end_write(&name, &w.sku, decision)?;
        }
        Ok(())
    }

    /// Pushes pending changes, a batch at a time, one write per product in flight.
    pub async fn push(&mut self, rep: &mut RunReport) -> Result<(), SyncError> {
        let name = self.shop.name().to_string();
        let max = self
            .shop
            .capabilities()
            .max_batch
            .clamp(1, crate::connector::MAX_CHANGES_PER_CALL);
        for _ in 0..MAX_BATCHES_PER_RUN {
            let todo = lock(&self.ledger).pending_pushes(&name, max)?;
            if todo.is_empty() {
                break;
            }
            // See the shop's own moves first, then read the levels the writes start from.
            self.poll_orders(rep).await?;
            let mark = lock(&self.ledger).last_movement()?;
            let skus: Vec<String> = todo.iter().map(|p| p.sku.clone()).collect();
            let levels = self.read_levels(&skus).await?;
            let mut changes = Vec::new();
            let mut writes = Vec::new();
            {
                let mut l = lock(&self.ledger);
                for p in &todo {
                    let Some(item) = levels.get(&p.sku).filter(|i| i.managed) else {
                        l.set_remote(
                            &name,
                            &p.sku,
                            "unknown_sku",
                            None,
                            Some("not found (or stock not managed) when pushing"),
                        )?;
                        continue;
                    };
                    let Some(before) = item.level else { continue };
                    if p.delta == 0 {
                        l.settle_zero(&name, &p.sku, p.upto)?;
                        continue;
                    }
                    writes.push(InFlight {
                        sku: p.sku.clone(),
                        delta: p.delta,
                        before,
                        mark,
                        upto: p.upto,
                        sent_ms: self.clock.now_ms(),
                    });
                    changes.push(StockChange {
                        item: item.clone(),
                        delta: p.delta,
                        before,
                        idempotency_key: format!("{name}:{}:{}", p.sku, p.upto),
                    });
                }
                l.begin_writes(&name, &writes)?;
            }
            if changes.is_empty() {
                continue;
            }
            let outcomes = match self.shop.apply(&changes).await {
                Ok(o) => o,
                Err(e) => {
                    // Nothing was sent (or the shop refused as a whole): leave the writes in
                    // flight; the next run decides them by reading.
                    return Err(e.into());
                }
            };
            let caps = self.shop.capabilities();
            let outcomes = if caps.idempotent_writes {
                self.resend_unknown(&changes, outcomes, rep).await
            } else {
                outcomes
            };
            let mut unknown = false;
            let mut written_absolute = Vec::new();
            {
                let mut l = lock(&self.ledger);
                for (c, o) in changes.iter().zip(outcomes) {
                    match o {
                        ChangeOutcome::Applied { .. } if caps.relative_writes => {
                            rep.pushed += 1;
                            l.end_write(&name, &c.item.sku, Some(true))?;
                        }
                        ChangeOutcome::Applied { .. } => written_absolute.push(c.item.sku.clone()),
                        ChangeOutcome::Rejected { retry: true, .. } => {
                            l.end_write(&name, &c.item.sku, Some(false))?;
                        }
                        ChangeOutcome::Rejected {
                            retry: false,
                            reason,
                        } => {
                            tracing::warn!(shop = %name, sku = %c.item.sku, %reason, "the shop refused a stock change");
                            l.end_write(&name, &c.item.sku, Some(false))?;
                            l.set_remote(
                                &name,
                                &c.item.sku,
                                "error",
                                Some(&remote_name(&c.item)),
                                Some(&reason),
                            )?;
                        }
                        ChangeOutcome::Unknown => unknown = true,
                    }
                }
            }
            if !written_absolute.is_empty() {
                self.verify_absolute(&written_absolute, rep).await?;
            }
            if unknown {
                self.resolve_inflight(rep).await?;
            }
        }
        Ok(())
    }

    /// Sends again, with the same keys, the changes whose answer was lost, on a shop whose
    /// writes are idempotent ([`crate::connector::Capabilities::idempotent_writes`]): the shop
    /// applies each key once, so resending cannot count a change twice. What is still unknown
    /// after [`IDEMPOTENT_RESENDS`] tries is decided by reading, as on other shops.
    async fn resend_unknown(
        &self,
        changes: &[StockChange],
        mut outcomes: Vec<ChangeOutcome>,
        rep: &mut RunReport,
    ) -> Vec<ChangeOutcome> {
        for _ in 0..IDEMPOTENT_RESENDS {
            let lost: Vec<usize> = (0..outcomes.len())
                .filter(|i| outcomes[*i] == ChangeOutcome::Unknown)
                .collect();
            if lost.is_empty() {
                break;
            }
            let again: Vec<StockChange> = lost.iter().map(|i| changes[*i].clone()).collect();
            let Ok(answers) = self.shop.apply(&again).await else {
                break;
            };
            rep.resent += again.len();
            for (i, o) in lost.into_iter().zip(answers) {
                outcomes[i] = o;
            }
        }
        outcomes
    }

    /// Decides the writes of a shop whose stock writes are absolute (it was sent the level
    /// read just before plus the change: read, compare, write, then re-read here). A write is
    /// applied when the level read back is the one written and the shop moved nothing of that
    /// product in between (its orders are polled first). Otherwise an order may have been
    /// overwritten: the write is left uncertain and a reconciliation runs at the end of this
    /// run, the till's level being the truth (it counts the order once polled).
    async fn verify_absolute(
        &mut self,
        skus: &[String],
        rep: &mut RunReport,
    ) -> Result<(), SyncError> {
        let name = self.shop.name().to_string();
        self.poll_orders(rep).await?;
        let now = self.read_levels(skus).await?;
        let mut l = lock(&self.ledger);
        for w in l.inflight(&name)?.iter().filter(|w| skus.contains(&w.sku)) {
            let level = now.get(&w.sku).and_then(|i| i.level);
            let moved = l.shop_moved_since(&name, &w.sku, w.mark)?;
            rep.resolved_by_reading += 1;
            if !moved && level == Some(w.before + w.delta) {
                rep.pushed += 1;
                l.end_write(&name, &w.sku, Some(true))?;
            } else {
                rep.uncertain += 1;
                tracing::warn!(shop = %name, sku = %w.sku, "an absolute stock write may have overwritten a change of the shop: reconciling now");
                l.end_write(&name, &w.sku, None)?;
                self.reconcile_soon = true;
            }
        }
        Ok(())
    }

    /// Compares every synced product's online level with the till's (available, minus pushes
    /// still queued) and queues a relative correction for each difference: the till is the
    /// source of truth. Products whose level the shop moved during the comparison are skipped
    /// until the next reconciliation. Returns what was found.
    pub async fn reconcile(&mut self) -> Result<Vec<Drift>, SyncError> {
        let name = self.shop.name().to_string();
        let mut rep = RunReport::default();
        self.resolve_inflight(&mut rep).await?;
        self.poll_orders(&mut rep).await?;
        let mark = lock(&self.ledger).last_movement()?;
        let statuses = lock(&self.ledger).remote_statuses(&name)?;
        let skus: Vec<String> = statuses
            .iter()
            .filter(|s| s.status == "ok")
            .map(|s| s.sku.clone())
            .collect();
        let online = self.read_levels(&skus).await?;
        self.poll_orders(&mut rep).await?;
        let now = self.clock.now_ms();
        let mut l = lock(&self.ledger);
        let run: i64 = l
            .meta(&self.key("reconcile_run"))?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
            + 1;
        l.set_meta(&self.key("reconcile_run"), &run.to_string())?;
        let mut found = Vec::new();
        for sku in &skus {
            let Some(o) = online.get(sku).and_then(|i| i.level) else {
                continue;
            };
            if l.shop_moved_since(&name, sku, mark)?
                || l.inflight(&name)?.iter().any(|w| &w.sku == sku)
            {
                continue;
            }
            let Some(level) = l.level(sku)? else { continue };
            let expected = units(level.available_milli()) - l.pending_delta(&name, sku)?;
            let after_uncertain_write = l.settle_uncertain(&name, sku)? > 0;
            if expected != o {
                let d = Drift {
                    run,
                    sku: sku.clone(),
                    online: o,
                    expected,
                    correction: expected - o,
                    at_ms: now,
                    after_uncertain_write,
                };
                tracing::warn!(shop = %name, sku, online = o, expected, "stock drift: correcting the shop");
                l.queue_correction(&name, sku, d.correction, &format!("reconcile:{run}:{sku}"))?;
                l.record_drift(&name, &d)?;
                found.push(d);
            }
        }
        l.set_meta(&self.key("reconciled_ms"), &now.to_string())?;
        Ok(found)
    }
}

/// The sync status of `shop` read from the ledger alone: callers that do not hold the
/// [`Syncer`] (it may be busy in a run) use this.
pub fn status_of(ledger: &Mutex<Ledger>, shop: &str) -> Result<SyncStatus, SyncError> {
    let l = lock(ledger);
    let key = |what: &str| format!("{shop}:{what}");
    Ok(SyncStatus {
        shop: shop.to_string(),
        backlog: l.backlog(shop)?,
        problems: l
            .remote_statuses(shop)?
            .into_iter()
            .filter(|r| r.status != "ok")
            .collect(),
        last_error: l.meta(&key("last_error"))?.filter(|e| !e.is_empty()),
        last_ok_ms: l.meta(&key("last_ok_ms"))?.and_then(|v| v.parse().ok()),
        pending_pickups: l.pending_pickups()?.len(),
    })
}

/// Checks a webhook delivery for `shop`: refused when the platform sends no webhooks
/// ([`crate::connector::Capabilities::webhooks`]) or the signature is wrong. A valid one is only a hint to poll.
pub fn webhook_hint(
    shop: &dyn Connector,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    if !shop.capabilities().webhooks {
        return Err(WebhookError::NotSupported);
    }
    match signature {
        Some(s) if shop.verify_webhook(s, body) => Ok(()),
        _ => Err(WebhookError::BadSignature),
    }
}

fn remote_name(i: &crate::connector::RemoteItem) -> String {
    match &i.parent_id {
        Some(p) => format!("{p}/{}", i.id),
        None => i.id.clone(),
    }
}

//! Stock at the till and its sync with an online shop, through `shop-sync`.
//!
//! The ledger (`stock.db`, next to `ops.db`) is the only record of stock levels: a projection
//! of stock movements, each applied once. Till sales and refunds reach it through the
//! projector ([`record_jobs`]), keyed by journal seq and line, so recovery past `ops.db`'s
//! cursor replays them without counting any twice. Receptions, counts and adjustments come
//! from the API; online orders, cancellations and click & collect reservations from the
//! syncer ([`ShopSync`]).
//!
//! A click & collect pickup is a sale paid `online` showing what the customer paid online:
//! one line per order item ([`Ledger::pickup_items`]), at the catalogue's label, VAT rate and
//! unit, totalling the amount paid for it. Before journaling it the API writes a
//! pickup intent (shop, order) in the ledger; the projector turns the next sale paid online
//! into [`Ledger::record_pickup`] instead of a plain sale (the reservation ends, nothing is
//! pushed: the shop took the stock when the order was placed). Pickups are serialised, and
//! only pickups are paid online, so the intent always names the right ticket, also when
//! posd stops between the append and the projection.

use crate::catalog::Product;
use crate::config::{Config, ShopConfig, SyncSkus, WooAuth, WooShopConfig};
use crate::ops::NewRecordJob;
use serde::{Deserialize, Serialize};
use shop_sync::clock::Clock;
use shop_sync::connector::Connector;
use shop_sync::ledger::{Drift, Ledger, LedgerError};
use shop_sync::sync::{RunReport, SyncConfig, SyncStatus, Syncer, WebhookError};
use shop_sync::woo::{WooConfig, WooConnector};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The ledger, shared by the API, the projector and the syncer.
pub type SharedLedger = Arc<Mutex<Ledger>>;

/// The ledger meta key of a pickup being journaled (JSON [`PickupIntent`], empty: none).
pub const PICKUP_INTENT: &str = "posd:pickup_intent";

/// The inventory id of the one-time import of the levels `ops.db` kept before the ledger.
pub const OPS_IMPORT: &str = "ops-db-import";

/// Locks the ledger (a poisoned lock is still usable: every change is one SQLite transaction).
pub fn lock(l: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    match l.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A click & collect pickup about to be journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupIntent {
    /// The shop.
    pub shop: String,
    /// The order id.
    pub order: String,
}

/// Writes (or clears, with `None`) the pickup intent.
pub fn set_intent(l: &mut Ledger, intent: Option<&PickupIntent>) -> Result<(), LedgerError> {
    let v = match intent {
        Some(i) => serde_json::to_string(i).map_err(|e| LedgerError::Invalid(e.to_string()))?,
        None => String::new(),
    };
    l.set_meta(PICKUP_INTENT, &v)
}

fn intent(l: &Ledger) -> Result<Option<PickupIntent>, LedgerError> {
    Ok(l.meta(PICKUP_INTENT)?
        .and_then(|v| serde_json::from_str(&v).ok()))
}

/// Records the stock movements of projected journal records, once per seq (a replay changes
/// nothing), and sets `cursor` (a meta key and its value) with the last of them, in the same
/// commit.
pub fn record_jobs(
    ledger: &Mutex<Ledger>,
    jobs: &[NewRecordJob],
    cursor: (&str, &str),
) -> Result<(), LedgerError> {
    let mut l = lock(ledger);
    // Plain sales and refunds go in one transaction per run between pickups.
    let mut run: Vec<(u64, &[(String, i64)])> = Vec::new();
    for job in jobs {
        if job.stock.is_empty() {
            continue;
        }
        let pickup = if job.paid_online { intent(&l)? } else { None };
        let Some(i) = pickup else {
            run.push((job.seq, &job.stock));
            continue;
        };
        l.record_tills(&run)?;
        run.clear();
        match l.record_pickup(&i.shop, &i.order, job.seq) {
            Ok(_) => {}
            Err(LedgerError::Invalid(m)) => {
                // The order can no longer be picked up (cancelled meanwhile): the goods left
                // anyway, so they leave the shelves like a sale.
                tracing::warn!(seq = job.seq, order = %i.order, reason = %m,
                    "pickup without a reservation: recorded as a sale");
                l.record_till(job.seq, &job.stock)?;
            }
            Err(e) => return Err(e),
        }
        set_intent(&mut l, None)?;
    }
    l.record_tills_noting(&run, Some(cursor))?;
    Ok(())
}

/// Tracks the catalog's products (with their low-stock thresholds), imports once the levels
/// `ops.db` kept before the ledger existed, and lists the configured SKUs for the shop.
/// SKUs to sync that the till does not track are logged here and reported by `GET /v1/sync`
/// while they last.
pub fn prepare(
    ledger: &mut Ledger,
    config: &Config,
    products: &[Product],
    legacy: &[(String, i64)],
) -> Result<(), LedgerError> {
    for p in products.iter().filter(|p| p.track_stock) {
        let new = ledger.level(&p.sku)?.is_none();
        ledger.track(&p.sku, config.stock.low_of(&p.sku))?;
        if new {
            if let Some((_, q)) = legacy.iter().find(|(s, _)| s == &p.sku) {
                ledger.count(OPS_IMPORT, &[(p.sku.clone(), *q)])?;
            }
        }
    }
    for shop in &config.shops.list {
        for p in products.iter().filter(|p| p.track_stock) {
            if shop.syncs(&p.sku) {
                ledger.sync_with(shop.name(), &p.sku)?;
            }
        }
        for sku in shop.listed_skus().unwrap_or_default() {
            if !products.iter().any(|p| &p.sku == sku && p.track_stock) {
                // Logged at startup; GET /v1/sync reports it while it lasts.
                tracing::warn!(shop = shop.name(), sku = %sku, "shops.woocommerce.skus: not a product whose stock the till tracks");
            }
        }
    }
    Ok(())
}

/// The stock service: the ledger and the online shops syncing with it.
pub struct Stock {
    /// The stock ledger (`stock.db`): the only record of stock levels. A mutex around one
    /// SQLite connection: the projector, the API and each shop's syncer take turns.
    pub ledger: SharedLedger,
    /// The online shops whose configuration is usable, in the configuration's order.
    pub shops: Vec<Arc<ShopSync>>,
    /// Stock and shop configuration problems (reported by `GET /v1/sync`; sales go on).
    pub problems: Vec<String>,
    /// Serialises click & collect pickups: the intent written before the sale is the one the
    /// projector reads with it (an async mutex: held across the journal append).
    pub pickup_gate: tokio::sync::Mutex<()>,
    /// "Sold below zero stock" warnings, logged at most once a minute under a burst.
    pub below_zero_warnings: crate::throttle::Throttle,
}

impl std::fmt::Debug for Stock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stock")
            .field("shops", &self.shops)
            .finish_non_exhaustive()
    }
}

impl Stock {
    /// The service over `ledger`, with the shops whose configuration could be used and the
    /// problems of the others.
    pub fn new(ledger: SharedLedger, shops: Vec<Arc<ShopSync>>, problems: Vec<String>) -> Stock {
        Stock {
            ledger,
            shops,
            problems,
            pickup_gate: tokio::sync::Mutex::new(()),
            below_zero_warnings: crate::throttle::Throttle::new(Duration::from_secs(60)),
        }
    }

    /// What a sale taking `demand` ([`demand`]) leaves short under the zero-stock policy:
    /// the shortages to warn of (`warn`), or `Insufficient` when the policy refuses the sale
    /// (`refuse`: nothing may be journaled). Products whose stock is not tracked never fall
    /// short. Blocking.
    pub fn check_sale(
        &self,
        demand: &[(String, i64)],
    ) -> Result<Vec<shop_sync::ledger::Shortage>, LedgerError> {
        lock(&self.ledger).check_sale(demand)
    }
}

/// What a sale's lines take from stock: (SKU, quantity in thousandths), line by line.
pub fn demand(lines: &[pos_core::ticket::LineInput]) -> Vec<(String, i64)> {
    lines
        .iter()
        .map(|l| (l.sku.clone(), l.quantity.0))
        .collect()
}

/// Why a shop does not sync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopError {
    /// Its configuration cannot be used (the till sells anyway).
    #[error("{0}")]
    Config(String),
    /// A run, a reconciliation or a status read failed (the message has the shop's key and
    /// secrets taken out).
    #[error("{0}")]
    Sync(String),
}

/// Checks the shop's configuration without contacting it.
pub fn check_shop(cfg: &WooShopConfig) -> Result<(), ShopError> {
    if let SyncSkus::All(v) = &cfg.skus {
        if v != "all" {
            return Err(ShopError::Config(format!(
                "shops.woocommerce.skus must be \"all\" or a list of SKUs, not {v:?}"
            )));
        }
    }
    let https = cfg.url.starts_with("https://");
    match cfg.auth {
        Some(WooAuth::BasicOverHttps) if !https => Err(ShopError::Config(
            "shops.woocommerce: auth basic-over-https needs an https:// URL".into(),
        )),
        Some(WooAuth::Oauth1OverHttp) if https => Err(ShopError::Config(
            "shops.woocommerce: auth oauth1-over-http needs an http:// URL".into(),
        )),
        _ => Ok(()),
    }
}

/// One online shop: its syncer (run by [`ShopSync::run`], or on demand) and what the API
/// reads without waiting for a run.
pub struct ShopSync {
    /// The shop's name in movement keys.
    pub name: String,
    /// The syncer: a run holds it, for as long as the shop takes to answer.
    syncer: tokio::sync::Mutex<Syncer>,
    /// The shop's connector, also for webhook signatures (checked without waiting for a run).
    connector: Arc<dyn Connector>,
    ledger: SharedLedger,
    hint: tokio::sync::Notify,
    poll_every: Duration,
    secrets: Vec<String>,
}

impl std::fmt::Debug for ShopSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopSync")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ShopSync {
    /// The syncer of a configured shop; an error says what is wrong with its configuration
    /// (the till sells anyway).
    pub fn of(
        cfg: &ShopConfig,
        ledger: SharedLedger,
        clock: Arc<dyn Clock>,
    ) -> Result<ShopSync, ShopError> {
        match cfg {
            ShopConfig::Woocommerce(w) => ShopSync::new(w, ledger, clock),
        }
    }

    /// The syncer of a configured WooCommerce shop; an error says what is wrong with the
    /// configuration (the till sells anyway).
    pub fn new(
        cfg: &WooShopConfig,
        ledger: SharedLedger,
        clock: Arc<dyn Clock>,
    ) -> Result<ShopSync, ShopError> {
        check_shop(cfg)?;
        let timeout = Duration::from_secs(cfg.timeout_secs.clamp(1, 300));
        let woo = WooConfig {
            name: cfg.name.clone(),
            url: cfg.url.clone(),
            consumer_key: cfg.consumer_key.clone(),
            consumer_secret: cfg.consumer_secret.clone(),
            webhook_secret: cfg.webhook_secret.clone(),
            timeout,
        };
        let conn: Arc<dyn Connector> = Arc::new(
            WooConnector::new(woo, clock.clone()).map_err(|e| ShopError::Config(e.to_string()))?,
        );
        let poll_every = Duration::from_secs(cfg.poll_secs.clamp(1, 24 * 3600));
        let sync = SyncConfig {
            poll_every,
            reconcile_every: Duration::from_secs(cfg.reconcile_secs.clamp(60, 7 * 24 * 3600)),
            write_deadline: Duration::from_secs(cfg.write_deadline_secs.min(24 * 3600)),
            ..SyncConfig::default()
        };
        let syncer = Syncer::new(ledger.clone(), conn.clone(), clock, sync);
        Ok(ShopSync {
            name: cfg.name.clone(),
            syncer: tokio::sync::Mutex::new(syncer),
            ledger,
            hint: tokio::sync::Notify::new(),
            connector: conn,
            poll_every,
            secrets: [&cfg.consumer_key, &cfg.consumer_secret, &cfg.webhook_secret]
                .into_iter()
                .filter(|s| s.len() >= 4)
                .cloned()
                .collect(),
        })
    }

    /// Removes the key and secrets from a message.
    pub fn scrub(&self, m: &str) -> String {
        let mut m = m.to_string();
        for s in &self.secrets {
            m = m.replace(s.as_str(), "…");
        }
        m
    }

    /// The sync status (backlog, products that cannot sync, last error), read from the ledger.
    pub fn status(&self) -> Result<SyncStatus, ShopError> {
        let mut s = shop_sync::sync::status_of(&self.ledger, &self.name)
            .map_err(|e| ShopError::Sync(self.scrub(&e.to_string())))?;
        s.last_error = s.last_error.map(|e| self.scrub(&e));
        Ok(s)
    }

    /// The drift found by the latest reconciliations.
    pub fn drift(&self) -> Result<Vec<Drift>, LedgerError> {
        lock(&self.ledger).drift(&self.name)
    }

    /// A webhook delivery: if its signature is right, the syncer polls now. The body is never
    /// applied (deliveries are late, lost, and carry the state at delivery).
    pub fn webhook(&self, signature: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
        shop_sync::sync::webhook_hint(self.connector.as_ref(), signature, body)?;
        self.hint.notify_one();
        Ok(())
    }

    /// One run now (waits for a run in progress): decide writes in flight, poll orders, push
    /// the outbox, reconcile when due.
    pub async fn run_once(&self) -> Result<RunReport, ShopError> {
        let mut s = self.syncer.lock().await;
        s.run_once()
            .await
            .map_err(|e| ShopError::Sync(self.scrub(&e.to_string())))
    }

    /// A reconciliation now; the corrections it queues are pushed by the next run.
    pub async fn reconcile(&self) -> Result<Vec<Drift>, ShopError> {
        let mut s = self.syncer.lock().await;
        s.reconcile()
            .await
            .map_err(|e| ShopError::Sync(self.scrub(&e.to_string())))
    }

    /// Runs until the process ends: a run, then the poll interval (shortened by a webhook,
    /// lengthened by failures).
    pub async fn run(self: Arc<Self>) {
        loop {
            let wait = {
                let mut s = self.syncer.lock().await;
                match s.run_once().await {
                    Ok(r) => {
                        if !r.drift.is_empty() {
                            tracing::warn!(shop = %self.name, drift = ?r.drift, "stock drift corrected online");
                        }
                        self.poll_every
                    }
                    Err(e) => {
                        tracing::warn!(shop = %self.name, error = %self.scrub(&e.to_string()), "shop sync failed; sales go on and queue");
                        s.next_delay()
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.hint.notified() => {}
            }
        }
    }
}

/// A fresh id for receptions, counts and adjustments the client gave no id for (time in ms
/// and a per-process counter).
pub fn unique_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{}-{n}", chrono::Utc::now().timestamp_millis())
}

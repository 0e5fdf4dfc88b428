//! The stock ledger (`stock.db`): stock movements, levels as their projection, online orders
//! seen, and the outbox of changes to push to each shop.
//!
//! Every movement has a unique key, so recording it twice changes nothing:
//! - till sales and refunds: `till:{journal seq}:{line}`;
//! - online orders: `{shop}:order:{id}:line:{line id}:{take|give|reserve|release}#{n}`, where
//!   `n` counts the order's hold transitions;
//! - receptions `reception:{id}:{sku}`, adjustments `adjust:{id}`, inventory counts
//!   `inventory:{id}:{sku}`.
//!
//! A movement and the outbox rows it causes commit in one transaction, so a crash can neither
//! lose a push nor queue one twice. Levels (`items.on_hand_milli`, `items.reserved_milli`) are
//! updated in the same transaction and [`Ledger::replay`] recomputes them from the movements.
//!
//! Quantities are thousandths (`_milli`) like the journal's; online shops count whole units,
//! so the level pushed is `floor(available / 1000)` and a movement's push is the change of that.

use crate::connector::{OnlineOrder, StockEffect};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::path::Path;

mod moves;
mod orders;
mod outbox;
mod schema;

use moves::{insert_move, is_tracked};
use schema::{migrate, SCHEMA};

/// Pending outbox rows above which rows are merged per product and shop.
pub const MAX_OUTBOX_PENDING: i64 = 50_000;
/// The largest number of rows any listing returns.
pub const MAX_LISTED: usize = 500;
/// The most lines accepted in one till record, reception or count.
pub const MAX_LINES: usize = 1_000;
/// The largest stock level (on hand or reserved, either sign) in thousandths: a billion units.
/// A reception, count or adjustment that would leave a level beyond it, or that moves more at
/// once, is refused (nothing is written) instead of saturating.
pub const MAX_LEVEL_MILLI: i64 = 1_000_000_000_000;

/// What the till does when a sale would take a product below zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ZeroStockPolicy {
    /// Refuse the sale (before it is journaled).
    Refuse,
    /// Allow it and return a warning.
    #[default]
    Warn,
}

/// Ledger errors.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// SQLite failed.
    #[error("stock.db: {0}")]
    Db(#[from] rusqlite::Error),
    /// The sale would take products below zero and the policy refuses it.
    #[error("insufficient stock: {0:?}")]
    Insufficient(Vec<Shortage>),
    /// Bad input (nothing was written).
    #[error("{0}")]
    Invalid(String),
}

/// A product the sale would take below zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortage {
    /// The product.
    pub sku: String,
    /// Available (on hand minus reserved) before the sale, thousandths.
    pub available_milli: i64,
    /// Asked, thousandths.
    pub requested_milli: i64,
}

/// A product's level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Level {
    /// The product.
    pub sku: String,
    /// On the shelves, thousandths.
    pub on_hand_milli: i64,
    /// Reserved for click & collect orders, thousandths.
    pub reserved_milli: i64,
    /// Low-stock threshold on the available quantity.
    pub low_milli: Option<i64>,
}

impl Level {
    /// On hand minus reserved.
    pub fn available_milli(&self) -> i64 {
        self.on_hand_milli - self.reserved_milli
    }
}

/// What an online order did locally.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderApplied {
    /// Already seen with this modification time: nothing done.
    pub duplicate: bool,
    /// Movements recorded.
    pub movements: usize,
    /// Lines whose SKU the till does not track (ignored).
    pub unknown_skus: Vec<String>,
}

/// A line to hand over at a click & collect pickup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupLine {
    /// The platform's line id.
    pub line_id: String,
    /// The product.
    pub sku: String,
    /// Whole units.
    pub quantity: i64,
}

/// One line of an online order as the customer bought it: what the pickup ticket shows.
/// Every line is kept, also those of products whose stock the till does not track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// The platform's line id.
    pub line_id: String,
    /// The product; empty when the platform gave none.
    pub sku: String,
    /// The line's name on the platform.
    #[serde(default)]
    pub name: String,
    /// Whole units (kilograms for goods sold by weight).
    pub quantity: i64,
    /// What the customer paid for the line, VAT included, after discounts, in cents; `None`
    /// when the platform did not say.
    #[serde(default)]
    pub paid_cents: Option<i64>,
}

/// A click & collect order waiting at the till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingPickup {
    /// The shop.
    pub shop: String,
    /// The order id.
    pub order_id: String,
    /// The lines holding stock (products the till tracks): what the pickup takes off the
    /// shelves.
    pub lines: Vec<PickupLine>,
    /// Every line of the order, with its name and the amount paid: what the ticket shows.
    pub items: Vec<OrderItem>,
    /// What the customer paid for the whole order, in cents, when the platform said.
    pub total_cents: Option<i64>,
}

/// The outbox backlog of one shop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    /// Rows waiting to be pushed.
    pub pending: i64,
    /// Rows sent, outcome not yet known.
    pub inflight: i64,
    /// Rows whose outcome could not be decided; reconciliation settles them.
    pub uncertain: i64,
    /// Pending rows of products that cannot sync (unknown online, unmanaged stock).
    pub blocked: i64,
    /// When the oldest pending row was queued (ms), if any.
    pub oldest_pending_ms: Option<i64>,
}

/// A pending push: one product's summed pending rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPush {
    /// The product.
    pub sku: String,
    /// The summed change, whole units.
    pub delta: i64,
    /// The largest row id included.
    pub upto: i64,
}

/// A write recorded as in flight (survives a crash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The product.
    pub sku: String,
    /// The change sent.
    pub delta: i64,
    /// The online level read just before.
    pub before: i64,
    /// The largest movement id when `before` was read.
    pub mark: i64,
    /// The largest outbox row included.
    pub upto: i64,
    /// When it was sent (milliseconds since the epoch; 0 for writes recorded by a version
    /// that did not keep it).
    pub sent_ms: i64,
}

/// A product's sync status with one shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteStatus {
    /// The product.
    pub sku: String,
    /// `ok`, `unknown_sku`, `unmanaged` or `error`.
    pub status: String,
    /// The online id (`parent/variation` for variations).
    pub remote: Option<String>,
    /// Why it does not sync.
    pub message: Option<String>,
}

/// One reconciliation finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The reconciliation run.
    pub run: i64,
    /// The product.
    pub sku: String,
    /// What the shop showed, whole units.
    pub online: i64,
    /// What it should show (the till's available level minus pushes still queued).
    pub expected: i64,
    /// The relative correction queued.
    pub correction: i64,
    /// When (ms).
    pub at_ms: i64,
    /// The comparison settled writes of this product whose outcome could not be read (the
    /// shop moved its level while an answer was lost): the correction completes or undoes one
    /// of them. `false`: the level changed by something the till does not know of, such as an
    /// edit in the shop's back office.
    pub after_uncertain_write: bool,
}

/// Whole units shown online for an available quantity in thousandths.
pub fn units(available_milli: i64) -> i64 {
    available_milli.div_euclid(1000)
}

/// One movement to record.
struct Move<'a> {
    key: String,
    sku: &'a str,
    kind: &'static str,
    on_hand: i64,
    reserved: i64,
    /// `None`: a till movement, pushed to every shop; `Some(shop)`: already applied by that
    /// shop, pushed to the others; `Some("")`: pushed nowhere.
    origin: Option<&'a str>,
    reason: Option<&'a str>,
}

/// The stock ledger. One writer connection; callers serialise through `&mut` or a mutex.
pub struct Ledger {
    conn: Connection,
    policy: ZeroStockPolicy,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Ledger {
    /// Opens (creating) the ledger at `path` (WAL, `synchronous=FULL`: movements are facts).
    pub fn open(path: &Path, policy: ZeroStockPolicy) -> Result<Ledger, LedgerError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(Ledger { conn, policy })
    }

    /// The zero-stock policy.
    pub fn policy(&self) -> ZeroStockPolicy {
        self.policy
    }

    /// Tracks a product's stock (idempotent) and sets its low-stock threshold.
    pub fn track(&mut self, sku: &str, low_milli: Option<i64>) -> Result<(), LedgerError> {
        check_sku(sku)?;
        self.conn.execute(
            "INSERT INTO items(sku, low_milli) VALUES (?1, ?2)
             ON CONFLICT(sku) DO UPDATE SET low_milli = excluded.low_milli",
            params![sku, low_milli],
        )?;
        Ok(())
    }

    /// Syncs a tracked product with a shop from now on.
    pub fn sync_with(&mut self, shop: &str, sku: &str) -> Result<(), LedgerError> {
        check_sku(sku)?;
        self.conn.execute(
            "INSERT OR IGNORE INTO synced(shop, sku) VALUES (?1, ?2)",
            params![shop, sku],
        )?;
        Ok(())
    }

    /// The products synced with a shop.
    pub fn synced(&self, shop: &str) -> Result<Vec<String>, LedgerError> {
        let mut st = self
            .conn
            .prepare("SELECT sku FROM synced WHERE shop = ?1 ORDER BY sku")?;
        let rows = st.query_map([shop], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a product synced with a shop has not been looked up online yet (status `new`):
    /// its pushes wait until it is.
    pub fn has_unmapped(&self, shop: &str) -> Result<bool, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM synced WHERE shop = ?1 AND status = 'new')",
            [shop],
            |r| r.get(0),
        )?)
    }

    /// A product's level, if tracked.
    pub fn level(&self, sku: &str) -> Result<Option<Level>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT sku, on_hand_milli, reserved_milli, low_milli FROM items WHERE sku = ?1",
                [sku],
                row_level,
            )
            .optional()?)
    }

    /// Every tracked product's level (at most [`MAX_LISTED`] from `after`).
    pub fn levels(&self, after: &str) -> Result<Vec<Level>, LedgerError> {
        let mut st = self.conn.prepare(
            "SELECT sku, on_hand_milli, reserved_milli, low_milli FROM items
             WHERE sku > ?1 ORDER BY sku LIMIT ?2",
        )?;
        let rows = st.query_map(params![after, MAX_LISTED as i64], row_level)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Products at or below their low-stock threshold (available quantity).
    pub fn low_stock(&self) -> Result<Vec<Level>, LedgerError> {
        let mut st = self.conn.prepare(
            "SELECT sku, on_hand_milli, reserved_milli, low_milli FROM items
             WHERE low_milli IS NOT NULL AND on_hand_milli - reserved_milli <= low_milli
             ORDER BY on_hand_milli - reserved_milli - low_milli, sku LIMIT ?1",
        )?;
        let rows = st.query_map([MAX_LISTED as i64], row_level)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks a sale against the zero-stock policy, before it is journaled. Lines are
    /// (sku, quantity in thousandths); untracked products pass. Returns the shortages as
    /// warnings under [`ZeroStockPolicy::Warn`], an error under [`ZeroStockPolicy::Refuse`].
    pub fn check_sale(&self, lines: &[(String, i64)]) -> Result<Vec<Shortage>, LedgerError> {
        if lines.len() > MAX_LINES {
            return Err(LedgerError::Invalid(format!("more than {MAX_LINES} lines")));
        }
        let mut wanted: std::collections::BTreeMap<&str, i64> = Default::default();
        for (sku, q) in lines {
            let e = wanted.entry(sku.as_str()).or_default();
            *e = e.saturating_add(*q);
        }
        let mut short = Vec::new();
        for (sku, q) in wanted {
            if q <= 0 {
                continue;
            }
            if let Some(l) = self.level(sku)? {
                if l.available_milli() < q {
                    short.push(Shortage {
                        sku: sku.to_string(),
                        available_milli: l.available_milli(),
                        requested_milli: q,
                    });
                }
            }
        }
        if !short.is_empty() && self.policy == ZeroStockPolicy::Refuse {
            return Err(LedgerError::Insufficient(short));
        }
        Ok(short)
    }

    fn has_key(&self, key: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM movements WHERE key = ?1", [key], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Recomputes every level from the movements and returns the products whose stored level
    /// differed (and is now fixed). Empty when the projection holds.
    pub fn replay(&mut self) -> Result<Vec<String>, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut fixed = Vec::new();
        {
            let mut st = tx.prepare(
                "SELECT i.sku, i.on_hand_milli, i.reserved_milli,
                        COALESCE(SUM(m.on_hand_milli), 0), COALESCE(SUM(m.reserved_milli), 0)
                 FROM items i LEFT JOIN movements m ON m.sku = i.sku GROUP BY i.sku",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            for row in rows {
                let (sku, oh, rs, soh, srs) = row?;
                if oh != soh || rs != srs {
                    fixed.push((sku, soh, srs));
                }
            }
        }
        for (sku, oh, rs) in &fixed {
            tx.execute(
                "UPDATE items SET on_hand_milli = ?2, reserved_milli = ?3 WHERE sku = ?1",
                params![sku, oh, rs],
            )?;
        }
        tx.commit()?;
        Ok(fixed.into_iter().map(|f| f.0).collect())
    }

    /// The number of movements with this key prefix (for audits and tests).
    pub fn movements_with_prefix(&self, prefix: &str) -> Result<i64, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM movements WHERE substr(key, 1, length(?1)) = ?1",
            [prefix],
            |r| r.get(0),
        )?)
    }

    /// The largest movement id.
    pub fn last_movement(&self) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM movements", [], |r| {
                r.get(0)
            })?)
    }

    /// Whether a shop itself caused movements of `sku` after movement `mark` (its level moved
    /// under a write, so before/after comparisons cannot decide).
    pub fn shop_moved_since(&self, shop: &str, sku: &str, mark: i64) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM movements WHERE sku = ?1 AND id > ?2 AND origin = ?3 LIMIT 1",
                params![sku, mark, shop],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    // ---- meta ----

    /// A stored value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Stores a value.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

fn check_sku(sku: &str) -> Result<(), LedgerError> {
    if sku.is_empty() || sku.len() > 100 {
        return Err(LedgerError::Invalid(format!("bad SKU {sku:?}")));
    }
    Ok(())
}

fn row_level(r: &rusqlite::Row<'_>) -> rusqlite::Result<Level> {
    Ok(Level {
        sku: r.get(0)?,
        on_hand_milli: r.get(1)?,
        reserved_milli: r.get(2)?,
        low_milli: r.get(3)?,
    })
}

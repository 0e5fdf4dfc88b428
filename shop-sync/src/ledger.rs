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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  sku TEXT PRIMARY KEY, on_hand_milli INTEGER NOT NULL DEFAULT 0,
  reserved_milli INTEGER NOT NULL DEFAULT 0, low_milli INTEGER);
CREATE TABLE IF NOT EXISTS movements(
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, sku TEXT NOT NULL,
  kind TEXT NOT NULL, on_hand_milli INTEGER NOT NULL, reserved_milli INTEGER NOT NULL,
  origin TEXT NOT NULL, reason TEXT, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS movements_sku ON movements(sku, id);
CREATE TRIGGER IF NOT EXISTS movements_no_update BEFORE UPDATE ON movements
  BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;
CREATE TRIGGER IF NOT EXISTS movements_no_delete BEFORE DELETE ON movements
  BEGIN SELECT RAISE(ABORT, 'movements are append-only'); END;
CREATE TABLE IF NOT EXISTS synced(shop TEXT NOT NULL, sku TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'new', remote TEXT, message TEXT, PRIMARY KEY(shop, sku));
CREATE TABLE IF NOT EXISTS outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT, shop TEXT NOT NULL, sku TEXT NOT NULL,
  delta INTEGER NOT NULL, cause TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
  queued_ms INTEGER NOT NULL, UNIQUE(shop, cause));
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(shop, state, sku, id);
CREATE TABLE IF NOT EXISTS inflight(shop TEXT NOT NULL, sku TEXT NOT NULL,
  delta INTEGER NOT NULL, before INTEGER NOT NULL, mark INTEGER NOT NULL, upto INTEGER NOT NULL,
  sent_ms INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(shop, sku));
CREATE TABLE IF NOT EXISTS orders(shop TEXT NOT NULL, order_id TEXT NOT NULL,
  modified TEXT NOT NULL, status TEXT NOT NULL, held INTEGER NOT NULL, holds INTEGER NOT NULL,
  pickup INTEGER NOT NULL, picked_up INTEGER NOT NULL DEFAULT 0, lines TEXT NOT NULL,
  items TEXT NOT NULL DEFAULT '[]', total_cents INTEGER,
  PRIMARY KEY(shop, order_id));
CREATE TABLE IF NOT EXISTS drift(id INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER NOT NULL,
  shop TEXT NOT NULL, sku TEXT NOT NULL, online INTEGER NOT NULL, expected INTEGER NOT NULL,
  correction INTEGER NOT NULL, at_ms INTEGER NOT NULL,
  after_uncertain_write INTEGER NOT NULL DEFAULT 0);
";

/// Columns added to existing tables since their creation: (table, column, definition). A
/// `stock.db` from before gets them on open.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("orders", "items", "TEXT NOT NULL DEFAULT '[]'"),
    ("orders", "total_cents", "INTEGER"),
    ("inflight", "sent_ms", "INTEGER NOT NULL DEFAULT 0"),
    (
        "drift",
        "after_uncertain_write",
        "INTEGER NOT NULL DEFAULT 0",
    ),
];

/// Adds the columns of [`ADDED_COLUMNS`] that an older `stock.db` lacks.
fn migrate(conn: &Connection) -> Result<(), rusqlite::Error> {
    for (table, column, definition) in ADDED_COLUMNS {
        let has: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))?
            .exists([column])?;
        if !has {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    Ok(())
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

/// The movements of one till record: line `i` is `till:{seq}:{i}`.
fn till_moves(
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

fn is_tracked(tx: &Connection, sku: &str) -> Result<bool, rusqlite::Error> {
    Ok(tx
        .query_row("SELECT 1 FROM items WHERE sku = ?1", [sku], |_| Ok(()))
        .optional()?
        .is_some())
}

/// [`insert_move`] for a movement asked by a person (reception, count, adjustment): refused
/// when it moves more than [`MAX_LEVEL_MILLI`] or would leave the level beyond it. The caller's
/// transaction is then dropped: nothing of the request is written.
fn bounded_move(tx: &Connection, m: &Move<'_>) -> Result<usize, LedgerError> {
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
fn insert_move(tx: &Connection, m: &Move<'_>) -> Result<usize, rusqlite::Error> {
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

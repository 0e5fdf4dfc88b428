//! The ledger's schema and its migrations.

use super::*;

pub(super) const SCHEMA: &str = "
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
pub(super) const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
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
pub(super) fn migrate(conn: &Connection) -> Result<(), rusqlite::Error> {
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

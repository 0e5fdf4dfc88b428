//! `ops.db`: the operational state (catalog, print queue), a projection of the journal. Stock
//! levels live in the ledger (`stock.db`, [`crate::stock`]).
//!
//! Print jobs are keyed by the journal sequence number of what they print, so a record gets at
//! most one job. The projector ([`crate::project`]) records the jobs and stock movements of
//! journal records together with a cursor (the last seq projected) in one transaction; at the
//! next start, and whenever it runs, it walks the journal past the cursor: nothing journaled is
//! left without its job (printed, or `skipped` when journaled too long before:
//! [`crate::project::PRINT_WINDOW_MS`]), nothing is queued or counted twice.
//!
//! Two connections: projections commit with `synchronous=NORMAL` (a crash of the process loses
//! nothing; a power cut may lose the newest projections and their cursor together, which the
//! next start replays from the journal); the `sending` mark of the printer worker commits with
//! `synchronous=FULL`, so a job marked `sending` is on disk before its bytes leave.

use crate::catalog::{Product, Unit};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;

/// The `meta` key holding the last journal seq whose side effects are recorded.
const CURSOR: &str = "recovered_upto";

/// The largest number of print jobs listed at once.
pub const MAX_JOBS_LISTED: usize = 200;

/// A print job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be sent.
    Pending,
    /// Being sent (a job found in this state after a crash has an unknown fate).
    Sending,
    /// Printed.
    Printed,
    /// Sent, fate unknown: never resent; a reprint (a journaled duplicate) resolves it.
    Unknown,
    /// An unknown job resolved by a reprint.
    Reprinted,
    /// Could not be laid out; see the error.
    Failed,
    /// No printer configured.
    Skipped,
    /// A receipt waiting for the customer to ask for it (`[printer] receipts = "on_request"`).
    Held,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Sending => "sending",
            JobState::Printed => "printed",
            JobState::Unknown => "unknown",
            JobState::Reprinted => "reprinted",
            JobState::Failed => "failed",
            JobState::Skipped => "skipped",
            JobState::Held => "held",
        }
    }

    fn parse(s: &str) -> JobState {
        match s {
            "pending" => JobState::Pending,
            "sending" => JobState::Sending,
            "printed" => JobState::Printed,
            "unknown" => JobState::Unknown,
            "reprinted" => JobState::Reprinted,
            "skipped" => JobState::Skipped,
            "held" => JobState::Held,
            _ => JobState::Failed,
        }
    }
}

/// What a job prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A journal record (ticket, duplicate, closure), rendered from the journal at print time.
    Record,
    /// An X report, rendered when asked (not journaled).
    XReport,
    /// The cash drawer opened for a ticket whose receipt is held.
    Drawer,
}

/// A print job.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    /// Queue id.
    pub id: i64,
    /// The journal record printed (none for X reports).
    pub seq: Option<u64>,
    /// What it prints.
    pub kind: JobKind,
    /// State.
    pub state: JobState,
    /// Kick the cash drawer with it.
    pub drawer: bool,
    /// The last error.
    pub error: Option<String>,
    /// Pre-rendered bytes (X reports).
    #[serde(skip)]
    pub payload: Option<Vec<u8>>,
}

/// A new job for a journal record, with the stock movements that go with it.
#[derive(Debug, Clone)]
pub struct NewRecordJob {
    /// The record's sequence number.
    pub seq: u64,
    /// Kick the drawer.
    pub drawer: bool,
    /// Stock movements: (sku, delta in thousandths).
    pub stock: Vec<(String, i64)>,
    /// Paid online: a click & collect pickup.
    pub paid_online: bool,
    /// Why it is recorded without being printed (journaled too long before it was projected:
    /// see [`crate::project::PRINT_WINDOW_MS`]).
    pub not_printed: Option<String>,
    /// Its receipt waits for the customer to ask (`held`); the drawer, if kicked, opens now
    /// through a job of its own.
    pub held: bool,
}

/// The operational database.
pub struct Ops {
    hot: Mutex<Connection>,
    worker: Mutex<Connection>,
    printing: bool,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS products(
  sku TEXT PRIMARY KEY, label TEXT NOT NULL, price_cents INTEGER NOT NULL,
  vat_rate INTEGER NOT NULL, unit TEXT NOT NULL, track_stock INTEGER NOT NULL,
  stock_milli INTEGER NOT NULL DEFAULT 0, barcodes TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS print_jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER UNIQUE, kind TEXT NOT NULL,
  state TEXT NOT NULL, drawer INTEGER NOT NULL, payload BLOB, error TEXT,
  updated_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS print_jobs_state ON print_jobs(state, id);
CREATE TABLE IF NOT EXISTS idempotency(
  key TEXT PRIMARY KEY, request_sha256 BLOB NOT NULL, after_seq INTEGER NOT NULL,
  seq INTEGER UNIQUE, created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency(created_ms);
CREATE TABLE IF NOT EXISTS operators(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, pin_hash TEXT NOT NULL,
  active INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
";

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// A request with an idempotency key, as `ops.db` remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    /// The SHA-256 of the request's body.
    pub request_sha256: Vec<u8>,
    /// The journal's last seq before the request: its record, if any, comes after.
    pub after_seq: u64,
    /// The record the request wrote, once known.
    pub seq: Option<u64>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn open_conn(path: &Path, sync: &str) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", sync)?;
    Ok(conn)
}

fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn row_to_job(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let seq: Option<i64> = row.get(1)?;
    let kind: String = row.get(2)?;
    let state: String = row.get(3)?;
    Ok(Job {
        id: row.get(0)?,
        seq: seq.map(|s| s as u64),
        kind: match kind.as_str() {
            "x_report" => JobKind::XReport,
            "drawer" => JobKind::Drawer,
            _ => JobKind::Record,
        },
        state: JobState::parse(&state),
        drawer: row.get::<_, i64>(4)? != 0,
        payload: row.get(5)?,
        error: row.get(6)?,
    })
}

/// Adds the products' `category` column to an `ops.db` made before it existed (a product
/// without one is filed under "Divers" by the till).
fn add_category_column(conn: &Connection) -> Result<(), rusqlite::Error> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('products') WHERE name = 'category'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE products ADD COLUMN category TEXT")?;
    }
    Ok(())
}

const JOB_COLUMNS: &str = "id, seq, kind, state, drawer, payload, error";

impl Ops {
    /// Opens (creating) `ops.db`. `printing` says whether a printer is configured: without one,
    /// jobs are recorded as `skipped`.
    pub fn open(path: &Path, printing: bool) -> Result<Ops, rusqlite::Error> {
        let hot = open_conn(path, "NORMAL")?;
        hot.execute_batch(SCHEMA)?;
        add_category_column(&hot)?;
        let worker = open_conn(path, "FULL")?;
        Ok(Ops {
            hot: Mutex::new(hot),
            worker: Mutex::new(worker),
            printing,
        })
    }

    fn initial_state(&self) -> &'static str {
        if self.printing {
            "pending"
        } else {
            "skipped"
        }
    }

    /// The last journal seq whose side effects (print job, stock movements) are recorded.
    pub fn cursor(&self) -> Result<u64, rusqlite::Error> {
        Ok(self.meta(CURSOR)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Records the print jobs of journal records and moves the cursor to `upto`, in one
    /// transaction: after a crash or a power cut either all of it is there or none of it, and
    /// replaying the journal past the cursor rebuilds exactly what is missing. A job already
    /// recorded for a seq is kept. Stock movements go to the ledger (`stock.db`) before this,
    /// keyed by seq. Returns the job id of each seq inserted.
    pub fn apply_projection(
        &self,
        jobs: &[NewRecordJob],
        upto: u64,
    ) -> Result<Vec<(u64, i64)>, rusqlite::Error> {
        let mut conn = lock(&self.hot);
        let tx = conn.transaction()?;
        let mut ids = Vec::with_capacity(jobs.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO print_jobs(seq, kind, state, drawer, error, updated_ms)
                 VALUES (?1, 'record', ?2, ?3, ?4, ?5)",
            )?;
            let now = now_ms();
            let mut drawer = tx.prepare_cached(
                "INSERT INTO print_jobs(seq, kind, state, drawer, updated_ms)
                 VALUES (NULL, 'drawer', 'pending', 1, ?1)",
            )?;
            for job in jobs {
                let held = job.held && self.printing && job.not_printed.is_none();
                let state = match (&job.not_printed, held) {
                    (Some(_), _) => "skipped",
                    (None, true) => "held",
                    (None, false) => self.initial_state(),
                };
                // A held receipt does not kick the drawer when it prints later: its own job
                // opens the drawer now.
                let kick_with_receipt = job.drawer && !held;
                let inserted = insert.execute(params![
                    job.seq as i64,
                    state,
                    kick_with_receipt as i64,
                    job.not_printed,
                    now
                ])?;
                if inserted == 1 {
                    ids.push((job.seq, tx.last_insert_rowid()));
                    if held && job.drawer {
                        drawer.execute(params![now])?;
                    }
                }
            }
        }
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![CURSOR, upto.to_string()],
        )?;
        tx.commit()?;
        Ok(ids)
    }

    /// The request remembered under an idempotency key.
    pub fn keyed_request(&self, key: &str) -> Result<Option<KeyedRequest>, rusqlite::Error> {
        let conn = lock(&self.hot);
        conn.query_row(
            "SELECT request_sha256, after_seq, seq FROM idempotency WHERE key = ?1",
            params![key],
            |r| {
                Ok(KeyedRequest {
                    request_sha256: r.get(0)?,
                    after_seq: r.get::<_, i64>(1)? as u64,
                    seq: r.get::<_, Option<i64>>(2)?.map(|s| s as u64),
                })
            },
        )
        .optional()
    }

    /// Remembers a keyed request before its record is appended, durably (`synchronous=FULL`):
    /// whatever happens to the process after the append, the key is found again. Forgets keys
    /// older than [`IDEMPOTENCY_KEPT_MS`]. Fails if the key is already remembered.
    pub fn begin_keyed(
        &self,
        key: &str,
        request_sha256: &[u8],
        after_seq: u64,
    ) -> Result<(), rusqlite::Error> {
        let conn = lock(&self.worker);
        let now = now_ms();
        conn.execute(
            "DELETE FROM idempotency WHERE created_ms < ?1",
            params![now - IDEMPOTENCY_KEPT_MS],
        )?;
        conn.execute(
            "INSERT INTO idempotency(key, request_sha256, after_seq, seq, created_ms)
             VALUES (?1, ?2, ?3, NULL, ?4)",
            params![key, request_sha256, after_seq as i64, now],
        )?;
        Ok(())
    }

    /// Records the record a keyed request wrote. `false` if another key already names it.
    pub fn finish_keyed(&self, key: &str, seq: u64) -> Result<bool, rusqlite::Error> {
        let conn = lock(&self.hot);
        match conn.execute(
            "UPDATE idempotency SET seq = ?2 WHERE key = ?1",
            params![key, seq as i64],
        ) {
            Ok(n) => Ok(n == 1),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Forgets a keyed request that wrote nothing (refused): the key may be used again.
    pub fn forget_keyed(&self, key: &str) -> Result<(), rusqlite::Error> {
        let conn = lock(&self.hot);
        conn.execute("DELETE FROM idempotency WHERE key = ?1", params![key])?;
        Ok(())
    }

    /// Queues pre-rendered bytes (an X report).
    pub fn add_x_report(&self, bytes: &[u8]) -> Result<i64, rusqlite::Error> {
        let conn = lock(&self.hot);
        conn.execute(
            "INSERT INTO print_jobs(seq, kind, state, drawer, payload, updated_ms)
             VALUES (NULL, 'x_report', ?1, 0, ?2, ?3)",
            params![self.initial_state(), bytes, now_ms()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The oldest job waiting to be sent: the queue is strictly ordered, so a held job holds
    /// everything behind it.
    pub fn next_pending(&self) -> Result<Option<Job>, rusqlite::Error> {
        let conn = lock(&self.worker);
        conn.query_row(
            &format!(
                "SELECT {JOB_COLUMNS} FROM print_jobs WHERE state = 'pending' ORDER BY id LIMIT 1"
            ),
            [],
            row_to_job,
        )
        .optional()
    }

    /// Sets a job's state without waiting for the disk (`synchronous=NORMAL`): for the
    /// outcomes after sending (`printed`, `unknown`) and `pending` again, where losing the
    /// change in a power cut leaves the job `sending`, which the next start turns `unknown`
    /// (never resent).
    pub fn set_state_relaxed(
        &self,
        id: i64,
        state: JobState,
        error: Option<&str>,
    ) -> Result<(), rusqlite::Error> {
        let conn = lock(&self.hot);
        conn.execute(
            "UPDATE print_jobs SET state = ?2, error = ?3, updated_ms = ?4 WHERE id = ?1",
            params![id, state.as_str(), error, now_ms()],
        )?;
        Ok(())
    }

    /// Sets a job's state (durably: `synchronous=FULL`).
    pub fn set_state(
        &self,
        id: i64,
        state: JobState,
        error: Option<&str>,
    ) -> Result<(), rusqlite::Error> {
        let conn = lock(&self.worker);
        conn.execute(
            "UPDATE print_jobs SET state = ?2, error = ?3, updated_ms = ?4 WHERE id = ?1",
            params![id, state.as_str(), error, now_ms()],
        )?;
        Ok(())
    }

    /// After a restart: jobs caught in `sending` have an unknown fate. Returns how many.
    pub fn sending_to_unknown(&self) -> Result<usize, rusqlite::Error> {
        let conn = lock(&self.worker);
        conn.execute(
            "UPDATE print_jobs SET state = 'unknown',
               error = 'posd stopped while sending: the receipt may or may not have printed',
               updated_ms = ?1 WHERE state = 'sending'",
            params![now_ms()],
        )
    }

    /// Held receipts of records before `seq` (a day closure) will not be asked for any more:
    /// they become `skipped` (a copy is a duplicate's business). Returns how many.
    pub fn skip_held_before(&self, seq: u64) -> Result<usize, rusqlite::Error> {
        let conn = lock(&self.hot);
        conn.execute(
            "UPDATE print_jobs SET state = 'skipped', error = ?2, updated_ms = ?3
             WHERE state = 'held' AND seq < ?1",
            params![
                seq as i64,
                "not asked for before the day was closed: reprint it as a duplicate if needed",
                now_ms()
            ],
        )
    }

    /// Lets the held receipt of the record at `seq` print (its job goes `pending`); `false` when
    /// it has no receipt waiting (printed, being printed, or never held).
    pub fn release_held(&self, seq: u64) -> Result<bool, rusqlite::Error> {
        let conn = lock(&self.hot);
        let changed = conn.execute(
            "UPDATE print_jobs SET state = 'pending', updated_ms = ?2 WHERE seq = ?1 AND state = 'held'",
            params![seq as i64, now_ms()],
        )?;
        Ok(changed == 1)
    }

    /// The job printing the record at `seq`.
    pub fn job_of_seq(&self, seq: u64) -> Result<Option<Job>, rusqlite::Error> {
        let conn = lock(&self.hot);
        conn.query_row(
            &format!("SELECT {JOB_COLUMNS} FROM print_jobs WHERE seq = ?1"),
            params![seq as i64],
            row_to_job,
        )
        .optional()
    }

    /// Jobs that are not done (pending, sending, unknown, failed), oldest first, then the
    /// newest done ones, at most [`MAX_JOBS_LISTED`].
    pub fn list_jobs(&self) -> Result<Vec<Job>, rusqlite::Error> {
        let conn = lock(&self.hot);
        let mut stmt = conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM print_jobs
             WHERE state IN ('pending','sending','unknown','failed') ORDER BY id LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![MAX_JOBS_LISTED as i64], row_to_job)?;
        rows.collect()
    }

    /// Counts per state.
    pub fn counts(&self) -> Result<Vec<(String, i64)>, rusqlite::Error> {
        let conn = lock(&self.hot);
        let mut stmt = conn.prepare("SELECT state, COUNT(*) FROM print_jobs GROUP BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, rusqlite::Error> {
        let conn = lock(&self.hot);
        conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
            r.get(0)
        })
        .optional()
    }

    /// Sets a metadata value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), rusqlite::Error> {
        let conn = lock(&self.hot);
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// The operators the back office added or changed (`active` false: removed), over the
    /// configuration's.
    pub fn operator_changes(
        &self,
    ) -> Result<Vec<(crate::config::OperatorConfig, bool)>, rusqlite::Error> {
        let conn = lock(&self.hot);
        let mut stmt =
            conn.prepare("SELECT id, name, role, pin_hash, active FROM operators ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let role: String = r.get(2)?;
            Ok((
                crate::config::OperatorConfig {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    role: if role == "manager" {
                        crate::config::Role::Manager
                    } else {
                        crate::config::Role::Cashier
                    },
                    pin_hash: r.get(3)?,
                },
                r.get::<_, i64>(4)? != 0,
            ))
        })?;
        rows.collect()
    }

    /// Records an operator as the back office set it (`active` false: removed).
    pub fn put_operator(
        &self,
        op: &crate::config::OperatorConfig,
        active: bool,
    ) -> Result<(), rusqlite::Error> {
        let conn = lock(&self.hot);
        let role = match op.role {
            crate::config::Role::Manager => "manager",
            crate::config::Role::Cashier => "cashier",
        };
        conn.execute(
            "INSERT INTO operators(id, name, role, pin_hash, active, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role,
               pin_hash = excluded.pin_hash, active = excluded.active,
               updated_ms = excluded.updated_ms",
            params![op.id, op.name, role, op.pin_hash, active as i64, now_ms()],
        )?;
        Ok(())
    }

    /// Every product, by SKU.
    pub fn products(&self) -> Result<Vec<Product>, rusqlite::Error> {
        let conn = lock(&self.hot);
        let mut stmt = conn.prepare(
            "SELECT sku, label, price_cents, vat_rate, unit, track_stock, stock_milli, barcodes,
                    category
             FROM products ORDER BY sku",
        )?;
        let rows = stmt.query_map([], |r| {
            let unit: String = r.get(4)?;
            let barcodes: String = r.get(7)?;
            let track: i64 = r.get(5)?;
            Ok(Product {
                sku: r.get(0)?,
                label: r.get(1)?,
                price_cents: r.get(2)?,
                vat_rate: r.get(3)?,
                unit: if unit == "kg" { Unit::Kg } else { Unit::Piece },
                track_stock: track != 0,
                stock_milli: None,
                barcodes: serde_json::from_str(&barcodes).unwrap_or_default(),
                category: r.get(8)?,
            })
        })?;
        rows.collect()
    }

    /// The stock levels `ops.db` kept for tracked products before the ledger (`stock.db`)
    /// held them: imported once into the ledger, never updated since.
    pub fn legacy_stock(&self) -> Result<Vec<(String, i64)>, rusqlite::Error> {
        let conn = lock(&self.hot);
        let mut stmt = conn.prepare(
            "SELECT sku, stock_milli FROM products WHERE track_stock = 1 AND stock_milli != 0",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// Inserts or replaces a product. Its stock is not stored here: the ledger holds it.
    pub fn upsert_product(&self, p: &Product) -> Result<(), rusqlite::Error> {
        let conn = lock(&self.hot);
        let barcodes = serde_json::to_string(&p.barcodes).unwrap_or_else(|_| "[]".into());
        conn.execute(
            "INSERT INTO products(sku, label, price_cents, vat_rate, unit, track_stock,
                                  stock_milli, barcodes, category)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8)
             ON CONFLICT(sku) DO UPDATE SET label = excluded.label,
               price_cents = excluded.price_cents, vat_rate = excluded.vat_rate,
               unit = excluded.unit, track_stock = excluded.track_stock,
               barcodes = excluded.barcodes, category = excluded.category",
            params![
                p.sku,
                p.label,
                p.price_cents,
                p.vat_rate,
                p.unit.as_str(),
                p.track_stock as i64,
                barcodes,
                p.category
            ],
        )?;
        Ok(())
    }
}

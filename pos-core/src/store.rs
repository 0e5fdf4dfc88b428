//! The SQLite file: schema, pragmas, append-only triggers, and row <-> [`Record`] mapping.

use crate::keys::KeyId;
use crate::record::{Hash, Kind, Record};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::ops::ControlFlow;
use std::path::Path;

/// `PRAGMA application_id` of a journal file: the ASCII bytes `POSJ`.
pub const APPLICATION_ID: i32 = 0x504F_534A;
/// `PRAGMA user_version`: the schema version of this code.
pub const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = "
CREATE TABLE records (
    seq            INTEGER PRIMARY KEY,
    format_version INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    kind_seq       INTEGER NOT NULL,
    timestamp_ms   INTEGER NOT NULL,
    prev_hash      BLOB    NOT NULL,
    prev_kind_hash BLOB    NOT NULL,
    key_id         BLOB    NOT NULL,
    body           BLOB    NOT NULL,
    hash           BLOB    NOT NULL,
    signature      BLOB    NOT NULL,
    -- Lookup aid for refunds (the original's seq); not covered by the hash, never trusted by
    -- the verifier.
    ref_seq        INTEGER
) STRICT;
CREATE INDEX records_by_ref ON records (ref_seq) WHERE ref_seq IS NOT NULL;
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'journal records are append-only: UPDATE is refused'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'journal records are append-only: DELETE is refused'); END;
-- INSERT OR REPLACE deletes the conflicting row without firing DELETE triggers (unless the
-- connection enables recursive_triggers): refuse any insert over an existing seq.
CREATE TRIGGER records_no_replace BEFORE INSERT ON records
WHEN EXISTS (SELECT 1 FROM records WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'journal records are append-only: replacing a record is refused'); END;
";

/// The lookup index of every kind but sales, which are the bulk of a journal. A query that
/// looks records up by kind names `kind <> 'sale'` among its terms, or SQLite cannot use this
/// partial index (it proves a partial index usable only from terms the query repeats).
///
/// Why sales are left out: an index entry per sale put a second page into every sale's commit.
/// A single durable append is bound by its flush, and the flush by the bytes it writes: one
/// page instead of two is about 5 % more appends (BENCHMARKS.md).
pub const KIND_INDEX: &str =
    "CREATE INDEX records_by_kind ON records (kind, kind_seq) WHERE kind <> 'sale'";

/// Sales indexed one ticket number in [`SALE_MARK_INTERVAL`]: enough to find any sale by its
/// number in a bounded scan (from the mark before it), with one sale commit in 256 writing an
/// index page.
pub const SALE_MARK_INDEX: &str = "CREATE INDEX sales_marked ON records (kind_seq) \
     WHERE kind = 'sale' AND kind_seq % 256 = 0";

/// Every how many ticket numbers a sale is in [`SALE_MARK_INDEX`] (the `256` of its SQL).
pub const SALE_MARK_INTERVAL: u64 = 256;

/// The seq of the marked sale at or before ticket number `?1` (0 if none). It repeats the
/// terms of [`SALE_MARK_INDEX`], so that SQLite can use that partial index.
pub const MARKED_SALE_AT_OR_BEFORE: &str = "SELECT COALESCE((SELECT seq FROM records \
     WHERE kind = 'sale' AND kind_seq % 256 = 0 AND kind_seq <= ?1 \
     ORDER BY kind_seq DESC LIMIT 1), 0)";

/// The columns of a record, in [`row_to_record`] order.
pub const RECORD_COLUMNS: &str = "seq, format_version, kind, kind_seq, timestamp_ms, prev_hash, \
     prev_kind_hash, key_id, body, hash, signature";

/// Sets the connection pragmas every journal connection uses.
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

/// The page size of new journal files, in bytes.
pub const PAGE_SIZE: i64 = 8192;

/// Creates the schema in a new, empty file.
pub fn create(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    tune(&conn)?;
    // Pages of 8 KiB hold about six records of the usual 1.3 kB. A commit writes whole pages
    // to the WAL, and a single durable append is bound by the flush of what it wrote: 8 KiB
    // pages give about 5 % more single appends than 16 KiB ones, for a chain-only verification
    // about 2 % slower (twice the reads, of half the size). SQLite's 4 KiB pages hold three
    // records, so a third of the commits also split a leaf, and a verification makes four
    // times the reads (10-15 % slower than 16 KiB). Set before anything is written; files
    // created with another page size keep theirs.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(KIND_INDEX)?;
    conn.execute_batch(SALE_MARK_INDEX)?;
    Ok(conn)
}

/// Replaces the lookup indexes of a file made by an earlier version (which indexed every record
/// by kind) by this version's, in one transaction; does nothing to a file that has them. The
/// indexes are lookup aids outside the hashed records, so the records are untouched; a file
/// that keeps the old index is still read correctly, its sale commits only write one more page.
/// Call it under the writer lock: rebuilding reads the whole table (0.6 s for the benchmark's
/// 1,000,000 records from the page cache).
pub fn update_indexes(conn: &mut Connection) -> rusqlite::Result<()> {
    let sql_of = |conn: &Connection, name: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()
    };
    if sql_of(conn, "records_by_kind")?.as_deref() == Some(KIND_INDEX)
        && sql_of(conn, "sales_marked")?.as_deref() == Some(SALE_MARK_INDEX)
    {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("DROP INDEX IF EXISTS records_by_kind; DROP INDEX IF EXISTS sales_marked;")?;
    tx.execute_batch(KIND_INDEX)?;
    tx.execute_batch(SALE_MARK_INDEX)?;
    tx.commit()
}

/// Opens an existing journal file for writing; returns what is wrong otherwise. The file's
/// identity is checked before anything is changed in it (switching to WAL rewrites the
/// header), so a file that is not a journal is left as it was.
pub fn open_write(path: &Path) -> Result<Connection, String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    tune(&conn).map_err(|e| e.to_string())?;
    check_identity(&conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| e.to_string())?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Opens an existing journal file for reading only.
pub fn open_read(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    tune(&conn)?;
    Ok(conn)
}

/// Checks the file's application id and schema version; returns what is wrong.
pub fn check_identity(conn: &Connection) -> Result<(), String> {
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| format!("cannot read the file header: {e}"))?;
    if app != APPLICATION_ID {
        return Err(format!(
            "not a journal file (application id {app:#x}, expected {APPLICATION_ID:#x})"
        ));
    }
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| format!("cannot read the schema version: {e}"))?;
    if version != SCHEMA_VERSION {
        return Err(format!(
            "schema version {version} is not supported (this build reads {SCHEMA_VERSION})"
        ));
    }
    Ok(())
}

/// A row whose columns do not have the shape of a record (a damaged or forged file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRow {
    /// The row's `seq` column.
    pub seq: i64,
    /// What is wrong.
    pub problem: String,
}

fn blob<const N: usize>(row: &Row<'_>, idx: usize, name: &str) -> Result<[u8; N], String> {
    // Borrowed from SQLite's row buffer: a verification reads five of these per record, and
    // copying them through a `Vec` cost an allocation each.
    let v = row
        .get_ref(idx)
        .and_then(|v| v.as_blob().map_err(Into::into))
        .map_err(|e| format!("{name} is not a blob: {e}"))?;
    v.try_into()
        .map_err(|_| format!("{name} has {} bytes, expected {N}", v.len()))
}

/// Maps a row selected with [`RECORD_COLUMNS`] to a record.
pub fn row_to_record(row: &Row<'_>) -> Result<Record, MalformedRow> {
    row_to_record_with(row, false).map(|(r, _)| r)
}

/// [`row_to_record`], or with `hash_only`: the record's hash computed from the body in SQLite's
/// row buffer, and the body itself kept only for the kinds that introduce keys (opening, key
/// change). A chain-only verification needs nothing else of a body, and copying each one out
/// cost more than hashing it.
pub fn row_to_record_with(
    row: &Row<'_>,
    hash_only: bool,
) -> Result<(Record, Option<Hash>), MalformedRow> {
    let seq: i64 = row.get(0).unwrap_or(-1);
    let bad = |problem: String| MalformedRow { seq, problem };
    let int = |idx: usize, name: &str| -> Result<i64, MalformedRow> {
        row.get::<_, i64>(idx)
            .map_err(|e| bad(format!("{name} is not an integer: {e}")))
    };
    let format_version = u16::try_from(int(1, "format_version")?)
        .map_err(|_| bad("format_version out of range".into()))?;
    let kind: String = row
        .get(2)
        .map_err(|e| bad(format!("kind is not text: {e}")))?;
    let kind_seq =
        u64::try_from(int(3, "kind_seq")?).map_err(|_| bad("kind_seq is negative".into()))?;
    let timestamp_ms = int(4, "timestamp_ms")?;
    let prev_hash = blob::<32>(row, 5, "prev_hash").map_err(bad)?;
    let prev_kind_hash = blob::<32>(row, 6, "prev_kind_hash").map_err(bad)?;
    let key_id = KeyId(blob::<16>(row, 7, "key_id").map_err(bad)?);
    let body: &[u8] = row
        .get_ref(8)
        .and_then(|v| v.as_blob().map_err(Into::into))
        .map_err(|e| bad(format!("body is not a blob: {e}")))?;
    let hash = blob::<32>(row, 9, "hash").map_err(bad)?;
    let signature = blob::<64>(row, 10, "signature").map_err(bad)?;
    let seq = u64::try_from(seq).map_err(|_| bad("seq is not positive".into()))?;
    let mut record = Record {
        format_version,
        seq,
        kind,
        kind_seq,
        timestamp_ms,
        prev_hash,
        prev_kind_hash,
        key_id,
        body: Vec::new(),
        hash,
        signature,
    };
    if !hash_only {
        record.body = body.to_vec();
        return Ok((record, None));
    }
    let computed = crate::record::record_hash(&record.header(), body);
    if matches!(record.known_kind(), Some(Kind::Opening | Kind::KeyChange)) {
        record.body = body.to_vec();
    }
    Ok((record, computed))
}

/// Inserts one record (inside the caller's transaction).
pub fn insert(conn: &Connection, r: &Record, ref_seq: Option<u64>) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO records (seq, format_version, kind, kind_seq, timestamp_ms, prev_hash, \
         prev_kind_hash, key_id, body, hash, signature, ref_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    stmt.execute(rusqlite::params![
        r.seq as i64,
        r.format_version,
        r.kind,
        r.kind_seq as i64,
        r.timestamp_ms,
        &r.prev_hash[..],
        &r.prev_kind_hash[..],
        &r.key_id.0[..],
        r.body,
        &r.hash[..],
        &r.signature[..],
        ref_seq.map(|s| s as i64),
    ])?;
    Ok(())
}

/// Reads one record by sequence number.
pub fn record_by_seq(
    conn: &Connection,
    seq: u64,
) -> rusqlite::Result<Option<Result<Record, MalformedRow>>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE seq = ?1"
    ))?;
    let mut rows = stmt.query([seq as i64])?;
    match rows.next()? {
        Some(row) => Ok(Some(row_to_record(row))),
        None => Ok(None),
    }
}

/// Moves the WAL's content into the main file and closes the connection (so that a file
/// being created can be renamed complete).
pub fn checkpoint_and_close(conn: Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.close().map_err(|(_, e)| e)
}

/// The body of the journal's first opening record.
pub fn opening_body(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    conn.query_row(
        "SELECT body FROM records WHERE kind = 'opening' AND kind <> 'sale' ORDER BY seq LIMIT 1",
        [],
        |r| r.get(0),
    )
}

/// The bodies of every key change, in order.
pub fn key_change_bodies(conn: &Connection) -> rusqlite::Result<Vec<Vec<u8>>> {
    let mut stmt = conn.prepare(
        "SELECT body FROM records WHERE kind = 'key_change' AND kind <> 'sale' ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    rows.collect()
}

/// The bodies of the events that may change a setting (`configuration_changed`), in order.
pub fn configuration_event_bodies(conn: &Connection) -> rusqlite::Result<Vec<Vec<u8>>> {
    let mut stmt = conn.prepare(
        "SELECT body FROM records WHERE kind = 'event' AND kind <> 'sale' \
         AND CAST(body AS TEXT) LIKE '%\"configuration_changed\"%' ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    rows.collect()
}

/// The last record's seq, hash and timestamp.
pub fn last_record_head(conn: &Connection) -> rusqlite::Result<(i64, Vec<u8>, i64)> {
    conn.query_row(
        "SELECT seq, hash, timestamp_ms FROM records ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// The last record of each kind: kind, number within the kind, hash.
pub fn last_of_each_kind(conn: &Connection) -> rusqlite::Result<Vec<(String, i64, Vec<u8>)>> {
    // The last sale is found backwards from the end (sales are not in the kind index); the
    // other kinds' last records through the kind index.
    let mut stmt = conn.prepare(
        "SELECT kind, kind_seq, hash FROM records WHERE seq IN \
         (SELECT MAX(seq) FROM records WHERE kind <> 'sale' GROUP BY kind) \
         UNION ALL SELECT * FROM (SELECT kind, kind_seq, hash FROM records \
         WHERE kind = 'sale' ORDER BY seq DESC LIMIT 1)",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// The records that rebuild the closure state at the journal's end without rescanning it:
/// every closure, then every record after the last day closure (about one business day),
/// in order; with the seq of that last day closure (0 if none).
pub fn closure_context(
    conn: &Connection,
) -> rusqlite::Result<(u64, Vec<Result<Record, MalformedRow>>)> {
    let last_day_closure: i64 = conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM records WHERE kind = 'closure' AND kind <> 'sale' \
         AND CAST(body AS TEXT) LIKE '%\"period\":\"day\"%'",
        [],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE kind = 'closure' AND kind <> 'sale' \
         AND seq <= ?1 UNION ALL SELECT {RECORD_COLUMNS} FROM records WHERE seq > ?1 ORDER BY 1"
    ))?;
    let rows = stmt.query_map([last_day_closure], |row| Ok(row_to_record(row)))?;
    let records = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((last_day_closure.max(0) as u64, records))
}

/// The body of the newest event whose code is `code`, if any (the caller checks the code: the
/// lookup matches the body's text).
pub fn last_event_body(conn: &Connection, code: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    let pattern = format!("%\"code\":\"{code}\"%");
    conn.query_row(
        "SELECT body FROM records WHERE kind = 'event' AND kind <> 'sale' \
         AND CAST(body AS TEXT) LIKE ?1 \
         ORDER BY seq DESC LIMIT 1",
        [pattern],
        |r| r.get(0),
    )
    .optional()
}

/// The seq of the sale with ticket number `wanted`, if any. Sales are indexed one number in
/// [`SALE_MARK_INTERVAL`]: the lookup reads forward from the marked sale at or before
/// `wanted`, so at most that many sales. It relies on ticket numbers rising with `seq`, which
/// the verifier checks; in a journal where they do not, it may miss a sale.
pub fn sale_seq_by_number(conn: &Connection, wanted: i64) -> rusqlite::Result<Option<u64>> {
    let from: i64 = conn.query_row(MARKED_SALE_AT_OR_BEFORE, [wanted], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind_seq FROM records WHERE seq >= ?1 AND kind = 'sale' ORDER BY seq",
    )?;
    let mut rows = stmt.query([from])?;
    while let Some(row) = rows.next()? {
        let number: i64 = row.get(1)?;
        if number == wanted {
            let seq: i64 = row.get(0)?;
            return Ok(Some(seq.max(0) as u64));
        }
        if number > wanted {
            break;
        }
    }
    Ok(None)
}

/// The highest sequence number stored (0 for an empty file).
pub fn last_seq(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM records", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|s| s.max(0) as u64)
}

/// Refund records of the sale at `original_seq` written before `before_seq`, in order (through
/// the unhashed `ref_seq` lookup column: callers check what they get).
pub fn refunds_of(
    conn: &Connection,
    original_seq: u64,
    before_seq: u64,
) -> rusqlite::Result<Vec<Result<Record, MalformedRow>>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM records \
         WHERE ref_seq = ?1 AND kind = 'refund' AND seq < ?2 ORDER BY seq"
    ))?;
    let rows = stmt.query_map([original_seq as i64, before_seq as i64], |row| {
        Ok(row_to_record(row))
    })?;
    rows.collect()
}

/// The bodies of every refund of the sale at `original_seq`, in order.
pub fn refund_bodies_of(conn: &Connection, original_seq: u64) -> rusqlite::Result<Vec<Vec<u8>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT body FROM records WHERE ref_seq = ?1 AND kind = 'refund' ORDER BY seq",
    )?;
    let rows = stmt.query_map([original_seq as i64], |r| r.get::<_, Vec<u8>>(0))?;
    rows.collect()
}

/// How many duplicates of the record at `original_seq` are stored.
pub fn duplicate_count(conn: &Connection, original_seq: u64) -> rusqlite::Result<u64> {
    let stored: i64 = conn.query_row(
        "SELECT COUNT(*) FROM records WHERE ref_seq = ?1 AND kind = 'duplicate'",
        [original_seq as i64],
        |r| r.get(0),
    )?;
    Ok(stored.max(0) as u64)
}

/// Sequence numbers a verification starting at `start` needs from before it: the opening,
/// the key changes, and the last record of each kind.
pub fn context_seqs(conn: &Connection, start: u64) -> rusqlite::Result<Vec<u64>> {
    let mut stmt = conn.prepare(
        "SELECT seq FROM records WHERE seq < ?1 AND kind IN ('opening', 'key_change') \
         AND kind <> 'sale' \
         UNION SELECT MAX(seq) FROM records WHERE seq < ?1 AND kind <> 'sale' GROUP BY kind \
         UNION SELECT * FROM (SELECT seq FROM records WHERE seq < ?1 AND kind = 'sale' \
         ORDER BY seq DESC LIMIT 1)",
    )?;
    let rows = stmt.query_map([start as i64], |r| r.get::<_, i64>(0))?;
    rows.map(|r| r.map(|s| s.max(0) as u64)).collect()
}

/// Every record of `kind`, in order (for kinds with few records: key changes, closures).
pub fn records_of_kind(
    conn: &Connection,
    kind: Kind,
) -> rusqlite::Result<Vec<Result<Record, MalformedRow>>> {
    // Sales are not in the kind index; the other kinds' query repeats its term.
    let sql = if kind == Kind::Sale {
        format!("SELECT {RECORD_COLUMNS} FROM records WHERE kind = ?1 ORDER BY seq")
    } else {
        format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE kind = ?1 AND kind <> 'sale' \
             ORDER BY seq"
        )
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([kind.as_str()], |row| Ok(row_to_record(row)))?;
    rows.collect()
}

/// Records of each range `[from, to)` of seqs in turn, in sequence order, one at a time
/// (`Some`), then `None` at the end of each range; all within one read transaction (a
/// consistent snapshot). `to` of `None` reads to the end. Stops early when `f` breaks. With
/// `hash_only`, each record comes with its computed hash and without its body (see
/// [`row_to_record_with`]); otherwise with its body and no hash.
pub fn for_each_in_ranges<F>(
    conn: &Connection,
    ranges: impl IntoIterator<Item = (u64, Option<u64>)>,
    hash_only: bool,
    mut f: F,
) -> rusqlite::Result<()>
where
    F: FnMut(Option<(Result<Record, MalformedRow>, Option<Hash>)>) -> ControlFlow<()>,
{
    let bound = |seq: u64| seq.min(i64::MAX as u64) as i64;
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let mut stmt = conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 AND seq < ?2 ORDER BY seq"
        ))?;
        for (from, to) in ranges {
            let to = to.map_or(i64::MAX, bound);
            let mut rows = stmt.query([bound(from), to])?;
            while let Some(row) = rows.next()? {
                let item = match row_to_record_with(row, hash_only) {
                    Ok((record, hash)) => (Ok(record), hash),
                    Err(m) => (Err(m), None),
                };
                if f(Some(item)).is_break() {
                    return Ok(());
                }
            }
            if f(None).is_break() {
                return Ok(());
            }
        }
        Ok(())
    })();
    let _ = conn.execute_batch("COMMIT");
    result
}

/// Records with `seq >= from_seq` in sequence order, one at a time, within one statement (a
/// consistent snapshot). Stops early when `f` breaks.
pub fn for_each_from<F>(conn: &Connection, from_seq: u64, mut f: F) -> rusqlite::Result<()>
where
    F: FnMut(Result<Record, MalformedRow>) -> ControlFlow<()>,
{
    let mut stmt = conn.prepare(&format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 ORDER BY seq"
    ))?;
    let mut rows = stmt.query([from_seq.min(i64::MAX as u64) as i64])?;
    while let Some(row) = rows.next()? {
        if f(row_to_record(row)).is_break() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sale_mark_lookup_repeats_the_mark_index_terms() {
        let term = format!("WHERE kind = 'sale' AND kind_seq % {SALE_MARK_INTERVAL} = 0");
        assert!(SALE_MARK_INDEX.contains(&term), "{SALE_MARK_INDEX}");
        assert!(
            MARKED_SALE_AT_OR_BEFORE.contains(&term),
            "{MARKED_SALE_AT_OR_BEFORE}"
        );
        assert!(KIND_INDEX.ends_with("WHERE kind <> 'sale'"), "{KIND_INDEX}");
    }
}

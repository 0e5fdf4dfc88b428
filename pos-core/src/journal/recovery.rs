//! Reopening a journal: its identity, its head, its closure state and VAT rates, and the tail
//! check that refuses a damaged journal.

use super::{Head, JournalError};
use crate::body::{Body, EventBody, OpeningBody};
use crate::closure::ClosureState;
use crate::events;
use crate::keys::{KeyId, Signer};
use crate::money::VatRate;
use crate::reader::JournalReader;
use crate::record::{Hash, Kind};
use crate::store::{self, RECORD_COLUMNS};
use crate::verify::{self, CollectFindings, VerifyOptions};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::Path;

fn damaged(m: impl Into<String>) -> JournalError {
    JournalError::Damaged(vec![m.into()])
}

/// Reads the opening body and the id of the current signing key.
pub(crate) fn load_identity(conn: &Connection) -> Result<(OpeningBody, KeyId), JournalError> {
    let opening_bytes: Vec<u8> = conn
        .query_row(
            "SELECT body FROM records WHERE kind = 'opening' AND kind <> 'sale' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map_err(|e| damaged(format!("no readable opening record: {e}")))?;
    let opening = match Body::decode(Kind::Opening, &opening_bytes) {
        Ok(Body::Opening(o)) => o,
        _ => return Err(damaged("the opening record's body is unreadable")),
    };
    let (mut current, _) =
        crate::keys::decode_key(&opening.key).map_err(|e| damaged(format!("opening key: {e}")))?;
    let mut stmt = conn.prepare(
        "SELECT body FROM records WHERE kind = 'key_change' AND kind <> 'sale' ORDER BY seq",
    )?;
    let bodies = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    for b in bodies {
        match Body::decode(Kind::KeyChange, &b?) {
            Ok(Body::KeyChange(k)) => {
                current = crate::keys::decode_key(&k.new_key)
                    .map_err(|e| damaged(format!("key change: {e}")))?
                    .0
            }
            _ => return Err(damaged("a key change record is unreadable")),
        }
    }
    Ok((opening, current))
}

/// The VAT rates in force: the opening's, replaced by each `configuration_changed` event that
/// sets them.
pub(crate) fn load_rates(
    conn: &Connection,
    opening: &OpeningBody,
) -> Result<Vec<VatRate>, JournalError> {
    let mut rates = opening.vat_rates.clone();
    let mut stmt = conn.prepare(
        "SELECT body FROM records WHERE kind = 'event' AND kind <> 'sale' \
         AND CAST(body AS TEXT) LIKE '%\"configuration_changed\"%' ORDER BY seq",
    )?;
    let bodies = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    for b in bodies {
        if let Ok(Body::Event(e)) = Body::decode(Kind::Event, &b?) {
            if let Some(new) = vat_rates_set_by(&e) {
                rates = new;
            }
        }
    }
    Ok(rates)
}

/// The VAT rates a `configuration_changed` event sets, if it sets them.
pub fn vat_rates_set_by(e: &EventBody) -> Option<Vec<VatRate>> {
    if e.code != events::CONFIGURATION_CHANGED
        || e.details.get("setting").map(String::as_str) != Some("vat_rates")
    {
        return None;
    }
    parse_rates(e.details.get("new")?)
}

/// Formats rates as stored in events: `2000,1000,550`.
pub fn format_rates(rates: &[VatRate]) -> String {
    rates
        .iter()
        .map(|r| r.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_rates(text: &str) -> Option<Vec<VatRate>> {
    text.split(',')
        .map(|p| p.trim().parse::<u32>().ok().map(VatRate))
        .collect()
}

fn to_hash(v: Vec<u8>) -> Result<Hash, JournalError> {
    v.try_into()
        .map_err(|_| damaged("a stored hash is not 32 bytes"))
}

/// The chain head: last record, last record of each kind.
pub(crate) fn load_head(
    conn: &Connection,
    key: std::sync::Arc<dyn Signer>,
) -> Result<Head, JournalError> {
    let (seq, hash, timestamp_ms): (i64, Vec<u8>, i64) = conn.query_row(
        "SELECT seq, hash, timestamp_ms FROM records ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut kinds = HashMap::new();
    // The last sale is found backwards from the end (sales are not in the kind index); the
    // other kinds' last records through the kind index.
    let mut stmt = conn.prepare(
        "SELECT kind, kind_seq, hash FROM records WHERE seq IN \
         (SELECT MAX(seq) FROM records WHERE kind <> 'sale' GROUP BY kind) \
         UNION ALL SELECT * FROM (SELECT kind, kind_seq, hash FROM records \
         WHERE kind = 'sale' ORDER BY seq DESC LIMIT 1)",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    for row in rows {
        let (kind, kind_seq, h) = row?;
        let kind = Kind::parse(&kind)
            .ok_or_else(|| damaged(format!("record kind {kind:?} is unknown to this build")))?;
        kinds.insert(kind, (kind_seq as u64, to_hash(h)?));
    }
    Ok(Head {
        seq: seq as u64,
        hash: to_hash(hash)?,
        timestamp_ms,
        kinds,
        key,
    })
}

/// Rebuilds the closure state without rescanning the journal: every closure record, then the
/// records written since the last day closure (at most about one business day).
pub(crate) fn load_closures(
    conn: &Connection,
    opening: &OpeningBody,
) -> Result<ClosureState, JournalError> {
    let mut state = ClosureState::new(&opening.time_zone, opening.fiscal_year_start_month)?;
    let last_day_closure: i64 = conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM records WHERE kind = 'closure' AND kind <> 'sale' \
         AND CAST(body AS TEXT) LIKE '%\"period\":\"day\"%'",
        [],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE kind = 'closure' AND kind <> 'sale' AND seq <= ?1 \
         UNION ALL SELECT {RECORD_COLUMNS} FROM records WHERE seq > ?1 ORDER BY 1"
    ))?;
    let mut rows = stmt.query([last_day_closure])?;
    while let Some(row) = rows.next()? {
        let r = store::row_to_record(row)
            .map_err(|m| damaged(format!("seq {}: {}", m.seq, m.problem)))?;
        let Some(kind) = r.known_kind() else {
            return Err(damaged(format!("seq {}: unknown kind {:?}", r.seq, r.kind)));
        };
        let body =
            Body::decode(kind, &r.body).map_err(|e| damaged(format!("seq {}: {e}", r.seq)))?;
        match &body {
            Body::Closure(c) => state.apply_closure(r.seq, r.hash, c)?,
            _ if r.seq as i64 > last_day_closure => {
                state.observe(r.seq, r.hash, kind, r.timestamp_ms, Some(&body))?
            }
            _ => {}
        }
    }
    Ok(state)
}

/// Verifies the newest `count` records (links, hashes, signatures, bodies).
pub(crate) fn tail_check(path: &Path, count: u64) -> Result<(), JournalError> {
    let reader = JournalReader::open(path).map_err(|e| damaged(e.to_string()))?;
    let mut sink = CollectFindings::default();
    let options = VerifyOptions {
        tail: Some(count),
        ..VerifyOptions::default()
    };
    verify::verify_journal(&reader, &options, &mut sink).map_err(|e| damaged(e.to_string()))?;
    if sink.findings.is_empty() {
        Ok(())
    } else {
        Err(JournalError::Damaged(
            sink.findings
                .iter()
                .take(20)
                .map(|f| f.to_string())
                .collect(),
        ))
    }
}

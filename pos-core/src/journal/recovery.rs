//! Reopening a journal: its identity, its head, its closure state and VAT rates, and the tail
//! check that refuses a damaged journal.

use super::error::JournalError;
use super::state::Head;
use crate::body::{Body, OpeningBody};
use crate::closure::ClosureState;
use crate::keys::{KeyId, Signer};
use crate::money::VatRate;
use crate::rates::vat_rates_set_by;
use crate::reader::{ClosureStateError, JournalReader};
use crate::record::{Hash, Kind};
use crate::rules::{FiscalRules, RuleBook};
use crate::store;
use crate::verify::{self, CollectFindings, VerifyOptions};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::Path;

fn damaged(m: impl Into<String>) -> JournalError {
    JournalError::Damaged(vec![m.into()])
}

/// Reads the opening body and the id of the current signing key.
pub(crate) fn load_identity(conn: &Connection) -> Result<(OpeningBody, KeyId), JournalError> {
    let opening_bytes = store::opening_body(conn)
        .map_err(|e| damaged(format!("no readable opening record: {e}")))?;
    let opening = match Body::decode(Kind::Opening, &opening_bytes) {
        Ok(Body::Opening(o)) => o,
        _ => return Err(damaged("the opening record's body is unreadable")),
    };
    let (mut current, _) =
        crate::keys::decode_key(&opening.key).map_err(|e| damaged(format!("opening key: {e}")))?;
    for b in store::key_change_bodies(conn)? {
        match Body::decode(Kind::KeyChange, &b) {
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
    for b in store::configuration_event_bodies(conn)? {
        if let Ok(Body::Event(e)) = Body::decode(Kind::Event, &b) {
            if let Some(new) = vat_rates_set_by(&e) {
                rates = new;
            }
        }
    }
    Ok(rates)
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
    let (seq, hash, timestamp_ms) = store::last_record_head(conn)?;
    let mut kinds = HashMap::new();
    for (kind, kind_seq, h) in store::last_of_each_kind(conn)? {
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

/// Rebuilds the closure state without rescanning the journal (see
/// [`crate::reader::closure_state`]).
pub(crate) fn load_closures(
    conn: &Connection,
    opening: &OpeningBody,
    rules: &dyn FiscalRules,
) -> Result<ClosureState, JournalError> {
    let calendar = rules.calendar(opening)?;
    crate::reader::closure_state(conn, calendar).map_err(|e| match e {
        ClosureStateError::Storage(e) => JournalError::from(e),
        ClosureStateError::Damaged(m) => damaged(m),
        ClosureStateError::Closure(e) => JournalError::Closure(e),
    })
}

/// Verifies the newest `count` records (links, hashes, signatures, bodies).
pub(crate) fn tail_check(path: &Path, count: u64, rules: &RuleBook) -> Result<(), JournalError> {
    let reader = JournalReader::open(path).map_err(|e| damaged(e.to_string()))?;
    let mut sink = CollectFindings::default();
    let options = VerifyOptions {
        tail: Some(count),
        rules: rules.clone(),
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

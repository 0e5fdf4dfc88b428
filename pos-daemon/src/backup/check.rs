//! Checking a snapshot: every file as its manifest says (size, SHA-256), the journal copy
//! verified as an auditor would (chain, signatures, closures) and reaching every anchor copied
//! with it, the other stores readable by SQLite. The result is written beside the snapshot
//! (`check.json`) and is what the list shows.

use super::snapshot::{digest, journal_head};
use super::types::{BackupError, Check, Manifest, CHECK, MANIFEST, MANIFEST_FORMAT};
use std::path::Path;

/// Reads a snapshot's manifest.
pub fn manifest(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let bad = |reason: String| BackupError::Manifest {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if m.format != MANIFEST_FORMAT {
        return Err(bad(format!(
            "format {:?} is not {MANIFEST_FORMAT:?}",
            m.format
        )));
    }
    Ok(m)
}

/// Checks the snapshot in `dir` against `anchors` (chain heads it must reach, besides those
/// copied with it); returns what was found (nothing is written).
pub fn check(dir: &Path, anchors: &[pos_core::anchor::Anchor], now_ms: i64) -> Check {
    let mut problems = Vec::new();
    let mut records = 0;
    match manifest(dir) {
        Err(e) => problems.push(e.to_string()),
        Ok(m) => {
            for f in &m.files {
                if f.name.contains('/') || f.name.starts_with('.') {
                    problems.push(format!("{}: not a file name", f.name));
                    continue;
                }
                match digest(&dir.join(&f.name)) {
                    Ok((bytes, sha)) if bytes == f.bytes && sha == f.sha256 => {}
                    Ok((bytes, sha)) => problems.push(format!(
                        "{}: {bytes} bytes, SHA-256 {sha}; the manifest says {} bytes, {}",
                        f.name, f.bytes, f.sha256
                    )),
                    Err(e) => problems.push(e.to_string()),
                }
            }
            for needed in ["journal.db", "ops.db", "stock.db"] {
                if !m.files.iter().any(|f| f.name == needed) {
                    problems.push(format!("{needed} is missing"));
                }
            }
            if problems.is_empty() {
                match verify_journal(dir, &m, anchors) {
                    Ok(n) => records = n,
                    Err(mut found) => problems.append(&mut found),
                }
                for store in ["ops.db", "stock.db"] {
                    if let Err(e) = quick_check(&dir.join(store)) {
                        problems.push(format!("{store}: {e}"));
                    }
                }
            }
        }
    }
    Check {
        checked_ms: now_ms,
        good: problems.is_empty(),
        records,
        problems,
    }
}

/// Writes a check's result beside the snapshot.
pub fn record(dir: &Path, check: &Check) -> Result<(), BackupError> {
    let path = dir.join(CHECK);
    let text = serde_json::to_vec_pretty(check).map_err(|e| BackupError::Manifest {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let tmp = dir.join(format!("{CHECK}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| BackupError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| BackupError::io(&path, e))
}

/// The last recorded check of a snapshot, if any.
pub fn recorded(dir: &Path) -> Option<Check> {
    serde_json::from_slice(&std::fs::read(dir.join(CHECK)).ok()?).ok()
}

/// Verifies the journal copy in full, with the anchors copied beside it and `more`; returns the
/// records verified, or the findings.
fn verify_journal(
    dir: &Path,
    m: &Manifest,
    more: &[pos_core::anchor::Anchor],
) -> Result<u64, Vec<String>> {
    let journal = dir.join("journal.db");
    let mut anchors = Vec::new();
    let copied = dir.join("anchors.jsonl");
    if copied.is_file() {
        match pos_core::anchor::read_anchors(&copied) {
            Ok(a) => anchors.extend(a),
            Err(e) => return Err(vec![e.to_string()]),
        }
    }
    anchors.extend(more.iter().cloned());
    // Anchors of other registers are not this journal's.
    anchors.retain(|a| a.register_id == m.register_id);
    let options = pos_core::verify::VerifyOptions {
        anchors,
        ..Default::default()
    };
    let copy = journal.clone();
    let run = move || {
        let reader = pos_core::reader::JournalReader::open(&copy)?;
        let mut sink = pos_core::verify::CollectFindings::default();
        let summary = pos_core::verify::verify_journal(&reader, &options, &mut sink)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((summary, sink))
    };
    // Every core but one: a snapshot is checked while the till sells.
    let threads =
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
    let (summary, sink) = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("backup-check-{i}"))
        .build()
    {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
    .map_err(|e| vec![format!("journal.db: {e}")])?;
    let mut problems: Vec<String> = sink
        .findings
        .iter()
        .take(20)
        .map(|f| format!("journal.db: {f}"))
        .collect();
    if sink.findings.len() > 20 {
        problems.push(format!(
            "journal.db: {} findings in all",
            sink.findings.len()
        ));
    }
    match journal_head(&journal) {
        Ok((seq, hash)) if seq == m.journal_head_seq && hash == m.journal_head_hash => {}
        Ok((seq, _)) => problems.push(format!(
            "journal.db: its head is record {seq}, the manifest says {}",
            m.journal_head_seq
        )),
        Err(e) => problems.push(e.to_string()),
    }
    if problems.is_empty() {
        Ok(summary.records)
    } else {
        Err(problems)
    }
}

/// SQLite's own check of a store copy.
fn quick_check(path: &Path) -> Result<(), String> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    let said: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if said == "ok" {
        Ok(())
    } else {
        Err(said)
    }
}

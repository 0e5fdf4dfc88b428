//! Verifying archives: structure, manifest signature and file hashes, every record (through the
//! journal verifier), the manifest against the records, continuity between archives, and
//! anchors. Needs nothing but the archive files.

use super::blocks::{entry_line_blocks, line_spans, Block, BLOCK};
use super::format::{ArchiveError, Manifest, RecordLine};
use super::open::{archive_finding, open_archive, read_small, Opened};
use crate::body::Body;
use crate::keys::KeyId;
use crate::record::{Kind, Record, ZERO_HASH};
use crate::verify::{
    FindingSink, Item, Lookup, Overlapped, Problem, Summary, Verifier, VerifyOptions,
};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use zip::ZipArchive;

/// One archive to verify.
#[derive(Debug, Clone)]
pub struct ArchiveInput {
    /// The ZIP file.
    pub path: PathBuf,
}

/// Originals that refunds and duplicates need, found in the references and in the archive.
#[derive(Default, Clone)]
struct ArchiveLookup {
    records: HashMap<u64, Record>,
}

impl Lookup for ArchiveLookup {
    fn record(&self, seq: u64) -> Option<Record> {
        self.records.get(&seq).cloned()
    }
    fn refunds_before(&self, original_seq: u64, before_seq: u64) -> Vec<Record> {
        let mut out: Vec<Record> = self
            .records
            .values()
            .filter(|r| r.seq < before_seq && r.kind == Kind::Refund.as_str())
            .filter(|r| match Body::decode(Kind::Refund, &r.body) {
                Ok(Body::Refund(b)) => b.original.seq == original_seq,
                _ => false,
            })
            .cloned()
            .collect();
        out.sort_by_key(|r| r.seq);
        out
    }
}

/// Reads `references.jsonl` (records before the archive's range).
fn references(path: &Path) -> Result<Vec<Record>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut zip = ZipArchive::new(file).map_err(|e| e.to_string())?;
    let f = zip.by_name("references.jsonl").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for line in BufReader::new(f).split(b'\n') {
        let line = line.map_err(|e| e.to_string())?;
        if !line.is_empty() {
            out.push(RecordLine::parse(&line).map_err(|m| m.problem)?);
        }
    }
    Ok(out)
}

/// Originals to keep in memory while streaming an archive's records, each with the seq of the
/// last record that names it (after which it is no longer needed).
type Wanted = BTreeMap<u64, u64>;

/// Originals named by the archive's refunds and duplicates (a first, light pass over
/// `records.jsonl`, for format 1 archives: format 2 manifests list them), each with the seq of
/// the last record that names it. Only the lines of those kinds are parsed: they are found by their
/// `"kind":"refund"` or `"kind":"duplicate"` field (the third of a line, starting within its
/// first 96 bytes; a body cannot hold these bytes, its quotes are escaped), searched in whole
/// blocks.
fn referenced_seqs(o: &Opened) -> Result<Wanted, String> {
    let needles = [
        memchr::memmem::Finder::new(br#""kind":"refund""#),
        memchr::memmem::Finder::new(br#""kind":"duplicate""#),
    ];
    let mut out = BTreeMap::new();
    entry_line_blocks(
        &o.path,
        "records.jsonl",
        o.records_stored,
        BLOCK,
        |_| {},
        |block| {
            let mut found: Vec<usize> = needles.iter().flat_map(|n| n.find_iter(&block)).collect();
            // In file order, so that the last record naming an original is the one kept.
            found.sort_unstable();
            for at in found {
                let start = memchr::memrchr(b'\n', &block[..at]).map_or(0, |i| i + 1);
                if at - start > 96 {
                    continue;
                }
                let end = memchr::memchr(b'\n', &block[at..]).map_or(block.len(), |i| at + i);
                let Ok(r) = RecordLine::parse(&block[start..end]) else {
                    continue;
                };
                match r.known_kind().and_then(|k| Body::decode(k, &r.body).ok()) {
                    Some(Body::Refund(b)) => {
                        out.insert(b.original.seq, r.seq);
                    }
                    Some(Body::Duplicate(d)) => {
                        out.insert(d.original.seq, r.seq);
                    }
                    _ => {}
                }
            }
            true
        },
    )?;
    Ok(out)
}

/// The lines of `block`, parsed on the rayon pool. A blank line is a malformed record, as any
/// other line that is not one.
fn parse_lines(block: &[u8]) -> Vec<Item> {
    line_spans(block)
        .par_iter()
        .map(|&(a, b)| RecordLine::parse(&block[a..b]))
        .collect()
}

/// A key id (hex) and the first and last seq it signed, in stream order.
type KeyRun = (String, u64, u64);
/// What streaming `records.jsonl` yields.
struct Streamed {
    /// Its SHA-256 (hex).
    sha256: String,
    /// Its size.
    bytes: u64,
    /// The records' key runs.
    key_runs: Vec<KeyRun>,
    /// The originals its refunds and duplicates name, with the last naming each.
    named: Wanted,
}

/// Streams `records.jsonl` through the verifier; returns its SHA-256, size, the records' key
/// runs and the originals they name, or why it could not be read.
fn stream_records(
    o: &Opened,
    verifier: &mut Verifier,
    lookup: &mut ArchiveLookup,
    wanted: &Wanted,
    archive_records: &mut Vec<crate::body::ArchiveBody>,
    sink: &mut dyn FindingSink,
    progress: &mut (u64, u64),
) -> Result<Streamed, String> {
    let (path, stored) = (o.path.clone(), o.records_stored);
    let mut key_runs: Vec<(KeyId, u64, u64)> = Vec::new();
    let mut named = Wanted::new();
    let mut overlapped = Overlapped::new();
    std::thread::scope(|scope| -> Result<Streamed, String> {
        // The reader maps (or reads) blocks of the ZIP entry and hashes them; the complete
        // lines of each block are parsed on the rayon pool while the chunk before is checked,
        // and no line is copied on its own. The reader never waits for the pool: the caller,
        // which waits for the reader, may be a pool worker itself.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Block>(1);
        let producer = scope.spawn(move || -> Result<(String, u64), String> {
            let mut hasher = Sha256::new();
            let bytes = entry_line_blocks(
                &path,
                "records.jsonl",
                stored,
                BLOCK,
                |bytes| hasher.update(bytes),
                |block| tx.send(block).is_ok(),
            )?;
            Ok((hex::encode(hasher.finalize()), bytes))
        });
        let mut blocks = rx.into_iter();
        let mut next = blocks.next().map(|block| parse_lines(&block));
        while let Some(items) = next.take() {
            for r in items.iter().flatten() {
                if wanted.contains_key(&r.seq) {
                    lookup.records.insert(r.seq, r.clone());
                }
                match key_runs.last_mut() {
                    Some((k, _, to)) if *k == r.key_id => *to = r.seq,
                    _ => key_runs.push((r.key_id, r.seq, r.seq)),
                }
                let kind = r.kind.as_str();
                if kind == Kind::Archive.as_str() {
                    if let Ok(Body::Archive(a)) = Body::decode(Kind::Archive, &r.body) {
                        archive_records.push(a);
                    }
                } else if kind == Kind::Refund.as_str() {
                    if let Ok(Body::Refund(b)) = Body::decode(Kind::Refund, &r.body) {
                        named.insert(b.original.seq, r.seq);
                    }
                } else if kind == Kind::Duplicate.as_str() {
                    if let Ok(Body::Duplicate(d)) = Body::decode(Kind::Duplicate, &r.body) {
                        named.insert(d.original.seq, r.seq);
                    }
                }
            }
            let n = items.len() as u64;
            let block = blocks.next();
            let parse_next = || next = block.map(|block| parse_lines(&block));
            overlapped.feed(verifier, items, Vec::new(), parse_next, lookup, sink);
            // Originals whose last refund or duplicate has been checked are not needed any
            // more: memory stays bounded by the refunds still to come, not by the archive.
            if let Some(done) = verifier.last_checked_seq() {
                lookup
                    .records
                    .retain(|seq, _| wanted.get(seq).is_none_or(|last| *last > done));
            }
            progress.0 += n;
            sink.progress(progress.0, progress.1);
        }
        overlapped.flush(verifier, lookup, sink);
        let (sha256, bytes) = producer
            .join()
            .unwrap_or_else(|_| Err("reader thread panicked".into()))?;
        let key_runs = key_runs
            .into_iter()
            .map(|(k, from, to)| (k.to_hex(), from, to))
            .collect();
        Ok(Streamed {
            sha256,
            bytes,
            key_runs,
            named,
        })
    })
}

/// Holds the findings of an archive's records until its `records.jsonl` is read to its end;
/// progress goes through.
struct HeldFindings<'a> {
    sink: &'a mut dyn FindingSink,
    findings: Vec<crate::verify::Finding>,
}

impl FindingSink for HeldFindings<'_> {
    fn finding(&mut self, finding: crate::verify::Finding) {
        self.findings.push(finding);
    }
    fn progress(&mut self, done: u64, total: u64) {
        self.sink.progress(done, total);
    }
}

/// Streams an archive's records through the verifier as one step. Its findings are held
/// until `records.jsonl` has been read to its end (a deflated entry's damage may show only
/// there, in its CRC-32): if it cannot be, the verifier, the lookup and the archive records are
/// left as they were and nothing about its records is reported. The records are read once when
/// `wanted` keeps every original they name long enough; when it does not (a manifest whose
/// list is wrong), they are checked again keeping what they name, so that the list's error
/// is reported once (as a manifest mismatch) and costs the records no finding.
fn stream_archive(
    o: &Opened,
    verifier: &mut Verifier,
    lookup: &mut ArchiveLookup,
    mut wanted: Wanted,
    archive_records: &mut Vec<crate::body::ArchiveBody>,
    sink: &mut dyn FindingSink,
    progress: &mut (u64, u64),
) -> Result<Streamed, String> {
    let saved = (
        verifier.clone(),
        lookup.clone(),
        archive_records.len(),
        *progress,
    );
    let mut first = true;
    loop {
        let mut held = HeldFindings {
            sink: &mut *sink,
            findings: Vec::new(),
        };
        let result = stream_records(
            o,
            verifier,
            lookup,
            &wanted,
            archive_records,
            &mut held,
            progress,
        );
        let findings = held.findings;
        match result {
            Ok(s) if !first || covers(&wanted, &s.named) => {
                for f in findings {
                    sink.finding(f);
                }
                return Ok(s);
            }
            Ok(s) => {
                first = false;
                wanted = s.named;
            }
            Err(e) => {
                (*verifier, *lookup) = (saved.0, saved.1);
                archive_records.truncate(saved.2);
                *progress = saved.3;
                return Err(e);
            }
        }
        // Read again from where the archive began.
        (*verifier, *lookup) = (saved.0.clone(), saved.1.clone());
        archive_records.truncate(saved.2);
        *progress = saved.3;
    }
}

/// Whether keeping `wanted` keeps every original that `named` needs until its last use.
fn covers(wanted: &Wanted, named: &Wanted) -> bool {
    named
        .iter()
        .all(|(seq, last)| wanted.get(seq).is_some_and(|kept| kept >= last))
}

/// The first difference between a manifest's list of originals and what the records name.
fn first_difference(listed: &Wanted, named: &Wanted) -> Option<String> {
    let seqs: BTreeSet<u64> = listed.keys().chain(named.keys()).copied().collect();
    seqs.into_iter().find_map(|seq| {
        let said = |w: &Wanted| {
            w.get(&seq).map_or("not named".to_string(), |last| {
                format!("last named by {last}")
            })
        };
        (listed.get(&seq) != named.get(&seq)).then(|| {
            format!(
                "seq {seq} is {} in the manifest but {} in the records",
                said(listed),
                said(named)
            )
        })
    })
}

/// Finds the record at `seq` in an archive's `records.jsonl`, with the register id its
/// manifest names. Nothing is verified here: run [`verify_archives`] for that.
pub fn find_record(path: &Path, seq: u64) -> Result<Option<(String, Record)>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut zip = ZipArchive::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Manifest = serde_json::from_slice(&read_small(&mut zip, "manifest.json")?)
        .map_err(|e| format!("manifest.json: {e}"))?;
    if seq < manifest.first_seq || seq > manifest.last_seq {
        return Ok(None);
    }
    let f = zip.by_name("records.jsonl").map_err(|e| e.to_string())?;
    for line in BufReader::new(f).split(b'\n') {
        let line = line.map_err(|e| e.to_string())?;
        if let Ok(r) = RecordLine::parse(&line) {
            if r.seq == seq {
                return Ok(Some((manifest.journal.register_id.clone(), r)));
            }
        }
    }
    Ok(None)
}

/// What archive verification returns.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ArchiveSummary {
    /// The records' summary (identity, range, counts, totals, findings on records).
    pub records: Summary,
    /// The archives, in sequence order, with their labels and ranges.
    pub archives: Vec<(String, String, u64, u64)>,
    /// Findings about archives themselves (structure, manifest, continuity).
    pub archive_findings: u64,
}

/// Verifies archives, given in any order (they are checked in sequence order, and reported if
/// given out of order or with a gap). Returns `Err` only when an input cannot be read as an
/// archive at all.
pub fn verify_archives(
    inputs: &[ArchiveInput],
    options: &VerifyOptions,
    sink: &mut dyn FindingSink,
) -> Result<ArchiveSummary, ArchiveError> {
    let mut archive_problems: Vec<Problem> = Vec::new();
    let mut opened = Vec::new();
    for input in inputs {
        if let Some(o) = open_archive(&input.path, sink, &mut archive_problems)? {
            opened.push(o);
        }
    }
    let given: Vec<String> = opened.iter().map(|o| o.label.clone()).collect();
    opened.sort_by_key(|o| o.manifest.first_seq);
    let hashed = opened.len().saturating_sub(1);
    for o in opened.iter_mut().take(hashed) {
        let path = o.path.clone();
        o.file_sha256 = Some(std::thread::spawn(move || {
            super::export::sha256_file(&path)
        }));
    }
    let sorted: Vec<String> = opened.iter().map(|o| o.label.clone()).collect();
    let mut report = |sink: &mut dyn FindingSink, seq: u64, problem: Problem, detail: String| {
        archive_problems.push(problem);
        sink.finding(archive_finding(seq, problem, detail));
    };
    if given != sorted {
        report(
            sink,
            0,
            Problem::ArchiveContinuity,
            format!(
                "archives given out of order ({}); checked in sequence order ({})",
                given.join(", "),
                sorted.join(", ")
            ),
        );
    }

    let total: u64 = opened
        .iter()
        .map(|o| o.manifest.last_seq.saturating_sub(o.manifest.first_seq) + 1)
        .sum();
    let mut progress = (0u64, total);
    let mut verifier: Option<Verifier> = None;
    let mut previous: Option<(String, u64, String)> = None;
    let mut lookup = ArchiveLookup::default();
    let mut archive_records = Vec::new();
    let mut journal_keys: BTreeSet<String> = BTreeSet::new();
    let mut earlier_summary: Option<Summary> = None;
    let mut summary_archives = Vec::new();
    for o in &opened {
        let m = &o.manifest;
        let name = o.path.display().to_string();
        let refs = match references(&o.path) {
            Ok(r) => r,
            Err(e) => {
                report(
                    sink,
                    0,
                    Problem::ArchiveStructure,
                    format!("{name}: references.jsonl unreadable: {e}"),
                );
                Vec::new()
            }
        };
        for r in &refs {
            lookup.records.insert(r.seq, r.clone());
        }
        collect_keys(&refs, &mut journal_keys);
        // Continuity with the previous archive, or a fresh start.
        let continues = match &previous {
            Some((prev_label, prev_last, prev_hash)) => {
                if m.first_seq != prev_last + 1 || m.prev_hash != *prev_hash {
                    let detail = if m.first_seq > prev_last + 1 {
                        format!(
                            "records {}-{} are missing between archive {prev_label} and archive {}",
                            prev_last + 1,
                            m.first_seq - 1,
                            m.label
                        )
                    } else if m.first_seq <= *prev_last {
                        format!("archive {} overlaps archive {prev_label}", m.label)
                    } else {
                        format!(
                            "archive {} does not continue archive {prev_label}: its previous hash is not {prev_label}'s last hash",
                            m.label
                        )
                    };
                    report(sink, m.first_seq, Problem::ArchiveContinuity, detail);
                    false
                } else {
                    true
                }
            }
            None => false,
        };
        if !continues {
            // A fresh start (first archive, or after a gap): the figures of what came before
            // are kept and added to the end result.
            if let Some(earlier) = verifier.take() {
                let mut s = earlier.finish();
                if let Some(mut acc) = earlier_summary.take() {
                    acc.absorb(s);
                    s = acc;
                }
                earlier_summary = Some(s);
            }
            verifier = Some(if m.first_seq <= 1 {
                Verifier::new(options.clone())
            } else {
                Verifier::resume_with_closures(options.clone(), &refs)
            });
        }
        let Some(v) = verifier.as_mut() else { continue };
        // Format 2 manifests list the originals to keep; format 1 archives need a first pass.
        let listed: Option<Wanted> = m
            .originals
            .as_ref()
            .map(|list| list.iter().map(|o| (o.seq, o.last_named_by)).collect());
        let wanted = match listed.clone().map_or_else(|| referenced_seqs(o), Ok) {
            Ok(w) => w,
            Err(e) => {
                report(
                    sink,
                    0,
                    Problem::ArchiveStructure,
                    format!("{name}: records.jsonl unreadable: {e}"),
                );
                continue;
            }
        };
        let before = v.snapshot();
        let streamed = stream_archive(
            o,
            v,
            &mut lookup,
            wanted,
            &mut archive_records,
            sink,
            &mut progress,
        );
        let Streamed {
            sha256: sha,
            bytes,
            key_runs,
            named,
        } = match streamed {
            Ok(s) => s,
            Err(e) => {
                report(
                    sink,
                    0,
                    Problem::ArchiveStructure,
                    format!("{name}: records.jsonl unreadable: {e}"),
                );
                continue;
            }
        };
        if let Some(size) = o.records_size.filter(|size| *size != bytes) {
            report(
                sink,
                0,
                Problem::ArchiveStructure,
                format!("{name}: records.jsonl holds {bytes} bytes but its headers say {size}"),
            );
        }
        let after = v.snapshot();
        if let Some(entry) = m.files.iter().find(|f| f.name == "records.jsonl") {
            if entry.sha256 != sha || entry.bytes != bytes {
                report(
                    sink,
                    0,
                    Problem::ArchiveFileHash,
                    format!("{name}: records.jsonl does not match its SHA-256 in the manifest"),
                );
            }
        }
        if let Some(difference) = listed.and_then(|l| first_difference(&l, &named)) {
            report(
                sink,
                m.first_seq,
                Problem::ManifestMismatch,
                format!("{name}: manifest originals differ from the records': {difference}"),
            );
        }
        // The manifest against the records.
        let mut mismatch = |what: &str, stored: String, found: String| {
            if stored != found {
                report(
                    sink,
                    m.first_seq,
                    Problem::ManifestMismatch,
                    format!("{name}: manifest {what} is {stored} but the records give {found}"),
                );
            }
        };
        let counts: BTreeMap<String, u64> = after
            .counts
            .iter()
            .map(|(k, n)| (k.clone(), n - before.counts.get(k).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let (first_seq, first_prev, first_ts) = after.range_first.unwrap_or((0, ZERO_HASH, 0));
        mismatch("first seq", m.first_seq.to_string(), first_seq.to_string());
        mismatch(
            "first timestamp",
            m.first_timestamp_ms.to_string(),
            first_ts.to_string(),
        );
        mismatch(
            "last timestamp",
            m.last_timestamp_ms.to_string(),
            after.last_timestamp_ms.to_string(),
        );
        mismatch(
            "record format versions",
            format!("{:?}", m.journal.record_format_versions),
            format!("{:?}", after.range_versions.iter().collect::<Vec<_>>()),
        );
        if let Some(o) = v.opening() {
            let j = &m.journal;
            let identity = (
                &j.merchant,
                &j.register_id,
                &j.time_zone,
                &j.currency,
                &j.software,
            );
            let opened_as = (
                &o.merchant,
                &o.register_id,
                &o.time_zone,
                &o.currency,
                &o.software,
            );
            mismatch(
                "journal identity",
                format!("{identity:?}"),
                format!("{opened_as:?}"),
            );
        }
        mismatch(
            "last seq",
            m.last_seq.to_string(),
            after.last_seq.to_string(),
        );
        mismatch("last hash", m.last_hash.clone(), after.last_hash.clone());
        mismatch("prev hash", m.prev_hash.clone(), hex::encode(first_prev));
        mismatch("counts", format!("{:?}", m.counts), format!("{counts:?}"));
        mismatch(
            "totals",
            format!("{:?}", m.totals),
            format!("{:?}", after.range_totals),
        );
        let runs: Vec<(String, u64, u64)> = m
            .keys
            .iter()
            .map(|k| (k.key_id.clone(), k.first_seq, k.last_seq))
            .collect();
        mismatch("keys", format!("{runs:?}"), format!("{key_runs:?}"));
        journal_keys.extend(v.keys_seen().iter().cloned());
        if !journal_keys.contains(&m.manifest_key.key_id) {
            report(sink, 0, Problem::ManifestSignature, format!("{name}: the manifest is signed by key {}, which is not one of the journal's keys", m.manifest_key.key_id));
        }
        if !options.trusted_keys.is_empty() {
            let is_trusted = |info: &crate::keys::PublicKeyInfo| {
                crate::keys::decode_key(info)
                    .map(|(_, k)| options.trusted_keys.contains(&k))
                    .unwrap_or(false)
            };
            // A key of the journal (its opening's or a key change's) is trusted through the
            // opening key when that one is given: each key change is signed by the key before
            // it, which the records' verification checks.
            let opening_trusted = v.opening().is_some_and(|o| is_trusted(&o.key));
            let trusted = is_trusted(&m.manifest_key)
                || (opening_trusted && journal_keys.contains(&m.manifest_key.key_id));
            if !trusted {
                report(
                    sink,
                    0,
                    Problem::ManifestSignature,
                    format!(
                        "{name}: the manifest key {} is not a trusted key",
                        m.manifest_key.key_id
                    ),
                );
            }
        }
        summary_archives.push((name.clone(), m.label.clone(), m.first_seq, m.last_seq));
        previous = Some((m.label.clone(), after.last_seq, after.last_hash.clone()));
        let _ = &o.manifest_bytes;
    }
    for o in &mut opened {
        let views = o.views.take().map(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        let name = o.path.display().to_string();
        for (problem, detail) in views.into_iter().flatten() {
            report(sink, 0, problem, format!("{name}: {detail}"));
        }
    }
    let mut file_hashes = Vec::with_capacity(opened.len());
    for o in &mut opened {
        let hash = o.file_sha256.take().map(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        file_hashes.push(hash.transpose()?);
    }
    // Archive records naming archives that were given must name these exact files.
    for a in &archive_records {
        if let Some((o, hash)) = opened
            .iter()
            .zip(file_hashes.iter_mut())
            .find(|(o, _)| o.manifest.first_seq == a.first_seq && o.manifest.last_seq == a.last_seq)
        {
            // Not hashed beforehand (overlapping archives given): hash it now.
            let file_sha256 = match hash {
                Some(h) => h.clone(),
                None => hash.insert(super::export::sha256_file(&o.path)?).clone(),
            };
            let manifest_sha = hex::encode(Sha256::digest(&o.manifest_bytes));
            if a.file_sha256 != *file_sha256 || a.manifest_sha256 != manifest_sha {
                report(
                    sink,
                    a.last_seq,
                    Problem::ManifestMismatch,
                    format!(
                        "the journal recorded archive {} with SHA-256 {}, but {} has {}",
                        a.label,
                        a.file_sha256,
                        o.path.display(),
                        file_sha256
                    ),
                );
            }
        }
    }
    let mut records = match verifier {
        Some(v) => v.finish_with(sink),
        None => Summary::default(),
    };
    if let Some(mut earlier) = earlier_summary {
        earlier.absorb(records);
        records = earlier;
    }
    for p in &archive_problems {
        records.count_finding(*p);
    }
    Ok(ArchiveSummary {
        records,
        archives: summary_archives,
        archive_findings: archive_problems.len() as u64,
    })
}

fn collect_keys(records: &[Record], keys: &mut BTreeSet<String>) {
    for r in records {
        match r.known_kind().and_then(|k| Body::decode(k, &r.body).ok()) {
            Some(Body::Opening(o)) => {
                keys.insert(o.key.key_id);
            }
            Some(Body::KeyChange(k)) => {
                keys.insert(k.new_key.key_id);
            }
            _ => {}
        }
    }
}

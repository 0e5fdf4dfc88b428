//! Writing an archive from a journal file, streaming.

use super::csv_views::CsvViews;
use super::format::{
    ArchiveError, FileEntry, JournalIdentity, KeyUse, Manifest, NamedOriginal, RecordLine,
    CONTENT_FILES, FORMAT, FORMAT_VERSION, MANIFEST_SIGNATURE_DOMAIN,
};
use crate::body::{ArchiveBody, Body, Software};
use crate::closure::{Period, Totals};
use crate::keys::{PublicKeyInfo, Signer};
use crate::reader::JournalReader;
use crate::record::{Kind, Record, ZERO_HASH};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Seek, Write};
use std::ops::ControlFlow;
use std::path::Path;
use zip::ZipWriter;

/// Which records an archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveSelection {
    /// A closed calendar month: from the record after the previous month closure to this
    /// month's closure.
    Month {
        /// Year.
        year: i32,
        /// Month, 1 to 12.
        month: u32,
    },
    /// A closed fiscal year (named by the calendar year it starts in): from the record after
    /// the previous year closure to this year's closure.
    Year(i32),
    /// An explicit range of sequence numbers, inclusive.
    Range {
        /// First seq.
        from: u64,
        /// Last seq.
        to: u64,
    },
}

impl ArchiveSelection {
    /// Parses `--period`: a month only (`2026-03`).
    pub fn month(text: &str) -> Result<ArchiveSelection, String> {
        match text.parse()? {
            m @ ArchiveSelection::Month { .. } => Ok(m),
            _ => Err(format!("{text:?} is not a month like 2026-03")),
        }
    }

    /// Parses `--year`: a fiscal year only (`2026`).
    pub fn year(text: &str) -> Result<ArchiveSelection, String> {
        match text.parse()? {
            y @ ArchiveSelection::Year(_) => Ok(y),
            _ => Err(format!("{text:?} is not a year like 2026")),
        }
    }
}

impl std::str::FromStr for ArchiveSelection {
    type Err = String;
    /// `2026-03` (a month) or `2026` (a fiscal year).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is neither a month (2026-03) nor a year (2026)");
        match s.split_once('-') {
            Some((y, m)) => {
                let (year, month) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
                if !(1..=12).contains(&month) || y.len() != 4 || m.len() != 2 {
                    return Err(bad());
                }
                Ok(ArchiveSelection::Month { year, month })
            }
            None if s.len() == 4 => Ok(ArchiveSelection::Year(s.parse().map_err(|_| bad())?)),
            None => Err(bad()),
        }
    }
}

/// A writer that hashes and counts what goes through it.
/// The archive file's writer, publishing its position: once an entry is finished, every byte
/// before the next entry's header is final (the ZIP writer patches an entry's header when it
/// starts the next one), so the file's SHA-256 can be computed over that prefix while the rest
/// is written.
struct Positioned<W> {
    inner: W,
    position: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<W: Write> Write for Positioned<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.position
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: std::io::Seek> std::io::Seek for Positioned<W> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let at = self.inner.seek(to)?;
        self.position
            .store(at, std::sync::atomic::Ordering::Relaxed);
        Ok(at)
    }
}

/// SHA-256 of the first `len` bytes of `path`, as a hasher to continue.
fn sha256_prefix(path: &Path, len: u64) -> std::io::Result<Sha256> {
    let mut f = std::fs::File::open(path)?.take(len);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher)
}

struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn label_and_range(
    reader: &JournalReader,
    selection: &ArchiveSelection,
) -> Result<(String, u64, u64), ArchiveError> {
    let storage = |e: crate::reader::ReadError| ArchiveError::Selection(e.to_string());
    let last = reader.last_seq().map_err(storage)?;
    let closures = reader.closures().map_err(storage)?;
    // A period can be closed more than once (records written after its closure, on its last
    // day, are closed later by a second closure of the same period). Its archive ends at its
    // first closure and begins after the first closure of the period before it, so that
    // consecutive archives cover every record, and an archive does not change when a period
    // gets a later closure.
    let bounds = |period: Period, start: &str, label: String| {
        let mut first_closure: BTreeMap<&str, u64> = BTreeMap::new();
        for (seq, c) in closures.iter().filter(|(_, c)| c.period == period) {
            let first = first_closure.entry(c.start.as_str()).or_insert(*seq);
            *first = (*first).min(*seq);
        }
        let end = first_closure.get(start).copied().ok_or_else(|| {
            ArchiveError::Selection(format!(
                "{label} is not closed: close it before archiving it (or give a range)"
            ))
        })?;
        let begin = first_closure
            .values()
            .filter(|seq| **seq < end)
            .map(|seq| seq + 1)
            .max()
            .unwrap_or(1);
        Ok((label, begin, end))
    };
    match *selection {
        ArchiveSelection::Month { year, month } => bounds(
            Period::Month,
            &format!("{year:04}-{month:02}-01"),
            format!("{year:04}-{month:02}"),
        ),
        ArchiveSelection::Year(fy) => {
            let opening = reader.opening().map_err(storage)?.ok_or_else(|| {
                ArchiveError::Selection("the journal has no readable opening record".into())
            })?;
            let start = format!("{fy:04}-{:02}-01", opening.fiscal_year_start_month);
            bounds(Period::Year, &start, fy.to_string())
        }
        ArchiveSelection::Range { from, to } => {
            if from == 0 || from > to || to > last {
                return Err(ArchiveError::Selection(format!(
                    "range {from}-{to} is not within the journal's records 1-{last}"
                )));
            }
            Ok((format!("seq {from}-{to}"), from, to))
        }
    }
}

/// What the single pass over the range gathers.
/// Records per batch sent to the tally thread.
const TALLY_BATCH: usize = 1024;
/// Batches waiting for the tally thread at most.
const TALLY_QUEUE: usize = 4;

#[derive(Default)]
struct Tally {
    records: u64,
    counts: BTreeMap<String, u64>,
    totals: Totals,
    keys: Vec<(String, u64, u64)>,
    /// Originals before the range that refunds or duplicates of the range name.
    references: BTreeSet<u64>,
    /// Every original that refunds or duplicates of the range name, with the last naming it.
    originals: BTreeMap<u64, u64>,
    first_ts: i64,
    last_ts: i64,
    versions: BTreeSet<u16>,
    last_hash: [u8; 32],
}

/// Writes the archive of `selection` to `out` (which must not exist) and returns its manifest
/// and the body of the `archive` record to append to the journal. `key` signs the manifest: it
/// must be the journal's current key. Nothing is written if the range does not verify as a
/// chain.
pub fn export_archive(
    reader: &JournalReader,
    key: &dyn Signer,
    selection: &ArchiveSelection,
    out: &Path,
) -> Result<(Manifest, ArchiveBody), ArchiveError> {
    let opening = reader
        .opening()
        .map_err(|e| ArchiveError::Selection(e.to_string()))?
        .ok_or_else(|| {
            ArchiveError::Selection("the journal has no readable opening record".into())
        })?;
    let (label, first, last) = label_and_range(reader, selection)?;
    let prev_hash = match first {
        1 => ZERO_HASH,
        _ => reader
            .record(first - 1)
            .ok()
            .flatten()
            .and_then(Result::ok)
            .map(|r| r.hash)
            .ok_or(ArchiveError::Damaged {
                seq: first - 1,
                problem: "unreadable".into(),
            })?,
    };
    let key_infos = journal_keys(reader)?;
    if !key_infos.contains_key(&key.key_id().to_hex()) {
        return Err(ArchiveError::Selection(format!(
            "key {} is not one of this journal's keys",
            key.key_id()
        )));
    }

    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| ArchiveError::io(out, e))?;
    let result = write_zip(
        reader, key, &opening, &label, first, last, prev_hash, &key_infos, file, out,
    );
    if result.is_err() {
        // A half-written archive must not be mistaken for one.
        let _ = std::fs::remove_file(out);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn write_zip(
    reader: &JournalReader,
    key: &dyn Signer,
    opening: &crate::body::OpeningBody,
    label: &str,
    first: u64,
    last: u64,
    prev_hash: [u8; 32],
    key_infos: &HashMap<String, PublicKeyInfo>,
    file: std::fs::File,
    out: &Path,
) -> Result<(Manifest, ArchiveBody), ArchiveError> {
    let io = |e: std::io::Error| ArchiveError::io(out, e);
    let zerr = |e: zip::result::ZipError| ArchiveError::io(out, e);
    let temp = tempfile::tempdir().map_err(io)?;
    let views = CsvViews::create(temp.path(), &opening.time_zone).map_err(io)?;
    let position = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut zip = ZipWriter::new(Positioned {
        inner: std::io::BufWriter::new(file),
        position: position.clone(),
    });
    // Fixed options (time, permissions, ZIP64 sizes): the structure is exactly the one
    // `zipcheck` accepts.
    let options = super::zipcheck::entry_options();
    let mut files = Vec::new();

    zip.start_file("README.txt", options).map_err(zerr)?;
    let readme = readme_text(opening, label, first, last);
    zip.write_all(readme.as_bytes()).map_err(io)?;
    files.push(FileEntry {
        name: "README.txt".into(),
        sha256: hex::encode(Sha256::digest(readme.as_bytes())),
        bytes: readme.len() as u64,
    });

    // records.jsonl and the chain check on this thread; the tally and the CSV rows (decoding
    // every body) on another, fed in batches through a bounded channel so that memory stays
    // flat: the two halves cost about the same.
    zip.start_file("records.jsonl", options).map_err(zerr)?;
    let mut sink = Hashing {
        inner: &mut zip,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut failure: Option<ArchiveError> = None;
    let mut expected = (first, prev_hash);
    let (tally, views) = std::thread::scope(|scope| -> Result<_, ArchiveError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Record>>(TALLY_QUEUE);
        let worker = scope.spawn(move || -> std::io::Result<(Tally, CsvViews)> {
            let mut views = views;
            let mut tally = Tally::default();
            for batch in rx {
                for r in &batch {
                    tally_record(&mut tally, r, first, &mut views)?;
                }
            }
            Ok((tally, views))
        });
        let mut batch = Vec::with_capacity(TALLY_BATCH);
        // One buffer for every line.
        let mut text = Vec::with_capacity(4096);
        let read = reader.for_each_from(first, |item| {
            let step = (|| -> Result<bool, ArchiveError> {
                let r = item.map_err(|m| ArchiveError::Damaged {
                    seq: m.seq.max(0) as u64,
                    problem: m.problem,
                })?;
                if r.seq > last {
                    return Ok(false);
                }
                check_link(&r, expected)?;
                expected = (r.seq + 1, r.hash);
                text.clear();
                RecordLine::write(&r, &mut text).ok_or(ArchiveError::Damaged {
                    seq: r.seq,
                    problem: "body is not UTF-8".into(),
                })?;
                text.push(b'\n');
                sink.write_all(&text).map_err(io)?;
                let more = r.seq < last;
                batch.push(r);
                if batch.len() == TALLY_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(TALLY_BATCH));
                    if tx.send(full).is_err() {
                        // The worker stopped on an error, which its join reports.
                        return Ok(false);
                    }
                }
                Ok(more)
            })();
            match step {
                Ok(true) => ControlFlow::Continue(()),
                Ok(false) => ControlFlow::Break(()),
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        });
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        let joined = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read.map_err(|e| ArchiveError::Selection(e.to_string()))?;
        if let Some(e) = failure.take() {
            return Err(e);
        }
        joined.map_err(io)
    })?;
    if expected.0 != last + 1 {
        return Err(ArchiveError::Damaged {
            seq: expected.0,
            problem: "record missing".into(),
        });
    }
    files.push(FileEntry {
        name: "records.jsonl".into(),
        sha256: hex::encode(sink.hasher.finalize()),
        bytes: sink.bytes,
    });

    // references.jsonl. Starting it finishes records.jsonl: from then on everything before it
    // is final, and the file's hash over that prefix (most of the archive) runs beside the rest.
    let final_prefix = position.load(std::sync::atomic::Ordering::Relaxed);
    zip.start_file("references.jsonl", options).map_err(zerr)?;
    zip.flush().map_err(io)?;
    let out_path = out.to_path_buf();
    let prefix_hash = std::thread::spawn(move || sha256_prefix(&out_path, final_prefix));
    let mut sink = Hashing {
        inner: &mut zip,
        hasher: Sha256::new(),
        bytes: 0,
    };
    for seq in reference_seqs(reader, first, &tally.references)? {
        let r = reader
            .record(seq)
            .ok()
            .flatten()
            .and_then(Result::ok)
            .ok_or(ArchiveError::Damaged {
                seq,
                problem: "unreadable".into(),
            })?;
        let line = RecordLine::of(&r).ok_or(ArchiveError::Damaged {
            seq,
            problem: "body is not UTF-8".into(),
        })?;
        let mut text = serde_json::to_vec(&line).map_err(|e| ArchiveError::io(out, e))?;
        text.push(b'\n');
        sink.write_all(&text).map_err(io)?;
    }
    files.push(FileEntry {
        name: "references.jsonl".into(),
        sha256: hex::encode(sink.hasher.finalize()),
        bytes: sink.bytes,
    });

    for (name, path) in views.finish().map_err(io)? {
        zip.start_file(name.as_str(), options).map_err(zerr)?;
        let mut sink = Hashing {
            inner: &mut zip,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut src = std::fs::File::open(&path).map_err(io)?;
        std::io::copy(&mut src, &mut sink).map_err(io)?;
        files.push(FileEntry {
            name,
            sha256: hex::encode(sink.hasher.finalize()),
            bytes: sink.bytes,
        });
    }
    debug_assert_eq!(
        files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        CONTENT_FILES
    );

    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        journal: JournalIdentity {
            merchant: opening.merchant.clone(),
            register_id: opening.register_id.clone(),
            software: opening.software.clone(),
            time_zone: opening.time_zone.clone(),
            currency: opening.currency.clone(),
            record_format_versions: tally.versions.iter().copied().collect(),
        },
        written_by: Software::this(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        label: label.to_string(),
        first_seq: first,
        last_seq: last,
        first_timestamp_ms: tally.first_ts,
        last_timestamp_ms: tally.last_ts,
        prev_hash: hex::encode(prev_hash),
        last_hash: hex::encode(tally.last_hash),
        counts: tally.counts,
        totals: tally.totals,
        keys: tally
            .keys
            .iter()
            .filter_map(|(id, from, to)| {
                key_infos.get(id).map(|k| KeyUse {
                    key_id: k.key_id.clone(),
                    algorithm: k.algorithm.as_str().into(),
                    public_key: k.public_key.clone(),
                    first_seq: *from,
                    last_seq: *to,
                })
            })
            .collect(),
        originals: Some(
            tally
                .originals
                .iter()
                .map(|(&seq, &last_named_by)| NamedOriginal { seq, last_named_by })
                .collect(),
        ),
        manifest_key: key.public_key().info(),
        files,
    };
    let mut manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| ArchiveError::io(out, e))?;
    manifest_bytes.push(b'\n');
    zip.start_file("manifest.json", options).map_err(zerr)?;
    zip.write_all(&manifest_bytes).map_err(io)?;
    let mut message = MANIFEST_SIGNATURE_DOMAIN.to_vec();
    message.extend_from_slice(&manifest_bytes);
    let signature = key
        .sign(&message)
        .map_err(|e| ArchiveError::Selection(format!("the manifest could not be signed: {e}")))?;
    zip.start_file("manifest.sig", options).map_err(zerr)?;
    let sig_text = format!(
        "{} {} {}\n",
        key.public_key().algorithm(),
        key.key_id(),
        hex::encode(signature)
    );
    zip.write_all(sig_text.as_bytes()).map_err(io)?;
    let buffered = zip.finish().map_err(zerr)?;
    let file = buffered
        .inner
        .into_inner()
        .map_err(|e| ArchiveError::io(out, e.error()))?;
    file.sync_all().map_err(io)?;
    drop(file);

    let mut hasher = prefix_hash
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        .map_err(io)?;
    let mut rest = std::fs::File::open(out).map_err(io)?;
    rest.seek(std::io::SeekFrom::Start(final_prefix))
        .map_err(io)?;
    std::io::copy(&mut rest, &mut hasher).map_err(io)?;
    let file_sha256 = hex::encode(hasher.finalize());
    let body = ArchiveBody {
        label: label.to_string(),
        first_seq: first,
        last_seq: last,
        last_hash: manifest.last_hash.clone(),
        file_name: out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file_sha256,
        manifest_sha256: hex::encode(Sha256::digest(&manifest_bytes)),
    };
    Ok((manifest, body))
}

fn check_link(r: &Record, (seq, prev): (u64, [u8; 32])) -> Result<(), ArchiveError> {
    let damaged = |problem: &str| ArchiveError::Damaged {
        seq: r.seq,
        problem: problem.to_string(),
    };
    if r.seq != seq {
        // Name the first missing record, not the one after the gap.
        return Err(ArchiveError::Damaged {
            seq,
            problem: format!("record missing (the journal goes on at {})", r.seq),
        });
    }
    if r.prev_hash != prev {
        return Err(damaged("broken link to the previous record"));
    }
    if r.computed_hash() != Some(r.hash) {
        return Err(damaged("hash mismatch"));
    }
    Ok(())
}

impl Tally {
    /// Record `by` of the range names `original` (a refund's sale, a duplicate's ticket).
    fn name_original(&mut self, original: u64, by: u64, first: u64) {
        if original < first {
            self.references.insert(original);
        }
        self.originals.insert(original, by);
    }
}

fn tally_record(
    t: &mut Tally,
    r: &Record,
    first: u64,
    views: &mut CsvViews,
) -> std::io::Result<()> {
    if t.records == 0 {
        t.first_ts = r.timestamp_ms;
    }
    t.records += 1;
    t.last_ts = r.timestamp_ms;
    t.last_hash = r.hash;
    t.versions.insert(r.format_version);
    *t.counts.entry(r.kind.clone()).or_default() += 1;
    let id = r.key_id.to_hex();
    match t.keys.last_mut() {
        Some((k, _, to)) if *k == id => *to = r.seq,
        _ => t.keys.push((id, r.seq, r.seq)),
    }
    let Some(body) = r.known_kind().and_then(|k| Body::decode(k, &r.body).ok()) else {
        return Ok(());
    };
    // Totals overflow cannot happen on a journal whose closures computed the same sums.
    match &body {
        Body::Sale(s) => {
            let _ = t.totals.add_sale(s);
        }
        Body::Refund(rf) => {
            let _ = t.totals.add_refund(rf);
            t.name_original(rf.original.seq, r.seq, first);
        }
        Body::Duplicate(d) => t.name_original(d.original.seq, r.seq, first),
        _ => {}
    }
    views.add(r, &body)
}

/// Every record before `first` that verifying the range needs.
fn reference_seqs(
    reader: &JournalReader,
    first: u64,
    originals: &BTreeSet<u64>,
) -> Result<BTreeSet<u64>, ArchiveError> {
    let err = |e: crate::reader::ReadError| ArchiveError::Selection(e.to_string());
    let mut seqs: BTreeSet<u64> = BTreeSet::new();
    if first == 1 {
        return Ok(seqs);
    }
    seqs.extend(reader.context_seqs(first).map_err(err)?);
    seqs.extend(reader.closure_context_seqs(first).map_err(err)?);
    for &o in originals {
        seqs.insert(o);
        seqs.extend(
            reader
                .refunds_of(o, first)
                .map_err(err)?
                .iter()
                .map(|r| r.seq),
        );
    }
    Ok(seqs)
}

/// The journal's keys by id: the opening's and every key change's.
fn journal_keys(reader: &JournalReader) -> Result<HashMap<String, PublicKeyInfo>, ArchiveError> {
    let err = |e: crate::reader::ReadError| ArchiveError::Selection(e.to_string());
    let mut keys = HashMap::new();
    if let Some(o) = reader.opening().map_err(err)? {
        keys.insert(o.key.key_id.clone(), o.key);
    }
    for r in reader.records_of_kind(Kind::KeyChange).map_err(err)? {
        if let Ok(Body::KeyChange(k)) = Body::decode(Kind::KeyChange, &r.body) {
            keys.insert(k.new_key.key_id.clone(), k.new_key);
        }
    }
    Ok(keys)
}

/// SHA-256 of a file, hex.
pub(crate) fn sha256_file(path: &Path) -> Result<String, ArchiveError> {
    let hasher = sha256_prefix(path, u64::MAX).map_err(|e| ArchiveError::io(path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

fn readme_text(o: &crate::body::OpeningBody, label: &str, first: u64, last: u64) -> String {
    let m = &o.merchant;
    format!(
        "ARCHIVE FISCALE / FISCAL ARCHIVE — {label}\n\
         {name}, {address} — SIRET {siret} — TVA {vat} — caisse / register {register}\n\
         Enregistrements / records: {first} à / to {last}\n\
         \n\
         FRANÇAIS\n\
         Cette archive contient, sans modification, les enregistrements du journal de caisse\n\
         (tickets, remboursements, clôtures, événements techniques...) de la période indiquée.\n\
         - records.jsonl : chaque enregistrement tel qu'il est stocké, une ligne JSON par\n\
           enregistrement, chaîné par SHA-256 et signé (Ed25519) ;\n\
         - references.jsonl : les enregistrements antérieurs nécessaires à la vérification ;\n\
         - tickets.csv, lines.csv, payments.csv, vat.csv, closures.csv, events.csv : vues pour\n\
           tableur (UTF-8, séparateur virgule, montants en euros avec un point décimal) ;\n\
         - manifest.json : identité, période, empreintes SHA-256 de chaque fichier, totaux ;\n\
         - manifest.sig : signature du manifeste par la clé de la caisse.\n\
         Vérifier : pos-journal verify CETTE_ARCHIVE.zip [--public-key CLE.pub] [--anchor ANCRES]\n\
         Le format est décrit dans docs/ARCHIVE-FORMAT.md et docs/JOURNAL-FORMAT.md.\n\
         \n\
         ENGLISH\n\
         This archive holds, unchanged, the cash-register journal records (tickets, refunds,\n\
         closures, technical events...) of the period above.\n\
         - records.jsonl: each record as stored, one JSON line per record, SHA-256 chained and\n\
           Ed25519 signed;\n\
         - references.jsonl: earlier records that verification needs;\n\
         - tickets.csv, lines.csv, payments.csv, vat.csv, closures.csv, events.csv: spreadsheet\n\
           views (UTF-8, comma-separated, amounts in units with a decimal point);\n\
         - manifest.json: identity, period, SHA-256 of every file, totals;\n\
         - manifest.sig: the register key's signature of the manifest.\n\
         Verify: pos-journal verify THIS_ARCHIVE.zip [--public-key KEY.pub] [--anchor ANCHORS]\n\
         The format is specified in docs/ARCHIVE-FORMAT.md and docs/JOURNAL-FORMAT.md.\n",
        name = m.name,
        address = m.address,
        siret = m.siret,
        vat = m.vat_id,
        register = o.register_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;
    use crate::prelude::*;

    use crate::sample::sample_sale as sale;

    /// The tally thread gets the records in batches: over several batches the manifest counts
    /// and totals every record once, and a journal whose chain breaks past the first batch is
    /// not exported (no file is left).
    #[test]
    fn tally_over_several_batches_and_refusal_of_a_broken_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let seed = [7u8; 32];
        let journal = Journal::create(
            &path,
            KeyPair::from_seed(seed),
            sample_opening(),
            JournalOptions::default(),
        )
        .unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for i in 0..(TALLY_BATCH as i64 / 3) {
                        journal.sale(&sale(1 + i % 2)).unwrap();
                    }
                });
            }
        });
        journal.close();
        let reader = JournalReader::open(&path).unwrap();
        let last = reader.last_seq().unwrap();
        let sales = 8 * (TALLY_BATCH as u64 / 3);
        assert!(last > 2 * TALLY_BATCH as u64);
        let key = KeyPair::from_seed(seed);
        let out = dir.path().join("all.zip");
        let range = ArchiveSelection::Range { from: 1, to: last };
        let (manifest, body) = export_archive(&reader, &key, &range, &out).unwrap();
        // The file's hash, computed over the finished prefix while the rest was written.
        let whole = hex::encode(Sha256::digest(std::fs::read(&out).unwrap()));
        assert_eq!(body.file_sha256, whole);
        assert_eq!(manifest.counts.get("sale"), Some(&sales));
        assert_eq!(
            manifest.counts.values().sum::<u64>(),
            last,
            "{:?}",
            manifest.counts
        );
        let expected_total: i64 = (0..8)
            .flat_map(|_| (0..(TALLY_BATCH as i64 / 3)).map(|i| 130 * (1 + i % 2)))
            .sum();
        assert_eq!(manifest.totals.sales, sales);
        assert_eq!(manifest.totals.total, Cents(expected_total));

        let missing = last - 10;
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "DROP TRIGGER records_no_delete; DELETE FROM records WHERE seq = {missing};"
        ))
        .unwrap();
        drop(conn);
        let reader = JournalReader::open(&path).unwrap();
        let out = dir.path().join("broken.zip");
        match export_archive(&reader, &key, &range, &out) {
            Err(ArchiveError::Damaged { seq, .. }) => assert_eq!(seq, missing),
            other => panic!("expected a damaged journal, got {other:?}"),
        }
        assert!(!out.exists(), "a refused archive leaves no file");
    }
}

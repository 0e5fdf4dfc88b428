//! `pos-journal`: verify, read and archive a fiscal journal; verify archives and receipts.
//!
//! Exit codes of `verify` and `verify-receipt`: 0 intact, 1 findings, 2 the input cannot be
//! read.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pos_core::anchor::{append_anchor, read_anchors, Anchor};
use pos_core::archive::{export_archive, verify_archives, ArchiveInput, ArchiveSelection};
use pos_core::journal::{Draft, Journal, JournalOptions};
use pos_core::keys::{load_public_key, public_key_from_hex, KeyPair, PublicKey};
use pos_core::reader::JournalReader;
use pos_core::receipt::{verify_receipt, ReceiptFields};
use pos_core::render::{format_time, record_text, summary_text, x_report_text};
use pos_core::verify::{verify_journal, Finding, FindingSink, Summary, VerifyOptions};
use std::io::{IsTerminal, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Writes to standard output; a closed pipe (`| head`) ends the output quietly instead of
/// panicking.
macro_rules! emit {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// [`emit!`] with a newline.
macro_rules! emitln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Keep at most this many findings in memory for the JSON report; all are counted.
const MAX_FINDINGS_KEPT: usize = 10_000;
/// Print at most this many findings in the human report; `--json` lists more.
const MAX_FINDINGS_PRINTED: usize = 200;

#[derive(Parser)]
#[command(
    name = "pos-journal",
    version,
    about = "Verify, read and archive a point-of-sale fiscal journal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a journal file, or one or more archives (ZIP): hashes, links, signatures, bodies,
    /// closures, manifests, continuity, anchors. Exit 0 intact, 1 findings, 2 unreadable.
    Verify {
        /// A journal file, or archive files (checked in sequence order; archives given out of
        /// order or with gaps are reported).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Check only hashes, sequence numbers and links (no signatures, no bodies).
        #[arg(long)]
        chain_only: bool,
        /// Check only the newest N records (journal files only).
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        /// A public key file (or its hex: 64 digits for Ed25519, 130 for P-256) the journal's
        /// opening key must match.
        #[arg(long, value_name = "KEY")]
        public_key: Vec<PathBuf>,
        /// An anchor file: every anchor in it must be reached by the records.
        #[arg(long, value_name = "FILE")]
        anchor: Vec<PathBuf>,
    },
    /// Print records readably (tickets as receipts, closures as Z reports).
    Show {
        /// The journal file.
        path: PathBuf,
        /// Print only this record.
        #[arg(long)]
        seq: Option<u64>,
        /// Start at this sequence number.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Print at most this many records.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Print the X report (running totals of the open day, month and year) instead.
        #[arg(long)]
        x_report: bool,
        /// The register's secret key file: each ticket is followed by its receipt's
        /// verification string (the QR code's content), signed with that key.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Write a signed archive of a closed month, a closed fiscal year or a range of records,
    /// and journal it.
    Archive {
        /// The journal file.
        #[arg(long)]
        db: PathBuf,
        /// The archive to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// A closed month: 2026-03.
        #[arg(long, conflicts_with_all = ["year", "from"])]
        period: Option<String>,
        /// A closed fiscal year: 2026.
        #[arg(long, conflicts_with = "from")]
        year: Option<String>,
        /// First sequence number of a range.
        #[arg(long, requires = "to")]
        from: Option<u64>,
        /// Last sequence number of a range.
        #[arg(long, requires = "from")]
        to: Option<u64>,
        /// The journal's current secret key (default: DB.key).
        #[arg(long)]
        key: Option<PathBuf>,
        /// When the clock reads far ahead of the journal's last record (a register unused for
        /// months), confirm that the reading is right, as this operator (journaled as a
        /// `clock_confirmed` event); without it such an archive is refused.
        #[arg(long, value_name = "OPERATOR")]
        confirm_clock: Option<String>,
    },
    /// Append the journal's head (seq, hash, signature, time) to an anchor file kept elsewhere.
    Anchor {
        /// The journal file.
        #[arg(long)]
        db: PathBuf,
        /// The anchor file (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the journal's current public key (the file an auditor needs) from the journal.
    PublicKey {
        /// The journal file.
        #[arg(long)]
        db: PathBuf,
        /// The public key file to write (printed to standard output when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a receipt's QR verification string offline with the register's public key.
    VerifyReceipt {
        /// The string (or `-` to read it from standard input).
        text: String,
        /// The register's public key file (or its hex: 64 digits for Ed25519, 130 for P-256).
        #[arg(long)]
        public_key: PathBuf,
        /// Also check that this journal file or archive holds that record (same hash prefix,
        /// time, number, total and register).
        #[arg(long)]
        journal: Option<PathBuf>,
    },
}

/// Collects findings (up to a limit) and drives a progress bar on a terminal.
struct Report {
    findings: Vec<Finding>,
    bar: Option<ProgressBar>,
}

impl Report {
    fn new(show_progress: bool) -> Report {
        let bar = (show_progress && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} verifying {pos}/{len} records ({per_sec}, eta {eta}) {wide_bar}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Report {
            findings: Vec::new(),
            bar,
        }
    }
}

impl FindingSink for Report {
    fn finding(&mut self, f: Finding) {
        if self.findings.len() < MAX_FINDINGS_KEPT {
            self.findings.push(f);
        }
    }
    fn progress(&mut self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Verify {
            paths,
            json,
            chain_only,
            tail,
            public_key,
            anchor,
        } => verify(&paths, json, chain_only, tail, &public_key, &anchor),
        Command::Show {
            path,
            seq,
            from,
            limit,
            x_report,
            key,
        } => show(&path, seq, from, limit, x_report, key.as_deref()),
        Command::Archive {
            db,
            out,
            period,
            year,
            from,
            to,
            key,
            confirm_clock,
        } => archive(&db, &out, period, year, from.zip(to), key, confirm_clock),
        Command::Anchor { db, out } => anchor(&db, &out),
        Command::PublicKey { db, out } => public_key(&db, out.as_deref()),
        Command::VerifyReceipt {
            text,
            public_key,
            journal,
        } => receipt(&text, &public_key, journal.as_deref()),
    }
}

fn unreadable(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("pos-journal: {msg}");
    ExitCode::from(2)
}

/// A `--public-key` argument: a public key file, or the key itself in hex (64 digits for an
/// Ed25519 key, 130 for a P-256 point).
fn public_key_arg(arg: &Path) -> Result<PublicKey, pos_core::keys::KeyError> {
    let text = arg.to_string_lossy();
    if !arg.exists() && matches!(text.len(), 64 | 130) {
        return public_key_from_hex(None, &text);
    }
    load_public_key(arg)
}

fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

fn verify(
    paths: &[PathBuf],
    json: bool,
    chain_only: bool,
    tail: Option<u64>,
    keys: &[PathBuf],
    anchor_files: &[PathBuf],
) -> ExitCode {
    let mut trusted_keys = Vec::new();
    for k in keys {
        match public_key_arg(k) {
            Ok(vk) => trusted_keys.push(vk),
            Err(e) => return unreadable(e),
        }
    }
    let mut anchors = Vec::new();
    for f in anchor_files {
        match read_anchors(f) {
            Ok(a) => anchors.extend(a),
            Err(e) => return unreadable(e),
        }
    }
    let options = VerifyOptions {
        signatures: !chain_only,
        bodies: !chain_only,
        tail,
        trusted_keys,
        anchors,
        ..VerifyOptions::default()
    };
    let mut report = Report::new(!json);
    let archives = paths.iter().any(|p| is_zip(p));
    let (summary, archive_list) = if archives {
        if let Some(p) = paths.iter().find(|p| !is_zip(p)) {
            return unreadable(format!(
                "{}: not an archive (give either one journal file or archives)",
                p.display()
            ));
        }
        let inputs: Vec<ArchiveInput> = paths
            .iter()
            .map(|p| ArchiveInput { path: p.clone() })
            .collect();
        match verify_archives(&inputs, &options, &mut report) {
            Ok(s) => (s.records, s.archives),
            Err(e) => return unreadable(e),
        }
    } else {
        let [path] = paths else {
            return unreadable("give one journal file, or archive files");
        };
        let reader = match JournalReader::open(path) {
            Ok(r) => r,
            Err(e) => return unreadable(e),
        };
        match verify_journal(&reader, &options, &mut report) {
            Ok(s) => (s, Vec::new()),
            Err(e) => return unreadable(e),
        }
    };
    if let Some(bar) = &report.bar {
        bar.finish_and_clear();
    }
    let source = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if json {
        let doc = serde_json::json!({
            "source": source,
            "intact": summary.findings == 0,
            "chain_only": chain_only,
            "archives": archive_list,
            "summary": summary,
            "findings": report.findings,
        });
        match serde_json::to_string_pretty(&doc) {
            Ok(text) => emitln!("{text}"),
            Err(e) => return unreadable(e),
        }
    } else {
        print_human(
            &source,
            &summary,
            &archive_list,
            &report.findings,
            chain_only,
        );
    }
    if summary.findings == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_human(
    source: &str,
    summary: &Summary,
    archives: &[(String, String, u64, u64)],
    findings: &[Finding],
    chain_only: bool,
) {
    for (file, label, first, last) in archives {
        emitln!("Archive    {label}: seq {first} to {last} ({file})");
    }
    let shown = &findings[..findings.len().min(MAX_FINDINGS_PRINTED)];
    emit!("{}", summary_text(source, summary, shown, chain_only));
}

fn show(
    path: &Path,
    seq: Option<u64>,
    from: u64,
    limit: u64,
    x_report: bool,
    key: Option<&Path>,
) -> ExitCode {
    let reader = match JournalReader::open(path) {
        Ok(r) => r,
        Err(e) => return unreadable(e),
    };
    let key = match key.map(KeyPair::load).transpose() {
        Ok(k) => k,
        Err(e) => return unreadable(e),
    };
    let opening = reader.opening().ok().flatten();
    if x_report {
        return match reader.x_report() {
            Ok(x) => {
                emit!("{}", x_report_text(&x, opening.as_ref()));
                ExitCode::SUCCESS
            }
            Err(e) => unreadable(e),
        };
    }
    let (start, limit) = match seq {
        Some(s) => (s, 1),
        None => (from, limit),
    };
    let mut printed = 0u64;
    let result = reader.for_each_from(start, |item| {
        if printed >= limit {
            return ControlFlow::Break(());
        }
        printed += 1;
        match item {
            Ok(r) => {
                emit!("{}", record_text(&r, opening.as_ref()));
                let register = opening.as_ref().map_or("", |o| o.register_id.as_str());
                let fields = ReceiptFields::of_record(register, &r);
                if let (Some(key), Some(fields)) = (&key, fields) {
                    match fields.sign(key) {
                        Ok(code) => emitln!("   receipt verification string: {code}"),
                        Err(e) => emitln!("   receipt verification string: {e}"),
                    }
                }
            }
            Err(m) => emitln!("── seq {}: unreadable row: {}", m.seq, m.problem),
        }
        ControlFlow::Continue(())
    });
    if let Err(e) = result {
        return unreadable(e);
    }
    if printed == 0 {
        return unreadable(format!("no record at seq {start}"));
    }
    ExitCode::SUCCESS
}

fn default_key_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

fn archive(
    db: &Path,
    out: &Path,
    period: Option<String>,
    year: Option<String>,
    range: Option<(u64, u64)>,
    key: Option<PathBuf>,
    confirm_clock: Option<String>,
) -> ExitCode {
    let selection = match (period, year, range) {
        (Some(p), None, None) => ArchiveSelection::month(&p),
        (None, Some(y), None) => ArchiveSelection::year(&y),
        (None, None, Some((from, to))) => Ok(ArchiveSelection::Range { from, to }),
        _ => Err("give one of --period 2026-03, --year 2026 or --from SEQ --to SEQ".into()),
    };
    let selection = match selection {
        Ok(s) => s,
        Err(e) => return unreadable(e),
    };
    let key = match KeyPair::load(&key.unwrap_or_else(|| default_key_path(db))) {
        Ok(k) => k,
        Err(e) => return unreadable(e),
    };
    let journal = match Journal::open(db, key.clone(), JournalOptions::default()) {
        Ok(j) => j,
        Err(e) => return unreadable(e),
    };
    // Before the archive is written: it could not be journaled.
    if let Some(ahead) = journal.clock_ahead() {
        let Some(operator) = confirm_clock else {
            return unreadable(format!(
                "{ahead} (give --confirm-clock OPERATOR if the date is right)"
            ));
        };
        if let Err(e) = journal.confirm_clock(&operator) {
            return unreadable(e);
        }
    }
    let reader = match JournalReader::open(db) {
        Ok(r) => r,
        Err(e) => return unreadable(e),
    };
    let (manifest, body) = match export_archive(&reader, &key, &selection, out) {
        Ok(x) => x,
        Err(e) => return unreadable(e),
    };
    let recorded = match journal.append(Draft::Archive(body.clone())) {
        Ok(a) => a,
        Err(e) => return unreadable(format!("archive written but not journaled: {e}")),
    };
    journal.close();
    emitln!(
        "{}: archive {} of records {} to {} ({} records), SHA-256 {}; journaled as record {}",
        out.display(),
        manifest.label,
        manifest.first_seq,
        manifest.last_seq,
        manifest.counts.values().sum::<u64>(),
        body.file_sha256,
        recorded.seq
    );
    ExitCode::SUCCESS
}

fn anchor(db: &Path, out: &Path) -> ExitCode {
    let reader = match JournalReader::open(db) {
        Ok(r) => r,
        Err(e) => return unreadable(e),
    };
    let head = match reader.last_seq().and_then(|s| reader.record(s)) {
        Ok(Some(Ok(r))) => r,
        Ok(_) => return unreadable("the journal has no readable last record"),
        Err(e) => return unreadable(e),
    };
    let register = match reader.opening() {
        Ok(Some(o)) => o.register_id,
        _ => return unreadable("the journal has no readable opening record"),
    };
    let a = Anchor::of_record(&register, &head);
    if let Err(e) = append_anchor(out, &a) {
        return unreadable(e);
    }
    emitln!("{}", a.qr_text());
    ExitCode::SUCCESS
}

fn public_key(db: &Path, out: Option<&Path>) -> ExitCode {
    let reader = match JournalReader::open(db) {
        Ok(r) => r,
        Err(e) => return unreadable(e),
    };
    let key = match reader.current_public_key() {
        Ok(Some(k)) => k,
        Ok(None) => return unreadable("the journal has no readable key"),
        Err(e) => return unreadable(e),
    };
    let text = pos_core::keys::public_key_file_text(&key);
    match out {
        Some(path) => match std::fs::write(path, &text) {
            Ok(()) => {
                emitln!("{}: public key {}", path.display(), key.id());
                ExitCode::SUCCESS
            }
            Err(e) => unreadable(format!("{}: {e}", path.display())),
        },
        None => {
            emit!("{text}");
            ExitCode::SUCCESS
        }
    }
}

fn receipt(text: &str, key: &Path, journal: Option<&Path>) -> ExitCode {
    let text = if text == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            return unreadable(e);
        }
        s
    } else {
        text.to_string()
    };
    let key = match public_key_arg(key) {
        Ok(k) => k,
        Err(e) => return unreadable(e),
    };
    let fields = match verify_receipt(&text, &key) {
        Ok(f) => f,
        Err(e) => {
            emitln!("Receipt    NOT VALID: {e}");
            return ExitCode::from(1);
        }
    };
    // The key id names the key whatever its algorithm (a P-256 key's first bytes are always
    // the same point prefix).
    emitln!(
        "Receipt    VALID signature by key {} ({})",
        key.id(),
        key.algorithm()
    );
    emitln!("Register   {}", fields.register);
    emitln!(
        "Record     seq {} · {} n° {} · {}",
        fields.seq,
        fields.kind,
        fields.number,
        format_time(fields.timestamp_ms, None)
    );
    emitln!("Total      {}", pos_core::money::Cents(fields.total_cents));
    let Some(path) = journal else {
        return ExitCode::SUCCESS;
    };
    let found = if is_zip(path) {
        pos_core::archive::find_record(path, fields.seq)
            .map(|found| found.map(|(register, r)| (Some(register), r)))
    } else {
        JournalReader::open(path)
            .map_err(|e| e.to_string())
            .and_then(|reader| {
                let register = reader.opening().ok().flatten().map(|o| o.register_id);
                reader
                    .record(fields.seq)
                    .map_err(|e| e.to_string())
                    .map(|r| r.and_then(Result::ok).map(|r| (register, r)))
            })
    };
    let found = match found {
        Ok(f) => f,
        Err(e) => return unreadable(e),
    };
    let matches = found.as_ref().is_some_and(|(register, r)| {
        let total = r
            .known_kind()
            .and_then(|k| pos_core::body::Body::decode(k, &r.body).ok())
            .and_then(|b| match b {
                pos_core::body::Body::Sale(s) | pos_core::body::Body::Training(s) => {
                    Some(s.total.0)
                }
                pos_core::body::Body::Refund(rf) => Some(rf.total.0),
                _ => None,
            });
        hex::encode(&r.hash[..8]) == fields.hash_prefix
            && r.timestamp_ms == fields.timestamp_ms
            && r.kind == fields.kind
            && r.kind_seq == fields.number
            && total == Some(fields.total_cents)
            && register.as_deref().is_none_or(|reg| reg == fields.register)
    });
    if matches {
        emitln!(
            "Journal    the record is in {} with this hash, total and register",
            path.display()
        );
        ExitCode::SUCCESS
    } else {
        emitln!(
            "Journal    NOT FOUND: {} holds no record matching this receipt at seq {}",
            path.display(),
            fields.seq
        );
        ExitCode::from(1)
    }
}

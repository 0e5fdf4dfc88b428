//! Measures the journal against the raw limits of the machine it runs on, in one run.
//!
//! ```text
//! cargo run --release --example bench_journal -- [--records N] [--dir DIR] [--rounds R]
//! ```
//!
//! Prints one `name value` line per figure. Every journal figure is paired with the raw limit it
//! is bounded by, measured in the same run, and the ratio between them: absolute rates on a
//! shared, noisy machine mean little, ratios do. Raw and journal measurements are interleaved
//! over `--rounds` rounds and the median of each is kept, so that a burst of noise hits both.
//!
//! - `raw_sqlite_commit_per_s`: rusqlite, WAL, `synchronous=FULL`, one ~600-byte row per commit.
//! - `append_single_per_s`: one thread appending sales, one record per commit.
//! - `sign_1core_per_s`: ed25519-dalek signatures of 32-byte hashes on one thread.
//! - `group_commit_per_s`: 64 threads appending sales at once (group commit, parallel signing).
//!   With it, the process's CPU time per record (`group_commit_cpu_us_per_record`), how many
//!   cores were busy on average (`group_commit_cores_busy`), and the ratio the journal would
//!   reach at that CPU cost with every core busy (`group_commit_ratio_all_cores_busy`): the
//!   bound of `group_commit_ratio` on this machine.
//! - `batch_verify_all_cores_per_s`: `ed25519_dalek::verify_batch`, batches of 256, all cores
//!   (`batch_verify_1024_all_cores_per_s`: batches of 1024, the verifier's size;
//!   `batch_verify_same_key_1024_all_cores_per_s`: `pos_core::batch::verify_same_key`, the
//!   verifier's own check of runs signed by one key).
//! - `sha256_record_all_cores_per_s`: SHA-256 of buffers of the journal's mean record size on
//!   every core, the bound of chain-only verification (`verify_chain_ratio_to_sha256`).
//! - `verify_chain_per_s`, `verify_full_per_s`: verification of an N-record journal (built once
//!   in `--dir` and reused), each in a child process that also reports its peak memory
//!   (`VmHWM`), so that the memory used to build the journal does not count.
//! - `--parts p256`: the same figures for a journal signed with ECDSA P-256, each against
//!   P-256's own limits measured in the same rounds: `p256_sign_1core_per_s` (RustCrypto
//!   `p256`, RFC 6979 nonces) and `p256_verify_all_cores_per_s` (one signature at a time on
//!   every core: ECDSA has no batch verification); `p256_append_single_ratio` (to the raw
//!   SQLite commit), `p256_group_commit_ratio` (to one core's P-256 signing) and
//!   `p256_verify_full_ratio` (to P-256 verification on every core), on a journal of a tenth of
//!   `--records`.

use clap::Parser;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use pos_core::prelude::*;
use pos_core::ticket::SaleBody;
use pos_workspace::TicketGenerator;
use rand::Rng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Records in the journal whose verification is measured.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Where the journals are written (the N-record journal is kept there and reused).
    #[arg(long, default_value = "target/bench-journal")]
    dir: PathBuf,
    /// Interleaved rounds per comparison; the median of each side is kept.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per timed round of the append and signing measurements.
    #[arg(long, default_value_t = 1.5)]
    seconds: f64,
    /// Which measurements to run, comma-separated: `append`, `group`, `verify`, `archive`,
    /// `p256`.
    #[arg(long, default_value = "append,group,verify,archive,p256")]
    parts: String,
    /// Internal: verify the journal at this path and print the child's figures.
    #[arg(long, hide = true)]
    verify_child: Option<PathBuf>,
    /// Internal: `full` or `chain` (with `--verify-child`).
    #[arg(long, hide = true, default_value = "full")]
    mode: String,
}

/// Appenders of the group-commit measurement.
const GROUP_THREADS: usize = 64;
/// Signatures per batch of the raw batch-verify measurement (the verifier's batch size).
const RAW_VERIFY_BATCH: usize = 256;
/// Size of the raw SQLite row: about a sale record's size.
const RAW_ROW_BYTES: usize = 600;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if let Some(path) = &args.verify_child {
        return verify_child(path, &args.mode);
    }
    std::fs::create_dir_all(&args.dir)?;
    let round = Duration::from_secs_f64(args.seconds);

    let part = |name: &str| args.parts.split(',').any(|p| p.trim() == name);

    // Durable single appends against raw single-row commits.
    if part("append") {
        let (mut raw, mut single) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds.max(1) {
            raw.push(raw_sqlite_commits(&args.dir, round)?);
            single.push(append_single(&args.dir, round)?);
        }
        let (raw, single) = (median(raw), median(single));
        line("raw_sqlite_commit_per_s", raw);
        line("append_single_per_s", single);
        line("append_single_ratio", ratio(single, raw));
    }

    // Group commit against one core's signing rate.
    if part("group") {
        let (mut sign, mut group, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..args.rounds.max(1) {
            sign.push(sign_one_core(round));
            let (rate, cpu_per_record) = group_commit(&args.dir, round)?;
            group.push(rate);
            cpu.push(cpu_per_record);
        }
        let (sign, group, cpu_per_record) = (median(sign), median(group), median(cpu));
        line("sign_1core_per_s", sign);
        line("group_commit_per_s", group);
        line("group_commit_ratio", ratio(group, sign));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        line("group_commit_cpu_us_per_record", cpu_per_record * 1e6);
        line("group_commit_cores_busy", group * cpu_per_record);
        line(
            "group_commit_ratio_all_cores_busy",
            ratio(cores / cpu_per_record, sign),
        );
    }

    if part("p256") {
        p256_figures(&args, round)?;
    }

    // Verification of the big journal, each mode in a fresh child process.
    let big = args.dir.join(format!("journal-{}.db", args.records));
    if part("archive") {
        build_journal(&big, args.records)?;
        archive_figures(&big, &args.dir, args.rounds.max(1), round)?;
    }
    if !part("verify") {
        return Ok(());
    }
    build_journal(&big, args.records)?;
    let batch = BatchVerifyBench::new();
    let (mut raw_verify, mut chain, mut full) = (Vec::new(), Vec::new(), Vec::new());
    let (mut raw_verify_1024, mut same_key_1024) = (Vec::new(), Vec::new());
    let mut raw_sha = Vec::new();
    let record_len = mean_record_len(&big)?;
    let mut rss_mb: f64 = 0.0;
    for _ in 0..args.rounds.max(1) {
        raw_sha.push(sha256_all_cores(record_len, round));
        raw_verify.push(batch.run(RAW_VERIFY_BATCH, round));
        raw_verify_1024.push(batch.run(1024, round));
        same_key_1024.push(batch.run_same_key(1024, round));
        let c = run_child(&big, "chain")?;
        let f = run_child(&big, "full")?;
        chain.push(c.per_s);
        full.push(f.per_s);
        rss_mb = rss_mb.max(c.peak_rss_mb).max(f.peak_rss_mb);
    }
    let (raw_verify, chain, full) = (median(raw_verify), median(chain), median(full));
    let (raw_verify_1024, same_key_1024) = (median(raw_verify_1024), median(same_key_1024));
    let raw_sha = median(raw_sha);
    line("batch_verify_all_cores_per_s", raw_verify);
    // The verifier batches 1024 signatures (cheaper per signature than 256): the ratio to the
    // raw rate at that size shows what is left besides signatures.
    line("batch_verify_1024_all_cores_per_s", raw_verify_1024);
    line("verify_records", args.records as f64);
    line("verify_chain_per_s", chain);
    // Chain-only verification recomputes every record's SHA-256: hashing alone, on every core
    // and with nothing read, bounds it.
    line("sha256_record_all_cores_per_s", raw_sha);
    line("verify_chain_ratio_to_sha256", ratio(chain, raw_sha));
    line("verify_full_per_s", full);
    line("verify_full_ratio", ratio(full, raw_verify));
    line("verify_full_ratio_1024", ratio(full, raw_verify_1024));
    // The verifier checks runs of one key as same-key batches, faster than the library's
    // batches: its ratio to that rate shows what is left besides signatures.
    line("batch_verify_same_key_1024_all_cores_per_s", same_key_1024);
    line("verify_full_ratio_same_key", ratio(full, same_key_1024));
    line("verify_peak_rss_mb", rss_mb);
    Ok(())
}

/// Export of the whole big journal as one archive (timed), then its verification in a child
/// process (rate and peak memory) against the raw batch-verify rate of the same run.
fn archive_figures(
    big: &Path,
    dir: &Path,
    rounds: usize,
    round: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let zip = dir.join("archive.zip");
    let _ = std::fs::remove_file(&zip);
    let reader = JournalReader::open(big)?;
    let last = reader.last_seq()?;
    let key = KeyPair::from_seed(BENCH_SEED);
    let started = Instant::now();
    pos_core::archive::export_archive(
        &reader,
        &key,
        &pos_core::archive::ArchiveSelection::Range { from: 1, to: last },
        &zip,
    )?;
    let export_s = started.elapsed().as_secs_f64();
    let batch = BatchVerifyBench::new();
    let (mut raw, mut rate) = (Vec::new(), Vec::new());
    let mut rss_mb: f64 = 0.0;
    for _ in 0..rounds {
        raw.push(batch.run(RAW_VERIFY_BATCH, round));
        let f = run_child(&zip, "archive")?;
        rate.push(f.per_s);
        rss_mb = rss_mb.max(f.peak_rss_mb);
    }
    let (raw, rate) = (median(raw), median(rate));
    line("archive_records", last as f64);
    line("archive_export_seconds", export_s);
    line("archive_bytes", std::fs::metadata(&zip)?.len() as f64);
    line("archive_batch_verify_all_cores_per_s", raw);
    line("archive_verify_per_s", rate);
    line("archive_verify_ratio", ratio(rate, raw));
    line("archive_verify_peak_rss_mb", rss_mb);
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn line(name: &str, value: f64) {
    if value.fract() == 0.0 || value >= 1000.0 {
        println!("{name} {value:.0}");
    } else {
        println!("{name} {value:.3}");
    }
}

/// A fresh file name in `dir`, removed (with its WAL and lock files) first.
fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm", ".writer-lock"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    path
}

fn raw_sqlite_commits(dir: &Path, round: Duration) -> rusqlite::Result<f64> {
    let path = fresh(dir, "raw.db");
    let conn = rusqlite::Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL) STRICT")?;
    let blob = vec![0x5a_u8; RAW_ROW_BYTES];
    let mut stmt = conn.prepare("INSERT INTO t (data) VALUES (?1)")?;
    let start = Instant::now();
    let mut n = 0u64;
    // Autocommit: every execute is its own transaction and fsync.
    while start.elapsed() < round {
        stmt.execute([&blob])?;
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(stmt);
    drop(conn);
    fresh(dir, "raw.db");
    Ok(rate)
}

/// The benchmark journals' key (fixed, so that a kept journal can be archived in a later run).
const BENCH_SEED: [u8; 32] = [7; 32];

fn new_journal_with(path: &Path, key: KeyPair) -> Result<Journal, JournalError> {
    Journal::create(path, key, sample_opening(), JournalOptions::default())
}

/// The P-256 benchmark journals' key (fixed, as [`BENCH_SEED`]).
fn p256_key() -> KeyPair {
    KeyPair::from_secret(pos_core::keys::Algorithm::EcdsaP256Sha256, [7; 32])
        .expect("a valid P-256 scalar")
}

/// Pre-generated sales, so that only the append is timed.
fn sales(seed: u64, n: usize) -> Vec<SaleInput> {
    let mut g = TicketGenerator::new(seed);
    (0..n).map(|_| g.sale()).collect()
}

fn append_single(dir: &Path, round: Duration) -> Result<f64, Box<dyn std::error::Error>> {
    append_single_with(dir, round, KeyPair::from_seed(BENCH_SEED))
}

fn append_single_with(
    dir: &Path,
    round: Duration,
    key: KeyPair,
) -> Result<f64, Box<dyn std::error::Error>> {
    let path = fresh(dir, "single.db");
    let journal = new_journal_with(&path, key)?;
    let inputs = sales(1, 4096);
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < round {
        journal.sale(&inputs[n % inputs.len()])?;
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    journal.close();
    fresh(dir, "single.db");
    Ok(rate)
}

fn sign_one_core(round: Duration) -> f64 {
    let key = SigningKey::from_bytes(&[7; 32]);
    let mut msg = [0u8; 32];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < round {
        // Batches of 64 between clock reads, each over a different message.
        for _ in 0..64 {
            msg[..8].copy_from_slice(&n.to_le_bytes());
            std::hint::black_box(key.sign(&msg));
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The process's CPU time so far (user and system), from `/proc/self/stat`.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th, in clock ticks of 1/100 s (USER_HZ on Linux).
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// Appends per second with 64 appenders, and the process's CPU seconds per append.
fn group_commit(dir: &Path, round: Duration) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    group_commit_with(dir, round, KeyPair::from_seed(BENCH_SEED))
}

fn group_commit_with(
    dir: &Path,
    round: Duration,
    key: KeyPair,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let path = fresh(dir, "group.db");
    let journal = new_journal_with(&path, key)?;
    let inputs = Arc::new(sales(2, 4096));
    let done = AtomicU64::new(0);
    let cpu_before = process_cpu_seconds().unwrap_or(f64::NAN);
    let start = Instant::now();
    std::thread::scope(|s| -> Result<(), JournalError> {
        let handles: Vec<_> = (0..GROUP_THREADS)
            .map(|t| {
                let (journal, inputs, done) = (&journal, &inputs, &done);
                s.spawn(move || -> Result<(), JournalError> {
                    let mut i = t * 61;
                    while start.elapsed() < round {
                        journal.sale(&inputs[i % inputs.len()])?;
                        done.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("appender panicked")?;
        }
        Ok(())
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds().unwrap_or(f64::NAN) - cpu_before;
    let appended = done.load(Ordering::Relaxed) as f64;
    journal.close();
    fresh(dir, "group.db");
    Ok((appended / elapsed, cpu / appended))
}

/// The mean length of a record's hash preimage in the journal at `path` (body plus the
/// header fields, about 170 bytes).
fn mean_record_len(path: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let body: f64 = conn.query_row("SELECT avg(length(body)) FROM records", [], |r| r.get(0))?;
    Ok(body as usize + 170)
}

/// SHA-256 of `len`-byte buffers on every core, records per second.
fn sha256_all_cores(len: usize, round: Duration) -> f64 {
    use sha2::{Digest, Sha256};
    let start = Instant::now();
    let threads = rayon::current_num_threads();
    let done: u64 = (0..threads)
        .into_par_iter()
        .map(|t| {
            let mut buf = vec![t as u8; len];
            let mut n = 0u64;
            while start.elapsed() < round {
                for _ in 0..256 {
                    let h = Sha256::digest(&buf);
                    buf[0] = h[0];
                    n += 1;
                }
            }
            n
        })
        .sum();
    done as f64 / start.elapsed().as_secs_f64()
}

/// Signatures prepared once, verified again each round.
struct BatchVerifyBench {
    msgs: Vec<[u8; 32]>,
    sigs: Vec<Signature>,
    vks: Vec<VerifyingKey>,
}

impl BatchVerifyBench {
    fn new() -> BatchVerifyBench {
        let key = SigningKey::from_bytes(&[9; 32]);
        let n = RAW_VERIFY_BATCH * 4 * 32;
        let msgs: Vec<[u8; 32]> = (0..n)
            .map(|i| {
                let mut m = [0u8; 32];
                m[..8].copy_from_slice(&(i as u64).to_le_bytes());
                m
            })
            .collect();
        let sigs = msgs.par_iter().map(|m| key.sign(m)).collect();
        BatchVerifyBench {
            msgs,
            sigs,
            vks: vec![key.verifying_key(); n],
        }
    }

    /// Signatures per second of `check` run over every batch, again and again for `round`.
    fn rate(&self, round: Duration, check: impl Fn() -> bool) -> f64 {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < round {
            assert!(check(), "batch verification failed");
            n += self.msgs.len();
        }
        n as f64 / start.elapsed().as_secs_f64()
    }

    fn run(&self, batch: usize, round: Duration) -> f64 {
        self.rate(round, || {
            self.msgs
                .par_chunks(batch)
                .zip(self.sigs.par_chunks(batch))
                .zip(self.vks.par_chunks(batch))
                .all(|((m, s), k)| {
                    let m: Vec<&[u8]> = m.iter().map(|m| &m[..]).collect();
                    ed25519_dalek::verify_batch(&m, s, k).is_ok()
                })
        })
    }

    /// The same signatures through `pos_core::batch::verify_same_key` (one key term per
    /// batch instead of one per signature), the check the verifier runs.
    fn run_same_key(&self, batch: usize, round: Duration) -> f64 {
        let key = self.vks[0];
        self.rate(round, || {
            self.msgs
                .par_chunks(batch)
                .zip(self.sigs.par_chunks(batch))
                .all(|(m, s)| {
                    let items: Vec<(&[u8], &Signature)> =
                        m.iter().zip(s).map(|(m, s)| (&m[..], s)).collect();
                    pos_core::batch::verify_same_key(&key, &items)
                })
        })
    }
}

/// Builds an N-record journal (sales and some refunds, from several threads), unless one with
/// at least N records is already there.
fn build_journal(path: &Path, records: u64) -> Result<(), Box<dyn std::error::Error>> {
    build_journal_with(path, records, KeyPair::from_seed(BENCH_SEED))
}

fn build_journal_with(
    path: &Path,
    records: u64,
    key: KeyPair,
) -> Result<(), Box<dyn std::error::Error>> {
    if path.exists() {
        if let Ok(r) = JournalReader::open(path) {
            if r.last_seq()? >= records {
                return Ok(());
            }
        }
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("journal.db")
        .to_string();
    let path = fresh(path.parent().unwrap_or(Path::new(".")), &name);
    let started = Instant::now();
    let journal = new_journal_with(&path, key)?;
    // The opening is record 1; the threads claim the remaining slots.
    let left = AtomicU64::new(records.saturating_sub(1));
    // Many appenders, so that each fsync carries a large batch even on a slow disk.
    let threads = 128u64;
    std::thread::scope(|s| -> Result<(), JournalError> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (journal, left) = (&journal, &left);
                s.spawn(move || -> Result<(), JournalError> {
                    let mut g = TicketGenerator::new(1000 + t);
                    let claim = |n: u64| {
                        left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                            l.checked_sub(n)
                        })
                        .is_ok()
                    };
                    while claim(1) {
                        let sale = journal.sale(&g.sale())?;
                        // About one sale in 25 gets a refund of one line, as in fill_journal.
                        if g.rng().gen_ratio(1, 25) && claim(1) {
                            let body: SaleBody = serde_json::from_slice(&sale.body)
                                .map_err(|e| JournalError::Invalid(e.to_string()))?;
                            journal.refund(sale.seq, &g.refund_line(&body))?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("builder panicked")?;
        }
        Ok(())
    })?;
    journal.close();
    eprintln!(
        "built {} ({records} records) in {:.1?}",
        path.display(),
        started.elapsed()
    );
    Ok(())
}

struct ChildFigures {
    per_s: f64,
    peak_rss_mb: f64,
}

fn run_child(path: &Path, mode: &str) -> Result<ChildFigures, Box<dyn std::error::Error>> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("--verify-child")
        .arg(path)
        .args(["--mode", mode])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "verification child ({mode}) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = String::from_utf8(out.stdout)?;
    let get = |name: &str| -> Result<f64, String> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .ok_or_else(|| format!("child output lacks {name}: {text}"))
    };
    Ok(ChildFigures {
        per_s: get("per_s ")?,
        peak_rss_mb: get("vmhwm_kb ")? / 1024.0,
    })
}

/// The child side: verifies, then prints its rate and its own peak resident memory.
fn verify_child(path: &Path, mode: &str) -> Result<(), Box<dyn std::error::Error>> {
    let full = match mode {
        "full" | "archive" => true,
        "chain" => false,
        other => return Err(format!("unknown mode {other:?}").into()),
    };
    if mode == "archive" {
        let start = Instant::now();
        let mut sink = CollectFindings::default();
        let inputs = [pos_core::archive::ArchiveInput {
            path: path.to_path_buf(),
        }];
        let summary =
            pos_core::archive::verify_archives(&inputs, &VerifyOptions::default(), &mut sink)?;
        let secs = start.elapsed().as_secs_f64();
        if let Some(f) = sink.findings.first() {
            return Err(format!("{} findings, first: {f}", sink.findings.len()).into());
        }
        return print_child(summary.records.records, secs);
    }
    let options = VerifyOptions {
        signatures: full,
        bodies: full,
        ..VerifyOptions::default()
    };
    let start = Instant::now();
    let reader = JournalReader::open(path)?;
    let mut sink = CollectFindings::default();
    let summary = verify_journal(&reader, &options, &mut sink)?;
    let secs = start.elapsed().as_secs_f64();
    if !sink.findings.is_empty() {
        return Err(format!(
            "{} findings, first: {}",
            sink.findings.len(),
            sink.findings[0]
        )
        .into());
    }
    print_child(summary.records, secs)
}

/// Prints the child's rate and its own peak resident memory.
fn print_child(records: u64, secs: f64) -> Result<(), Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    println!("records {records}");
    println!("per_s {}", records as f64 / secs);
    println!("vmhwm_kb {hwm}");
    Ok(())
}

/// The P-256 figures (see the module documentation), each journal figure against P-256's own
/// limit measured in the same rounds.
fn p256_figures(args: &Args, round: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let key = p256_key();
    let records = (args.records / 10).max(1000);
    let path = args.dir.join(format!("journal-p256-{records}.db"));
    build_journal_with(&path, records, key.clone())?;
    let prepared = P256Bench::new(&key);
    let (mut sign, mut verify, mut raw, mut single) = (vec![], vec![], vec![], vec![]);
    let (mut group, mut cpu, mut full) = (vec![], vec![], vec![]);
    for _ in 0..args.rounds.max(1) {
        sign.push(prepared.sign_one_core(round));
        verify.push(prepared.verify_all_cores(round));
        raw.push(raw_sqlite_commits(&args.dir, round)?);
        single.push(append_single_with(&args.dir, round, key.clone())?);
        let (rate, cpu_per_record) = group_commit_with(&args.dir, round, key.clone())?;
        group.push(rate);
        cpu.push(cpu_per_record);
        full.push(run_child(&path, "full")?.per_s);
    }
    let (sign, verify, raw, single) = (median(sign), median(verify), median(raw), median(single));
    let (group, cpu, full) = (median(group), median(cpu), median(full));
    line("p256_sign_1core_per_s", sign);
    line("p256_verify_all_cores_per_s", verify);
    line("p256_raw_sqlite_commit_per_s", raw);
    line("p256_append_single_per_s", single);
    line("p256_append_single_ratio", ratio(single, raw));
    line("p256_group_commit_per_s", group);
    line("p256_group_commit_ratio", ratio(group, sign));
    line("p256_group_commit_cpu_us_per_record", cpu * 1e6);
    line("p256_verify_records", records as f64);
    line("p256_verify_full_per_s", full);
    line("p256_verify_full_ratio", ratio(full, verify));
    Ok(())
}

/// P-256 signatures of 32-byte hashes, prepared once.
struct P256Bench {
    key: KeyPair,
    msgs: Vec<[u8; 32]>,
    sigs: Vec<[u8; 64]>,
}

impl P256Bench {
    fn new(key: &KeyPair) -> P256Bench {
        let msgs: Vec<[u8; 32]> = (0..4096u64)
            .map(|i| {
                let mut m = [0u8; 32];
                m[..8].copy_from_slice(&i.to_le_bytes());
                m
            })
            .collect();
        let sigs = msgs.par_iter().map(|m| key.sign_hash(m)).collect();
        P256Bench {
            key: key.clone(),
            msgs,
            sigs,
        }
    }

    fn sign_one_core(&self, round: Duration) -> f64 {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < round {
            for m in self.msgs.iter().cycle().skip(n % self.msgs.len()).take(16) {
                std::hint::black_box(self.key.sign_hash(m));
                n += 1;
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    }

    fn verify_all_cores(&self, round: Duration) -> f64 {
        let public = self.key.verifying_key();
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < round {
            let ok = self
                .msgs
                .par_iter()
                .zip(&self.sigs)
                .all(|(m, s)| public.verify(m, s));
            assert!(ok, "P-256 verification failed");
            n += self.msgs.len();
        }
        n as f64 / start.elapsed().as_secs_f64()
    }
}

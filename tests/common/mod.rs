//! Helpers shared by the end-to-end tests: locating the workspace's binaries, building sample
//! journals with a fixed key and clock, and reading verification results.
//!
//! Every test crate compiles this module and uses only part of it.
#![allow(dead_code)]

use pos_core::prelude::*;
use pos_core::verify::Summary;
use pos_workspace::ManualClock;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// 2026-03-02 08:00 Europe/Paris, in UTC milliseconds: the sample journals' first timestamp.
pub const T0_MS: i64 = 1_772_434_800_000;

/// The fixed signing key of the sample journals.
pub fn journal_key() -> KeyPair {
    KeyPair::from_seed([0x11; 32])
}

/// Another key (an attacker's, or the next key of a rotation).
pub fn other_key() -> KeyPair {
    KeyPair::from_seed([0x22; 32])
}

/// `target/debug` (or the profile directory the tests were built in): test executables live
/// in its `deps/` subdirectory.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the test executable's directory");
    deps.parent()
        .expect("the profile directory above deps/")
        .to_path_buf()
}

/// Builds (once per test process) and returns a binary of the workspace.
///
/// The root package cannot use `CARGO_BIN_EXE_pos-journal` (the bin belongs to pos-core), and
/// `cargo test --test NAME` builds neither pos-core's bins nor the root package's examples, so
/// the test asks cargo for them. That is a no-op when they are up to date, and it guarantees the
/// tests never run a stale binary.
fn cargo_built(args: &[&str], path: PathBuf) -> PathBuf {
    static BUILD_LOCK: Mutex<()> = Mutex::new(());
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let status = Command::new(&cargo)
        .arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(args)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            // A machine without cargo at hand can still run the tests after
            // `cargo build --workspace --examples`.
            assert!(
                path.is_file(),
                "{} is missing and `cargo build {}` failed ({other:?}); run \
                 `cargo build --workspace --examples` first",
                path.display(),
                args.join(" ")
            );
        }
    }
    assert!(
        path.is_file(),
        "{} was not produced by `cargo build {}`",
        path.display(),
        args.join(" ")
    );
    path
}

/// The `pos-journal` CLI, built in the tests' profile.
pub fn pos_journal_bin() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        cargo_built(
            &["-p", "pos-journal", "--bin", "pos-journal"],
            profile_dir().join(format!("pos-journal{}", std::env::consts::EXE_SUFFIX)),
        )
    })
    .clone()
}

/// The `fill_journal` example, built in the tests' profile.
pub fn fill_journal_bin() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        cargo_built(
            &["-p", "pos-workspace", "--example", "fill_journal"],
            profile_dir()
                .join("examples")
                .join(format!("fill_journal{}", std::env::consts::EXE_SUFFIX)),
        )
    })
    .clone()
}

/// Options with a manual clock (so timestamps are chosen by the test).
pub fn manual_options(clock: &Arc<ManualClock>) -> JournalOptions {
    JournalOptions {
        clock: clock.clone(),
        ..JournalOptions::default()
    }
}

/// A new journal `journal.db` in `dir` with the fixed key, on a manual clock at [`T0_MS`].
pub fn journal_on_manual_clock(dir: &Path) -> (PathBuf, Arc<ManualClock>, Journal) {
    let path = dir.join("journal.db");
    let clock = Arc::new(ManualClock::new(T0_MS));
    let journal = Journal::create(
        &path,
        journal_key(),
        sample_opening(),
        manual_options(&clock),
    )
    .expect("create the journal");
    (path, clock, journal)
}

/// A one-line sale paid exactly in cash.
pub fn simple_sale(sku: &str, pieces: i64, unit_price: i64, vat: u32) -> SaleInput {
    let total = pieces * unit_price;
    SaleInput {
        operator: "alice".into(),
        lines: vec![LineInput {
            sku: sku.into(),
            label: format!("Article {sku}"),
            quantity: Qty::pieces(pieces),
            unit: Unit::Piece,
            unit_price: Cents(unit_price),
            vat_rate: VatRate(vat),
            discount: Cents::ZERO,
        }],
        ticket_discount: Cents::ZERO,
        payments: vec![Payment {
            method: PaymentMethod::Cash,
            amount: Cents(total),
        }],
    }
}

/// A refund of `pieces` of line `line`, paid back in cash (`amount` cents).
pub fn simple_refund(line: u32, pieces: i64, amount: i64) -> RefundInput {
    RefundInput {
        operator: "manager".into(),
        reason: "article défectueux".into(),
        lines: vec![RefundLineInput {
            original_line: line,
            quantity: Qty::pieces(pieces),
        }],
        payments: vec![Payment {
            method: PaymentMethod::Cash,
            amount: Cents(amount),
        }],
        void: false,
    }
}

/// Verifies the journal at `path` fully; returns the summary and every finding.
pub fn verify_full(path: &Path) -> (Summary, Vec<Finding>) {
    let reader = JournalReader::open(path).expect("open the journal for reading");
    let mut sink = CollectFindings::default();
    let summary =
        verify_journal(&reader, &VerifyOptions::default(), &mut sink).expect("verify the journal");
    (summary, sink.findings)
}

/// Verifies the chain only (hashes, links, numbers, time), returning the findings.
pub fn verify_chain_only(path: &Path) -> Vec<Finding> {
    let reader = JournalReader::open(path).expect("open the journal for reading");
    let mut sink = CollectFindings::default();
    let options = VerifyOptions {
        signatures: false,
        bodies: false,
        ..VerifyOptions::default()
    };
    verify_journal(&reader, &options, &mut sink).expect("verify the journal");
    sink.findings
}

/// The findings as sorted `(seq, problem)` pairs, for exact comparisons.
pub fn seq_problems(findings: &[Finding]) -> Vec<(u64, Problem)> {
    let mut v: Vec<(u64, Problem)> = findings.iter().map(|f| (f.seq, f.problem)).collect();
    v.sort();
    v
}

/// The secret key file `fill_journal` keeps beside a journal.
pub fn key_path_of(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

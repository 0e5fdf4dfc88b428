//! `pos-journal`: verify and read a fiscal journal file.
//!
//! Exit codes of `verify`: 0 intact, 1 findings, 2 the input cannot be read.

use clap::{Parser, Subcommand};
use pos_core::keys::load_public_key;
use pos_core::reader::JournalReader;
use pos_core::render::{record_text, summary_text, x_report_text};
use pos_core::verify::{verify_journal, Finding, FindingSink, VerifyOptions};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

/// Keep at most this many findings in memory for the JSON report; all are counted.
const MAX_FINDINGS_KEPT: usize = 10_000;
/// Print at most this many findings in the human report; `--json` lists more.
const MAX_FINDINGS_PRINTED: usize = 200;

#[derive(Parser)]
#[command(
    name = "pos-journal",
    version,
    about = "Verify and read a point-of-sale fiscal journal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a journal file: hashes, links, signatures, bodies. Exit 0 intact, 1 findings,
    /// 2 unreadable.
    Verify {
        /// The journal file.
        path: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Check only hashes, sequence numbers and links (no signatures, no bodies).
        #[arg(long)]
        chain_only: bool,
        /// Check only the newest N records.
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        /// A public key file the journal's opening key must match.
        #[arg(long, value_name = "KEY")]
        public_key: Vec<PathBuf>,
    },
    /// Print records readably (tickets as receipts).
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
    },
}

#[derive(Default)]
struct Keep {
    findings: Vec<Finding>,
}

impl FindingSink for Keep {
    fn finding(&mut self, f: Finding) {
        if self.findings.len() < MAX_FINDINGS_KEPT {
            self.findings.push(f);
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify {
            path,
            json,
            chain_only,
            tail,
            public_key,
        } => verify(path, json, chain_only, tail, public_key),
        Command::Show {
            path,
            seq,
            from,
            limit,
            x_report,
        } => show(path, seq, from, limit, x_report),
    }
}

fn unreadable(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("pos-journal: {msg}");
    ExitCode::from(2)
}

fn verify(
    path: PathBuf,
    json: bool,
    chain_only: bool,
    tail: Option<u64>,
    keys: Vec<PathBuf>,
) -> ExitCode {
    let mut trusted_keys = Vec::new();
    for k in &keys {
        match load_public_key(k) {
            Ok(vk) => trusted_keys.push(vk),
            Err(e) => return unreadable(e),
        }
    }
    let reader = match JournalReader::open(&path) {
        Ok(r) => r,
        Err(e) => return unreadable(e),
    };
    let options = VerifyOptions {
        signatures: !chain_only,
        bodies: !chain_only,
        tail,
        trusted_keys,
    };
    let mut sink = Keep::default();
    let summary = match verify_journal(&reader, &options, &mut sink) {
        Ok(s) => s,
        Err(e) => return unreadable(e),
    };
    let source = path.display().to_string();
    if json {
        let doc = serde_json::json!({
            "source": source,
            "intact": summary.findings == 0,
            "chain_only": chain_only,
            "summary": summary,
            "findings": sink.findings,
        });
        match serde_json::to_string_pretty(&doc) {
            Ok(text) => println!("{text}"),
            Err(e) => return unreadable(e),
        }
    } else {
        print!(
            "{}",
            summary_text(
                &source,
                &summary,
                &sink.findings[..sink.findings.len().min(MAX_FINDINGS_PRINTED)],
                chain_only
            )
        );
    }
    if summary.findings == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn show(path: PathBuf, seq: Option<u64>, from: u64, limit: u64, x_report: bool) -> ExitCode {
    let reader = match JournalReader::open(&path) {
        Ok(r) => r,
        Err(e) => return unreadable(e),
    };
    let opening = reader.opening().ok().flatten();
    if x_report {
        return match reader.x_report() {
            Ok(x) => {
                print!("{}", x_report_text(&x, opening.as_ref()));
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
            Ok(r) => print!("{}", record_text(&r, opening.as_ref())),
            Err(m) => println!("── seq {}: unreadable row: {}", m.seq, m.problem),
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

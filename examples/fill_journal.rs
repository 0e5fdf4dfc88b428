//! Writes realistic tickets into a journal (creating it, with its key, when missing).
//!
//! ```text
//! cargo run --release --example fill_journal -- --db PATH --tickets N [--days D] [--print-acks]
//!     [--algorithm ed25519|ecdsa-p256-sha256]
//! ```
//!
//! The signing key lives beside the journal as `PATH.key` (mode 0600). With `--days D` the
//! tickets are dated over D simulated trading days (08:00 to 19:00 Paris time) starting
//! 2026-03-02; without it they carry the real time. About one sale in 25 is followed by a refund
//! of one of its lines, one in 50 by a duplicate (reprint), one in 100 by a training ticket.
//! Each simulated day starts with an operator sign-in event and ends with a Z (day closure);
//! months close automatically. The run starts with a `software_started` event and ends with
//! `software_stopped`. With `--print-acks` the sequence number of each record the program asked
//! for is printed on its own line, flushed, as soon as its append has returned (the crash tests
//! read these).

use clap::Parser;
use pos_core::closure::Period;
use pos_core::events;
use pos_core::keys::Algorithm;
use pos_core::prelude::*;
use pos_core::ticket::SaleBody;
use pos_workspace::{ManualClock, TicketGenerator};
use rand::Rng;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
struct Args {
    /// The journal file.
    #[arg(long)]
    db: PathBuf,
    /// How many sale tickets to write.
    #[arg(long)]
    tickets: u64,
    /// Spread the tickets over this many simulated days.
    #[arg(long)]
    days: Option<u32>,
    /// Print each record's sequence number once durable.
    #[arg(long)]
    print_acks: bool,
    /// Random seed.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// The key algorithm of a journal created now: `ed25519` or `ecdsa-p256-sha256` (a journal
    /// that exists keeps its key, `PATH.key`, whatever its algorithm).
    #[arg(long, default_value = "ed25519")]
    algorithm: Algorithm,
}

/// 2026-03-02 08:00 Europe/Paris (07:00 UTC), in UTC milliseconds.
const FIRST_DAY_OPENING_MS: i64 = 1_772_434_800_000;
const DAY_MS: i64 = 86_400_000;
const TRADING_MS: i64 = 11 * 3_600_000;

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fill_journal: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let key_path = {
        let mut p = args.db.clone().into_os_string();
        p.push(".key");
        PathBuf::from(p)
    };
    let clock = Arc::new(ManualClock::new(FIRST_DAY_OPENING_MS));
    let options = JournalOptions {
        clock: match args.days {
            Some(_) => clock.clone(),
            None => Arc::new(pos_core::journal::SystemClock),
        },
        ..JournalOptions::default()
    };
    let journal = if args.db.exists() {
        Journal::open(&args.db, KeyPair::load(&key_path)?, options)?
    } else {
        let key = KeyPair::generate_for(args.algorithm);
        if !key_path.exists() {
            key.save(&key_path)?;
        }
        let key = KeyPair::load(&key_path)?;
        Journal::create(&args.db, key, sample_opening(), options)?
    };
    let stdout = std::io::stdout();
    let ack = |seq: u64| -> std::io::Result<()> {
        if args.print_acks {
            let mut out = stdout.lock();
            writeln!(out, "{seq}")?;
            out.flush()?;
        }
        Ok(())
    };

    let mut generator = TicketGenerator::new(args.seed);
    let started = std::time::Instant::now();
    let (mut sales, mut refunds, mut copies, mut training) = (0u64, 0u64, 0u64, 0u64);
    ack(journal
        .event(events::SOFTWARE_STARTED, "fill_journal started")?
        .seq)?;
    let per_day = args
        .days
        .map(|days| args.tickets.div_ceil(u64::from(days.max(1))).max(1));
    for i in 0..args.tickets {
        if let Some(per_day) = per_day {
            let day = (i / per_day) as i64;
            let within = ((i % per_day) as i64 * TRADING_MS) / per_day as i64;
            clock.set(FIRST_DAY_OPENING_MS + day * DAY_MS + within);
            if i % per_day == 0 {
                let operator = ["alice", "bruno", "chloe"][(day % 3) as usize];
                ack(journal.event(events::OPERATOR_SIGNED_IN, operator)?.seq)?;
            }
        }
        let sale = journal.sale(&generator.sale())?;
        ack(sale.seq)?;
        sales += 1;
        if generator.rng().gen_ratio(1, 25) {
            let body: SaleBody = serde_json::from_slice(&sale.body)?;
            let refund = generator.refund_line(&body);
            ack(journal.refund(sale.seq, &refund)?.seq)?;
            refunds += 1;
        }
        if generator.rng().gen_ratio(1, 50) {
            ack(journal.duplicate(sale.seq, "alice", "demande client")?.seq)?;
            copies += 1;
        }
        if generator.rng().gen_ratio(1, 100) {
            ack(journal.training(&generator.sale())?.seq)?;
            training += 1;
        }
        if let Some(per_day) = per_day {
            let last_of_day = i % per_day == per_day - 1 || i + 1 == args.tickets;
            if last_of_day {
                let day = (i / per_day) as i64;
                clock.set(FIRST_DAY_OPENING_MS + day * DAY_MS + TRADING_MS);
                journal.close_period(Period::Day)?;
            }
        }
    }
    ack(journal
        .event(events::SOFTWARE_STOPPED, "fill_journal stopped")?
        .seq)?;
    journal.close();
    if !args.print_acks {
        eprintln!(
            "{}: {sales} sales, {refunds} refunds, {copies} duplicates, {training} training \
             tickets written in {:.2?}",
            args.db.display(),
            started.elapsed()
        );
    }
    Ok(())
}

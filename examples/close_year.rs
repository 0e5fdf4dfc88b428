//! Measures what closing costs on a large journal: a fiscal year of N tickets (365 simulated
//! days, a Z every evening, months closing automatically), then the year closure on demand, the
//! X report, and reopening the journal (which rebuilds the running totals without rescanning).
//!
//! ```text
//! cargo run --release --example close_year -- [--tickets 1000000] [--dir target/close-year]
//! ```
//!
//! Prints one `name value` line per figure. The journal is kept in `--dir` and reused.

use clap::Parser;
use pos_core::closure::Period;
use pos_core::prelude::*;
use pos_workspace::{ManualClock, TicketGenerator};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Tickets over the year.
    #[arg(long, default_value_t = 1_000_000)]
    tickets: u64,
    /// Where the journal is kept.
    #[arg(long, default_value = "target/close-year")]
    dir: PathBuf,
    /// Appending threads (group commit).
    #[arg(long, default_value_t = 32)]
    threads: u64,
}

/// 2025-01-01 08:00 Europe/Paris (07:00 UTC).
const FIRST_DAY_MS: i64 = 1_735_714_800_000;
const DAY_MS: i64 = 86_400_000;
const DAYS: u64 = 365;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let path = args.dir.join(format!("year-{}.db", args.tickets));
    let key = KeyPair::from_seed([42; 32]);
    let clock = Arc::new(ManualClock::new(FIRST_DAY_MS));
    let options = || JournalOptions {
        clock: clock.clone(),
        ..JournalOptions::default()
    };
    if !path.exists() {
        let started = Instant::now();
        let journal = Journal::create(&path, key.clone(), sample_opening(), options())?;
        let per_day = args.tickets.div_ceil(DAYS);
        let inputs: Vec<SaleInput> = {
            let mut g = TicketGenerator::new(7);
            (0..4096).map(|_| g.sale()).collect()
        };
        let mut written = 0u64;
        for day in 0..DAYS as i64 {
            if written >= args.tickets {
                break;
            }
            clock.set(FIRST_DAY_MS + day * DAY_MS);
            let today = per_day.min(args.tickets - written);
            std::thread::scope(|s| {
                for t in 0..args.threads {
                    let (journal, inputs) = (&journal, &inputs);
                    s.spawn(move || {
                        let mut i = t;
                        while i < today {
                            // Errors would show in the verification below; a failed append
                            // here only makes the year smaller.
                            let _ = journal.sale(&inputs[((i * 31 + t) % 4096) as usize]);
                            i += args.threads;
                        }
                    });
                }
            });
            written += today;
            clock.set(FIRST_DAY_MS + day * DAY_MS + 11 * 3_600_000);
            journal.close_period(Period::Day)?;
        }
        journal.close();
        println!("fill_seconds {:.1}", started.elapsed().as_secs_f64());
    }
    // The evening of 31 December.
    clock.set(FIRST_DAY_MS + (DAYS as i64 - 1) * DAY_MS + 12 * 3_600_000);

    let started = Instant::now();
    let journal = Journal::open(&path, key.clone(), options())?;
    println!("open_ms {:.1}", started.elapsed().as_secs_f64() * 1e3);

    let started = Instant::now();
    let x = journal.x_report()?;
    println!("x_report_ms {:.3}", started.elapsed().as_secs_f64() * 1e3);
    println!("year_tickets {}", x.year.sales);

    let started = Instant::now();
    match journal.close_period(Period::Year) {
        Ok(records) => {
            println!("close_year_ms {:.3}", started.elapsed().as_secs_f64() * 1e3);
            println!("close_year_records {}", records.len());
        }
        // A second run on the same journal: the year is closed already.
        Err(e) => println!("close_year_skipped {e}"),
    }
    journal.close();
    Ok(())
}

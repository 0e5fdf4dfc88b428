//! Embedding pos-core: open a journal, append a sale, verify the file.
//!
//! ```text
//! cargo run --example embed -- [DIR]
//! ```
//!
//! Creates `DIR/journal.db` and its key `DIR/journal.key` on the first run (DIR defaults to a
//! fresh temporary directory) and reopens them on later runs.

use pos_core::prelude::*;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("pos-embed-{}", std::process::id())));
    std::fs::create_dir_all(&dir)?;
    let (db, key_file) = (dir.join("journal.db"), dir.join("journal.key"));

    // Open the journal, creating it (and its signing key, mode 0600) the first time.
    let journal = if db.exists() {
        Journal::open(&db, KeyPair::load(&key_file)?, JournalOptions::default())?
    } else {
        let key = KeyPair::generate();
        key.save(&key_file)?;
        Journal::create(&db, key, sample_opening(), JournalOptions::default())?
    };

    // A sale: two baguettes at 1.30 (5.5 % VAT), paid 5.00 in cash. Returns once durable.
    let sale = journal.sale(&SaleInput {
        operator: "alice".into(),
        lines: vec![LineInput {
            sku: "BAGUETTE".into(),
            label: "Baguette tradition".into(),
            quantity: Qty::pieces(2),
            unit: Unit::Piece,
            unit_price: Cents(130),
            vat_rate: VatRate(550),
            discount: Cents::ZERO,
        }],
        ticket_discount: Cents::ZERO,
        payments: vec![Payment {
            method: PaymentMethod::Cash,
            amount: Cents(500),
        }],
    })?;
    println!("ticket {} recorded as seq {}", sale.kind_seq, sale.seq);
    journal.close();

    // Verify the whole file: hashes, links, signatures, ticket totals.
    let mut findings = CollectFindings::default();
    let summary = verify_journal(
        &JournalReader::open(&db)?,
        &VerifyOptions::default(),
        &mut findings,
    )?;
    println!(
        "{}: {} records, {} findings",
        db.display(),
        summary.records,
        findings.findings.len()
    );
    Ok(())
}

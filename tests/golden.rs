//! The journal's bytes do not depend on how the code is arranged, and what earlier versions
//! wrote still verifies.
//!
//! - A fixed scenario (fixed keys, clock and tickets: sales, refunds, duplicates, training
//!   tickets, a VAT change, a key rotation, day closures on demand, a month closed
//!   automatically, an archive) writes exactly the records it wrote when this test was made:
//!   its head hash and record count are pinned. Ed25519 signatures are deterministic, so any
//!   change to a body, a preimage, a closure or the order of records changes the head.
//! - `tests/fixtures/v1-journal-and-archive.zip` holds a journal and the archive of its March,
//!   written by the version that made this test (stored entries, archive format 1); both must
//!   verify with no finding, forever.

mod common;

use common::*;
use pos_core::archive::{export_archive, verify_archives, ArchiveInput, ArchiveSelection};
use pos_core::closure::Period;
use pos_core::journal::Draft;
use pos_core::prelude::*;
use pos_core::ticket::SaleBody;
use pos_workspace::TicketGenerator;
use rand::Rng;
use std::path::{Path, PathBuf};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The hash of the scenario's last record before its archive (whose body holds the archive's
/// SHA-256, and the archive its time of writing) and the scenario's record count, pinned when
/// this test was made, and pinned again (same records, same count) when a day closure written
/// during its day began to say so (`continues`, record format version 2, JOURNAL-FORMAT §6.6
/// and §8): the scenario's evening Zs carry it. What the earlier version wrote is the fixture
/// below, which still verifies.
const SCENARIO_HEAD: &str = "30d9d879a2dfcbbefd4420bfd856dacc4ee1070ea0118e1ee1af39768fe99a91";
const SCENARIO_RECORDS: u64 = 266;
/// The head of the fixture's journal (written once, archive included).
const FIXTURE_HEAD: &str = "bf270be5fd8b8b1f4c8b3d3f7408f091d79227ada5c001ef9bf642e29469afff";

/// Writes the scenario's journal in `dir`; returns the journal's path, the March archive's, and
/// the hash of the last record before the archive's.
fn scenario(dir: &Path) -> (PathBuf, PathBuf, String) {
    let (path, clock, journal) = journal_on_manual_clock(dir);
    let mut tickets = TicketGenerator::new(17);
    for day in 0..35i64 {
        let morning = T0_MS + day * DAY_MS;
        clock.set(morning);
        journal
            .event(pos_core::events::OPERATOR_SIGNED_IN, "alice")
            .unwrap();
        for i in 0..3i64 {
            clock.set(morning + (i + 1) * HOUR_MS);
            let sale = journal.sale(&tickets.sale()).unwrap();
            if (day + i) % 5 == 0 {
                let body: SaleBody = serde_json::from_slice(&sale.body).unwrap();
                let refund = tickets.refund_line(&body);
                journal.refund(sale.seq, &refund).unwrap();
            }
            if (day + i) % 7 == 3 {
                journal
                    .duplicate(sale.seq, "alice", "demande client")
                    .unwrap();
            }
            if tickets.rng().gen_ratio(1, 9) {
                journal.training(&tickets.sale()).unwrap();
            }
        }
        if day == 9 {
            let mut rates = pos_core::sample::FRENCH_VAT_RATES.to_vec();
            rates.push(VatRate(850));
            journal
                .append(Draft::SetVatRates {
                    rates,
                    operator: "manager".into(),
                })
                .unwrap();
        }
        if day == 20 {
            journal.rotate_key(other_key(), "key renewed").unwrap();
        }
        clock.set(morning + 11 * HOUR_MS);
        journal.close_period(Period::Day).unwrap();
    }
    // The records of April 5 closed March automatically; March is archived.
    let archive = dir.join("2026-03.zip");
    let reader = JournalReader::open(&path).unwrap();
    let before_archive = reader.record(journal.last_seq()).unwrap().unwrap().unwrap();
    let (_, body) = export_archive(
        &reader,
        &other_key(),
        &ArchiveSelection::Month {
            year: 2026,
            month: 3,
        },
        &archive,
    )
    .unwrap();
    drop(reader);
    journal.append(Draft::Archive(body)).unwrap();
    journal.close();
    (path, archive, hex::encode(before_archive.hash))
}

fn verify_archive(path: &Path) -> Vec<Finding> {
    let mut sink = CollectFindings::default();
    verify_archives(
        &[ArchiveInput {
            path: path.to_path_buf(),
        }],
        &VerifyOptions::default(),
        &mut sink,
    )
    .unwrap();
    sink.findings
}

#[test]
fn the_scenario_writes_the_same_bytes_as_ever() {
    let dir = tempfile::tempdir().unwrap();
    let (path, archive, before_archive) = scenario(dir.path());
    let (summary, findings) = verify_full(&path);
    assert_eq!(findings, vec![]);
    assert_eq!(verify_archive(&archive), vec![]);
    if std::env::var_os("GOLDEN_WRITE").is_some() {
        // Writes the fixtures of the earlier-version test (once, by the version that pins).
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        std::fs::create_dir_all(&out).unwrap();
        let file = std::fs::File::create(out.join("v1-journal-and-archive.zip")).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, from) in [("journal.db", &path), ("2026-03.zip", &archive)] {
            zip.start_file(name, options).unwrap();
            std::io::copy(&mut std::fs::File::open(from).unwrap(), &mut zip).unwrap();
        }
        zip.finish().unwrap();
        eprintln!(
            "before the archive {before_archive}, head {}, records {}",
            summary.last_hash.clone().unwrap(),
            summary.records
        );
    }
    assert_eq!(
        (before_archive.as_str(), summary.records),
        (SCENARIO_HEAD, SCENARIO_RECORDS)
    );
}

#[test]
fn a_journal_and_an_archive_of_format_1_still_verify() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-journal-and-archive.zip");
    let dir = tempfile::tempdir().unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&fixture).unwrap()).unwrap();
    zip.extract(dir.path()).unwrap();
    let (summary, findings) = verify_full(&dir.path().join("journal.db"));
    assert_eq!(findings, vec![]);
    assert_eq!(
        (summary.last_hash.as_deref(), summary.records),
        (Some(FIXTURE_HEAD), SCENARIO_RECORDS)
    );
    assert_eq!(verify_archive(&dir.path().join("2026-03.zip")), vec![]);
}

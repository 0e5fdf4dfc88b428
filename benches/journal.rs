//! Small benchmarks of the journal's hot paths: sale computation and canonical encoding, the
//! record hash, the canonical-form check, a durable single append, and verifying 10,000 records.
//!
//! ```text
//! cargo bench --bench journal
//! ```
//!
//! The end-to-end figures against the machine's raw limits come from
//! `cargo run --release --example bench_journal`; these isolate the pieces.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pos_core::canonical::{to_canonical, validate_canonical};
use pos_core::keys::KeyId;
use pos_core::prelude::*;
use pos_core::record::{record_hash, Header, ZERO_HASH};
use pos_core::sample::FRENCH_VAT_RATES;
use pos_core::ticket::compute_sale;
use pos_workspace::TicketGenerator;
use std::time::Duration;

fn sales(n: usize) -> Vec<SaleInput> {
    let mut g = TicketGenerator::new(7);
    (0..n).map(|_| g.sale()).collect()
}

fn encoding(c: &mut Criterion) {
    let inputs = sales(256);
    let bodies: Vec<Vec<u8>> = inputs
        .iter()
        .map(|s| to_canonical(&compute_sale(s, &FRENCH_VAT_RATES).unwrap()).unwrap())
        .collect();
    let mut g = c.benchmark_group("encoding");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.bench_function("compute_sale", |b| {
        b.iter(|| {
            for s in &inputs {
                std::hint::black_box(compute_sale(s, &FRENCH_VAT_RATES).unwrap());
            }
        })
    });
    g.bench_function("compute_sale_and_to_canonical", |b| {
        b.iter(|| {
            for s in &inputs {
                let body = compute_sale(s, &FRENCH_VAT_RATES).unwrap();
                std::hint::black_box(to_canonical(&body).unwrap());
            }
        })
    });
    g.bench_function("validate_canonical", |b| {
        b.iter(|| {
            for body in &bodies {
                validate_canonical(body).unwrap();
            }
        })
    });
    g.bench_function("record_hash", |b| {
        let key = KeyId([3; 16]);
        b.iter(|| {
            for (i, body) in bodies.iter().enumerate() {
                let header = Header {
                    format_version: 1,
                    seq: i as u64 + 2,
                    kind: "sale",
                    kind_seq: i as u64 + 1,
                    timestamp_ms: 1_772_434_800_000,
                    prev_hash: &ZERO_HASH,
                    prev_kind_hash: &ZERO_HASH,
                    key_id: &key,
                };
                std::hint::black_box(record_hash(&header, body));
            }
        })
    });
    g.finish();
}

fn journal(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("journal");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));

    let path = dir.path().join("append.db");
    let journal = Journal::create(
        &path,
        KeyPair::generate(),
        sample_opening(),
        JournalOptions::default(),
    )
    .unwrap();
    let inputs = sales(64);
    let mut i = 0;
    g.throughput(Throughput::Elements(1));
    g.bench_function("append_single_durable", |b| {
        b.iter(|| {
            i += 1;
            journal.sale(&inputs[i % inputs.len()]).unwrap()
        })
    });
    journal.close();

    // 10,000 records: the opening, then sales. `cargo test` runs each benchmark once, as a
    // smoke test, in a debug build (without `--bench`): a small journal keeps that quick.
    let records = if std::env::args().any(|a| a == "--bench") {
        10_000
    } else {
        200
    };
    let path = dir.path().join("verify.db");
    let journal = Journal::create(
        &path,
        KeyPair::generate(),
        sample_opening(),
        JournalOptions::default(),
    )
    .unwrap();
    let inputs = sales(records - 1);
    std::thread::scope(|s| {
        for part in inputs.chunks(inputs.len().div_ceil(32)) {
            let journal = &journal;
            s.spawn(move || {
                part.iter()
                    .for_each(|sale| drop(journal.sale(sale).unwrap()))
            });
        }
    });
    journal.close();
    let reader = JournalReader::open(&path).unwrap();
    g.throughput(Throughput::Elements(records as u64));
    for (name, full) in [("verify_10k_chain", false), ("verify_10k_full", true)] {
        let options = VerifyOptions {
            signatures: full,
            bodies: full,
            ..VerifyOptions::default()
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                CollectFindings::default,
                |mut sink| {
                    verify_journal(&reader, &options, &mut sink).unwrap();
                    assert!(sink.findings.is_empty());
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, encoding, journal);
criterion_main!(benches);

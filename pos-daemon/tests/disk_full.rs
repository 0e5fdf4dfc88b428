//! The real `posd` process on a disk that fills up and then has room again. While writes are
//! refused, a sale is either journaled (and answered) or refused with a clear 503 that says the
//! disk may be full, and nothing is printed for a refused one. Once writes return, sales go on,
//! every journaled sale gets its receipt, the journal verifies intact and tells of the incident
//! in a `journal_write_failed` event.
//!
//! The disk is filled with the posd process's file-size limit (`prlimit` on the child): a write
//! past it fails with `EFBIG`, as a write to a full disk fails with `ENOSPC`, on a real file system
//! and without privileges. posd inherits the test's "ignore" of `SIGXFSZ`, which a write past the
//! limit would otherwise raise.

mod common;

use common::{pos_journal_verify, sale, start, Posd};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Sets posd's soft file-size limit (`None`: back to its hard limit).
fn limit_file_size(pid: u32, bytes: Option<u64>) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on local structs, for a child process of this test.
    unsafe {
        let pid = pid as libc::pid_t;
        assert_eq!(
            libc::prlimit(pid, libc::RLIMIT_FSIZE, std::ptr::null(), &mut old),
            0
        );
        let new = libc::rlimit {
            rlim_cur: bytes.map_or(old.rlim_max, |b| b as libc::rlim_t),
            rlim_max: old.rlim_max,
        };
        assert_eq!(
            libc::prlimit(pid, libc::RLIMIT_FSIZE, &new, std::ptr::null_mut()),
            0
        );
    }
}

/// The largest file under `dir`.
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        largest = largest.max(if meta.is_dir() {
            largest_file(&entry.path())
        } else {
            meta.len()
        });
    }
    largest
}

fn baguettes(posd: &Posd) -> (u16, Value) {
    posd.call(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku":"BAGUETTE","quantity":1}), 130)),
    )
}

/// The journal's sequence numbers of its sales.
fn journaled_sales(posd: &Posd) -> BTreeSet<u64> {
    posd.records()
        .into_iter()
        .filter(|(_, kind)| kind == "sale")
        .map(|(seq, _)| seq)
        .collect()
}

#[test]
fn a_full_disk_refuses_sales_clearly_and_every_journaled_sale_is_printed_once_there_is_room() {
    // SAFETY: setting a signal's disposition to "ignore" installs no handler.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let printed = tempfile::tempdir().expect("temp dir");
    let receipts = printed.path().join("receipts.bin");
    let mut posd = start(&format!(
        "\n[printer]\naddress = \"file:{}\"\npaper_mm = 80\n",
        receipts.display()
    ));
    posd.sign_in("alice", common::CASHIER_PIN);
    let mut answered = BTreeSet::new();
    for _ in 0..3 {
        let (status, v) = baguettes(&posd);
        assert_eq!(status, 200, "{v}");
        answered.insert(v["seq"].as_u64().expect("seq"));
    }
    posd.wait_queue_drained();

    // The disk fills: no file may grow more than a few pages past the largest one now.
    let pid = posd.pid().expect("posd runs");
    let limit = largest_file(&posd.dir.path().join("data")).max(largest_file(printed.path()));
    limit_file_size(pid, Some(limit + 16 * 1024));
    let mut refused = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while refused.len() < 5 {
        assert!(Instant::now() < deadline, "no sale was refused");
        let (status, v) = baguettes(&posd);
        match status {
            200 => {
                answered.insert(v["seq"].as_u64().expect("seq"));
            }
            _ => refused.push((status, v)),
        }
    }
    for (status, v) in &refused {
        assert_eq!(*status, 503, "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("journal storage error") && message.contains("is the disk full?"),
            "the till is told what failed: {v}"
        );
    }
    // The journal had room for a few more sales after the till's other files filled up: their
    // receipts and stock movements wait for room.
    assert!(
        answered.len() > 3,
        "no sale was journaled while the disk filled"
    );
    // The till can show why, until a sale goes through again.
    let (_, health) = posd.call("GET", "/v1/health", None);
    assert_eq!(health["status"], "journal_failing", "{health}");
    assert!(
        health["journal"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("is the disk full?")),
        "{health}"
    );
    // Nothing refused is in the journal.
    assert_eq!(journaled_sales(&posd), answered);

    // Room again: sales go on.
    limit_file_size(pid, None);
    for _ in 0..3 {
        let (status, v) = baguettes(&posd);
        assert_eq!(status, 200, "{v}\n{}", posd.log());
        answered.insert(v["seq"].as_u64().expect("seq"));
    }
    assert_eq!(journaled_sales(&posd), answered);
    let (_, health) = posd.call("GET", "/v1/health", None);
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["journal"]["error"], Value::Null, "{health}");

    // Every journaled sale gets its receipt, once; nothing else is printed (the journal has no
    // other record to print here).
    posd.wait_queue_drained();
    let ops = rusqlite::Connection::open(posd.data().join("ops.db")).expect("ops.db");
    let jobs: Vec<(u64, String)> = ops
        .prepare("SELECT seq, state FROM print_jobs WHERE kind = 'record' ORDER BY seq")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
                .collect()
        })
        .expect("read the print queue");
    let seqs: Vec<u64> = jobs.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        answered.iter().copied().collect::<Vec<_>>(),
        "{jobs:?}"
    );
    assert!(jobs.iter().all(|(_, state)| state == "printed"), "{jobs:?}");
    drop(ops);

    // And every journaled sale, none refused, took its baguette off the shelf (100 at the start).
    let stock = posd.ok("GET", "/v1/stock", None);
    let baguette = stock["levels"]
        .as_array()
        .and_then(|levels| levels.iter().find(|l| l["sku"] == "BAGUETTE"))
        .and_then(|l| l["on_hand_milli"].as_i64());
    assert_eq!(
        baguette,
        Some((100 - answered.len() as i64) * 1000),
        "{stock}"
    );

    // The journal is intact and tells of the incident.
    assert!(posd.terminate().success());
    let (code, out) = pos_journal_verify(&posd.journal_path());
    assert_eq!(code, 0, "{out}");
    let reader = pos_core::reader::JournalReader::open(&posd.journal_path()).expect("reader");
    let event = reader
        .last_event("journal_write_failed")
        .expect("read")
        .expect("the incident is journaled");
    assert!(
        event.details["error"].contains("is the disk full?"),
        "{event:?}"
    );
    assert_eq!(
        event.details["records_refused"],
        refused.len().to_string(),
        "one refused record per refused sale: {event:?}"
    );
}

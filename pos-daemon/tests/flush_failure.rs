//! The real `posd` process when the disk fails to flush the journal: the sale is answered
//! `outcome_unknown` (not refused: it may be in the journal), posd stops by itself so that the
//! journal is reopened, and once started again the front-end's retry under the same
//! `Idempotency-Key` gets the sale journaled exactly once, with one receipt.
//!
//! The failures come from a small shared library preloaded into posd (`LD_PRELOAD`), built here
//! with the machine's C compiler: its `fsync` fails with `EIO` for the journal's WAL while a
//! trigger file exists, and passes every other call to the C library's.

mod common;

use common::{pos_journal_verify, sale, start};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    const char *trigger = getenv("POSD_TEST_FAIL_WAL_FSYNC");
    if (trigger && access(trigger, F_OK) == 0) {
        char link[64], path[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        const char *wal = "journal.db-wal";
        if (n > (ssize_t)strlen(wal)) {
            path[n] = 0;
            if (strcmp(path + n - strlen(wal), wal) == 0) {
                errno = EIO;
                return -1;
            }
        }
    }
    return real(fd);
}
"#;

/// Builds the preloaded library into `dir`.
fn build_shim(dir: &Path) -> PathBuf {
    let source = dir.join("fail_wal_fsync.c");
    let library = dir.join("fail_wal_fsync.so");
    std::fs::write(&source, SHIM).expect("shim source");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "the shim builds");
    library
}

fn keyed_sale(posd: &common::Posd, key: &str, n: i64) -> (u16, Value) {
    let body = sale(json!({"sku":"BAGUETTE","quantity":n}), 130 * n).to_string();
    posd.try_call_with(
        "POST",
        "/v1/sales",
        Some(&body),
        Some(common::TOKEN),
        &[("Idempotency-Key", key)],
    )
    .expect("posd reachable")
}

#[test]
fn a_failed_flush_stops_posd_for_a_reopen_and_the_keyed_retry_sells_exactly_once() {
    let tools = tempfile::tempdir().expect("temp dir");
    let shim = build_shim(tools.path());
    let trigger = tools.path().join("fail-now");
    let printed = tempfile::tempdir().expect("temp dir");
    let receipts = printed.path().join("receipts");
    std::fs::create_dir_all(&receipts).expect("receipts dir");
    let mut posd = start(&format!(
        "\n[printer]\naddress = \"file:{}\"\ntext_dir = \"{}\"\n",
        receipts.display(),
        receipts.display()
    ));
    posd.terminate();
    posd.env = vec![
        ("LD_PRELOAD".into(), shim.display().to_string()),
        (
            "POSD_TEST_FAIL_WAL_FSYNC".into(),
            trigger.display().to_string(),
        ),
    ];
    posd.spawn();
    posd.sign_in("alice", common::CASHIER_PIN);
    let (status, first) = keyed_sale(&posd, "ticket-1", 1);
    assert_eq!(status, 200, "{first}");

    // The disk stops flushing the journal: the sale's outcome is unknown, and posd says so.
    std::fs::write(&trigger, b"").expect("trigger");
    let (status, unknown) = keyed_sale(&posd, "ticket-2", 2);
    assert_eq!(status, 503, "{unknown}");
    assert_eq!(unknown["error"]["code"], "outcome_unknown", "{unknown}");

    // posd stops by itself, with an error, so that the journal is reopened.
    let exit = posd
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("posd still runs:\n{}", posd.log()));
    assert_eq!(exit.code(), Some(2), "{exit:?}");
    assert!(
        posd.log().contains("the journal must be reopened"),
        "{}",
        posd.log()
    );

    // Started again (the disk flushes again), the front-end's retry sells once.
    std::fs::remove_file(&trigger).expect("trigger");
    posd.spawn();
    let (status, retried) = keyed_sale(&posd, "ticket-2", 2);
    assert_eq!(status, 200, "{retried}");
    let (status, again) = keyed_sale(&posd, "ticket-2", 2);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["seq"], retried["seq"]);
    assert_eq!(
        posd.count_kind("sale"),
        2,
        "ticket-1 and ticket-2, once each"
    );
    posd.wait_queue_drained();
    let receipt = std::fs::read_to_string(
        receipts.join(format!("{:08}.txt", retried["seq"].as_u64().expect("seq"))),
    )
    .expect("the retried sale's receipt");
    assert!(
        receipt.contains("2,60") || receipt.contains("2.60"),
        "{receipt}"
    );
    posd.terminate();
    let (code, out) = pos_journal_verify(&posd.journal_path());
    assert_eq!(code, 0, "{out}");
}

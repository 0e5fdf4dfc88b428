//! Startup on a damaged journal: posd serves its API, refuses anything that would write, and
//! says why on the API and in its log.

mod common;

use common::{sale, start};
use serde_json::json;

#[test]
fn a_damaged_journal_is_refused_with_a_clear_error_on_the_api_and_in_the_log() {
    let mut posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku":"BAGUETTE","quantity":2}), 260)),
    );
    let status = posd.terminate();
    assert!(status.success());
    // Someone edits a sale's amount in the journal file.
    let conn = rusqlite::Connection::open(posd.journal_path()).expect("open");
    conn.execute_batch("DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;")
        .expect("drop the guards");
    let changed = conn
        .execute(
            "UPDATE records SET body = CAST(replace(CAST(body AS TEXT), '260', '160') AS BLOB)
             WHERE kind = 'sale'",
            [],
        )
        .expect("tamper");
    assert_eq!(changed, 1);
    drop(conn);
    let before = posd.records().len();

    posd.spawn();
    let (status, health) = posd.call("GET", "/v1/health", None);
    assert_eq!(status, 200);
    assert_eq!(health["status"], "journal_unavailable", "{health}");
    let why = health["journal"]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!why.is_empty(), "{health}");
    for (method, path, body) in [
        (
            "POST",
            "/v1/sales",
            Some(sale(json!({"sku":"BAGUETTE"}), 130)),
        ),
        (
            "POST",
            "/v1/operators/sign-in",
            Some(json!({"operator":"alice","pin":common::CASHIER_PIN})),
        ),
        (
            "POST",
            "/v1/closures",
            Some(json!({"period":"day","operator":"marie","pin":common::MANAGER_PIN})),
        ),
        ("GET", "/v1/reports/x", None),
    ] {
        let (status, v) = posd.call(method, path, body);
        assert_eq!(status, 503, "{method} {path}: {v}");
        assert_eq!(v["error"]["code"], "journal_unavailable", "{v}");
        assert_eq!(v["error"]["message"], why.as_str(), "{v}");
    }
    let log = posd.log();
    assert!(
        log.contains("the journal cannot be opened: sales are refused"),
        "{log}"
    );
    assert!(!log.contains(common::TOKEN) && !log.contains(common::MANAGER_PIN));
    assert_eq!(posd.records().len(), before, "nothing was written");
}

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

fn ops_db(posd: &common::Posd) -> rusqlite::Connection {
    rusqlite::Connection::open(posd.data().join("ops.db")).expect("ops.db")
}

fn stock(posd: &common::Posd) -> i64 {
    let v = posd.ok("GET", "/v1/products", None);
    v["products"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["sku"] == "BAGUETTE"))
        .and_then(|p| p["stock_milli"].as_i64())
        .expect("stock")
}

fn jobs(conn: &rusqlite::Connection) -> Vec<i64> {
    let mut stmt = conn
        .prepare("SELECT seq FROM print_jobs WHERE seq IS NOT NULL ORDER BY seq")
        .expect("prepare");
    let rows = stmt.query_map([], |r| r.get(0)).expect("query");
    rows.map(|r| r.expect("row")).collect()
}

#[test]
fn recovery_replays_exactly_what_ops_db_lost_and_never_twice() {
    let mut posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    let mut seqs = Vec::new();
    for _ in 0..5 {
        let v = posd.ok(
            "POST",
            "/v1/sales",
            Some(json!({"operator":"alice","lines":[{"sku":"BAGUETTE"}],
                        "payments":[{"method":"card","amount_cents":130}]})),
        );
        seqs.push(v["seq"].as_u64().expect("seq") as i64);
    }
    assert_eq!(stock(&posd), 95_000);
    assert!(posd.terminate().success());
    let all_jobs = jobs(&ops_db(&posd));
    assert_eq!(all_jobs, seqs);

    // A power cut lost the newest projection of ops.db: two jobs and the cursor went back
    // together. The stock ledger (stock.db) kept the movements, keyed by seq and line: the
    // replay records the jobs again and moves no stock twice.
    {
        let conn = ops_db(&posd);
        conn.execute("DELETE FROM print_jobs WHERE seq > ?1", [seqs[2]])
            .expect("delete");
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'recovered_upto'",
            [seqs[2].to_string()],
        )
        .expect("cursor");
    }
    posd.spawn();
    assert_eq!(stock(&posd), 95_000, "the movements are counted once");
    assert!(posd.terminate().success());
    assert_eq!(
        jobs(&ops_db(&posd)),
        seqs,
        "the lost jobs are back, once each"
    );
    assert!(posd.log().contains("print jobs recovered from the journal"));

    // The cursor alone goes back (jobs and movements kept): nothing is counted twice.
    ops_db(&posd)
        .execute(
            "UPDATE meta SET value = '0' WHERE key = 'recovered_upto'",
            [],
        )
        .expect("cursor");
    posd.spawn();
    assert_eq!(stock(&posd), 95_000);
    assert!(posd.terminate().success());
    assert_eq!(jobs(&ops_db(&posd)), seqs);
}

#[test]
fn sessions_and_training_mode_survive_a_restart() {
    let mut posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    posd.sign_in("marie", common::MANAGER_PIN);
    posd.ok(
        "POST",
        "/v1/training",
        Some(json!({"on": true, "operator": "marie", "pin": common::MANAGER_PIN})),
    );
    assert!(posd.terminate().success());
    // Marie leaves the shop's configuration meanwhile.
    let text = std::fs::read_to_string(&posd.config).expect("config");
    let start_at = text.find("[[operators]]\nid = \"marie\"").expect("marie");
    let end_at = text[start_at..]
        .find("pin_hash")
        .and_then(|p| text[start_at + p..].find('\n').map(|n| start_at + p + n))
        .expect("end of marie");
    std::fs::write(
        &posd.config,
        format!("{}{}", &text[..start_at], &text[end_at..]),
    )
    .expect("config");
    posd.spawn();
    let health = posd.ok("GET", "/v1/health", None);
    assert_eq!(health["training"], true, "{health}");
    // Alice is still signed in; her sale is a training ticket.
    let v = posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku":"BAGUETTE"}), 130)),
    );
    assert_eq!(v["kind"], "training", "{v}");
    // Marie was signed out, and that is journaled.
    let reader = pos_core::reader::JournalReader::open(&posd.journal_path()).expect("reader");
    let e = reader
        .last_event(pos_core::events::OPERATOR_SIGNED_OUT)
        .expect("read")
        .expect("a sign-out");
    assert_eq!(e.operator.as_deref(), Some("marie"));
    assert!(
        e.message.contains("no longer in the configuration"),
        "{e:?}"
    );
    // Signing out ends the session for the next start too.
    posd.ok(
        "POST",
        "/v1/operators/sign-out",
        Some(json!({"operator": "alice"})),
    );
    assert!(posd.terminate().success());
    posd.spawn();
    let (status, v) = posd.call(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku":"BAGUETTE"}), 130)),
    );
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "operator_not_signed_in");
}

#[test]
fn a_sale_journaled_but_never_projected_moves_stock_once_at_the_next_start() {
    use pos_core::money::{Cents, Qty, VatRate};
    use pos_core::ticket::{LineInput, Payment, PaymentMethod, SaleInput, Unit};
    let mut posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    posd.ok(
        "POST",
        "/v1/sales",
        Some(json!({"operator":"alice","lines":[{"sku":"BAGUETTE"}],
                    "payments":[{"method":"card","amount_cents":130}]})),
    );
    assert_eq!(stock(&posd), 99_000);
    // Killed right after an append: the journal has the sale, neither ops.db nor stock.db.
    posd.kill9();
    {
        let key = pos_core::keys::KeyPair::load(&posd.data().join("signing.key")).expect("key");
        let options = pos_core::journal::JournalOptions {
            anchor_path: Some(posd.data().join("anchors.jsonl")),
            ..Default::default()
        };
        let j =
            pos_core::journal::Journal::open(&posd.journal_path(), key, options).expect("journal");
        j.sale(&SaleInput {
            operator: "alice".into(),
            lines: vec![LineInput {
                sku: "BAGUETTE".into(),
                label: "Baguette tradition".into(),
                quantity: Qty(2000),
                unit: Unit::Piece,
                unit_price: Cents(130),
                vat_rate: VatRate(550),
                discount: Cents(0),
            }],
            ticket_discount: Cents(0),
            payments: vec![Payment {
                method: PaymentMethod::Card,
                amount: Cents(260),
            }],
        })
        .expect("sale");
    }
    posd.spawn();
    assert_eq!(
        stock(&posd),
        97_000,
        "recovery records the sale's movements"
    );
    assert!(posd.terminate().success());
    posd.spawn();
    assert_eq!(stock(&posd), 97_000, "and never twice");
    assert!(posd.terminate().success());
}

#[test]
fn an_unreachable_shop_never_blocks_sales_and_its_secrets_are_never_logged() {
    let mut posd = start(
        "[shops.woocommerce]
url = \"http://127.0.0.1:9\"
consumer_key = \"ck_key_never_logged\"
consumer_secret = \"cs_secret_never_logged\"
webhook_secret = \"hook_never_logged\"
timeout_secs = 1
",
    );
    posd.sign_in("alice", common::CASHIER_PIN);
    posd.ok(
        "POST",
        "/v1/sales",
        Some(json!({"operator":"alice","lines":[{"sku":"BAGUETTE"}],
                    "payments":[{"method":"card","amount_cents":130}]})),
    );
    assert_eq!(stock(&posd), 99_000);
    // The syncer's first run fails; the API says why, the sale waits in the backlog.
    let mut status = json!(null);
    for _ in 0..120 {
        status = posd.ok("GET", "/v1/sync", None);
        if status["shops"][0]["last_error"].is_string() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(status["shops"][0]["last_error"].is_string(), "{status}");
    assert_eq!(status["shops"][0]["backlog"]["pending"], 1, "{status}");
    let (code, _) = posd.call("POST", "/v1/webhooks/woocommerce", Some(json!({"id": 1})));
    assert_eq!(code, 401, "an unsigned delivery is refused");
    assert!(posd.terminate().success());
    let log = posd.log();
    assert!(log.contains("shop sync failed"), "{log}");
    for secret in [
        "ck_key_never_logged",
        "cs_secret_never_logged",
        "hook_never_logged",
    ] {
        assert!(!log.contains(secret), "{secret} in the log");
        assert!(!status.to_string().contains(secret), "{secret} in the API");
    }
}

#[test]
fn a_till_initialised_with_ecdsa_p256_signs_its_journal_and_receipts_with_it() {
    let mut posd = common::start_with("", &["--algorithm", "ecdsa-p256-sha256"]);
    posd.sign_in("alice", common::CASHIER_PIN);
    let answer = posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku":"BAGUETTE","quantity":2}), 260)),
    );
    assert!(posd.terminate().success());
    let key = pos_core::keys::KeyPair::load(&posd.data().join("signing.key")).expect("key");
    assert_eq!(key.algorithm(), pos_core::keys::Algorithm::EcdsaP256Sha256);
    let reader = pos_core::reader::JournalReader::open(&posd.journal_path()).expect("journal");
    let opening = reader.opening().expect("read").expect("opening");
    assert_eq!(opening.key, key.public_info());
    let mut sink = pos_core::verify::CollectFindings::default();
    let summary = pos_core::verify::verify_journal(
        &reader,
        &pos_core::verify::VerifyOptions {
            trusted_keys: vec![key.verifying_key()],
            ..Default::default()
        },
        &mut sink,
    )
    .expect("verify");
    assert_eq!(sink.findings, vec![]);
    assert_eq!(summary.signatures_checked, summary.records);
    let code = answer["receipt_code"].as_str().expect("a receipt code");
    pos_core::receipt::verify_receipt(code, &key.verifying_key()).expect("the receipt verifies");
}

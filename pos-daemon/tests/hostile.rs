//! What a hostile client or a careless cashier tried against the real posd: a burst of PINs
//! checks no more PINs than the lock-out allows and journals a bounded number of events;
//! bodies that are not JSON, absurd amounts, `null` quantities, half pieces, text with control
//! characters and stock quantities beyond any shop are refused with a typed 4xx and change
//! nothing; the bearer scheme is case-insensitive.

mod common;

use common::{sale, start, Posd, MANAGER_PIN, TOKEN};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The lock-out of the test configuration (`common`: `pin_max_failures = 3`).
const MAX_FAILURES: usize = 3;

/// `n` sign-ins of `operator` sent at once, one connection each, the PIN of each given by
/// `pin(i)`; returns each answer's (status, error code or "ok").
fn burst(
    posd: &Posd,
    operator: &str,
    n: usize,
    pin: impl Fn(usize) -> String,
) -> Vec<(u16, String)> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, body) = (
                    &barrier,
                    json!({ "operator": operator, "pin": pin(i) }).to_string(),
                );
                s.spawn(move || {
                    barrier.wait();
                    let (status, v) = posd
                        .try_call("POST", "/v1/operators/sign-in", Some(&body), Some(TOKEN))
                        .expect("posd reachable");
                    let code = v["error"]["code"].as_str().unwrap_or("ok").to_string();
                    (status, code)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    })
}

fn count(answers: &[(u16, String)], status: u16) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

/// The messages of the `operator_pin_rejected` events of the journal.
fn pin_events(posd: &Posd) -> Vec<String> {
    let reader = pos_core::reader::JournalReader::open(&posd.journal_path()).expect("reader");
    let mut out = Vec::new();
    reader
        .for_each_from(1, |r| {
            if let Ok(r) = r {
                if r.kind == "event" {
                    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                    if body["code"] == "operator_pin_rejected" {
                        out.push(body["message"].as_str().unwrap_or("").to_string());
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        })
        .expect("read");
    out
}

#[test]
fn a_burst_of_pins_checks_no_more_than_the_lockout_allows() {
    let posd = start("");
    // 40 wrong PINs at once: as many are checked as the lock-out allows, the others are
    // refused before argon2 runs.
    let answers = burst(&posd, "alice", 40, |_| "0000".into());
    assert_eq!(count(&answers, 403), MAX_FAILURES, "{answers:?}");
    assert_eq!(count(&answers, 429), 40 - MAX_FAILURES, "{answers:?}");
    assert!(answers
        .iter()
        .all(|(s, c)| (*s == 403 && c == "wrong_pin") || (*s == 429 && c == "pin_locked")));
    // Locked out now, the right PIN included.
    let (status, v) = posd.call(
        "POST",
        "/v1/operators/sign-in",
        Some(json!({"operator":"alice","pin":common::CASHIER_PIN})),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (429, Some("pin_locked"))
    );
    // The series is journaled twice: its first wrong PIN and its lock-out, with the count.
    assert_eq!(
        pin_events(&posd),
        [
            "wrong PIN",
            "3 wrong PINs in a row; operator locked out for 60 s"
        ]
    );

    // 39 wrong PINs and the right one in one burst: never more PINs checked than the limit,
    // so the right one signs in only if it came among the first.
    let answers = burst(&posd, "marie", 40, |i| {
        if i == 39 {
            MANAGER_PIN.into()
        } else {
            "0000".into()
        }
    });
    let (signed_in, wrong) = (count(&answers, 200), count(&answers, 403));
    assert!(signed_in + wrong <= MAX_FAILURES, "{answers:?}");
    assert!(signed_in <= 1 && wrong <= MAX_FAILURES);
    assert_eq!(count(&answers, 429), 40 - signed_in - wrong, "{answers:?}");
    assert!(pin_events(&posd).len() <= 4, "{:?}", pin_events(&posd));
}

/// A raw request with the given headers (no `Content-Type` unless given).
fn raw(posd: &Posd, head: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", posd.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST /v1/sales HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn careless_and_hostile_input_is_refused_and_changes_nothing() {
    let posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    let good = sale(json!({"sku":"BAGUETTE","quantity":1}), 200).to_string();
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let before = posd.records().len();

    // A sale must say it is JSON.
    for (what, head) in [
        ("text/plain", format!("{auth}Content-Type: text/plain\r\n")),
        (
            "form",
            format!("{auth}Content-Type: application/x-www-form-urlencoded\r\n"),
        ),
        ("no content type", auth.clone()),
    ] {
        let (status, v) = raw(&posd, &head, &good);
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{what}: {v}"
        );
    }
    // The scheme is case-insensitive, the media type's parameters allowed.
    let head = format!(
        "Authorization: bearer {TOKEN}\r\nContent-Type: Application/JSON; charset=utf-8\r\n"
    );
    let (status, v) = raw(&posd, &head, &good);
    assert_eq!(status, 200, "{v}");
    let sold = posd.records().len();
    assert_eq!(sold, before + 1);

    // An oversized webhook body gets the JSON error like any other route.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(100_000));
    let (status, v) = posd
        .try_call("POST", "/v1/webhooks/woocommerce", Some(&big), None)
        .expect("posd reachable");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (413, Some("body_too_large")),
        "{v}"
    );

    let product = |label: &str| json!({"operator":"marie","pin":MANAGER_PIN,"product":{"sku":"GALETTE","label":label,"price_cents":2500,"vat_rate":550}});
    let merchant = |name: &str| json!({"operator":"marie","pin":MANAGER_PIN,"merchant":{"name":name,"address":"12 rue de la Paix, 75002 Paris","siret":"73282932000074","vat_id":"FR44732829320"}});
    let cases: Vec<(&str, &str, &str, Value, u16, &str)> = vec![
        (
            "a payment of 10^12 cents",
            "POST",
            "/v1/sales",
            sale(json!({"sku":"BAGUETTE"}), 1_000_000_000_000),
            422,
            "payment_too_large",
        ),
        (
            "2,000 EUR for a baguette",
            "POST",
            "/v1/sales",
            sale(json!({"sku":"BAGUETTE"}), 200_000),
            422,
            "change_too_large",
        ),
        (
            "quantity null",
            "POST",
            "/v1/sales",
            sale(json!({"sku":"BAGUETTE","quantity":null}), 500),
            422,
            "invalid_request",
        ),
        (
            "weight null",
            "POST",
            "/v1/sales",
            sale(json!({"sku":"COMTE","weight_grams":null}), 5000),
            422,
            "invalid_request",
        ),
        (
            "a label with ESC",
            "POST",
            "/v1/products",
            product("Galette\u{1b}des rois"),
            422,
            "invalid_product",
        ),
        (
            "a label with NUL",
            "POST",
            "/v1/products",
            product("Galette\u{0}"),
            422,
            "invalid_product",
        ),
        (
            "a merchant with ESC",
            "PUT",
            "/v1/config/merchant",
            merchant("Épicerie\u{1b}@"),
            422,
            "invalid_merchant",
        ),
        (
            "a reception of i64::MAX",
            "POST",
            "/v1/stock/receptions",
            json!({"operator":"marie","pin":MANAGER_PIN,"lines":[{"sku":"BAGUETTE","quantity_milli":i64::MAX}]}),
            422,
            "invalid_stock",
        ),
        (
            "a count at i64::MAX",
            "POST",
            "/v1/stock/counts",
            json!({"operator":"marie","pin":MANAGER_PIN,"lines":[{"sku":"BAGUETTE","quantity_milli":i64::MAX}]}),
            422,
            "invalid_stock",
        ),
        (
            "an adjustment of i64::MIN",
            "POST",
            "/v1/stock/adjustments",
            json!({"operator":"marie","pin":MANAGER_PIN,"sku":"BAGUETTE","delta_milli":i64::MIN,"reason":"test"}),
            422,
            "invalid_stock",
        ),
    ];
    let level = |posd: &Posd| {
        let levels = posd.ok("GET", "/v1/stock", None);
        levels["levels"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["sku"] == "BAGUETTE"))
            .map(|l| l["on_hand_milli"].clone())
            .unwrap_or_else(|| panic!("no level of BAGUETTE: {levels}"))
    };
    let stock_before = level(&posd);
    for (what, method, path, body, status, code) in &cases {
        let (got, v) = posd.call(method, path, Some(body.clone()));
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (*status, Some(*code)),
            "{what}: {v}"
        );
    }
    // Levels are bounded, never saturated: two receptions that each fit but not together.
    let max = shop_sync::ledger::MAX_LEVEL_MILLI;
    let receive = |q: i64| {
        posd.call(
            "POST",
            "/v1/stock/receptions",
            Some(json!({"operator":"marie","pin":MANAGER_PIN,"lines":[{"sku":"BAGUETTE","quantity_milli":q}]})),
        )
    };
    let (status, v) = receive(max - 100_000 - 1_000);
    assert_eq!(status, 200, "{v}");
    let high = level(&posd);
    let (status, v) = receive(max);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid_stock")),
        "{v}"
    );
    assert_eq!(level(&posd), high, "a refused reception changes nothing");
    assert_ne!(stock_before, high);
    assert_eq!(posd.records().len(), sold, "nothing journaled");
    assert!(posd
        .ok("GET", "/v1/products", None)
        .to_string()
        .contains("BAGUETTE"));
    assert!(!posd
        .ok("GET", "/v1/products", None)
        .to_string()
        .contains("GALETTE"));
}

#[test]
fn pieces_are_refunded_whole() {
    let posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    let s = posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku":"BAGUETTE","quantity":2}), 260)),
    );
    let refund = |milli: i64, cents: i64| {
        posd.call(
            "POST",
            "/v1/refunds",
            Some(json!({"operator":"alice","original_seq":s["seq"],"reason":"rassis","lines":[{"original_line":0,"quantity_milli":milli}],"payments":[{"method":"cash","amount_cents":cents}]})),
        )
    };
    let (status, v) = refund(500, 33);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid_ticket")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("pieces are returned whole"),
        "{v}"
    );
    assert_eq!(posd.count_kind("refund"), 0);
    let (status, v) = refund(1000, 130);
    assert_eq!(status, 200, "{v}");
}

/// Saves a product as a manager; returns the status and answer.
fn save(posd: &Posd, product: Value) -> (u16, Value) {
    posd.call(
        "POST",
        "/v1/products",
        Some(json!({"operator":"marie","pin":MANAGER_PIN,"product":product})),
    )
}

#[test]
fn in_store_codes_win_over_the_layouts_and_layouts_are_configured() {
    // The default layouts read prefix 20 as a weight: in-store codes of that prefix printed
    // for piece products are still theirs, each its own product.
    let posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    for (sku, code) in [
        ("CROISSANT", "2000000000022"),
        ("PAIN-CHOC", "2000000000039"),
    ] {
        let (status, v) = save(
            &posd,
            json!({"sku":sku,"label":sku,"price_cents":120,"vat_rate":550,"barcodes":[code]}),
        );
        assert_eq!(status, 200, "{sku}: {v}");
    }
    let found = posd.ok("GET", "/v1/products/by-barcode/2000000000022", None);
    assert_eq!(found["product"]["sku"], "CROISSANT", "{found}");
    assert!(found["weight_grams"].is_null(), "{found}");
    let sold = posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"barcode":"2000000000039","quantity":2}), 240)),
    );
    assert_eq!(sold["lines"][0]["sku"], "PAIN-CHOC", "{sold}");
    assert_eq!(sold["lines"][0]["quantity"], 2000, "{sold}");
    // A scale label of a weighed product is still read by its layout.
    let comte = posd.ok("GET", "/v1/products/by-barcode/2123450012503", None);
    assert_eq!(
        (
            comte["product"]["sku"].as_str(),
            comte["weight_grams"].as_i64()
        ),
        (Some("COMTE"), Some(1250)),
        "{comte}"
    );

    // The shop's scales print prices under prefix 21, with a 4-digit item code; nothing else
    // is variable.
    let posd = start(
        "\n[barcodes]\nvariable_measure = [{ prefix = 21, kind = \"price\", item_digits = 4, value_digits = 6 }]\n",
    );
    let (status, v) = save(
        &posd,
        json!({"sku":"JAMBON","label":"Jambon à la coupe","price_cents":2990,"vat_rate":550,"unit":"kg","barcodes":["212345"]}),
    );
    assert_eq!(status, 200, "{v}");
    let label = "2123450012503";
    let ham = posd.ok("GET", &format!("/v1/products/by-barcode/{label}"), None);
    assert_eq!(
        (
            ham["product"]["sku"].as_str(),
            ham["price_cents"].as_i64(),
            ham["weight_grams"].as_i64()
        ),
        (Some("JAMBON"), Some(1250), None),
        "{ham}"
    );
    // Prefix 20 is a plain code here: no product has it.
    let (status, v) = posd.call("GET", "/v1/products/by-barcode/2000000000022", None);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("unknown_barcode")),
        "{v}"
    );
}

/// Whether the server still holds `s` open (nothing to read yet, no end of stream).
fn still_open(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        // End of stream (0), or bytes the server would never send before a request.
        Ok(0) | Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Reads `s` until the server closes it; returns how long that took, or fails the test if it
/// stays open past `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Duration {
    let start = std::time::Instant::now();
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut sink = Vec::new();
    match s.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("still open after {:?}: {e}", start.elapsed()),
    }
    start.elapsed()
}

#[test]
fn silent_connections_are_closed_and_open_connections_are_bounded() {
    let posd = common::start_configured("max_connections = 4\n", "", &[]);
    let connect = || TcpStream::connect(("127.0.0.1", posd.port)).expect("connect");
    // Four connections that send nothing take every place: a fifth is closed at once. The
    // harness's own requests (`Connection: close`) free their places a moment after their
    // answers: until all four silent ones are seen open, one of them may have been the one
    // refused, and they are opened again.
    let mut silent: Vec<TcpStream> = Vec::new();
    for _ in 0..20 {
        silent = (0..4).map(|_| connect()).collect();
        std::thread::sleep(Duration::from_millis(300));
        if silent.iter_mut().all(still_open) {
            break;
        }
        silent.clear();
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        silent.len(),
        4,
        "four silent connections never held the four places"
    );
    let took = closed_within(&mut connect(), Duration::from_secs(5));
    assert!(
        took < Duration::from_secs(2),
        "the fifth connection waited {took:?}"
    );
    // The silent ones are closed when the header read timeout (10 s) passes, and the API
    // answers again.
    for s in &mut silent {
        closed_within(s, Duration::from_secs(20));
    }
    let (status, v) = posd.call("GET", "/v1/health", None);
    assert_eq!(status, 200, "{v}");
}

//! Malformed and hostile requests: each gets the right 4xx with a JSON error, never a 500,
//! and no ticket is journaled (a wrong PIN journals only its `operator_pin_rejected` event).

mod common;

use common::{sale, start, TOKEN};
use serde_json::{json, Value};

/// (name, method, path, body, token, expected status, expected error code)
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    String,
    Option<&'a str>,
    u16,
    &'a str,
);

#[test]
fn bad_requests_get_4xx_json_errors_and_journal_nothing() {
    let posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    let before = posd.records().len();
    let good = sale(json!({"sku":"BAGUETTE","quantity":1}), 200).to_string();
    let huge = format!(
        "{{\"operator\":\"alice\",\"lines\":[],\"payments\":[],\"pad\":\"{}\"}}",
        "x".repeat(200_000)
    );
    let cases: Vec<Case> = vec![
        ("missing token", "POST", "/v1/sales", good.clone(), None, 401, "unauthorized"),
        ("wrong token", "POST", "/v1/sales", good.clone(), Some("nope-nope-nope-nope"), 401, "unauthorized"),
        ("malformed JSON", "POST", "/v1/sales", "{\"operator\":".into(), Some(TOKEN), 400, "malformed_json"),
        ("not JSON", "POST", "/v1/sales", "operator=alice".into(), Some(TOKEN), 400, "malformed_json"),
        ("wrong type", "POST", "/v1/sales", json!({"operator":"alice","lines":"BAGUETTE","payments":[]}).to_string(), Some(TOKEN), 422, "invalid_request"),
        ("string amount", "POST", "/v1/sales", json!({"operator":"alice","lines":[{"sku":"BAGUETTE"}],"payments":[{"method":"cash","amount_cents":"2"}]}).to_string(), Some(TOKEN), 422, "invalid_request"),
        ("float quantity", "POST", "/v1/sales", sale(json!({"sku":"BAGUETTE","quantity":1.5}), 500).to_string(), Some(TOKEN), 422, "invalid_request"),
        ("unknown field", "POST", "/v1/sales", json!({"operator":"alice","lines":[{"sku":"BAGUETTE"}],"payments":[],"admin":true}).to_string(), Some(TOKEN), 422, "invalid_request"),
        ("huge body", "POST", "/v1/sales", huge, Some(TOKEN), 413, "body_too_large"),
        ("negative quantity", "POST", "/v1/sales", sale(json!({"sku":"BAGUETTE","quantity":-2}), 500).to_string(), Some(TOKEN), 422, "invalid_line"),
        ("zero quantity", "POST", "/v1/sales", sale(json!({"sku":"BAGUETTE","quantity":0}), 500).to_string(), Some(TOKEN), 422, "invalid_line"),
        ("huge quantity", "POST", "/v1/sales", sale(json!({"sku":"BAGUETTE","quantity":9_007_199_254_740_991_i64}), 500).to_string(), Some(TOKEN), 422, "invalid_line"),
        ("negative payment", "POST", "/v1/sales", sale(json!({"sku":"BAGUETTE"}), -500).to_string(), Some(TOKEN), 422, "invalid_ticket"),
        ("payments short", "POST", "/v1/sales", sale(json!({"sku":"BAGUETTE","quantity":3}), 100).to_string(), Some(TOKEN), 422, "payments_short"),
        ("unknown SKU", "POST", "/v1/sales", sale(json!({"sku":"NOPE"}), 500).to_string(), Some(TOKEN), 422, "unknown_sku"),
        ("bad barcode", "POST", "/v1/sales", sale(json!({"barcode":"3017620422004"}), 500).to_string(), Some(TOKEN), 422, "bad_barcode"),
        ("unknown barcode", "POST", "/v1/sales", sale(json!({"barcode":"4006381333931"}), 500).to_string(), Some(TOKEN), 422, "unknown_barcode"),
        ("weight on a piece", "POST", "/v1/sales", sale(json!({"sku":"BAGUETTE","weight_grams":100}), 500).to_string(), Some(TOKEN), 422, "invalid_line"),
        ("no lines", "POST", "/v1/sales", json!({"operator":"alice","lines":[],"payments":[]}).to_string(), Some(TOKEN), 422, "invalid_ticket"),
        ("unknown operator", "POST", "/v1/sales", json!({"operator":"mallory","lines":[{"sku":"BAGUETTE"}],"payments":[{"method":"cash","amount_cents":500}]}).to_string(), Some(TOKEN), 422, "unknown_operator"),
        ("operator not signed in", "POST", "/v1/sales", json!({"operator":"marie","lines":[{"sku":"BAGUETTE"}],"payments":[{"method":"cash","amount_cents":500}]}).to_string(), Some(TOKEN), 403, "operator_not_signed_in"),
        ("cashier closes the day", "POST", "/v1/closures", json!({"period":"day","operator":"alice","pin":"1234"}).to_string(), Some(TOKEN), 403, "manager_required"),
        ("bad period", "POST", "/v1/closures", json!({"period":"week","operator":"marie","pin":"9999"}).to_string(), Some(TOKEN), 422, "invalid_request"),
        ("refund of nothing", "POST", "/v1/refunds", json!({"operator":"alice","original_seq":999,"reason":"x","lines":[{"original_line":0,"quantity_milli":1000}],"payments":[{"method":"cash","amount_cents":130}]}).to_string(), Some(TOKEN), 404, "not_found"),
        ("cashier confirms the clock", "POST", "/v1/clock/confirm", json!({"operator":"alice","pin":"1234"}).to_string(), Some(TOKEN), 403, "manager_required"),
        ("nothing to confirm", "POST", "/v1/clock/confirm", json!({"operator":"marie","pin":"9999"}).to_string(), Some(TOKEN), 422, "invalid_record"),
        ("clock confirm, unknown field", "POST", "/v1/clock/confirm", json!({"operator":"marie","pin":"9999","days":3}).to_string(), Some(TOKEN), 422, "invalid_request"),
        ("bad seq", "GET", "/v1/tickets/-1", String::new(), Some(TOKEN), 422, "invalid_seq"),
        ("unknown route", "GET", "/v1/nothing", String::new(), Some(TOKEN), 404, "not_found"),
        ("wrong method", "DELETE", "/v1/sales", String::new(), Some(TOKEN), 405, "method_not_allowed"),
        ("wrong PIN", "POST", "/v1/operators/sign-in", json!({"operator":"alice","pin":"0000"}).to_string(), Some(TOKEN), 403, "wrong_pin"),
        ("unknown operator sign-in", "POST", "/v1/operators/sign-in", json!({"operator":"mallory","pin":"0000"}).to_string(), Some(TOKEN), 422, "unknown_operator"),
    ];
    for (name, method, path, body, token, status, code) in &cases {
        let body = (!body.is_empty()).then_some(body.as_str());
        let (got, v): (u16, Value) = posd
            .try_call(method, path, body, *token)
            .expect("posd reachable");
        assert_eq!(got, *status, "{name}: {v}");
        assert_eq!(v["error"]["code"], *code, "{name}: {v}");
        assert!(v["error"]["message"].is_string(), "{name}: {v}");
    }
    let long_key = "k".repeat(200);
    for key in ["two words", "tab\there", long_key.as_str()] {
        let (got, v) = posd
            .try_call_with(
                "POST",
                "/v1/sales",
                Some(&good),
                Some(TOKEN),
                &[("Idempotency-Key", key)],
            )
            .expect("posd reachable");
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (400, Some("invalid_idempotency_key")),
            "{key:?}: {v}"
        );
    }
    let after = posd.records();
    let new: Vec<&String> = after[before..].iter().map(|(_, k)| k).collect();
    // Only the wrong PIN left a trace: one event. No ticket of any kind.
    assert_eq!(new.len(), 1, "new records: {new:?}");
    assert_eq!(new[0], "event");
    for kind in ["sale", "refund", "training", "closure", "duplicate"] {
        assert_eq!(posd.count_kind(kind), 0, "{kind} journaled");
    }

    // Wrong PINs are rate limited: after the limit even the right PIN is refused for a while.
    for _ in 0..2 {
        let (s, _) = posd.call(
            "POST",
            "/v1/operators/sign-in",
            Some(json!({"operator":"marie","pin":"0000"})),
        );
        assert_eq!(s, 403);
    }
    let (s, _) = posd.call(
        "POST",
        "/v1/operators/sign-in",
        Some(json!({"operator":"marie","pin":"0000"})),
    );
    assert_eq!(s, 403);
    let (s, v) = posd.call(
        "POST",
        "/v1/operators/sign-in",
        Some(json!({"operator":"marie","pin":common::MANAGER_PIN})),
    );
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"]["code"], "pin_locked");
    // The PINs never reach the log.
    let log = posd.log();
    assert!(
        !log.contains("0000") && !log.contains(TOKEN),
        "secret in the log:\n{log}"
    );

    // And the good request still works.
    let (s, v) = posd.call(
        "POST",
        "/v1/sales",
        Some(serde_json::from_str(&good).expect("json")),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ticket_number"], 1);
}

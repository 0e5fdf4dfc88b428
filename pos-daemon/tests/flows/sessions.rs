//! Operator sessions, one per client: two clients signed in as two operators each act as their
//! own operator; a cashier's session approves no manager action; a session ends when signed
//! out, when idle too long, or when a machine client signs its operator out.

use crate::{daemon, event_codes, kinds, Daemon, CASHIER_PIN, MANAGER_PIN};
use serde_json::{json, Value};

/// Signs `operator` in (through the configuration's token, as a till's first screen does) and
/// returns the session token of the answer.
async fn session(d: &Daemon, operator: &str, pin: &str) -> String {
    let v = d
        .ok(
            "POST",
            "/v1/operators/sign-in",
            Some(json!({"operator": operator, "pin": pin})),
        )
        .await;
    assert_eq!(v["operator"], operator, "{v}");
    assert_eq!(v["session_idle_secs"], 900, "{v}");
    v["session"].as_str().expect("session token").to_string()
}

fn sale_by(operator: &str) -> Value {
    json!({"operator": operator, "lines":[{"sku":"BAGUETTE","quantity":1}],
           "payments":[{"method":"cash","amount_cents":130}]})
}

/// The operator a ticket was journaled for.
async fn ticket_operator(d: &Daemon, seq: u64) -> String {
    let t = d.ok("GET", &format!("/v1/tickets/{seq}"), None).await;
    t["body"]["operator"]
        .as_str()
        .unwrap_or_else(|| panic!("no operator in {t}"))
        .to_string()
}

fn error_of(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_signed_in_as_two_operators_each_act_as_their_own() {
    let d = daemon("").await;
    let alice = session(&d, "alice", CASHIER_PIN).await;
    let marie = session(&d, "marie", MANAGER_PIN).await;
    assert_ne!(alice, marie);

    let (status, a) = d
        .call_as(&alice, "POST", "/v1/sales", Some(sale_by("alice")))
        .await;
    assert_eq!(status, 200, "{a}");
    let (status, m) = d
        .call_as(&marie, "POST", "/v1/sales", Some(sale_by("marie")))
        .await;
    assert_eq!(status, 200, "{m}");
    let (a_seq, m_seq) = (
        a["seq"].as_u64().expect("seq"),
        m["seq"].as_u64().expect("seq"),
    );
    assert_eq!(ticket_operator(&d, a_seq).await, "alice");
    assert_eq!(ticket_operator(&d, m_seq).await, "marie");

    // Neither session acts as the other's operator, and nothing is journaled when refused.
    let sales = kinds(&d, "sale");
    for (token, other) in [(&alice, "marie"), (&marie, "alice")] {
        let (status, v) = d
            .call_as(token, "POST", "/v1/sales", Some(sale_by(other)))
            .await;
        assert_eq!((status, error_of(&v)), (403, "operator_mismatch"), "{v}");
        let (status, v) = d
            .call_as(
                token,
                "POST",
                "/v1/operators/sign-out",
                Some(json!({"operator": other})),
            )
            .await;
        assert_eq!((status, error_of(&v)), (403, "operator_mismatch"), "{v}");
    }
    assert_eq!(kinds(&d, "sale"), sales);

    // A token that is not a session's is refused like any unknown token.
    let (status, v) = d
        .call_as(&"0".repeat(64), "GET", "/v1/products", None)
        .await;
    assert_eq!((status, error_of(&v)), (401, "unauthorized"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashiers_session_approves_no_manager_action() {
    let d = daemon("[policy]\ncashier_refund_limit_cents = 100\n").await;
    let alice = session(&d, "alice", CASHIER_PIN).await;
    let (_, sale) = d
        .call_as(&alice, "POST", "/v1/sales", Some(sale_by("alice")))
        .await;
    let seq = sale["seq"].as_u64().expect("seq");
    let refund = |extra: Value| {
        let mut v = json!({"operator":"alice","original_seq":seq,"reason":"rassis",
            "lines":[{"original_line":0,"quantity_milli":1000}],
            "payments":[{"method":"cash","amount_cents":130}]});
        if let (Some(b), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        v
    };
    // Over the cashier's limit: the session alone is not an approval, nor the cashier's PIN.
    for extra in [
        json!({}),
        json!({"manager":"alice","manager_pin":CASHIER_PIN}),
    ] {
        let (status, v) = d
            .call_as(&alice, "POST", "/v1/refunds", Some(refund(extra)))
            .await;
        assert_eq!((status, error_of(&v)), (403, "manager_required"), "{v}");
    }
    let (status, v) = d
        .call_as(
            &alice,
            "POST",
            "/v1/training",
            Some(json!({"on":true,"operator":"alice","pin":CASHIER_PIN})),
        )
        .await;
    assert_eq!((status, error_of(&v)), (403, "manager_required"), "{v}");
    assert_eq!(kinds(&d, "refund"), 0);
    // The manager approves this one refund with her PIN, on the cashier's till.
    let (status, v) = d
        .call_as(
            &alice,
            "POST",
            "/v1/refunds",
            Some(refund(json!({"manager":"marie","manager_pin":MANAGER_PIN}))),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(kinds(&d, "refund"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_signed_out_idle_or_its_operator_is_signed_out() {
    let d = daemon("").await;
    let first = session(&d, "alice", CASHIER_PIN).await;
    let second = session(&d, "alice", CASHIER_PIN).await;
    // Signing out one session leaves the other working.
    let (status, v) = d
        .call_as(
            &first,
            "POST",
            "/v1/operators/sign-out",
            Some(json!({"operator":"alice"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = d.call_as(&first, "GET", "/v1/products", None).await;
    assert_eq!((status, error_of(&v)), (401, "unauthorized"), "{v}");
    let (status, v) = d
        .call_as(&second, "POST", "/v1/sales", Some(sale_by("alice")))
        .await;
    assert_eq!(status, 200, "{v}");

    // Used 14 minutes later it is still open; left 15 minutes and a second, it has ended.
    d.clock.advance(14 * 60 * 1000);
    let (status, v) = d.call_as(&second, "GET", "/v1/products", None).await;
    assert_eq!(status, 200, "{v}");
    d.clock.advance(901 * 1000);
    let (status, v) = d.call_as(&second, "GET", "/v1/products", None).await;
    assert_eq!((status, error_of(&v)), (401, "session_expired"), "{v}");
    let (status, v) = d.call_as(&second, "GET", "/v1/products", None).await;
    assert_eq!((status, error_of(&v)), (401, "unauthorized"), "{v}");
    let signed_out = event_codes(&d.app.config.journal_path())
        .iter()
        .filter(|c| c.as_str() == pos_core::events::OPERATOR_SIGNED_OUT)
        .count();
    assert_eq!(signed_out, 2, "one sign-out, one expiry");

    // A machine client signing the operator out ends her sessions too.
    let third = session(&d, "alice", CASHIER_PIN).await;
    d.ok(
        "POST",
        "/v1/operators/sign-out",
        Some(json!({"operator":"alice"})),
    )
    .await;
    let (status, v) = d.call_as(&third, "GET", "/v1/products", None).await;
    assert_eq!((status, error_of(&v)), (401, "unauthorized"), "{v}");

    // The periodic sweep ends a session nobody uses any more, and journals its end.
    let fourth = session(&d, "alice", CASHIER_PIN).await;
    d.clock.advance(901 * 1000);
    d.app.end_idle_sessions().await;
    let (status, v) = d.call_as(&fourth, "GET", "/v1/products", None).await;
    assert_eq!((status, error_of(&v)), (401, "unauthorized"), "{v}");
    let signed_out = event_codes(&d.app.config.journal_path())
        .iter()
        .filter(|c| c.as_str() == pos_core::events::OPERATOR_SIGNED_OUT)
        .count();
    assert_eq!(signed_out, 4, "sign-out, expiry, machine sign-out, sweep");
}

//! Several online shops on one till (`[[shops]]`), each against its own fake WooCommerce:
//! they sync independently (a shop that is down holds back nobody else), each has its own
//! webhook, and "sync now" and reconciliation take every shop or the one named.

use crate::{daemon, Daemon, MANAGER_PIN};
use fake_woo::{lock, Fake, Shop};
use serde_json::{json, Value};
use shop_sync::clock::{Clock, SimClock};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fake WooCommerce with BAGUETTE, 100 in stock.
async fn fake_shop(clock: &Arc<SimClock>, seed: u64) -> (Fake, String) {
    let fake: Fake = Arc::new(Mutex::new(Shop::new(clock.clone(), seed)));
    {
        let mut f = lock(&fake);
        f.webhook_loss = 0.0;
        f.add_product("BAGUETTE", 100, true);
        f.set_price("BAGUETTE", 130, 550);
    }
    let url = fake_woo::start(fake.clone()).await;
    (fake, url)
}

fn shop_table(name: &str, url: &str) -> String {
    format!(
        "[[shops]]
kind = \"woocommerce\"
name = \"{name}\"
url = \"{url}\"
consumer_key = \"ck_test\"
consumer_secret = \"cs_test\"
webhook_secret = \"hook-secret\"
timeout_secs = 2
"
    )
}

/// "Sync now" for every shop (or the one named); returns (status, answer).
async fn sync_now(d: &Daemon, shop: Option<&str>) -> (u16, Value) {
    let mut body = json!({"operator": "alice"});
    if let Some(s) = shop {
        body["shop"] = json!(s);
    }
    d.call("POST", "/v1/sync/run", Some(body)).await
}

/// The status of the shop named `name` from `GET /v1/sync`.
async fn status_of(d: &Daemon, name: &str) -> Value {
    let v = d.ok("GET", "/v1/sync", None).await;
    v["shops"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["shop"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no shop {name} in {v}"))
}

async fn webhook(d: &Daemon, path: &str, body: &[u8]) -> u16 {
    use axum::http::Request;
    use tower::ServiceExt;
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("x-wc-webhook-signature", fake_woo::sign(body))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_vec()))
        .expect("request");
    let resp = d.router.clone().oneshot(req).await.expect("infallible");
    resp.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_woocommerce_shops_on_one_till_sync_independently() {
    let clock = Arc::new(SimClock::new(chrono::Utc::now().timestamp_millis()));
    let (a, url_a) = fake_shop(&clock, 11).await;
    let (b, url_b) = fake_shop(&clock, 12).await;
    let extra = format!(
        "{}\n{}",
        shop_table("site-a", &url_a),
        shop_table("site-b", &url_b)
    );
    let d = daemon(&extra).await;
    assert_eq!(d.app.stock.shops.len(), 2);

    // Both are synced by one "sync now"; the answer lists each.
    let (status, v) = sync_now(&d, None).await;
    assert_eq!(status, 200, "{v}");
    let names: Vec<&str> = v["shops"]
        .as_array()
        .expect("shops")
        .iter()
        .filter_map(|s| s["shop"].as_str())
        .collect();
    assert_eq!(names, ["site-a", "site-b"]);

    // A till sale goes to both.
    d.sale(3).await;
    assert_eq!(sync_now(&d, None).await.0, 200);
    assert_eq!(lock(&a).stock("BAGUETTE"), Some(97));
    assert_eq!(lock(&b).stock("BAGUETTE"), Some(97));

    // An order on one shop comes to the till, which passes it on to the other.
    clock.advance(Duration::from_secs(2));
    {
        let mut f = lock(&a);
        let id = f
            .place_order(&[("BAGUETTE", 2)], false, false)
            .expect("order");
        f.set_status(id, "processing");
    }
    assert_eq!(sync_now(&d, None).await.0, 200);
    assert_eq!(sync_now(&d, None).await.0, 200);
    assert_eq!(lock(&a).stock("BAGUETTE"), Some(95));
    assert_eq!(lock(&b).stock("BAGUETTE"), Some(95));

    // One shop down holds the other back in nothing: the sale reaches site-a, site-b keeps it
    // in its backlog and says why, then catches up once it answers again.
    lock(&b).down_until_ms = clock.now_ms() + 3_600_000;
    d.sale(1).await;
    let (status, v) = sync_now(&d, None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (502, Some("shop_unreachable")),
        "{v}"
    );
    assert_eq!(lock(&a).stock("BAGUETTE"), Some(94));
    assert_eq!(status_of(&d, "site-a").await["backlog"]["pending"], 0);
    let down = status_of(&d, "site-b").await;
    assert_eq!(down["backlog"]["pending"], 1, "{down}");
    assert!(down["last_error"].is_string(), "{down}");
    let (status, v) = sync_now(&d, Some("site-a")).await;
    assert_eq!(status, 200, "the shop that answers syncs alone: {v}");
    lock(&b).down_until_ms = 0;
    let (status, v) = sync_now(&d, Some("site-b")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["shop"], "site-b");
    assert_eq!(lock(&b).stock("BAGUETTE"), Some(94));
    let (status, v) = sync_now(&d, Some("nowhere")).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("unknown_shop")),
        "{v}"
    );

    // Each shop has its own webhook; the older path is the first shop's.
    let body = br#"{"id":1}"#;
    assert_eq!(webhook(&d, "/v1/webhooks/site-b", body).await, 200);
    assert_eq!(webhook(&d, "/v1/webhooks/site-a", body).await, 200);
    assert_eq!(webhook(&d, "/v1/webhooks/woocommerce", body).await, 200);
    assert_eq!(webhook(&d, "/v1/webhooks/nowhere", body).await, 404);

    // Reconciliation of one shop: both agree with the till, nothing to correct.
    let (status, v) = d
        .call(
            "POST",
            "/v1/sync/reconcile",
            Some(json!({"operator":"marie","pin":MANAGER_PIN,"shop":"site-b"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["shops"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["drift"], json!([]), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_names_must_be_unique_and_fit_a_path() {
    for (extra, why) in [
        (
            format!(
                "{}\n{}",
                shop_table("site", "http://127.0.0.1:9"),
                shop_table("site", "http://127.0.0.1:9")
            ),
            "two shops are named",
        ),
        (
            shop_table("Site A", "http://127.0.0.1:9"),
            "must be 1 to 32",
        ),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("posd.toml");
        let text = crate::config_text(dir.path(), &extra);
        std::fs::write(&path, text).expect("write");
        let e = pos_daemon::config::Config::load(&path).expect_err(why);
        assert!(e.to_string().contains(why), "{e}");
    }
}

//! In-process tests of stock at the till (the ledger in `stock.db`) and of the WooCommerce
//! sync against the fake shop of the dev-only `fake-woo` crate. The syncer is driven run by
//! run ([`crate::stock::ShopSync::run_once`]) instead of on its timer.

use crate::tests::{daemon, Daemon, MANAGER_PIN};
use fake_woo::{lock, Fake, Shop};
use serde_json::{json, Value};
use shop_sync::clock::SimClock;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The level of a product from `GET /v1/stock`.
async fn level(d: &Daemon, sku: &str) -> Value {
    let v = d.ok("GET", "/v1/stock", None).await;
    v["levels"]
        .as_array()
        .and_then(|a| a.iter().find(|l| l["sku"] == sku))
        .cloned()
        .unwrap_or(Value::Null)
}

async fn on_hand(d: &Daemon, sku: &str) -> i64 {
    level(d, sku).await["on_hand_milli"]
        .as_i64()
        .expect("on hand")
}

fn manager(extra: Value) -> Value {
    let mut v = json!({"operator": "marie", "pin": MANAGER_PIN});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_moves_stock_once_also_when_the_projection_is_replayed() {
    let d = daemon("").await;
    let sale = d.sale(3).await;
    let seq = sale["seq"].as_u64().expect("seq");
    assert_eq!(on_hand(&d, "BAGUETTE").await, 97_000);
    // The products list shows the ledger's level: one source.
    let products = d.ok("GET", "/v1/products", None).await;
    let b = products["products"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["sku"] == "BAGUETTE"))
        .cloned()
        .expect("baguette");
    assert_eq!(b["stock_milli"], 97_000);

    // ops.db lost its cursor (a power cut): recovery projects the journal again from the start;
    // the ledger keys movements by seq and line, so nothing moves twice.
    d.app.ops.set_meta("recovered_upto", "0").expect("cursor");
    let mut p = crate::project::Projector::new(&d.app).expect("projector");
    let head = p.head(&d.app).expect("head");
    assert!(head >= seq);
    p.project_to(&d.app, head).expect("replay");
    assert_eq!(on_hand(&d, "BAGUETTE").await, 97_000);
    // Replaying the movements gives the stored levels.
    let fixed = crate::stock::lock(&d.app.ledger).replay().expect("replay");
    assert!(fixed.is_empty(), "levels are the movements' projection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_stock_refuse_journals_nothing_and_warn_sells_with_a_warning() {
    let d = daemon("[stock]\nzero_stock = \"refuse\"\n").await;
    let before = d.records().len();
    let (status, v) = d
        .call(
            "POST",
            "/v1/sales",
            Some(
                json!({"operator":"alice","lines":[{"sku":"BAGUETTE","quantity":101}],
                        "payments":[{"method":"cash","amount_cents":13130}]}),
            ),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "insufficient_stock");
    assert_eq!(v["error"]["details"]["shortages"][0]["sku"], "BAGUETTE");
    assert_eq!(
        v["error"]["details"]["shortages"][0]["available_milli"],
        100_000
    );
    assert_eq!(d.records().len(), before, "nothing journaled");
    assert_eq!(on_hand(&d, "BAGUETTE").await, 100_000);
    // Untracked products are never refused.
    d.ok(
        "POST",
        "/v1/sales",
        Some(
            json!({"operator":"alice","lines":[{"sku":"VIN","quantity":500}],
                    "payments":[{"method":"cash","amount_cents":475000}]}),
        ),
    )
    .await;

    let d = daemon("[stock]\nzero_stock = \"warn\"\n").await;
    let v = d.sale(101).await;
    assert_eq!(v["stock_warnings"][0]["sku"], "BAGUETTE");
    assert_eq!(on_hand(&d, "BAGUETTE").await, -1_000);
    let v = d.sale(1).await;
    assert_eq!(v["stock_warnings"][0]["available_milli"], -1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receptions_counts_adjustments_and_the_low_stock_list() {
    let d = daemon("[stock.low_milli]\nBAGUETTE = 10000\n").await;
    let low = d.ok("GET", "/v1/stock/low", None).await;
    assert_eq!(low["low"], json!([]));
    // An inventory count sets the level.
    d.ok(
        "POST",
        "/v1/stock/counts",
        Some(manager(
            json!({"id":"inv-1","lines":[{"sku":"BAGUETTE","quantity_milli":12000}]}),
        )),
    )
    .await;
    assert_eq!(on_hand(&d, "BAGUETTE").await, 12_000);
    d.sale(3).await;
    let low = d.ok("GET", "/v1/stock/low", None).await;
    assert_eq!(low["low"][0]["sku"], "BAGUETTE");
    assert_eq!(low["low"][0]["available_milli"], 9_000);
    // A reception, sent twice with its id, counts once.
    for _ in 0..2 {
        d.ok(
            "POST",
            "/v1/stock/receptions",
            Some(manager(
                json!({"id":"bl-42","lines":[{"sku":"BAGUETTE","quantity_milli":50000}]}),
            )),
        )
        .await;
    }
    assert_eq!(on_hand(&d, "BAGUETTE").await, 59_000);
    assert_eq!(d.ok("GET", "/v1/stock/low", None).await["low"], json!([]));
    // An adjustment needs a reason and a manager.
    let (status, v) = d
        .call(
            "POST",
            "/v1/stock/adjustments",
            Some(manager(
                json!({"sku":"BAGUETTE","delta_milli":-1000,"reason":" "}),
            )),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (status, _) = d
        .call(
            "POST",
            "/v1/stock/adjustments",
            Some(json!({"operator":"alice","pin":crate::tests::CASHIER_PIN,
                        "sku":"BAGUETTE","delta_milli":-1000,"reason":"casse"})),
        )
        .await;
    assert_eq!(status, 403);
    d.ok(
        "POST",
        "/v1/stock/adjustments",
        Some(manager(
            json!({"sku":"BAGUETTE","delta_milli":-1000,"reason":"casse"}),
        )),
    )
    .await;
    assert_eq!(on_hand(&d, "BAGUETTE").await, 58_000);
    // Untracked or unknown products are refused.
    let (status, v) = d
        .call(
            "POST",
            "/v1/stock/receptions",
            Some(manager(
                json!({"lines":[{"sku":"VIN","quantity_milli":1000}]}),
            )),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (422, json!("untracked_sku"))
    );
}

/// A fake WooCommerce with BAGUETTE (100 in stock), and a daemon syncing with it.
async fn with_shop(extra: &str) -> (Daemon, Fake, Arc<SimClock>) {
    let clock = Arc::new(SimClock::new(chrono::Utc::now().timestamp_millis()));
    let fake: Fake = Arc::new(Mutex::new(Shop::new(clock.clone(), 7)));
    {
        let mut f = lock(&fake);
        f.webhook_loss = 0.0;
        f.add_product("BAGUETTE", 100, true);
        f.add_product("CAFE", 10, false);
    }
    let url = fake_woo::start(fake.clone()).await;
    let extra = extra.replace("{url}", &url);
    let d = daemon(&extra).await;
    (d, fake, clock)
}

const SHOP: &str = "[shops.woocommerce]
url = \"{url}\"
consumer_key = \"ck_test\"
consumer_secret = \"cs_test\"
webhook_secret = \"hook-secret\"
timeout_secs = 2
";

async fn run(d: &Daemon) -> Value {
    let shop = d.app.shop.clone().expect("shop configured");
    let r = shop.run_once().await;
    json!({ "ok": r.is_ok(), "error": r.err() })
}

async fn sync(d: &Daemon) -> Value {
    d.ok("GET", "/v1/sync", None).await["shops"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn till_and_woocommerce_converge_with_click_and_collect() {
    let (d, fake, clock) = with_shop(SHOP).await;
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(lock(&fake).stock("BAGUETTE"), Some(100), "set up equal");

    // A till sale queues a push (the backlog shows it), then syncs online.
    d.sale(3).await;
    assert_eq!(sync(&d).await["backlog"]["pending"], 1);
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(lock(&fake).stock("BAGUETTE"), Some(97));
    assert_eq!(sync(&d).await["backlog"]["pending"], 0);
    assert!(sync(&d).await["last_ok_ms"].is_i64());

    // An online order reduces the till's stock, once.
    clock.advance(Duration::from_secs(2));
    let order = {
        let mut f = lock(&fake);
        let id = f
            .place_order(&[("BAGUETTE", 2)], false, false)
            .expect("order");
        f.set_status(id, "processing");
        id
    };
    let _ = order;
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(on_hand(&d, "BAGUETTE").await, 95_000);
    assert_eq!(lock(&fake).stock("BAGUETTE"), Some(95));

    // A click & collect order is reserved as soon as seen...
    clock.advance(Duration::from_secs(2));
    let cc = {
        let mut f = lock(&fake);
        let id = f
            .place_order(&[("BAGUETTE", 1)], true, false)
            .expect("order");
        f.set_status(id, "processing");
        id
    };
    // ...a signed webhook is a hint (a bad signature is refused)...
    let body = br#"{"id":1}"#.to_vec();
    let (status, _) = webhook(&d, "bm9wZQ==", &body).await;
    assert_eq!(status, 401);
    let (status, _) = webhook(&d, &fake_woo::sign(&body), &body).await;
    assert_eq!(status, 200);
    assert_eq!(run(&d).await["ok"], true);
    let l = level(&d, "BAGUETTE").await;
    assert_eq!(
        (l["on_hand_milli"].clone(), l["reserved_milli"].clone()),
        (json!(95_000), json!(1_000))
    );
    let pickups = d.ok("GET", "/v1/pickups", None).await;
    assert_eq!(pickups["pickups"][0]["order_id"], cc.to_string());
    assert_eq!(sync(&d).await["pending_pickups"], 1);

    // ...and picked up as a journaled ticket paid online.
    let before = d.records().len();
    let t = d
        .ok(
            "POST",
            &format!("/v1/pickups/woo/{cc}"),
            Some(json!({"operator":"alice"})),
        )
        .await;
    assert_eq!(t["kind"], "sale");
    assert_eq!(t["payments"][0]["method"], "online");
    assert_eq!(t["total_cents"], 130);
    assert_eq!(d.records().len(), before + 1);
    let l = level(&d, "BAGUETTE").await;
    assert_eq!(
        (l["on_hand_milli"].clone(), l["reserved_milli"].clone()),
        (json!(94_000), json!(0))
    );
    assert_eq!(d.ok("GET", "/v1/pickups", None).await["pickups"], json!([]));
    let (status, v) = d
        .call(
            "POST",
            &format!("/v1/pickups/woo/{cc}"),
            Some(json!({"operator":"alice"})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (409, json!("not_pickable"))
    );

    // A cancelled click & collect order releases its reservation.
    clock.advance(Duration::from_secs(2));
    let cancelled = {
        let mut f = lock(&fake);
        let id = f
            .place_order(&[("BAGUETTE", 2)], true, false)
            .expect("order");
        f.set_status(id, "processing");
        id
    };
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(level(&d, "BAGUETTE").await["reserved_milli"], 2_000);
    clock.advance(Duration::from_secs(2));
    lock(&fake).set_status(cancelled, "cancelled");
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(level(&d, "BAGUETTE").await["reserved_milli"], 0);
    assert_eq!(d.ok("GET", "/v1/pickups", None).await["pickups"], json!([]));

    // Both sides agree; a reconciliation finds no drift.
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(lock(&fake).stock("BAGUETTE"), Some(94));
    assert_eq!(on_hand(&d, "BAGUETTE").await, 94_000);
    let r = d
        .ok("POST", "/v1/sync/reconcile", Some(manager(json!({}))))
        .await;
    assert_eq!(r["drift"], json!([]));
    // A site edited by hand is corrected from the till.
    lock(&fake)
        .products
        .values_mut()
        .filter(|p| p.sku == "BAGUETTE")
        .for_each(|p| p.stock = 90);
    let r = d
        .ok("POST", "/v1/sync/reconcile", Some(manager(json!({}))))
        .await;
    assert_eq!(r["drift"][0]["correction"], 4);
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(lock(&fake).stock("BAGUETTE"), Some(94));
    assert_eq!(sync(&d).await["drift"][0]["online"], 90);
}

async fn webhook(d: &Daemon, sig: &str, body: &[u8]) -> (u16, Value) {
    use axum::http::Request;
    use tower::ServiceExt;
    let req = Request::builder()
        .method("POST")
        .uri("/v1/webhooks/woocommerce")
        .header("x-wc-webhook-signature", sig)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_vec()))
        .expect("request");
    let resp = d.router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_shop_configuration_is_reported_and_never_blocks_a_sale() {
    // Wrong keys: every run fails, sales go on and queue.
    let (d, _fake, _clock) = with_shop(&SHOP.replace("ck_test", "ck_wrong")).await;
    let r = run(&d).await;
    assert_eq!(r["ok"], false);
    d.sale(2).await;
    let s = sync(&d).await;
    let err = s["last_error"].as_str().expect("last error").to_string();
    assert!(err.contains("credentials"), "{err}");
    assert!(!err.contains("cs_test"), "secrets never shown");
    assert_eq!(s["backlog"]["pending"], 1);
    assert_eq!(on_hand(&d, "BAGUETTE").await, 98_000);

    // A SKU unknown online and a product without managed stock online are listed.
    let extra = format!("{SHOP}skus = [\"BAGUETTE\", \"CAFE\", \"THE\", \"MISSING\"]\n");
    let (d, _fake, _clock) = with_shop(&extra).await;
    for sku in ["CAFE", "THE"] {
        d.ok(
            "POST",
            "/v1/products",
            Some(manager(
                json!({"product":{"sku":sku,"label":sku,"price_cents":300,
                "vat_rate":550,"track_stock":true,"stock_milli":10000}}),
            )),
        )
        .await;
    }
    assert_eq!(run(&d).await["ok"], true);
    d.sale(1).await;
    let v = d.ok("GET", "/v1/sync", None).await;
    let problems: Vec<(String, String)> = v["shops"][0]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["sku"].as_str().unwrap_or_default().to_string(),
                p["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        problems.contains(&("CAFE".into(), "unmanaged".into())),
        "{v}"
    );
    assert!(
        problems.contains(&("THE".into(), "unknown_sku".into())),
        "{v}"
    );
    assert!(
        v["config_problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("MISSING")),
        "{v}"
    );

    // An unusable configuration: no syncer, sales go on, the API says why.
    let (d, _fake, _clock) = with_shop(&format!("{SHOP}auth = \"basic-over-https\"\n")).await;
    assert!(d.app.shop.is_none());
    d.sale(1).await;
    let v = d.ok("GET", "/v1/sync", None).await;
    assert!(
        v["config_problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("https")),
        "{v}"
    );
    let (status, v) = d
        .call("POST", "/v1/sync/reconcile", Some(manager(json!({}))))
        .await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (409, json!("no_shop"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pickup_journaled_but_not_projected_ends_its_reservation_once() {
    let (d, fake, _clock) = with_shop(SHOP).await;
    let cc = {
        let mut f = lock(&fake);
        let id = f
            .place_order(&[("BAGUETTE", 2)], true, false)
            .expect("order");
        f.set_status(id, "processing");
        id
    };
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(level(&d, "BAGUETTE").await["reserved_milli"], 2_000);

    // What the pickup route does up to the append, then a stop before the projection: the
    // projection (at the next start, or the projector catching up) finds the intent.
    let intent = crate::stock::PickupIntent {
        shop: "woo".into(),
        order: cc.to_string(),
    };
    crate::stock::set_intent(&mut crate::stock::lock(&d.app.ledger), Some(&intent))
        .expect("intent");
    let journal = d.app.journal().expect("journal");
    let input = pos_core::ticket::SaleInput {
        operator: "alice".into(),
        lines: vec![pos_core::ticket::LineInput {
            sku: "BAGUETTE".into(),
            label: "Baguette".into(),
            quantity: pos_core::money::Qty(2000),
            unit: pos_core::ticket::Unit::Piece,
            unit_price: pos_core::money::Cents(130),
            vat_rate: pos_core::money::VatRate(550),
            discount: pos_core::money::Cents(0),
        }],
        ticket_discount: pos_core::money::Cents(0),
        payments: vec![pos_core::ticket::Payment {
            method: pos_core::ticket::PaymentMethod::Online,
            amount: pos_core::money::Cents(260),
        }],
    };
    let a = tokio::task::spawn_blocking(move || journal.sale(&input))
        .await
        .expect("join")
        .expect("sale");
    d.app
        .ops
        .set_meta("recovered_upto", &(a.seq - 1).to_string())
        .expect("cursor");
    for _ in 0..2 {
        let mut p = crate::project::Projector::new(&d.app).expect("projector");
        let head = p.head(&d.app).expect("head");
        p.project_to(&d.app, head).expect("projection");
    }
    let l = level(&d, "BAGUETTE").await;
    assert_eq!(
        (l["on_hand_milli"].clone(), l["reserved_milli"].clone()),
        (json!(98_000), json!(0)),
        "the goods left once and the reservation ended"
    );
    assert_eq!(d.ok("GET", "/v1/pickups", None).await["pickups"], json!([]));
    // Nothing is pushed for a pickup: the site took the stock with the order.
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(lock(&fake).stock("BAGUETTE"), Some(98));
    assert_eq!(sync(&d).await["backlog"]["pending"], 0);
}

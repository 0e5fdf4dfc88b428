//! In-process tests of stock at the till (the ledger in `stock.db`) and of the WooCommerce
//! sync against the fake shop of the dev-only `fake-woo` crate. The syncer is driven run by
//! run ([`pos_daemon::stock::ShopSync::run_once`]) instead of on its timer, except where the
//! running loop ([`pos_daemon::stock::ShopSync::run`]) is what is tested.

use crate::{daemon, Daemon, MANAGER_PIN};
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
    // And so did the ledger's own cursor (stock.db restored from an old backup).
    pos_daemon::stock::lock(&d.app.stock.ledger)
        .set_meta(pos_daemon::project::stock::CURSOR, "0")
        .expect("stock cursor");
    let mut p = d.app.new_projector().expect("projector");
    let head = p.head().expect("head");
    assert!(head >= seq);
    p.project_to(head).expect("replay");
    assert_eq!(on_hand(&d, "BAGUETTE").await, 97_000);
    // Replaying the movements gives the stored levels.
    let fixed = pos_daemon::stock::lock(&d.app.stock.ledger)
        .replay()
        .expect("replay");
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
            Some(json!({"operator":"alice","pin":crate::CASHIER_PIN,
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

/// A fake WooCommerce with BAGUETTE (100 in stock, at the till's price) and CAFE (stock not
/// managed), and a daemon syncing with it.
async fn with_shop(extra: &str) -> (Daemon, Fake, Arc<SimClock>) {
    let clock = Arc::new(SimClock::new(chrono::Utc::now().timestamp_millis()));
    let fake: Fake = Arc::new(Mutex::new(Shop::new(clock.clone(), 7)));
    {
        let mut f = lock(&fake);
        f.webhook_loss = 0.0;
        f.add_product("BAGUETTE", 100, true);
        // The same price online as at the till.
        f.set_price("BAGUETTE", 130, 550);
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
    let shop = d.app.shop().expect("shop configured");
    let r = shop.run_once().await;
    json!({ "ok": r.is_ok(), "error": r.err().map(|e| e.to_string()) })
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
    // No write of the till explains it: an edit the till does not know of.
    assert_eq!(r["drift"][0]["after_uncertain_write"], false);
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
    assert!(d.app.shop().is_none());
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
    let intent = pos_daemon::stock::PickupIntent {
        shop: "woo".into(),
        order: cc.to_string(),
    };
    pos_daemon::stock::set_intent(
        &mut pos_daemon::stock::lock(&d.app.stock.ledger),
        Some(&intent),
    )
    .expect("intent");
    let journal = d.app.journal().expect("journal");
    let input = crate::two_baguettes(pos_core::ticket::PaymentMethod::Online);
    let a = tokio::task::spawn_blocking(move || journal.sale(&input))
        .await
        .expect("join")
        .expect("sale");
    d.app
        .ops
        .set_meta("recovered_upto", &(a.seq - 1).to_string())
        .expect("cursor");
    pos_daemon::stock::lock(&d.app.stock.ledger)
        .set_meta(pos_daemon::project::stock::CURSOR, &(a.seq - 1).to_string())
        .expect("stock cursor");
    for _ in 0..2 {
        let mut p = d.app.new_projector().expect("projector");
        let head = p.head().expect("head");
        p.project_to(head).expect("projection");
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

/// The sale journaled at `seq`, read back from the journal.
fn journaled_sale(d: &Daemon, seq: u64) -> pos_core::ticket::SaleBody {
    let reader =
        pos_core::reader::JournalReader::open(&d.app.config.journal_path()).expect("reader");
    let r = reader
        .record(seq)
        .expect("read")
        .expect("present")
        .expect("well formed");
    assert_eq!(r.kind, "sale");
    match pos_core::body::Body::decode(pos_core::record::Kind::Sale, &r.body).expect("body") {
        pos_core::body::Body::Sale(s) => s,
        other => panic!("not a sale: {other:?}"),
    }
}

/// Places a click & collect order in the fake (processing) and returns its id.
fn place_pickup(fake: &Fake, lines: &[(&str, i64)]) -> u64 {
    let mut f = lock(fake);
    let id = f.place_order(lines, true, false).expect("order");
    f.set_status(id, "processing");
    id
}

/// Checks that the fake sends every line of an order with its SKU (it leaves the SKU out of
/// lines whose id is a multiple of 7; the connector recovers it only for synced products).
fn assert_lines_carry_skus(fake: &Fake, id: u64, untracked: &[&str]) {
    let f = lock(fake);
    let o = f.orders.get(&id).expect("order");
    for (lid, _, pid, _, _) in &o.lines {
        let sku = f.products.get(pid).map(|p| p.sku.as_str()).unwrap_or("");
        assert!(
            !(untracked.contains(&sku) && lid % 7 == 0),
            "line {lid} of {sku} would come without its SKU: reorder the test's setup"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pickup_ticket_shows_what_was_paid_online() {
    let (d, fake, clock) = with_shop(SHOP).await;
    // At the till: cheese sold by weight (per kg, stock tracked), wine not tracked.
    d.ok(
        "POST",
        "/v1/products",
        Some(manager(
            json!({"product":{"sku":"COMTE","label":"Comté","price_cents":2490,
            "vat_rate":550,"unit":"kg","track_stock":true,"stock_milli":20000}}),
        )),
    )
    .await;
    {
        let mut f = lock(&fake);
        // Online: baguettes dearer than at the till, cheese by the kilogram (one unit = 1 kg),
        // wine whose stock nobody tracks.
        f.set_price("BAGUETTE", 150, 550);
        f.add_product("COMTE", 20, true);
        f.set_price("COMTE", 2990, 550);
        f.set_name("COMTE", "Comté AOP 18 mois (1 kg)");
        f.add_product("VIN", 50, false);
        f.set_price("VIN", 1200, 2000);
        f.set_name("VIN", "Vin rouge 75 cl");
    }
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(lock(&fake).stock("COMTE"), Some(20));

    clock.advance(Duration::from_secs(2));
    let cc = place_pickup(&fake, &[("BAGUETTE", 2), ("COMTE", 2), ("VIN", 1)]);
    assert_lines_carry_skus(&fake, cc, &["VIN"]);
    // A 10 % coupon on the whole order.
    lock(&fake).set_coupon(cc, 10);
    let paid = {
        let f = lock(&fake);
        let o = f.orders.get(&cc).expect("order");
        let lines: Vec<i64> = (0..3)
            .map(|i| o.amounts(i).expect("amounts").paid())
            .collect();
        assert_eq!(
            lines,
            vec![270, 5382, 1080],
            "150*2, 2990*2, 1200, less 10 %"
        );
        assert_eq!(o.total_cents(), 6732);
        lines
    };
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(level(&d, "BAGUETTE").await["reserved_milli"], 2_000);
    assert_eq!(level(&d, "COMTE").await["reserved_milli"], 2_000);

    // The till sees the customer's order: every line, named, with what was paid.
    let p = d.ok("GET", "/v1/pickups", None).await;
    let p = &p["pickups"][0];
    assert_eq!(p["order_id"], cc.to_string());
    assert_eq!(p["total_cents"], 6732);
    let items: Vec<(String, String, i64, i64)> = p["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["sku"].as_str().unwrap_or_default().to_string(),
                i["name"].as_str().unwrap_or_default().to_string(),
                i["quantity"].as_i64().unwrap_or_default(),
                i["paid_cents"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            ("BAGUETTE".into(), "BAGUETTE".into(), 2, 270),
            ("COMTE".into(), "Comté AOP 18 mois (1 kg)".into(), 2, 5382),
            ("VIN".into(), "Vin rouge 75 cl".into(), 1, 1080),
        ]
    );

    let before = d.records().len();
    let t = d
        .ok(
            "POST",
            &format!("/v1/pickups/woo/{cc}"),
            Some(json!({"operator":"alice"})),
        )
        .await;
    assert_eq!(d.records().len(), before + 1);
    assert_eq!(t["total_cents"], 6732);
    assert_eq!(t["pickup"]["order_total_cents"], 6732);
    assert_eq!(t["pickup"]["ticket_total_cents"], 6732);
    assert_eq!(t["pickup"]["warnings"], json!([]));

    // The journaled ticket: the till's labels, VAT rates and units, the amounts paid online.
    let seq = t["seq"].as_u64().expect("seq");
    let sale = journaled_sale(&d, seq);
    use pos_core::ticket::{PaymentMethod, Unit};
    let lines: Vec<(&str, &str, Unit, i64, u32, i64)> = sale
        .lines
        .iter()
        .map(|l| {
            (
                l.sku.as_str(),
                l.label.as_str(),
                l.unit,
                l.quantity.0,
                l.vat_rate.0,
                l.total.0,
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("BAGUETTE", "Baguette", Unit::Piece, 2_000, 550, paid[0]),
            ("COMTE", "Comté", Unit::Kg, 2_000, 550, paid[1]),
            ("VIN", "Vin rouge", Unit::Piece, 1_000, 2000, paid[2]),
        ]
    );
    // 2 kg at 26.91 a kg; 2 baguettes at 1.35.
    assert_eq!(
        (sale.lines[1].unit_price.0, sale.lines[1].line_discount.0),
        (2691, 0)
    );
    assert_eq!(
        (sale.lines[0].unit_price.0, sale.lines[0].line_discount.0),
        (135, 0)
    );
    assert_eq!(sale.total.0, 6732);
    assert_eq!(sale.payments.len(), 1);
    assert_eq!(
        (sale.payments[0].method, sale.payments[0].amount.0),
        (PaymentMethod::Online, 6732)
    );
    assert_eq!(sale.change.0, 0);

    // Stock: the tracked goods left the shelves, the reservations ended, nothing was pushed
    // (the shop took its stock with the order), and both sides agree.
    for (sku, on_hand) in [("BAGUETTE", 98_000), ("COMTE", 18_000)] {
        let l = level(&d, sku).await;
        assert_eq!(
            (l["on_hand_milli"].clone(), l["reserved_milli"].clone()),
            (json!(on_hand), json!(0)),
            "{sku}"
        );
    }
    assert!(level(&d, "VIN").await.is_null(), "wine is not tracked");
    assert_eq!(d.ok("GET", "/v1/pickups", None).await["pickups"], json!([]));
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(sync(&d).await["backlog"]["pending"], 0);
    assert_eq!(lock(&fake).stock("BAGUETTE"), Some(98));
    assert_eq!(lock(&fake).stock("COMTE"), Some(18));
    let fixed = pos_daemon::stock::lock(&d.app.stock.ledger)
        .replay()
        .expect("replay");
    assert!(fixed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pickup_with_a_product_unknown_to_the_till_is_refused_and_changes_nothing() {
    let (d, fake, clock) = with_shop(SHOP).await;
    {
        let mut f = lock(&fake);
        f.add_product("SAVON", 30, false);
        f.set_price("SAVON", 450, 2000);
        f.set_name("SAVON", "Savon de Marseille");
    }
    assert_eq!(run(&d).await["ok"], true);
    clock.advance(Duration::from_secs(2));
    let cc = place_pickup(&fake, &[("SAVON", 2), ("BAGUETTE", 1)]);
    assert_lines_carry_skus(&fake, cc, &["SAVON"]);
    assert_eq!(run(&d).await["ok"], true);
    assert_eq!(level(&d, "BAGUETTE").await["reserved_milli"], 1_000);

    let before = d.records().len();
    let (status, v) = d
        .call(
            "POST",
            &format!("/v1/pickups/woo/{cc}"),
            Some(json!({"operator":"alice"})),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "unknown_product");
    let m = v["error"]["message"].as_str().expect("message");
    assert!(
        m.contains("Savon de Marseille")
            && m.contains("\"SAVON\"")
            && m.contains("add the product to the catalogue"),
        "{m}"
    );
    assert_eq!(v["error"]["details"]["sku"], "SAVON");
    // Nothing journaled, the reservation and the pending order untouched.
    assert_eq!(d.records().len(), before);
    let l = level(&d, "BAGUETTE").await;
    assert_eq!(
        (l["on_hand_milli"].clone(), l["reserved_milli"].clone()),
        (json!(100_000), json!(1_000))
    );
    let p = d.ok("GET", "/v1/pickups", None).await;
    assert_eq!(p["pickups"][0]["order_id"], cc.to_string());
    let intent = pos_daemon::stock::lock(&d.app.stock.ledger)
        .meta(pos_daemon::stock::PICKUP_INTENT)
        .expect("meta");
    assert!(
        intent.unwrap_or_default().is_empty(),
        "no pickup intent left"
    );

    // Once the product is in the catalogue (stock not tracked), the pickup goes through.
    d.ok(
        "POST",
        "/v1/products",
        Some(manager(json!({"product":{"sku":"SAVON","label":"Savon",
            "price_cents":400,"vat_rate":2000}}))),
    )
    .await;
    let t = d
        .ok(
            "POST",
            &format!("/v1/pickups/woo/{cc}"),
            Some(json!({"operator":"alice"})),
        )
        .await;
    assert_eq!(d.records().len(), before + 1);
    assert_eq!(t["total_cents"], 130 + 900);
    let sale = journaled_sale(&d, t["seq"].as_u64().expect("seq"));
    assert_eq!(
        sale.lines.iter().map(|l| l.total.0).collect::<Vec<_>>(),
        vec![900, 130]
    );
    assert_eq!(level(&d, "BAGUETTE").await["reserved_milli"], 0);

    // Fees paid online are not invented as ticket lines: the answer shows both totals.
    clock.advance(Duration::from_secs(2));
    let cc = place_pickup(&fake, &[("BAGUETTE", 1)]);
    lock(&fake).set_fee(cc, 250);
    assert_eq!(run(&d).await["ok"], true);
    let t = d
        .ok(
            "POST",
            &format!("/v1/pickups/woo/{cc}"),
            Some(json!({"operator":"alice"})),
        )
        .await;
    assert_eq!(t["total_cents"], 130);
    assert_eq!(
        (
            t["pickup"]["order_total_cents"].clone(),
            t["pickup"]["ticket_total_cents"].clone()
        ),
        (json!(380), json!(130))
    );
    assert!(
        t["pickup"]["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("3.80") && w.contains("1.30")),
        "{t}"
    );
}

/// How long to wait for a reservation the sync loop should make.
async fn reserved_within(d: &Daemon, sku: &str, wait: Duration) -> i64 {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let r = level(d, sku).await["reserved_milli"].as_i64().unwrap_or(0);
        if r != 0 || tokio::time::Instant::now() >= until {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_wakes_the_running_sync_loop() {
    // The loop waits an hour (real time) between polls.
    let (d, fake, clock) = with_shop(&format!("{SHOP}poll_secs = 3600\n")).await;
    let shop = d.app.shop().expect("shop configured");
    let task = tokio::spawn(shop.clone().run());
    // Its first run.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !sync(&d).await["last_ok_ms"].is_i64() {
        assert!(tokio::time::Instant::now() < until, "the loop ran once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment for the loop to settle into its wait.
    tokio::time::sleep(Duration::from_millis(200)).await;

    clock.advance(Duration::from_secs(2));
    let cc = place_pickup(&fake, &[("BAGUETTE", 1)]);
    // Without a webhook the order is not seen before the next poll, an hour away.
    assert_eq!(
        reserved_within(&d, "BAGUETTE", Duration::from_secs(2)).await,
        0,
        "no poll without a hint"
    );
    // The signed delivery wakes the loop, which polls and reserves.
    let body = {
        let f = lock(&fake);
        serde_json::to_vec(&f.order_json(f.orders.get(&cc).expect("order"))).expect("body")
    };
    let (status, v) = webhook(&d, &fake_woo::sign(&body), &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        reserved_within(&d, "BAGUETTE", Duration::from_secs(10)).await,
        1_000,
        "the webhook woke the loop"
    );
    assert_eq!(
        d.ok("GET", "/v1/pickups", None).await["pickups"][0]["order_id"],
        cc.to_string()
    );
    task.abort();
}

/// "Sync now" from the till: one run at once pushes the till's sales and takes the online
/// orders, without waiting for the poll; it needs a signed-in operator and says when the shop
/// fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_pushes_and_polls_at_once() {
    let (d, fake, clock) = with_shop(SHOP).await;
    assert_eq!(run(&d).await["ok"], true);
    d.sale(2).await;
    assert_eq!(sync(&d).await["backlog"]["pending"], 1);
    clock.advance(Duration::from_secs(2));
    {
        let mut f = lock(&fake);
        let id = f
            .place_order(&[("BAGUETTE", 3)], false, false)
            .expect("order");
        f.set_status(id, "processing");
    }
    let (status, v) = d
        .call("POST", "/v1/sync/run", Some(json!({"operator":"marie"})))
        .await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (403, json!("operator_not_signed_in")),
        "only a signed-in operator"
    );
    let (status, _) = d
        .call("POST", "/v1/sync/run", Some(json!({"operator":"nobody"})))
        .await;
    assert_eq!(status, 422, "an unknown operator");
    let v = d
        .ok("POST", "/v1/sync/run", Some(json!({"operator":"alice"})))
        .await;
    assert_eq!(v["run"]["pushed"], 1, "{v}");
    // The order once (the overlapping cursor may read it twice; it moves stock once).
    assert_eq!(v["run"]["order_movements"], 1, "{v}");
    assert_eq!(v["status"]["backlog"]["pending"], 0, "{v}");
    assert_eq!(lock(&fake).stock("BAGUETTE"), Some(95));
    assert_eq!(on_hand(&d, "BAGUETTE").await, 95_000);

    // A shop that refuses the keys: 502 with the reason, and the sale still went through.
    let (d, _fake, _clock) = with_shop(&SHOP.replace("ck_test", "ck_wrong")).await;
    d.sale(1).await;
    let (status, v) = d
        .call("POST", "/v1/sync/run", Some(json!({"operator":"alice"})))
        .await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (502, json!("shop_unreachable")),
        "{v}"
    );
    assert_eq!(on_hand(&d, "BAGUETTE").await, 99_000);
}

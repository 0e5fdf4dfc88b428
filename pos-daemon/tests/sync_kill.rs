//! The real `posd` process killed with SIGKILL in the middle of a sync with a (fake)
//! WooCommerce shop, then started again on the same files: the outbox in `stock.db` survives,
//! every change reaches the shop exactly once, and sales never wait for the shop.
//!
//! The shop is `fake-woo` on a tokio runtime of the test, over real HTTP with OAuth 1.0a; its
//! kill hooks tell the test the moment to kill: right after a write was applied (the answer
//! never reaches posd), at a write that is then never applied, and while a page of orders is
//! being answered.

mod common;

use common::{Posd, CASHIER_PIN, MANAGER_PIN};
use fake_woo::{lock, Fake, Shop};
use serde_json::{json, Value};
use shop_sync::clock::{Clock, SimClock};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The products synced, with their price at the till (cents, VAT included) and their stock
/// on both sides at the start.
const PRODUCTS: [(&str, i64, i64); 3] = [
    ("BAGUETTE", 130, 100),
    ("CROISSANT", 110, 200),
    ("BRIOCHE", 350, 150),
];

/// Online orders placed in one go: more than one page of `GET /orders` (100 a page).
const ORDERS: usize = 110;

/// The fake shop, served by a runtime of the test.
struct Woo {
    rt: tokio::runtime::Runtime,
    fake: Fake,
    clock: Arc<SimClock>,
    url: String,
}

impl Woo {
    fn start() -> Woo {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        // The fake checks OAuth timestamps against its clock: it starts at the real time.
        let clock = Arc::new(SimClock::new(chrono::Utc::now().timestamp_millis()));
        let fake: Fake = Arc::new(Mutex::new(Shop::new(clock.clone(), 11)));
        {
            let mut f = lock(&fake);
            for (sku, price, stock) in PRODUCTS {
                f.add_product(sku, stock, true);
                f.set_price(sku, price, 550);
            }
        }
        let url = rt.block_on(fake_woo::start(fake.clone()));
        Woo {
            rt,
            fake,
            clock,
            url,
        }
    }

    fn online(&self, sku: &str) -> i64 {
        lock(&self.fake).stock(sku).expect("online product")
    }

    /// Waits for the fake's kill hook to fire.
    fn wait_kill(&self, what: &str) {
        let kill = lock(&self.fake).kill.clone();
        let fired = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), kill.notified())
                .await
                .is_ok()
        });
        assert!(fired, "the kill hook did not fire ({what})");
    }
}

/// What the test expects on both sides.
type Levels = BTreeMap<&'static str, i64>;

fn config(url: &str) -> String {
    // The per-request timeout is far longer than the fake's stalls: posd is always killed
    // before it could give up on the request itself.
    format!(
        r#"
[shops.woocommerce]
url = "{url}"
consumer_key = "{}"
consumer_secret = "{}"
webhook_secret = "{}"
poll_secs = 1
reconcile_secs = 3600
timeout_secs = 30
write_deadline_secs = 2
"#,
        fake_woo::KEY,
        fake_woo::SECRET,
        fake_woo::HOOK_SECRET
    )
}

/// A cash sale of these lines at the till; asserts it was accepted.
fn sell(posd: &Posd, expected: &mut Levels, lines: &[(&'static str, i64)]) -> Value {
    let mut total = 0;
    let mut body_lines = Vec::new();
    for (sku, q) in lines {
        let price = PRODUCTS
            .iter()
            .find(|p| p.0 == *sku)
            .map(|p| p.1)
            .expect("known product");
        total += price * q;
        body_lines.push(json!({"sku": sku, "quantity": q}));
        *expected.get_mut(sku).expect("expected level") -= q;
    }
    posd.ok(
        "POST",
        "/v1/sales",
        Some(json!({
            "operator": "alice",
            "lines": body_lines,
            "payments": [{"method": "cash", "amount_cents": total}],
        })),
    )
}

/// A signed webhook delivery: posd's sync loop runs now.
fn poke(posd: &Posd) {
    let body = br#"{"id":0}"#;
    let sig = fake_woo::sign(body);
    let (status, v) = posd
        .try_call_with(
            "POST",
            "/v1/webhooks/woocommerce",
            Some(std::str::from_utf8(body).expect("utf-8")),
            None,
            &[("X-WC-Webhook-Signature", &sig)],
        )
        .expect("posd reachable");
    assert_eq!(status, 200, "webhook refused: {v}");
}

/// The shop's sync state from `GET /v1/sync`.
fn sync_state(posd: &Posd) -> Value {
    posd.ok("GET", "/v1/sync", None)["shops"][0].clone()
}

/// The till's available level of every product, in whole units, from `GET /v1/stock`.
fn till(posd: &Posd) -> BTreeMap<String, i64> {
    let v = posd.ok("GET", "/v1/stock", None);
    v["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| {
            let milli = l["available_milli"].as_i64().expect("available");
            assert_eq!(milli % 1000, 0, "whole units: {l}");
            (l["sku"].as_str().expect("sku").to_string(), milli / 1000)
        })
        .collect()
}

/// One number read from `stock.db` while posd is dead (read-only).
fn ledger_count(posd: &Posd, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        posd.data().join("stock.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("stock.db");
    conn.query_row(sql, [], |r| r.get(0)).expect("query")
}

fn backlog_empty(state: &Value) -> bool {
    let b = &state["backlog"];
    ["pending", "inflight", "uncertain", "blocked"]
        .iter()
        .all(|k| b[*k] == 0)
}

/// Waits until the till, the shop and the test agree on every level, the outbox is empty and
/// the last run succeeded; then lets one more run complete and checks that it changed nothing
/// (a change applied twice would show there).
fn converge(posd: &Posd, woo: &Woo, expected: &Levels, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut last_poke = Instant::now() - Duration::from_secs(1);
    let agreed = |state: &Value| {
        let t = till(posd);
        backlog_empty(state)
            && state["last_error"].is_null()
            && expected
                .iter()
                .all(|(sku, n)| t.get(*sku) == Some(n) && woo.online(sku) == *n)
    };
    let ok_ms = loop {
        let state = sync_state(posd);
        if agreed(&state) {
            break state["last_ok_ms"].as_i64().expect("a run succeeded");
        }
        if Instant::now() > deadline {
            let online: BTreeMap<_, _> = expected.keys().map(|s| (*s, woo.online(s))).collect();
            panic!(
                "{what}: no convergence\nexpected {expected:?}\ntill {:?}\nonline {online:?}\nsync {state}\n{}",
                till(posd),
                posd.log()
            );
        }
        // Failed runs back off; a webhook delivery cuts the wait short.
        if last_poke.elapsed() > Duration::from_millis(500) {
            poke(posd);
            last_poke = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // One more complete run, started after the agreement, changes nothing.
    poke(posd);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = sync_state(posd);
        if state["last_ok_ms"].as_i64().is_some_and(|t| t > ok_ms) {
            assert!(
                agreed(&state),
                "{what}: a later run changed things: {state}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{what}: no later run: {state}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killed_mid_sync_posd_restarts_and_every_change_reaches_the_shop_once() {
    let started = Instant::now();
    let woo = Woo::start();
    let mut posd = common::start(&config(&woo.url));
    posd.sign_in("alice", CASHIER_PIN);
    // BAGUETTE comes with the catalogue (100 tracked); the others are created now, while posd
    // runs, at the level the shop has.
    for (sku, price, stock) in PRODUCTS.iter().skip(1) {
        posd.ok(
            "POST",
            "/v1/products",
            Some(json!({"operator": "marie", "pin": MANAGER_PIN, "product": {
                "sku": sku, "label": sku, "price_cents": price, "vat_rate": 550,
                "track_stock": true, "stock_milli": stock * 1000,
            }})),
        );
    }
    let mut expected: Levels = PRODUCTS.iter().map(|p| (p.0, p.2)).collect();
    let mut sales = 0;
    converge(&posd, &woo, &expected, "start");

    // 1. Killed right after the shop applied a write, before posd read the answer.
    lock(&woo.fake).kill_next_write = true;
    sell(&posd, &mut expected, &[("BAGUETTE", 3), ("CROISSANT", 2)]);
    sales += 1;
    poke(&posd);
    woo.wait_kill("after apply");
    posd.kill9();
    assert_eq!(
        (woo.online("BAGUETTE"), woo.online("CROISSANT")),
        (97, 198),
        "the write was applied online"
    );
    assert_eq!(
        ledger_count(&posd, "SELECT COUNT(*) FROM inflight"),
        2,
        "posd died with both writes in flight, their outcome unknown"
    );
    // Started again while the shop is down: a sale is accepted at once and its push waits in
    // the outbox; the writes in flight stay undecided.
    lock(&woo.fake).down_until_ms = woo.clock.now_ms() + 3_600_000;
    posd.spawn();
    sell(&posd, &mut expected, &[("BRIOCHE", 1)]);
    sales += 1;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let b = sync_state(&posd)["backlog"].clone();
        if b["pending"] == 1 {
            assert_eq!(b["inflight"], 2, "{b}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sale's push is not queued: {b}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    lock(&woo.fake).down_until_ms = 0;
    converge(&posd, &woo, &expected, "killed after apply");
    // Not applied a second time: 100 - 3, not 100 - 6.
    assert_eq!(woo.online("BAGUETTE"), 97);

    // 2. Killed at a write the shop never applies; then killed again while the restart
    // is deciding those writes (its first poll of orders).
    lock(&woo.fake).kill_before_next_write = true;
    let before = (woo.online("BAGUETTE"), woo.online("BRIOCHE"));
    sell(&posd, &mut expected, &[("BAGUETTE", 1), ("BRIOCHE", 2)]);
    sales += 1;
    poke(&posd);
    woo.wait_kill("before apply");
    posd.kill9();
    assert_eq!(
        (woo.online("BAGUETTE"), woo.online("BRIOCHE")),
        before,
        "the write was not applied"
    );
    assert_eq!(ledger_count(&posd, "SELECT COUNT(*) FROM inflight"), 2);
    lock(&woo.fake).kill_at_orders_page = Some(1);
    posd.spawn();
    sell(&posd, &mut expected, &[("CROISSANT", 1)]);
    sales += 1;
    woo.wait_kill("deciding the writes in flight");
    posd.kill9();
    assert_eq!(
        ledger_count(&posd, "SELECT COUNT(*) FROM inflight"),
        2,
        "still undecided"
    );
    posd.spawn();
    sell(&posd, &mut expected, &[("BAGUETTE", 1)]);
    sales += 1;
    converge(&posd, &woo, &expected, "killed before apply, twice");

    // 3. Killed between two pages of online orders, with a sale's push queued behind them.
    {
        let mut f = lock(&woo.fake);
        for i in 0..ORDERS {
            let sku = if i % 2 == 0 { "CROISSANT" } else { "BRIOCHE" };
            let id = f.place_order(&[(sku, 1)], false, false).expect("order");
            f.set_status(id, "processing");
            *expected.get_mut(sku).expect("level") -= 1;
        }
        f.kill_at_orders_page = Some(2);
    }
    let before = woo.online("BAGUETTE");
    sell(&posd, &mut expected, &[("BAGUETTE", 2)]);
    sales += 1;
    poke(&posd);
    woo.wait_kill("between two pages of orders");
    posd.kill9();
    assert_eq!(
        ledger_count(&posd, "SELECT COUNT(*) FROM orders"),
        100,
        "the first page was applied, the second never came"
    );
    assert_eq!(
        woo.online("BAGUETTE"),
        before,
        "the push waits behind the poll"
    );
    posd.spawn();
    sell(&posd, &mut expected, &[("CROISSANT", 1)]);
    sales += 1;
    converge(&posd, &woo, &expected, "killed between two pages of orders");
    assert_eq!(
        ledger_count(&posd, "SELECT COUNT(*) FROM orders"),
        ORDERS as i64,
        "every order once"
    );

    // Nothing was left to reconciliation: no drift, nothing uncertain, every sale journaled.
    let state = sync_state(&posd);
    assert_eq!(state["drift"], json!([]), "{state}");
    assert!(backlog_empty(&state), "{state}");
    assert_eq!(posd.count_kind("sale"), sales);
    let f = lock(&woo.fake);
    assert_eq!(f.max_in_flight, 1, "one write per product in flight");
    for hook in ["kill", "kill_before"] {
        assert!(f.faults_injected.contains_key(hook), "{hook} fired");
    }
    drop(f);
    eprintln!("took {:?}", started.elapsed());
}

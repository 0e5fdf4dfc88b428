//! The WooCommerce sync against the fake shop of the `fake-woo` crate (see its doc comment for the
//! behaviours it copies), with fault injection and a simulated clock.

use fake_woo::{lock, Fake, Fault, Shop};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use shop_sync::clock::{Clock, SimClock};
use shop_sync::ledger::{units, Ledger, ZeroStockPolicy};
use shop_sync::sync::{SyncConfig, Syncer};
use shop_sync::woo::{AuthMode, WooConfig, WooConnector};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// 2025-01-06T08:00:00Z.
const START: i64 = 1_736_150_400_000;
const SHOP: &str = "woo";

struct H {
    clock: Arc<SimClock>,
    fake: Fake,
    url: String,
    dir: tempfile::TempDir,
    ledger: Arc<Mutex<Ledger>>,
    syncer: Syncer,
    /// The syncer's settings (kept across `reopen`).
    sync: SyncConfig,
    seq: u64,
}

fn config(url: &str) -> WooConfig {
    WooConfig {
        name: SHOP.into(),
        url: url.into(),
        consumer_key: fake_woo::KEY.into(),
        consumer_secret: fake_woo::SECRET.into(),
        webhook_secret: fake_woo::HOOK_SECRET.into(),
        timeout: Duration::from_millis(300),
    }
}

fn open(
    dir: &std::path::Path,
    clock: &Arc<SimClock>,
    url: &str,
    sync: &SyncConfig,
) -> (Arc<Mutex<Ledger>>, Syncer) {
    let ledger = Arc::new(Mutex::new(
        Ledger::open(&dir.join("stock.db"), ZeroStockPolicy::Warn).expect("ledger"),
    ));
    let c: Arc<dyn Clock> = clock.clone();
    let conn = WooConnector::new(config(url), c.clone()).expect("connector");
    let syncer = Syncer::new(ledger.clone(), Arc::new(conn), c, sync.clone());
    (ledger, syncer)
}

impl H {
    /// A shop with `skus` (stock `stock` on both sides, synced).
    async fn new(seed: u64, skus: &[&str], stock: i64) -> H {
        let clock = Arc::new(SimClock::new(START));
        let fake: Fake = Arc::new(Mutex::new(Shop::new(clock.clone(), seed)));
        let url = fake_woo::start(fake.clone()).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let sync = SyncConfig::default();
        let (ledger, syncer) = open(dir.path(), &clock, &url, &sync);
        {
            let mut f = lock(&fake);
            let mut l = ledger.lock().expect("ledger");
            let mut parent = None;
            for (i, sku) in skus.iter().enumerate() {
                // Every fourth SKU is a variation of a variable product.
                if i % 4 == 3 {
                    let p = *parent
                        .get_or_insert_with(|| f.add_product(&format!("PARENT-{i}"), 0, false));
                    f.add_variation(p, sku, stock);
                } else {
                    f.add_product(sku, stock, true);
                }
                l.track(sku, Some(5_000)).expect("track");
                l.receive("initial", &[(sku.to_string(), stock * 1000)])
                    .expect("receive");
                l.sync_with(SHOP, sku).expect("sync");
            }
        }
        H {
            clock,
            fake,
            url,
            dir,
            ledger,
            syncer,
            sync,
            seq: 0,
        }
    }

    fn sale(&mut self, lines: &[(&str, i64)]) -> u64 {
        self.seq += 1;
        let lines: Vec<(String, i64)> = lines
            .iter()
            .map(|(s, q)| (s.to_string(), -q * 1000))
            .collect();
        self.ledger
            .lock()
            .expect("ledger")
            .record_till(self.seq, &lines)
            .expect("till");
        self.seq
    }

    /// Runs the syncer until the fake asks for it to be killed (a kill hook is set), then drops
    /// the run, as a crash would.
    async fn run_until_killed(&mut self) {
        let kill = lock(&self.fake).kill.clone();
        tokio::select! {
            r = self.syncer.run_once() => panic!("the run should have been killed: {r:?}"),
            _ = kill.notified() => {}
        }
    }

    /// Runs the syncer once, or until the fake asks for it to be killed; a killed run is
    /// dropped, as a crash would, and the syncer reopened. Returns whether it was killed.
    async fn run_or_crash(&mut self) -> bool {
        let kill = lock(&self.fake).kill.clone();
        let killed = tokio::select! {
            _ = self.syncer.run_once() => false,
            _ = kill.notified() => true,
        };
        if killed {
            self.reopen();
        }
        killed
    }

    fn reopen(&mut self) {
        let (ledger, syncer) = open(self.dir.path(), &self.clock, &self.url, &self.sync);
        self.ledger = ledger;
        self.syncer = syncer;
    }

    fn online(&self, sku: &str) -> i64 {
        lock(&self.fake).stock(sku).expect("online sku")
    }

    fn local(&self, sku: &str) -> i64 {
        units(
            self.ledger
                .lock()
                .expect("ledger")
                .level(sku)
                .expect("level")
                .expect("tracked")
                .available_milli(),
        )
    }

    /// Runs the syncer until a run succeeds with an empty backlog (bounded).
    async fn settle(&mut self) {
        for _ in 0..200 {
            let r = self.syncer.run_once().await;
            let b = self
                .ledger
                .lock()
                .expect("ledger")
                .backlog(SHOP)
                .expect("backlog");
            if r.is_ok() && b.pending == 0 && b.inflight == 0 && b.uncertain == 0 {
                return;
            }
            let d = self.syncer.next_delay();
            self.clock.sleep(d).await;
        }
        panic!("the sync did not settle");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sku_lookup_includes_variations_and_reports_bad_configuration() {
    let mut h = H::new(1, &["A", "B", "C", "V"], 10).await;
    {
        let mut f = lock(&h.fake);
        f.add_product("UNMANAGED", 0, false);
        let mut l = h.ledger.lock().expect("ledger");
        for s in ["UNMANAGED", "MISSING"] {
            l.track(s, None).expect("track");
            l.sync_with(SHOP, s).expect("sync");
        }
    }
    h.syncer.refresh_mapping().await.expect("mapping");
    let st = h.syncer.status().expect("status");
    let problems: BTreeMap<String, String> = st
        .problems
        .iter()
        .map(|p| (p.sku.clone(), p.status.clone()))
        .collect();
    assert_eq!(
        problems.get("UNMANAGED").map(String::as_str),
        Some("unmanaged")
    );
    assert_eq!(
        problems.get("MISSING").map(String::as_str),
        Some("unknown_sku")
    );
    assert!(
        !problems.contains_key("V"),
        "the variation V is found by SKU"
    );
    let v = h
        .ledger
        .lock()
        .expect("l")
        .remote_statuses(SHOP)
        .expect("s")
        .into_iter()
        .find(|s| s.sku == "V")
        .expect("V");
    assert!(
        v.remote.as_deref().is_some_and(|r| r.contains('/')),
        "a variation is parent/id: {v:?}"
    );
    // Bad configuration never stops the till: these sales are recorded, kept as blocked.
    h.sale(&[("UNMANAGED", 1), ("MISSING", 2), ("V", 1)]);
    h.settle().await;
    assert_eq!(h.online("V"), 9);
    let b = h.ledger.lock().expect("l").backlog(SHOP).expect("b");
    assert_eq!(b.blocked, 2, "{b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_are_decided_by_rereading_never_resent_blindly() {
    let mut h = H::new(2, &["A", "B", "C", "V"], 50).await;
    h.syncer.run_once().await.expect("first run");
    for f in [
        Fault::TimeoutAfterApply,
        Fault::ResetAfterApply,
        Fault::ResetBefore,
    ] {
        h.sale(&[("A", 1), ("V", 2)]);
        inject_on_next_write(&h.fake, f);
        h.settle().await;
    }
    assert_eq!(h.online("A"), 47);
    assert_eq!(h.online("V"), 44);
    assert_eq!(h.local("A"), 47);
    let f = lock(&h.fake);
    assert!(f.faults_injected.contains_key("timeout_after_apply"));
    assert!(f.faults_injected.contains_key("reset_after_apply"));
    assert!(f.faults_injected.contains_key("reset_before"));
}

/// Makes the next write fail with `f` (reads pass).
fn inject_on_next_write(fake: &Fake, f: Fault) {
    let mut s = lock(fake);
    s.write_fault = Some(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_on_the_simulated_clock() {
    let mut h = H::new(3, &["A"], 5).await;
    lock(&h.fake).queued = vec![Fault::TooMany(90)];
    let t0 = h.clock.now_ms();
    h.syncer.run_once().await.expect("run");
    assert!(
        h.clock.now_ms() - t0 >= 90_000,
        "waited {} ms",
        h.clock.now_ms() - t0
    );
    lock(&h.fake).queued = vec![Fault::Burst(3)];
    h.sale(&[("A", 1)]);
    h.settle().await;
    assert_eq!(h.online("A"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_take_reserve_give_back_and_are_deduped() {
    let mut h = H::new(4, &["A", "B", "C", "V"], 3).await;
    let (shipped, collect, api) = {
        let mut f = lock(&h.fake);
        let shipped = f
            .place_order(&[("A", 2), ("V", 1)], false, false)
            .expect("order");
        f.set_status(shipped, "processing");
        let collect = f.place_order(&[("B", 1)], true, false).expect("c&c");
        f.set_status(collect, "processing");
        assert!(
            f.place_order(&[("C", 4)], false, false).is_none(),
            "checkout refuses beyond stock"
        );
        let api = f
            .place_order(&[("C", 5)], false, true)
            .expect("API orders skip the check");
        f.set_status(api, "on-hold");
        let pending = f.place_order(&[("A", 1)], false, false).expect("pending");
        let _ = pending;
        (shipped, collect, api)
    };
    h.settle().await;
    assert_eq!(h.local("A"), 1);
    assert_eq!(h.local("V"), 2);
    assert_eq!(h.local("B"), 2, "click & collect reserves");
    assert_eq!(
        h.local("C"),
        -2,
        "an API order took C below zero online and at the till"
    );
    assert_eq!(h.online("C"), -2);
    // Polling again (overlapping cursor) changes nothing.
    h.clock.advance(Duration::from_secs(5));
    h.settle().await;
    assert_eq!(h.local("A"), 1);
    // Pickup at the till: a sale marked paid online; stock leaves the shelf, not the website.
    let lines = h
        .ledger
        .lock()
        .expect("l")
        .pickup_lines(SHOP, &collect.to_string())
        .expect("lines");
    assert_eq!(lines.len(), 1);
    h.seq += 1;
    h.ledger
        .lock()
        .expect("l")
        .record_pickup(SHOP, &collect.to_string(), h.seq)
        .expect("pickup");
    let lvl = h
        .ledger
        .lock()
        .expect("l")
        .level("B")
        .expect("l")
        .expect("B");
    assert_eq!((lvl.on_hand_milli, lvl.reserved_milli), (2000, 0));
    // Cancellation gives back; cancelling twice (a late duplicate) does not.
    {
        let mut f = lock(&h.fake);
        f.set_status(shipped, "cancelled");
        f.set_status(api, "cancelled");
    }
    h.settle().await;
    for s in ["A", "B", "C", "V"] {
        assert_eq!(h.local(s), h.online(s), "{s}");
    }
    assert_eq!(h.local("A"), 3);
    assert_eq!(h.local("C"), 3);
    // Hold again after a cancellation: the second hold is a new transition.
    {
        let mut f = lock(&h.fake);
        f.set_status(shipped, "processing");
    }
    h.settle().await;
    assert_eq!((h.local("A"), h.online("A")), (1, 1));
    assert_eq!(
        h.ledger.lock().expect("l").replay().expect("replay"),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_a_page_of_orders_in_the_same_second() {
    let mut h = H::new(5, &["A"], 1000).await;
    {
        let mut f = lock(&h.fake);
        for _ in 0..250 {
            let o = f.place_order(&[("A", 1)], false, false).expect("order");
            f.set_status(o, "processing");
        }
    }
    h.settle().await;
    assert_eq!(h.local("A"), 750);
    assert_eq!(h.online("A"), 750);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_hints() {
    let h = H::new(6, &["A"], 10).await;
    let body = br#"{"id": 12, "status": "processing"}"#;
    let sig = fake_woo::sign(body);
    assert!(h.syncer.webhook(Some(&sig), body).is_ok());
    assert!(h.syncer.webhook(Some(&sig), b"{\"id\": 13}").is_err());
    assert!(h.syncer.webhook(None, body).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_write_the_restart_decides_by_rereading() {
    let mut h = H::new(7, &["A", "B"], 20).await;
    h.syncer.run_once().await.expect("run");
    h.sale(&[("A", 3), ("B", 1)]);
    lock(&h.fake).kill_next_write = true;
    h.run_until_killed().await;
    assert_eq!(h.online("A"), 17, "the write was applied before the kill");
    let inflight = h
        .ledger
        .lock()
        .expect("l")
        .inflight(SHOP)
        .expect("inflight");
    assert_eq!(inflight.len(), 2, "the writes are on disk as in flight");
    h.reopen();
    h.settle().await;
    assert_eq!((h.online("A"), h.local("A")), (17, 17));
    assert_eq!((h.online("B"), h.local("B")), (19, 19));
}

/// A sale of 3 A (of 20) whose write the shop is still processing when the syncer dies, and
/// the first run after the restart: it reads the old level, but the write is too recent to be
/// called lost, so it stays in flight and nothing is sent again.
async fn restarted_while_the_shop_holds_a_write(seed: u64) -> H {
    let mut h = H::new(seed, &["A"], 20).await;
    h.syncer.run_once().await.expect("run");
    h.sale(&[("A", 3)]);
    lock(&h.fake).hold_next_write = true;
    h.run_until_killed().await;
    assert_eq!(h.online("A"), 20, "not applied yet");
    h.reopen();
    let r = h.syncer.run_once().await.expect("run");
    assert_eq!(r.awaiting_deadline, 1, "{r:?}");
    assert_eq!(lock(&h.fake).faults_injected.get("hold"), Some(&1));
    assert_eq!(
        h.online("A"),
        20,
        "re-sent while the first write could still land"
    );
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_lands_after_the_restart_read_it_is_not_applied_twice() {
    let mut h = restarted_while_the_shop_holds_a_write(13).await;
    // The shop finishes the first request.
    assert!(fake_woo::land_held_write(&h.fake).await);
    assert_eq!(h.online("A"), 17);
    h.settle().await;
    assert_eq!((h.online("A"), h.local("A")), (17, 17), "applied once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_never_lands_is_sent_again_after_the_deadline() {
    let mut h = restarted_while_the_shop_holds_a_write(14).await;
    // The held write is never applied (its PHP process died too): once the deadline has
    // passed, the write is called not applied and sent again.
    h.clock.sleep(SyncConfig::default().write_deadline).await;
    let r = h.syncer.run_once().await.expect("run");
    assert_eq!(r.awaiting_deadline, 0, "{r:?}");
    h.settle().await;
    assert_eq!((h.online("A"), h.local("A")), (17, 17));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_write_whose_product_sells_online_meanwhile_is_not_corrected_before_it_lands() {
    let mut h = H::new(15, &["A"], 20).await;
    h.syncer.run_once().await.expect("run");
    h.sale(&[("A", 3)]);
    lock(&h.fake).hold_next_write = true;
    h.run_until_killed().await;
    h.reopen();
    // A customer buys one online while the shop still runs the first request: the level
    // moved, so the write's outcome cannot be read from it.
    {
        let mut f = lock(&h.fake);
        let id = f.place_order(&[("A", 1)], false, false).expect("order");
        f.set_status(id, "processing");
    }
    let r = h.syncer.run_once().await.expect("run");
    assert_eq!((r.awaiting_deadline, r.uncertain), (1, 0), "{r:?}");
    // Reconciliation leaves a product whose write may still land alone: a correction now
    // would be applied on top of the late write.
    let drift = h.syncer.reconcile().await.expect("reconcile");
    assert!(drift.is_empty(), "{drift:?}");
    assert!(fake_woo::land_held_write(&h.fake).await);
    assert_eq!(h.online("A"), 16);
    // Past the deadline the write is undecidable, and reconciliation settles it by levels.
    h.clock.sleep(SyncConfig::default().write_deadline).await;
    let r = h.syncer.run_once().await.expect("run");
    assert_eq!((r.awaiting_deadline, r.uncertain), (0, 1), "{r:?}");
    let drift = h.syncer.reconcile().await.expect("reconcile");
    assert!(drift.is_empty(), "the levels agree: {drift:?}");
    h.settle().await;
    assert_eq!((h.online("A"), h.local("A")), (16, 16), "applied once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_synced_after_the_mapping_is_looked_up_and_pushed_by_the_next_run() {
    let mut h = H::new(12, &["A"], 10).await;
    h.syncer.run_once().await.expect("run");
    // A product created at the till while the syncer runs (the next scheduled mapping is an
    // hour away).
    {
        let mut f = lock(&h.fake);
        f.add_product("NEW", 30, true);
        let mut l = h.ledger.lock().expect("ledger");
        l.track("NEW", None).expect("track");
        l.receive("initial-new", &[("NEW".to_string(), 30_000)])
            .expect("receive");
        l.sync_with(SHOP, "NEW").expect("sync");
    }
    h.sale(&[("NEW", 4), ("A", 1)]);
    h.syncer.run_once().await.expect("run");
    assert_eq!((h.online("NEW"), h.local("NEW")), (26, 26));
    assert_eq!((h.online("A"), h.local("A")), (9, 9));
    let b = h.ledger.lock().expect("l").backlog(SHOP).expect("b");
    assert_eq!((b.pending, b.inflight), (0, 0), "{b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_down_for_an_hour_then_catches_up() {
    let mut h = H::new(8, &["A", "B"], 100).await;
    h.syncer.run_once().await.expect("run");
    lock(&h.fake).down_until_ms = h.clock.now_ms() + 3_600_000;
    let mut failures = 0;
    while h.clock.now_ms() < lock(&h.fake).down_until_ms {
        h.sale(&[("A", 1)]);
        if h.syncer.run_once().await.is_err() {
            failures += 1;
        }
        let d = h.syncer.next_delay();
        h.clock.sleep(d).await;
    }
    assert!(failures > 0);
    let st = h.syncer.status().expect("status");
    assert!(st.backlog.pending > 0 || st.last_error.is_some());
    h.settle().await;
    assert_eq!(h.online("A"), h.local("A"));
    assert_eq!(h.syncer.status().expect("s").last_error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_corrects_the_website_and_reports_drift() {
    let mut h = H::new(9, &["A", "B"], 10).await;
    h.settle().await;
    // Someone edits the stock in wp-admin.
    {
        let mut f = lock(&h.fake);
        let id = f.by_sku("A").expect("A").id;
        if let Some(p) = f.products.get_mut(&id) {
            p.stock += 5;
        }
    }
    let drift = h.syncer.reconcile().await.expect("reconcile");
    assert_eq!(drift.len(), 1);
    assert_eq!(
        (
            drift[0].sku.as_str(),
            drift[0].online,
            drift[0].expected,
            drift[0].correction
        ),
        ("A", 15, 10, -5)
    );
    h.settle().await;
    assert_eq!(h.online("A"), 10);
    assert_eq!(
        h.ledger
            .lock()
            .expect("l")
            .drift(SHOP)
            .expect("drift")
            .len(),
        1
    );
}

#[test]
fn auth_is_basic_over_https_and_oauth_over_http() {
    let c: Arc<dyn Clock> = Arc::new(SimClock::new(START));
    let https = WooConnector::new(config("https://shop.example"), c.clone()).expect("https");
    assert_eq!(https.auth_mode(), AuthMode::Basic);
    let http = WooConnector::new(config("http://shop.example"), c.clone()).expect("http");
    assert_eq!(http.auth_mode(), AuthMode::OAuth1);
    assert!(WooConnector::new(config("ftp://shop.example"), c.clone()).is_err());
    let mut empty = config("https://shop.example");
    empty.consumer_secret.clear();
    assert!(WooConnector::new(empty, c).is_err());
}

/// An order placed in the scenario: id, lines (sku, units), click & collect.
type PlacedOrder = (u64, Vec<(String, i64)>, bool);

#[derive(Debug, Clone, Copy)]
enum Ev {
    Sale,
    Order { pickup: bool },
    Cancel,
    Refund,
}

/// The till's level below which a product is restocked in the scenario (whole units).
const RESTOCK_BELOW: i64 = 40;
/// Units a delivery brings.
const DELIVERY: i64 = 80;

/// 1,000 till sales, 300 online orders (60 click & collect), 50 cancellations and 30 refunds,
/// with 20 % of requests failing (lost answers after applying, cuts, 429, 503 bursts), the shop
/// down for an hour and the syncer killed mid-write three times. Goods are received at the
/// till whenever a product runs low (receptions are pushed like sales), so the shop's checkout
/// never runs out: all 300 orders are placed. At the end every product has the same level
/// online, at the till, and in the test's own model; no movement counted twice.
///
/// The fake's cut writes are never applied later, so lost writes are decided at the first
/// re-read (no write deadline), as by a shop whose requests cannot outlive their connection:
/// no reconciliation ever needs to correct anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convergence_under_faults() {
    fault_mix(false).await;
}

/// The same, with the default write deadline, reconciliations every five minutes, and, every
/// fifty events, a write that the shop lands up to 100 s after the syncer was killed waiting
/// for it (PHP finishing a request whose client is gone), while online orders move the same
/// products. No write lands twice: every correction that reconciliation makes follows a write
/// whose outcome could not be known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convergence_under_faults_with_writes_that_land_late() {
    fault_mix(true).await;
}

async fn fault_mix(late_writes: bool) {
    let skus: Vec<String> = (0..20).map(|i| format!("SKU-{i:02}")).collect();
    let sku_refs: Vec<&str> = skus.iter().map(String::as_str).collect();
    let mut h = H::new(42, &sku_refs, 120).await;
    if late_writes {
        // Reconciliations every five minutes: often enough to meet writes still in the air.
        h.sync.reconcile_every = Duration::from_secs(300);
    } else {
        h.sync.write_deadline = Duration::ZERO;
    }
    h.reopen();
    let holds_injected = |h: &H| {
        let f = lock(&h.fake);
        f.faults_injected.get("hold").copied().unwrap_or(0)
    };
    let mut rng = StdRng::seed_from_u64(42);
    let mut expected: BTreeMap<String, i64> = skus.iter().map(|s| (s.clone(), 120)).collect();
    let mut events: Vec<Ev> = Vec::new();
    events.extend(std::iter::repeat_n(Ev::Sale, 1000));
    events.extend((0..300).map(|i| Ev::Order { pickup: i % 5 == 0 }));
    events.extend(std::iter::repeat_n(Ev::Cancel, 50));
    events.extend(std::iter::repeat_n(Ev::Refund, 30));
    events.shuffle(&mut rng);
    lock(&h.fake).fault_rate = 0.2;

    let mut sold: Vec<(String, i64)> = Vec::new();
    let mut orders: Vec<PlacedOrder> = Vec::new();
    let mut cancellable: Vec<usize> = Vec::new();
    let mut picked: std::collections::HashSet<u64> = Default::default();
    let (mut till_lines, mut pickups, mut kills, mut cancels, mut refunds) =
        (0usize, 0usize, 0, 0, 0);
    let mut went_down = false;
    let mut refused_at_checkout = 0;
    let mut deliveries = 0;

    for (n, ev) in events.iter().enumerate() {
        h.clock.advance(Duration::from_secs(rng.gen_range(1..6)));
        match *ev {
            Ev::Sale => {
                let k = rng.gen_range(1..3);
                let lines: Vec<(String, i64)> = (0..k)
                    .map(|_| {
                        (
                            skus[rng.gen_range(0..skus.len())].clone(),
                            rng.gen_range(1..3),
                        )
                    })
                    .collect();
                let refs: Vec<(&str, i64)> = lines.iter().map(|(s, q)| (s.as_str(), *q)).collect();
                h.sale(&refs);
                for (s, q) in &lines {
                    *expected.get_mut(s).expect("sku") -= q;
                    sold.push((s.clone(), *q));
                }
                till_lines += lines.len();
                // A product running low at the till is restocked: a reception, pushed online.
                for (s, _) in &lines {
                    if h.local(s) < RESTOCK_BELOW {
                        deliveries += 1;
                        let n = h
                            .ledger
                            .lock()
                            .expect("l")
                            .receive(
                                &format!("delivery-{deliveries}"),
                                &[(s.clone(), DELIVERY * 1000)],
                            )
                            .expect("reception");
                        assert_eq!(n, 1);
                        *expected.get_mut(s).expect("sku") += DELIVERY;
                    }
                }
            }
            Ev::Refund => {
                if let Some(i) = (!sold.is_empty()).then(|| rng.gen_range(0..sold.len())) {
                    let (s, q) = sold.swap_remove(i);
                    h.seq += 1;
                    h.ledger
                        .lock()
                        .expect("l")
                        .record_till(h.seq, &[(s.clone(), q * 1000)])
                        .expect("refund");
                    *expected.get_mut(&s).expect("sku") += q;
                    till_lines += 1;
                    refunds += 1;
                }
            }
            Ev::Order { pickup } => {
                let k = rng.gen_range(1..3);
                let lines: Vec<(String, i64)> = (0..k)
                    .map(|_| (skus[rng.gen_range(0..skus.len())].clone(), 1))
                    .collect();
                let refs: Vec<(&str, i64)> = lines.iter().map(|(s, q)| (s.as_str(), *q)).collect();
                let api = rng.gen_bool(0.1);
                let mut f = lock(&h.fake);
                match f.place_order(&refs, pickup, api) {
                    Some(id) => {
                        let status = if rng.gen_bool(0.2) {
                            "on-hold"
                        } else {
                            "processing"
                        };
                        f.set_status(id, status);
                        for (s, q) in &lines {
                            *expected.get_mut(s).expect("sku") -= q;
                        }
                        cancellable.push(orders.len());
                        orders.push((id, lines, pickup));
                    }
                    None => refused_at_checkout += 1,
                }
            }
            Ev::Cancel => {
                cancellable.retain(|i| !picked.contains(&orders[*i].0));
                if let Some(j) =
                    (!cancellable.is_empty()).then(|| rng.gen_range(0..cancellable.len()))
                {
                    let i = cancellable.swap_remove(j);
                    let (id, lines, _) = &orders[i];
                    lock(&h.fake).set_status(*id, "cancelled");
                    for (s, q) in lines {
                        *expected.get_mut(s).expect("sku") += q;
                    }
                    cancels += 1;
                }
            }
        }
        // Customers collect their orders at the till.
        if rng.gen_bool(0.1) {
            let waiting = h
                .ledger
                .lock()
                .expect("l")
                .pending_pickups()
                .expect("pickups");
            // The till's view may lag: an order cancelled online is not handed over.
            let ready = waiting.iter().find(|p| {
                let id: u64 = p.order_id.parse().unwrap_or(0);
                lock(&h.fake)
                    .orders
                    .get(&id)
                    .is_some_and(|o| o.status != "cancelled")
            });
            if let Some(p) = ready {
                h.seq += 1;
                let id: u64 = p.order_id.parse().expect("id");
                h.ledger
                    .lock()
                    .expect("l")
                    .record_pickup(SHOP, &p.order_id, h.seq)
                    .expect("pickup");
                lock(&h.fake).set_status(id, "completed");
                picked.insert(id);
                till_lines += p.lines.len();
                pickups += 1;
            }
        }
        if n % 10 == 9 {
            let hooks = lock(&h.fake).due_webhooks();
            for (sig, body) in hooks {
                assert!(h.syncer.webhook(Some(&sig), &body).is_ok());
            }
            if n % 300 == 299 && kills < 3 {
                lock(&h.fake).kill_next_write = true;
                let killed = h.run_or_crash().await;
                lock(&h.fake).kill_next_write = false;
                if killed {
                    kills += 1;
                }
            } else if late_writes && n % 50 == 49 {
                // The shop holds the run's first write; the syncer is killed waiting for it.
                // The write lands on its own within the deadline, in shop time (the syncer's
                // runs wait out 429s and back-offs: events are no measure of it).
                let before = holds_injected(&h);
                let after = Duration::from_secs(rng.gen_range(5..100));
                assert!(after < SyncConfig::default().write_deadline);
                lock(&h.fake).land_held_after = Some(after);
                lock(&h.fake).hold_next_write = true;
                let killed = h.run_or_crash().await;
                lock(&h.fake).hold_next_write = false;
                assert_eq!(holds_injected(&h), before + u64::from(killed));
            } else {
                let _ = h.syncer.run_once().await;
            }
        }
        if n == 700 && !went_down {
            went_down = true;
            let until = h.clock.now_ms() + 3_600_000;
            lock(&h.fake).down_until_ms = until;
            while h.clock.now_ms() < until {
                assert!(h.syncer.run_once().await.is_err());
                let d = h.syncer.next_delay();
                h.clock.sleep(d).await;
            }
        }
    }
    h.settle().await;
    h.syncer.reconcile().await.expect("final reconciliation");
    h.settle().await;

    let holds = holds_injected(&h);
    assert!(
        !fake_woo::land_held_write(&h.fake).await,
        "every held write landed on its own"
    );
    let f = lock(&h.fake);
    let l = h.ledger.lock().expect("l");
    for s in &skus {
        let online = f.stock(s).expect("online");
        let local = units(
            l.level(s)
                .expect("level")
                .expect("tracked")
                .available_milli(),
        );
        assert_eq!(
            (online, local),
            (expected[s], expected[s]),
            "{s}: online, till vs expected"
        );
    }
    assert_eq!(
        l.movements_with_prefix("till:").expect("count") as usize,
        till_lines
    );
    let drift = l.drift(SHOP).expect("drift");
    if late_writes {
        assert!(holds >= 5, "{holds} writes held");
        let unexplained: Vec<_> = drift.iter().filter(|d| !d.after_uncertain_write).collect();
        assert!(
            unexplained.is_empty(),
            "every correction follows an uncertain write: {unexplained:?}"
        );
    } else {
        assert!(drift.is_empty(), "no correction was ever needed: {drift:?}");
    }
    assert!(f.max_in_flight <= 1, "one write in flight per product");
    assert!(kills >= 1 && went_down && cancels > 0 && refunds > 0 && pickups > 0);
    if late_writes {
        // A reception pushed online waits behind a product's undecided write (up to the
        // deadline): now and then the site runs out meanwhile, and a checkout is refused.
        assert_eq!(orders.len() + refused_at_checkout, 300);
        assert!(
            refused_at_checkout <= 10,
            "{refused_at_checkout} checkouts refused"
        );
    } else {
        assert_eq!(
            (orders.len(), refused_at_checkout),
            (300, 0),
            "every online order was placed"
        );
    }
    assert!(deliveries > 0);
    assert_eq!(
        l.movements_with_prefix("reception:delivery-")
            .expect("count") as usize,
        deliveries,
        "each delivery received once"
    );
    for k in [
        "timeout_after_apply",
        "reset_after_apply",
        "reset_before",
        "429",
        "503",
        "down",
        "kill",
    ] {
        assert!(
            f.faults_injected.get(k).copied().unwrap_or(0) > 0,
            "fault {k} was injected"
        );
    }
    let replayed = {
        drop(l);
        h.ledger.lock().expect("l").replay().expect("replay")
    };
    assert!(
        replayed.is_empty(),
        "levels equal the replay of the movements"
    );
    eprintln!(
        "converged: {} requests, faults {:?}, {kills} kills, {} orders placed, {pickups} pickups, {cancels} cancellations, {refunds} refunds, {deliveries} deliveries, {refused_at_checkout} refused at checkout",
        f.requests,
        f.faults_injected,
        orders.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_reported_and_never_block_the_till() {
    let mut h = H::new(10, &["A"], 10).await;
    let c: Arc<dyn Clock> = h.clock.clone();
    let mut cfg = config(&h.url);
    cfg.consumer_secret = "cs_wrong".into();
    let conn = WooConnector::new(cfg, c.clone()).expect("connector");
    h.syncer = Syncer::new(h.ledger.clone(), Arc::new(conn), c, SyncConfig::default());
    let err = h.syncer.run_once().await.expect_err("refused");
    assert!(err.to_string().contains("credentials"), "{err}");
    h.sale(&[("A", 2)]);
    assert_eq!(h.local("A"), 8);
    let st = h.syncer.status().expect("status");
    assert!(st.last_error.is_some_and(|e| e.contains("credentials")));
    assert_eq!(st.backlog.pending, 1);
    // Fixed keys: the queued sale reaches the shop.
    h.reopen();
    h.settle().await;
    assert_eq!(h.online("A"), 8);
}

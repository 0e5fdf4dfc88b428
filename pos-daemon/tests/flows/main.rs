//! In-process tests of the daemon: the router called directly, the journal on a clock the test
//! moves, the projector and the print worker (file printer) running as in `posd serve`.

use axum::body::Body as HttpBody;
use axum::http::{header, Method, Request};
use pos_daemon::app::App;
use pos_daemon::config::Config;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

mod backups;
#[path = "../common/conformance.rs"]
mod conformance;
mod projections;
mod sessions;
mod shops;
mod stock;

pub const TOKEN: &str = "unit-test-token-0123456789";
pub const CASHIER_PIN: &str = "1234";
pub const MANAGER_PIN: &str = "9999";
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A clock the test moves.
#[derive(Debug)]
pub struct TestClock(AtomicI64);

impl pos_core::journal::Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TestClock {
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A daemon in a temporary directory, with its projector and print worker running.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub app: Arc<App>,
    pub clock: Arc<TestClock>,
    pub router: axum::Router,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub fn config_text(dir: &std::path::Path, extra: &str) -> String {
    let cashier = pos_daemon::auth::hash_pin(CASHIER_PIN).expect("hash");
    let manager = pos_daemon::auth::hash_pin(MANAGER_PIN).expect("hash");
    let receipts = dir.join("receipts");
    format!(
        r#"register_id = "CAISSE-T"
data_dir = "data"

[merchant]
name = "Épicerie Test"
address = "1 rue du Test, 75001 Paris"
siret = "73282932000074"
vat_id = "FR44732829320"

[api]
tokens = ["{TOKEN}"]

[printer]
address = "file:{r}"
text_dir = "{r}"

[drawer]
pin = 2

[[operators]]
id = "alice"
name = "Alice"
role = "cashier"
pin_hash = "{cashier}"

[[operators]]
id = "marie"
name = "Marie"
role = "manager"
pin_hash = "{manager}"
{extra}
"#,
        r = receipts.display()
    )
}

/// Writes the configuration, runs `posd init` and starts the daemon on a test clock.
pub fn config(extra: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("receipts")).expect("receipts dir");
    let path = dir.path().join("posd.toml");
    std::fs::write(&path, config_text(dir.path(), extra)).expect("config");
    let config = Config::load(&path).expect("config loads");
    pos_daemon::init(&config).expect("init");
    (dir, config)
}

/// Starts a daemon on an initialised directory.
pub async fn start_on(dir: tempfile::TempDir, config: Config) -> Daemon {
    let clock = Arc::new(TestClock(AtomicI64::new(
        chrono::Utc::now().timestamp_millis(),
    )));
    let c2 = clock.clone();
    let app = tokio::task::spawn_blocking(move || App::start_with_clock(config, c2))
        .await
        .expect("join")
        .expect("start");
    let app = Arc::new(app);
    App::spawn_projector(&app).expect("projector");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(p) = &app.config.printer {
        let address = p.address.parse().expect("printer address");
        tokio::spawn(pos_daemon::print::run(
            app.printing.clone(),
            address,
            stop_rx.clone(),
        ));
    }
    for s in app.config.scanners.clone() {
        tokio::spawn(pos_daemon::scanners::run(app.clone(), s));
    }
    tokio::spawn(pos_daemon::health::watch(
        app.clone(),
        Duration::from_millis(50),
        stop_rx.clone(),
    ));
    tokio::spawn(pos_daemon::backup::worker::worker(
        app.backup_parts(),
        stop_rx.clone(),
    ));
    let router = pos_daemon::api::router(app.clone());
    Daemon {
        dir,
        app,
        clock,
        router,
        stop,
    }
}

/// A started daemon with the test catalog and alice signed in.
pub async fn daemon(extra: &str) -> Daemon {
    let (dir, config) = config(extra);
    let d = start_on(dir, config).await;
    for p in [
        json!({"sku":"BAGUETTE","label":"Baguette","price_cents":130,"vat_rate":550,"barcodes":["3017620422003"],"track_stock":true,"stock_milli":100000}),
        json!({"sku":"VIN","label":"Vin rouge","price_cents":950,"vat_rate":2000}),
    ] {
        d.ok(
            "POST",
            "/v1/products",
            Some(json!({"operator":"marie","pin":MANAGER_PIN,"product":p})),
        )
        .await;
    }
    d.ok(
        "POST",
        "/v1/operators/sign-in",
        Some(json!({"operator":"alice","pin":CASHIER_PIN})),
    )
    .await;
    d
}

impl Daemon {
    /// Calls the API; returns (status, JSON body).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_with(method, path, body, &[]).await
    }

    /// Calls the API with more headers; returns (status, JSON body).
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        self.send(TOKEN, method, path, body, headers).await
    }

    /// Calls the API with another bearer token (a session's); returns (status, JSON body).
    pub async fn call_as(
        &self,
        bearer: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.send(bearer, method, path, body, &[]).await
    }

    async fn send(
        &self,
        bearer: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(HttpBody::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            ))
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        // Every answer is what the API document says.
        conformance::check(method, path, status, &body);
        (status, body)
    }

    /// Calls the API and expects a 200.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body.clone()).await;
        assert_eq!(status, 200, "{method} {path} {body:?} -> {v}");
        v
    }

    /// A cash sale of `n` baguettes by alice.
    pub async fn sale(&self, n: i64) -> Value {
        self.ok(
            "POST",
            "/v1/sales",
            Some(
                json!({"operator":"alice","lines":[{"sku":"BAGUETTE","quantity":n}],
                        "payments":[{"method":"cash","amount_cents":130 * n}]}),
            ),
        )
        .await
    }

    /// The journal's records as (seq, kind).
    pub fn records(&self) -> Vec<(u64, String)> {
        let reader =
            pos_core::reader::JournalReader::open(&self.app.config.journal_path()).expect("reader");
        let mut out = Vec::new();
        reader
            .for_each_from(1, |r| {
                if let Ok(r) = r {
                    out.push((r.seq, r.kind));
                }
                std::ops::ControlFlow::Continue(())
            })
            .expect("read");
        out
    }

    /// The receipt text printed for `seq`, once it is there.
    pub async fn printed_text(&self, seq: u64) -> String {
        let path = self
            .dir
            .path()
            .join("receipts")
            .join(format!("{seq:08}.txt"));
        for _ in 0..200 {
            if let Ok(t) = std::fs::read_to_string(&path) {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("seq {seq} was not printed");
    }

    /// The event stream as a subscriber sees it over HTTP.
    pub async fn events(&self) -> EventStream {
        let req = Request::builder()
            .uri("/v1/events")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(HttpBody::empty())
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream")));
        EventStream {
            body: resp.into_body().into_data_stream(),
            buf: String::new(),
        }
    }
}

/// An SSE stream read frame by frame.
pub struct EventStream {
    body: axum::body::BodyDataStream,
    buf: String,
}

impl EventStream {
    /// The next event named `name` (others are skipped), as its JSON data.
    pub async fn next_named(&mut self, name: &str) -> Value {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let mut event = "";
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim());
                    }
                }
                if event == name {
                    return serde_json::from_str(&data).expect("event data is JSON");
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no {name} event"))
                .expect("stream open")
                .expect("chunk");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The next local midnight plus one hour, from `now_ms`, in Paris time.
fn next_day(now_ms: i64) -> i64 {
    use chrono::{TimeZone, Timelike};
    let tz: chrono_tz::Tz = "Europe/Paris".parse().expect("zone");
    let now = tz.timestamp_millis_opt(now_ms).single().expect("time");
    let secs_today = i64::from(now.num_seconds_from_midnight());
    now_ms - secs_today * 1000 + DAY_MS + 3600 * 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_closure_is_printed_anchored_and_pushed_live() {
    let d = daemon("").await;
    let mut events = d.events().await;
    let first = d.sale(2).await;
    assert!(first["print_job"].as_i64().is_some(), "{first}");
    // The next business day: the journal closes the previous one before the sale.
    let now = d.clock.now_ms_for_test();
    d.clock.advance(next_day(now) - now);
    let second = d.sale(1).await;
    let sseq = second["seq"].as_u64().expect("seq");
    let records = d.records();
    let (zseq, _) = records
        .iter()
        .find(|(_, k)| k == "closure")
        .cloned()
        .expect("a closure was journaled");
    assert!(zseq < sseq);
    let ev = events.next_named("closure").await;
    assert_eq!(ev["seq"], zseq, "{ev}");
    assert_eq!(ev["automatic"], true, "{ev}");
    assert_eq!(ev["period"], "day", "{ev}");
    // Printed, as a Z.
    let z = d.printed_text(zseq).await;
    assert!(
        z.contains("DAY CLOSURE") && z.contains("automatic") && z.contains("2.60"),
        "Z text:\n{z}"
    );
    // The journal anchored the head after the closure.
    let anchors =
        std::fs::read_to_string(d.app.config.anchor_path()).expect("the anchor file exists");
    let last: Value = serde_json::from_str(anchors.lines().last().unwrap_or("")).expect("json");
    assert!(last["seq"].as_u64().unwrap_or(0) >= zseq, "{anchors}");
    // The second sale printed too, after the Z.
    let t = d.printed_text(sseq).await;
    assert!(t.contains("1.30"), "{t}");
}

impl TestClock {
    fn now_ms_for_test(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The Paris month of `ms`, `2026-03`.
fn month_of(ms: i64) -> String {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = "Europe/Paris".parse().expect("zone");
    tz.timestamp_millis_opt(ms)
        .single()
        .expect("time")
        .format("%Y-%m")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_month_is_exported_as_an_archive_and_journaled() {
    let d = daemon("").await;
    d.sale(3).await;
    let month = month_of(d.clock.now_ms_for_test());
    let archive = |op: &str, pin: &str, sel: Value| {
        let mut body = json!({"operator": op, "pin": pin});
        if let (Some(b), Some(s)) = (body.as_object_mut(), sel.as_object()) {
            b.extend(s.clone());
        }
        body
    };
    // Not closed yet: refused, nothing written.
    let (status, v) = d
        .call(
            "POST",
            "/v1/journal/archives",
            Some(archive("marie", MANAGER_PIN, json!({"period": month}))),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_selection", "{v}");
    d.ok(
        "POST",
        "/v1/closures",
        Some(json!({"period":"month","operator":"marie","pin":MANAGER_PIN,"confirm":true})),
    )
    .await;
    // A cashier may not; a bad selection is a 422.
    let (status, v) = d
        .call(
            "POST",
            "/v1/journal/archives",
            Some(archive("alice", CASHIER_PIN, json!({"period": month}))),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required"))
    );
    for bad in [
        json!({}),
        json!({"period":"2026-13"}),
        json!({"from_seq":5,"to_seq":2}),
        json!({"period":month,"year":"2026"}),
    ] {
        let (status, v) = d
            .call(
                "POST",
                "/v1/journal/archives",
                Some(archive("marie", MANAGER_PIN, bad.clone())),
            )
            .await;
        assert_eq!(status, 422, "{bad} -> {v}");
    }
    assert_eq!(
        d.records().iter().filter(|(_, k)| k == "archive").count(),
        0
    );
    let v = d
        .ok(
            "POST",
            "/v1/journal/archives",
            Some(archive("marie", MANAGER_PIN, json!({"period": month}))),
        )
        .await;
    let file = d
        .app
        .config
        .data_dir
        .join(v["file"].as_str().expect("file"));
    let bytes = std::fs::read(&file).expect("the archive file exists");
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), v["file_sha256"]);
    assert_eq!(v["first_seq"], 1);
    let seq = v["seq"].as_u64().expect("seq");
    assert!(d.records().iter().any(|(s, k)| *s == seq && k == "archive"));
    // The same archive again: a conflict, nothing journaled.
    let (status, _) = d
        .call(
            "POST",
            "/v1/journal/archives",
            Some(archive("marie", MANAGER_PIN, json!({"period": month}))),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        d.records().iter().filter(|(_, k)| k == "archive").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_pushes_scans_printer_changes_and_closures() {
    let d = daemon("").await;
    let mut events = d.events().await;
    // A scan, decoded and looked up.
    pos_daemon::scanners::on_scan(&d.app, "3017620422003");
    let scan = events.next_named("scan").await;
    assert_eq!(scan["found"], true, "{scan}");
    assert_eq!(scan["product"]["sku"], "BAGUETTE", "{scan}");
    pos_daemon::scanners::on_scan(&d.app, "3017620422004");
    let scan = events.next_named("scan").await;
    assert_eq!(scan["found"], false, "{scan}");
    // The printer goes away: the fault is pushed, then its end.
    let receipts = d.dir.path().join("receipts");
    let gone = d.dir.path().join("gone");
    std::fs::remove_dir_all(&receipts).expect("remove");
    std::os::unix::fs::symlink(gone.join("printer"), &receipts).expect("symlink");
    let sale = d.sale(1).await;
    let seq = sale["seq"].as_u64().expect("seq");
    let p = events.next_named("printer").await;
    assert_eq!(p["state"], "fault", "{p}");
    assert_eq!(p["faults"][0], "unreachable", "{p}");
    let devices = d.ok("GET", "/v1/devices", None).await;
    assert_eq!(devices["printer"]["state"], "fault", "{devices}");
    let t = d.ok("GET", &format!("/v1/tickets/{seq}"), None).await;
    assert_eq!(t["print_job"]["state"], "pending", "{t}");
    std::fs::create_dir_all(gone.join("printer")).expect("create");
    let p = events.next_named("printer").await;
    assert_eq!(p["state"], "idle", "{p}");
    assert!(d.printed_text(seq).await.contains("1.30"));
    // A closure on demand.
    let z = d
        .ok(
            "POST",
            "/v1/closures",
            Some(json!({"period":"day","operator":"marie","pin":MANAGER_PIN})),
        )
        .await;
    let ev = events.next_named("closure").await;
    assert_eq!(ev["seq"], z["closures"][0]["seq"], "{ev}");
    assert_eq!(ev["automatic"], false, "{ev}");
    assert_eq!(ev["print_job"], z["closures"][0]["print_job"], "{ev}");
}

/// The stock of a product, in thousandths.
async fn stock(d: &Daemon, sku: &str) -> i64 {
    let v = d.ok("GET", "/v1/products", None).await;
    v["products"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["sku"] == sku))
        .and_then(|p| p["stock_milli"].as_i64())
        .expect("stock")
}

fn kinds(d: &Daemon, kind: &str) -> usize {
    d.records().iter().filter(|(_, k)| k == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_and_voids_follow_the_limits_and_bring_stock_back() {
    let d = daemon("[policy]\ncashier_refund_limit_cents = 200\n").await;
    let sale = d.sale(5).await;
    let seq = sale["seq"].as_u64().expect("seq");
    assert_eq!(stock(&d, "BAGUETTE").await, 95_000);
    let refund = |qty: i64, cash: i64, extra: Value| {
        let mut v = json!({"operator":"alice","original_seq":seq,"reason":"rassis",
            "lines":[{"original_line":0,"quantity_milli":qty}],
            "payments":[{"method":"cash","amount_cents":cash}]});
        if let (Some(b), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        v
    };
    // Within the cashier's limit.
    let r = d
        .ok("POST", "/v1/refunds", Some(refund(1000, 130, json!({}))))
        .await;
    assert_eq!(r["kind"], "refund", "{r}");
    assert_eq!(r["total_cents"], -130, "{r}");
    assert!(r["receipt_code"].is_string(), "{r}");
    let rseq = r["seq"].as_u64().expect("seq");
    assert!(d.printed_text(rseq).await.contains("-1.30"));
    assert_eq!(stock(&d, "BAGUETTE").await, 96_000);
    // Above it: a manager must confirm with a PIN; refusals journal no refund.
    let (status, v) = d
        .call("POST", "/v1/refunds", Some(refund(2000, 260, json!({}))))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required"))
    );
    let (status, v) = d
        .call(
            "POST",
            "/v1/refunds",
            Some(refund(
                2000,
                260,
                json!({"manager":"marie","manager_pin":"0000"}),
            )),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("wrong_pin"))
    );
    let (status, v) = d
        .call(
            "POST",
            "/v1/refunds",
            Some(refund(
                2000,
                260,
                json!({"manager":"alice","manager_pin":CASHIER_PIN}),
            )),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required"))
    );
    // More than what is left, or payments that do not match: 422.
    let (status, _) = d
        .call(
            "POST",
            "/v1/refunds",
            Some(refund(
                9000,
                1170,
                json!({"manager":"marie","manager_pin":MANAGER_PIN}),
            )),
        )
        .await;
    assert_eq!(status, 422);
    let (status, v) = d
        .call("POST", "/v1/refunds", Some(refund(1000, 100, json!({}))))
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(kinds(&d, "refund"), 1);
    assert_eq!(stock(&d, "BAGUETTE").await, 96_000);
    let r = d
        .ok(
            "POST",
            "/v1/refunds",
            Some(refund(
                2000,
                260,
                json!({"manager":"marie","manager_pin":MANAGER_PIN}),
            )),
        )
        .await;
    assert_eq!(r["total_cents"], -260);
    assert_eq!(stock(&d, "BAGUETTE").await, 98_000);
    // A void cancels what remains; a manager only.
    let void = |extra: Value| {
        refund(2000, 260, {
            let mut e = json!({"void": true});
            if let (Some(b), Some(x)) = (e.as_object_mut(), extra.as_object()) {
                b.extend(x.clone());
            }
            e
        })
    };
    let (status, v) = d.call("POST", "/v1/refunds", Some(void(json!({})))).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required"))
    );
    let v = d
        .ok(
            "POST",
            "/v1/refunds",
            Some(void(json!({"manager":"marie","manager_pin":MANAGER_PIN}))),
        )
        .await;
    assert_eq!(v["total_cents"], -260, "{v}");
    assert_eq!(stock(&d, "BAGUETTE").await, 100_000);
    // Nothing is left to refund.
    let (status, _) = d
        .call("POST", "/v1/refunds", Some(refund(1000, 130, json!({}))))
        .await;
    assert_eq!(status, 422);
    assert_eq!(kinds(&d, "refund"), 3);
    // The overrides were journaled, naming the manager.
    let reader =
        pos_core::reader::JournalReader::open(&d.app.config.journal_path()).expect("reader");
    let e = reader
        .last_event(pos_core::events::MANAGER_OVERRIDE)
        .expect("read")
        .expect("an override event");
    assert_eq!(e.operator.as_deref(), Some("marie"));
    assert!(e.message.starts_with("void"), "{}", e.message);
    // The X report counts the sale and the refunds.
    let x = d.ok("GET", "/v1/reports/x", None).await;
    assert_eq!(x["day"]["sales"], 1, "{x}");
    assert_eq!(x["day"]["refunds"], 3, "{x}");
    assert_eq!(x["day"]["total"], 0, "{x}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashiers_price_override_or_large_discount_needs_a_managers_pin() {
    let d = daemon("[policy]\ncashier_max_discount_percent = 10\n").await;
    let sale = |line: Value, cash: i64, extra: Value| {
        let mut v = json!({"operator":"alice","lines":[line],
            "payments":[{"method":"cash","amount_cents":cash}]});
        if let (Some(b), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        v
    };
    let sales = || kinds(&d, "sale");
    // 10 % of 10 baguettes (13,00 €) is 1,30 €: within the cashier's share.
    let v = d
        .ok(
            "POST",
            "/v1/sales",
            Some(sale(
                json!({"sku":"BAGUETTE","quantity":10,"discount_cents":130}),
                1170,
                json!({}),
            )),
        )
        .await;
    assert_eq!(v["total_cents"], 1170, "{v}");
    // One cent more, as a ticket discount: a manager is needed; nothing journaled without.
    let big = || {
        sale(
            json!({"sku":"BAGUETTE","quantity":10,"discount_cents":130}),
            1169,
            json!({"ticket_discount_cents": 1}),
        )
    };
    let before = sales();
    let (status, v) = d.call("POST", "/v1/sales", Some(big())).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required")),
        "{v}"
    );
    let mut wrong = big();
    wrong["manager"] = json!("marie");
    wrong["manager_pin"] = json!("0000");
    let (status, v) = d.call("POST", "/v1/sales", Some(wrong)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("wrong_pin")),
        "{v}"
    );
    let mut not_manager = big();
    not_manager["manager"] = json!("alice");
    not_manager["manager_pin"] = json!(CASHIER_PIN);
    let (status, v) = d.call("POST", "/v1/sales", Some(not_manager)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required")),
        "{v}"
    );
    assert_eq!(sales(), before);
    let mut approved = big();
    approved["manager"] = json!("marie");
    approved["manager_pin"] = json!(MANAGER_PIN);
    let v = d.ok("POST", "/v1/sales", Some(approved)).await;
    assert_eq!(v["total_cents"], 1169, "{v}");
    assert_eq!(sales(), before + 1);

    // A price override always takes a manager; the ticket is signed at the price given.
    let over = json!({"sku":"VIN","unit_price_cents":800});
    let (status, v) = d
        .call(
            "POST",
            "/v1/sales",
            Some(sale(over.clone(), 800, json!({}))),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required")),
        "{v}"
    );
    let v = d
        .ok(
            "POST",
            "/v1/sales",
            Some(sale(
                over,
                800,
                json!({"manager":"marie","manager_pin":MANAGER_PIN}),
            )),
        )
        .await;
    assert_eq!(v["lines"][0]["unit_price"], 800, "{v}");
    // Not on a price label: the scale priced it.
    d.ok(
        "POST",
        "/v1/products",
        Some(json!({"operator":"marie","pin":MANAGER_PIN,"product":
            {"sku":"JAMBON","label":"Jambon","price_cents":2990,"vat_rate":550,"unit":"kg","barcodes":["2512345"]}})),
    )
    .await;
    let label = {
        let body = "251234500875";
        let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        format!("{body}{}", pos_core::barcode::check_digit(&digits))
    };
    let (status, v) = d
        .call(
            "POST",
            "/v1/sales",
            Some(sale(
                json!({"barcode": label, "unit_price_cents":100}),
                100,
                json!({"manager":"marie","manager_pin":MANAGER_PIN}),
            )),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("carries its price"),
        "{v}"
    );
    // A manager selling needs nobody else.
    d.ok(
        "POST",
        "/v1/operators/sign-in",
        Some(json!({"operator":"marie","pin":MANAGER_PIN})),
    )
    .await;
    let v = d
        .ok(
            "POST",
            "/v1/sales",
            Some(
                json!({"operator":"marie","lines":[{"sku":"VIN","unit_price_cents":500}],
                "payments":[{"method":"cash","amount_cents":500}]}),
            ),
        )
        .await;
    assert_eq!(v["total_cents"], 500, "{v}");
    let overrides = event_codes(&d.app.config.journal_path())
        .iter()
        .filter(|c| c.as_str() == "manager_override")
        .count();
    assert_eq!(
        overrides, 2,
        "the discount and the price override, by marie for alice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_mode_is_for_managers_and_its_tickets_are_not_counted() {
    let d = daemon("").await;
    d.sale(1).await;
    let (status, v) = d
        .call(
            "POST",
            "/v1/training",
            Some(json!({"on":true,"operator":"alice","pin":CASHIER_PIN})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required"))
    );
    d.ok(
        "POST",
        "/v1/training",
        Some(json!({"on":true,"operator":"marie","pin":MANAGER_PIN})),
    )
    .await;
    assert_eq!(d.ok("GET", "/v1/health", None).await["training"], true);
    let t = d.sale(4).await;
    assert_eq!(t["kind"], "training", "{t}");
    let text = d.printed_text(t["seq"].as_u64().expect("seq")).await;
    assert!(text.contains("training"), "{text}");
    // Training tickets move no stock and are not in the totals.
    assert_eq!(stock(&d, "BAGUETTE").await, 99_000);
    let x = d.ok("GET", "/v1/reports/x", None).await;
    assert_eq!(x["day"]["sales"], 1, "{x}");
    assert_eq!(x["day"]["total"], 130, "{x}");
    d.ok(
        "POST",
        "/v1/training",
        Some(json!({"on":false,"operator":"marie","pin":MANAGER_PIN})),
    )
    .await;
    assert_eq!(d.sale(1).await["kind"], "sale");
    assert_eq!(kinds(&d, "training"), 1);
    let reader =
        pos_core::reader::JournalReader::open(&d.app.config.journal_path()).expect("reader");
    for code in [
        pos_core::events::TRAINING_STARTED,
        pos_core::events::TRAINING_STOPPED,
    ] {
        let e = reader.last_event(code).expect("read").expect("event");
        assert_eq!(e.operator.as_deref(), Some("marie"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_x_report_shows_the_open_day_and_prints_without_journaling() {
    let d = daemon("").await;
    d.sale(2).await;
    d.ok(
        "POST",
        "/v1/sales",
        Some(json!({"operator":"alice","lines":[{"sku":"VIN"}],"payments":[{"method":"card","amount_cents":950}]})),
    )
    .await;
    let x = d.ok("GET", "/v1/reports/x", None).await;
    assert_eq!(x["day"]["sales"], 2, "{x}");
    assert_eq!(x["day"]["total"], 1210, "{x}");
    assert_eq!(x["month"]["total"], 1210, "{x}");
    assert!(x["open_day"].is_string(), "{x}");
    let before = d.records().len();
    let p = d.ok("POST", "/v1/reports/x/print", None).await;
    let id = p["print_job"].as_i64().expect("job id");
    // Printed as its own file in the receipts directory; nothing journaled.
    let dir = d.dir.path().join("receipts");
    let mut found = false;
    for _ in 0..200 {
        let jobs = d.ok("GET", "/v1/print-jobs", None).await;
        let waiting = jobs["jobs"]
            .as_array()
            .is_some_and(|a| a.iter().any(|j| j["id"] == id));
        let bins = std::fs::read_dir(&dir)
            .map(|r| {
                r.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
                    .count()
            })
            .unwrap_or(0);
        if !waiting && bins >= 3 {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(found, "the X report was not printed");
    assert_eq!(d.records().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_changes_need_a_manager_and_are_journaled_with_old_and_new_values() {
    let d = daemon("").await;
    let product = json!({"sku":"THE","label":"Thé vert","price_cents":450,"vat_rate":850});
    // Catalog changes: managers only.
    let (status, v) = d
        .call(
            "POST",
            "/v1/products",
            Some(json!({"operator":"alice","pin":CASHIER_PIN,"product":product})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required"))
    );
    let (status, v) = d
        .call(
            "PUT",
            "/v1/products/BAGUETTE",
            Some(json!({"operator":"alice","pin":CASHIER_PIN,"product":{"sku":"BAGUETTE","label":"Baguette","price_cents":1,"vat_rate":550}})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required"))
    );
    // 8.5 % is not a rate yet.
    let (status, v) = d
        .call(
            "POST",
            "/v1/products",
            Some(json!({"operator":"marie","pin":MANAGER_PIN,"product":product})),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let rates = |r: Value, op: &str, pin: &str| json!({"rates": r, "operator": op, "pin": pin});
    let (status, _) = d
        .call(
            "PUT",
            "/v1/config/vat-rates",
            Some(rates(
                json!([2000, 1000, 550, 210, 850]),
                "alice",
                CASHIER_PIN,
            )),
        )
        .await;
    assert_eq!(status, 403);
    // 5.5 % is used by the baguette: it cannot go.
    let (status, v) = d
        .call(
            "PUT",
            "/v1/config/vat-rates",
            Some(rates(json!([2000, 1000]), "marie", MANAGER_PIN)),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("vat_rate_in_use"))
    );
    let (status, _) = d
        .call(
            "PUT",
            "/v1/config/vat-rates",
            Some(rates(
                json!([2000, 1000, 550, 210, 99999]),
                "marie",
                MANAGER_PIN,
            )),
        )
        .await;
    assert_eq!(status, 422);
    let before = d.records().len();
    let v = d
        .ok(
            "PUT",
            "/v1/config/vat-rates",
            Some(rates(
                json!([2000, 1000, 550, 210, 850]),
                "marie",
                MANAGER_PIN,
            )),
        )
        .await;
    assert_eq!(v["changed"], true, "{v}");
    assert_eq!(d.records().len(), before + 1);
    let reader =
        pos_core::reader::JournalReader::open(&d.app.config.journal_path()).expect("reader");
    let e = reader
        .last_event(pos_core::events::CONFIGURATION_CHANGED)
        .expect("read")
        .expect("event");
    assert_eq!(e.operator.as_deref(), Some("marie"));
    assert_eq!(e.details["setting"], "vat_rates");
    assert!(
        !e.details["old"].contains("850") && e.details["new"].contains("850"),
        "{e:?}"
    );
    let c = d.ok("GET", "/v1/config", None).await;
    assert!(
        c["vat_rates"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(850))),
        "{c}"
    );
    d.ok(
        "POST",
        "/v1/products",
        Some(json!({"operator":"marie","pin":MANAGER_PIN,"product":product})),
    )
    .await;
    let t = d
        .ok(
            "POST",
            "/v1/sales",
            Some(json!({"operator":"alice","lines":[{"sku":"THE"}],"payments":[{"method":"card","amount_cents":450}]})),
        )
        .await;
    assert_eq!(t["vat"][0]["rate"], 850, "{t}");

    // The merchant identity.
    let merchant = json!({"name":"Chez Paul","address":"2 place du Marché, 69001 Lyon","siret":"73282932000074","vat_id":"FR44732829320"});
    let (status, _) = d
        .call(
            "PUT",
            "/v1/config/merchant",
            Some(json!({"merchant":merchant,"operator":"alice","pin":CASHIER_PIN})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = d
        .call(
            "PUT",
            "/v1/config/merchant",
            Some(json!({"merchant":{"name":"","address":"x","siret":"1","vat_id":""},"operator":"marie","pin":MANAGER_PIN})),
        )
        .await;
    assert_eq!(status, 422);
    d.ok(
        "PUT",
        "/v1/config/merchant",
        Some(json!({"merchant":merchant,"operator":"marie","pin":MANAGER_PIN})),
    )
    .await;
    let e = reader
        .last_event(pos_core::events::CONFIGURATION_CHANGED)
        .expect("read")
        .expect("event");
    assert_eq!(e.details["setting"], "merchant");
    assert!(e.details["old"].contains("Épicerie Test"), "{e:?}");
    assert!(e.details["new"].contains("Chez Paul"), "{e:?}");
    assert_eq!(
        d.ok("GET", "/v1/config", None).await["merchant"]["name"],
        "Chez Paul"
    );
    assert_eq!(d.app.current_opening().merchant.name, "Chez Paul");
    assert_eq!(
        d.app
            .ops
            .meta(pos_daemon::app::MERCHANT)
            .expect("meta")
            .map(|m| m.contains("Chez Paul")),
        Some(true)
    );
}

/// How many ESC/POS jobs printed so far contain all of `needles`.
fn printed_jobs_with(d: &Daemon, needles: &[&[u8]]) -> usize {
    let dir = d.dir.path().join("receipts");
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
                .filter_map(|e| std::fs::read(e.path()).ok())
                .filter(|b| needles.iter().all(|n| b.windows(n.len()).any(|w| w == *n)))
                .count()
        })
        .unwrap_or(0)
}

async fn wait_printed_jobs_with(d: &Daemon, needles: &[&[u8]], count: usize) {
    for _ in 0..200 {
        if printed_jobs_with(d, needles) >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no printout with {needles:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_is_reprinted_as_a_duplicate_and_refunds_are_marked() {
    let d = daemon("").await;
    let sale = d.sale(2).await;
    let seq = sale["seq"].as_u64().expect("seq");
    d.ok(
        "POST",
        "/v1/refunds",
        Some(
            json!({"operator":"alice","original_seq":seq,"reason":"rassis",
            "lines":[{"original_line":0,"quantity_milli":1000}],
            "payments":[{"method":"cash","amount_cents":130}]}),
        ),
    )
    .await;
    wait_printed_jobs_with(
        &d,
        &[b"REMBOURSEMENT", b"du ticket n\xb0 1", b"Motif : rassis"],
        1,
    )
    .await;
    let z = d
        .ok(
            "POST",
            "/v1/closures",
            Some(json!({"period":"day","operator":"marie","pin":MANAGER_PIN})),
        )
        .await;
    let zseq = z["closures"][0]["seq"].as_u64().expect("seq");
    wait_printed_jobs_with(&d, &[b"RAPPORT Z n\xb0 1"], 1).await;
    assert_eq!(printed_jobs_with(&d, &[b"DUPLICATA"]), 0);
    let dup = d
        .ok(
            "POST",
            &format!("/v1/tickets/{zseq}/reprint"),
            Some(json!({"operator":"alice","reason":"comptable"})),
        )
        .await;
    assert_eq!(dup["copy"], 1, "{dup}");
    wait_printed_jobs_with(&d, &[b"RAPPORT Z n\xb0 1", b"DUPLICATA n\xb0 1"], 1).await;
    assert_eq!(printed_jobs_with(&d, &[b"RAPPORT Z n\xb0 1"]), 2);
    // Events are not reprintable.
    let event_seq = d
        .records()
        .iter()
        .find(|(_, k)| k == "event")
        .map(|(s, _)| *s)
        .expect("an event");
    let (status, v) = d
        .call(
            "POST",
            &format!("/v1/tickets/{event_seq}/reprint"),
            Some(json!({"operator":"alice"})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("not_reprintable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_wedge_scanners_are_opened_from_the_configuration() {
    let not_a_device = tempfile::NamedTempFile::new().expect("file");
    let d = daemon(&format!(
        "\n[[scanners]]\nkind = \"wedge\"\nlayout = \"fr\"\npath = \"/dev/input/by-id/no-such-scanner-event-kbd\"\n\n[[scanners]]\nkind = \"wedge\"\npath = \"{}\"\n",
        not_a_device.path().display()
    ))
    .await;
    let mut states = Value::Null;
    for _ in 0..200 {
        states = d.ok("GET", "/v1/devices", None).await["scanners"].clone();
        let done = states
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|s| s["state"] == "disconnected"));
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let list = states.as_array().expect("scanners");
    assert_eq!(list.len(), 2, "{states}");
    for s in list {
        assert_eq!(s["kind"], "wedge", "{states}");
        assert_eq!(s["state"], "disconnected", "{states}");
    }
    let missing = list
        .iter()
        .find(|s| {
            s["path"]
                .as_str()
                .is_some_and(|p| p.contains("no-such-scanner"))
        })
        .expect("the missing device");
    assert!(
        missing["error"]
            .as_str()
            .is_some_and(|e| e.contains("No such file")),
        "{states}"
    );
    let file = list
        .iter()
        .find(|s| s["path"] == not_a_device.path().display().to_string())
        .expect("the plain file");
    assert!(
        file["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{states}"
    );
    // A wrong kind in the configuration is refused.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("posd.toml");
    std::fs::write(
        &path,
        config_text(
            dir.path(),
            "\n[[scanners]]\nkind = \"bluetooth\"\npath = \"/dev/x\"\n",
        ),
    )
    .expect("write");
    assert!(Config::load(&path).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_free_space_of_the_data_disk_and_warns_below_the_level_set() {
    // The real file system of the test's data directory, read with statvfs.
    let d = daemon("").await;
    let health = d.ok("GET", "/v1/health", None).await;
    let free = health["disk"]["free_bytes"].as_u64().expect("free bytes");
    assert!(free > 0, "{health}");
    let fs = rustix::fs::statvfs(&d.app.config.data_dir).expect("statvfs");
    let now = fs.f_bavail * fs.f_frsize;
    // Other tests write meanwhile: the two readings are close, not equal.
    assert!(free.abs_diff(now) < 1 << 30, "{free} against {now}");
    assert_eq!(health["disk"]["low"], free < 512 * 1024 * 1024, "{health}");
    assert_eq!(health["status"], "ok");

    // A level above what is free: a warning, and the journal still fine.
    let level_mib = free / (1024 * 1024) + 1024;
    let d = daemon(&format!("\n[storage]\nlow_free_mib = {level_mib}\n")).await;
    let health = d.ok("GET", "/v1/health", None).await;
    assert_eq!(health["disk"]["low"], true, "{health}");
    assert_eq!(health["status"], "ok", "a warning, not a failure: {health}");
}

#[test]
fn the_example_configuration_loads_once_its_pin_hashes_are_filled_in() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("posd.example.toml");
    let text = std::fs::read_to_string(example).expect("posd.example.toml");
    // The example's PIN hashes are placeholders, refused as they are: a copy must get real
    // ones from `posd hash-pin`.
    let placeholder = "$argon2id$v=19$m=19456,t=2,p=1$...";
    assert!(text.contains(placeholder));
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("posd.toml");
    std::fs::write(&path, &text).expect("write");
    assert!(
        Config::load(&path).is_err(),
        "a placeholder PIN hash is refused"
    );
    let hash = pos_daemon::auth::hash_pin("4821").expect("hash");
    let text = text.replace(placeholder, &hash);
    std::fs::write(&path, &text).expect("write");
    // So is its token: a till that kept it would answer anyone who read the example.
    let refused = Config::load(&path).expect_err("the example's token is refused");
    assert!(
        refused
            .to_string()
            .contains("replace it with a long random one"),
        "{refused}"
    );
    let text = text.replace(
        pos_daemon::config::EXAMPLE_TOKEN,
        "9f2c41d07be85a3e6c1d94f0",
    );
    std::fs::write(&path, &text).expect("write");
    let config = Config::load(&path).expect("the example loads");
    assert_eq!(config.storage.low_free_mib, 512);
    assert_eq!(config.policy.clock_ahead_limit_days, 45);
    let line = "clock_ahead_limit_days = 45";
    assert!(text.contains(line));
    std::fs::write(&path, text.replace(line, "clock_ahead_limit_days = 0")).expect("write");
    assert!(Config::load(&path).is_err(), "a limit of 0 days is refused");
    assert_eq!(
        (config.api.session_idle_secs, config.api.max_sessions),
        (900, 64)
    );
    for (line, bad) in [
        ("session_idle_secs = 900", "session_idle_secs = 59"),
        ("session_idle_secs = 900", "session_idle_secs = 86401"),
        ("max_sessions = 64", "max_sessions = 0"),
    ] {
        assert!(text.contains(line));
        std::fs::write(&path, text.replace(line, bad)).expect("write");
        let refused = Config::load(&path).expect_err(bad);
        assert!(refused.to_string().contains("must be between"), "{refused}");
    }
}

/// The codes of the journal's events, in order.
fn event_codes(path: &std::path::Path) -> Vec<String> {
    let reader = pos_core::reader::JournalReader::open(path).expect("reader");
    reader
        .records_of_kind(pos_core::record::Kind::Event)
        .expect("events")
        .iter()
        .filter_map(|r| {
            match pos_core::body::Body::decode(pos_core::record::Kind::Event, &r.body) {
                Ok(pos_core::body::Body::Event(e)) => Some(e.code),
                _ => None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_far_ahead_refuses_sales_until_a_manager_confirms_the_date() {
    let d = daemon("[policy]\nclock_ahead_limit_days = 10\n").await;
    d.sale(1).await;
    let health = d.ok("GET", "/v1/health", None).await;
    assert_eq!(health["status"], "ok");
    assert!(health["clock_ahead"].is_null());

    // Within the configured limit, sales go on.
    d.clock.advance(9 * DAY_MS);
    d.sale(1).await;
    d.clock.advance(11 * DAY_MS);
    assert_eq!(
        d.ok("GET", "/v1/health", None).await["status"],
        "clock_ahead"
    );
    d.clock.advance(-11 * DAY_MS);
    assert_eq!(d.ok("GET", "/v1/health", None).await["status"], "ok");

    // The year is typed wrong: health says so, and sales are refused with a clear conflict.
    d.clock.advance(3653 * DAY_MS);
    let health = d.ok("GET", "/v1/health", None).await;
    assert_eq!(health["status"], "clock_ahead", "{health}");
    assert_eq!(health["clock_ahead"]["days"], 3653);
    let before = d.records().len();
    let sale = json!({"operator":"alice","lines":[{"sku":"BAGUETTE","quantity":1}],
                      "payments":[{"method":"cash","amount_cents":130}]});
    let (status, body) = d.call("POST", "/v1/sales", Some(sale.clone())).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "clock_ahead");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("3653 days after")));
    assert_eq!(d.records().len(), before, "nothing is journaled");
    // Whoever sends it: an operator not signed in (sessions lost, another till) gets the
    // clock's answer first, which says what to do.
    let unsigned = json!({"operator":"marie","lines":[{"sku":"BAGUETTE","quantity":1}],
                          "payments":[{"method":"cash","amount_cents":130}]});
    let (status, body) = d.call("POST", "/v1/sales", Some(unsigned)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("clock_ahead")),
        "{body}"
    );

    // A cashier cannot confirm; a manager can, and sales go on at the confirmed date.
    let (status, body) = d
        .call(
            "POST",
            "/v1/clock/confirm",
            Some(json!({"operator":"alice","pin":CASHIER_PIN})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let confirmed = d
        .ok(
            "POST",
            "/v1/clock/confirm",
            Some(json!({"operator":"marie","pin":MANAGER_PIN})),
        )
        .await;
    assert_eq!(
        confirmed["timestamp_ms"],
        d.clock.0.load(Ordering::SeqCst),
        "{confirmed}"
    );
    let (status, body) = d.call("POST", "/v1/sales", Some(sale)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(d.ok("GET", "/v1/health", None).await["status"], "ok");
    let codes = event_codes(&d.app.config.journal_path());
    assert_eq!(codes.iter().filter(|c| *c == "clock_confirmed").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posd_starts_with_a_clock_far_ahead_and_journals_its_start_once_the_date_is_confirmed() {
    let (dir, config) = config("");
    let now = chrono::Utc::now().timestamp_millis();
    let start = |config: Config, at_ms: i64| {
        let clock = Arc::new(TestClock(AtomicI64::new(at_ms)));
        tokio::task::spawn_blocking(move || App::start_with_clock(config, clock))
    };
    let first = start(config.clone(), now)
        .await
        .expect("join")
        .expect("start");
    drop(first);
    let journal = config.journal_path();
    let starts = |codes: &[String]| codes.iter().filter(|c| *c == "software_started").count();
    assert_eq!(starts(&event_codes(&journal)), 1);

    // Started again with the clock ten years ahead: posd runs (a manager must be able to
    // confirm the date), but its start is not journaled yet.
    let app = start(config, now + 3653 * DAY_MS)
        .await
        .expect("join")
        .expect("posd starts with the clock ahead");
    let app = Arc::new(app);
    assert!(
        app.finish_start(),
        "the start waits while the clock is ahead"
    );
    assert_eq!(starts(&event_codes(&journal)), 1);
    let router = pos_daemon::api::router(app.clone());
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/clock/confirm")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(HttpBody::from(
            json!({"operator":"marie","pin":MANAGER_PIN}).to_string(),
        ))
        .expect("request");
    let resp = router.oneshot(req).await.expect("infallible");
    assert_eq!(resp.status().as_u16(), 200);

    // The start is journaled right after the confirmation.
    let codes = event_codes(&journal);
    assert_eq!(starts(&codes), 2);
    let confirmed = codes
        .iter()
        .position(|c| c == "clock_confirmed")
        .expect("confirmed");
    assert_eq!(codes[confirmed + 1], "software_started", "{codes:?}");
    assert!(app.start_pending.lock().unwrap().is_none());
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_pushes_health_when_sales_stop_and_resume_going_through() {
    let d = daemon("").await;
    let mut events = d.events().await;
    // Let the watcher see the healthy state first.
    tokio::time::sleep(Duration::from_millis(200)).await;

    d.clock.advance(3653 * DAY_MS);
    let pushed = events.next_named("health").await;
    assert_eq!(pushed["status"], "clock_ahead", "{pushed}");
    assert_eq!(pushed["clock_ahead"]["days"], 3653);

    d.ok(
        "POST",
        "/v1/clock/confirm",
        Some(json!({"operator":"marie","pin":MANAGER_PIN})),
    )
    .await;
    let pushed = events.next_named("health").await;
    assert_eq!(pushed["status"], "ok", "{pushed}");
    assert!(pushed["clock_ahead"].is_null());

    // The clock is put back two hours behind the last record (a dead clock battery): sales go
    // through, dated at the last record's time, and the front-end is told.
    d.clock.advance(-2 * 3600 * 1000);
    let pushed = events.next_named("health").await;
    assert_eq!(pushed["status"], "ok", "{pushed}");
    let behind = pushed["clock_behind_ms"].as_i64().expect("behind");
    assert!(
        (2 * 3600 * 1000..2 * 3600 * 1000 + 60_000).contains(&behind),
        "{pushed}"
    );
    d.clock.advance(2 * 3600 * 1000 + 1000);
    let pushed = events.next_named("health").await;
    assert!(pushed["clock_behind_ms"].is_null(), "{pushed}");
}

/// The SHA-256 of a request body, as an idempotency key remembers it.
fn sha256_of(body: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(body.as_bytes()).into()
}

/// Two baguettes sold by alice, as the journal takes them (bypassing the API).
pub fn two_baguettes(method: pos_core::ticket::PaymentMethod) -> pos_core::ticket::SaleInput {
    pos_core::ticket::SaleInput {
        operator: "alice".into(),
        lines: vec![pos_core::ticket::LineInput {
            sku: "BAGUETTE".into(),
            label: "Baguette".into(),
            quantity: pos_core::money::Qty(2000),
            unit: pos_core::ticket::Unit::Piece,
            unit_price: pos_core::money::Cents(130),
            vat_rate: pos_core::money::VatRate(550),
            discount: pos_core::money::Cents::ZERO,
        }],
        ticket_discount: pos_core::money::Cents::ZERO,
        payments: vec![pos_core::ticket::Payment {
            method,
            amount: pos_core::money::Cents(260),
        }],
    }
}

/// A cash sale of `n` baguettes by alice, as a front-end sends it.
fn baguettes(n: i64) -> Value {
    json!({"operator":"alice","lines":[{"sku":"BAGUETTE","quantity":n}],
           "payments":[{"method":"cash","amount_cents":130 * n}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_sent_again_with_its_idempotency_key_gets_its_first_answer() {
    let d = daemon("").await;
    let key = [("Idempotency-Key", "till-1/ticket-0001")];
    let stock_before = stock(&d, "BAGUETTE").await;
    let (status, first) = d
        .call_with("POST", "/v1/sales", Some(baguettes(2)), &key)
        .await;
    assert_eq!(status, 200, "{first}");
    assert!(first["idempotent_replay"].is_null());

    // The answer is lost; the till sends the sale again, twice.
    for _ in 0..2 {
        let (status, again) = d
            .call_with("POST", "/v1/sales", Some(baguettes(2)), &key)
            .await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["idempotent_replay"], true);
        for field in [
            "seq",
            "ticket_number",
            "total_cents",
            "receipt_code",
            "timestamp_ms",
        ] {
            assert_eq!(again[field], first[field], "{field}");
        }
    }
    assert_eq!(kinds(&d, "sale"), 1, "one ticket");
    d.printed_text(first["seq"].as_u64().unwrap()).await;
    assert_eq!(stock(&d, "BAGUETTE").await, stock_before - 2000);

    // The same key with another sale is refused, and writes nothing.
    let (status, body) = d
        .call_with("POST", "/v1/sales", Some(baguettes(3)), &key)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
    assert_eq!(kinds(&d, "sale"), 1);

    // A refused sale writes nothing and keeps nothing: corrected, it goes through.
    let short = json!({"operator":"alice","lines":[{"sku":"BAGUETTE","quantity":1}],
                       "payments":[{"method":"cash","amount_cents":100}]});
    let other = [("Idempotency-Key", "till-1/ticket-0002")];
    let (status, body) = d.call_with("POST", "/v1/sales", Some(short), &other).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = d
        .call_with("POST", "/v1/sales", Some(baguettes(1)), &other)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(kinds(&d, "sale"), 2);

    // Keys must be short visible text.
    for bad in ["", "a b", &"k".repeat(129)] {
        let (status, body) = d
            .call_with(
                "POST",
                "/v1/sales",
                Some(baguettes(1)),
                &[("Idempotency-Key", bad)],
            )
            .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_idempotency_key");
    }
    assert_eq!(kinds(&d, "sale"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_sale_sent_many_times_at_once_is_journaled_once() {
    let d = Arc::new(daemon("").await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            d.call_with(
                "POST",
                "/v1/sales",
                Some(baguettes(1)),
                &[("Idempotency-Key", "same-ticket")],
            )
            .await
        }));
    }
    let mut seqs = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.expect("join");
        match status {
            200 => {
                seqs.insert(body["seq"].as_u64().expect("seq"));
            }
            409 => assert_eq!(body["error"]["code"], "idempotency_in_progress"),
            _ => panic!("{status}: {body}"),
        }
    }
    assert_eq!(seqs.len(), 1, "every answer names the same ticket");
    assert_eq!(kinds(&d, "sale"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_left_unsettled_is_settled_from_the_journal() {
    let d = daemon("").await;
    let journal = d.app.journal().expect("journal");
    let body = baguettes(2);
    let bytes = body.to_string();
    let sha256 = sha256_of(&bytes);
    // The process died after the journal's commit, before the answer was noted: the key is
    // remembered, the sale journaled, and an identical sale from another till came after it.
    let input = two_baguettes(pos_core::ticket::PaymentMethod::Cash);
    d.app
        .ops
        .begin_keyed("lost-answer", &sha256, journal.last_seq())
        .expect("remember");
    let journaled = journal.sale(&input).expect("journaled");
    d.app
        .ops
        .begin_keyed("other-till", &[0; 32], journal.last_seq())
        .expect("remember");
    let other = journal.sale(&input).expect("journaled");
    d.app
        .ops
        .finish_keyed("other-till", other.seq)
        .expect("noted");

    // Sent again, it is answered with the sale journaled then.
    let (status, again) = d
        .call_with(
            "POST",
            "/v1/sales",
            Some(body.clone()),
            &[("Idempotency-Key", "lost-answer")],
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["idempotent_replay"], true);
    assert_eq!(again["seq"], journaled.seq);
    assert_eq!(kinds(&d, "sale"), 2);

    // A key remembered whose sale never reached the journal: the sale is journaled now.
    d.app
        .ops
        .begin_keyed("never-written", &sha256, journal.last_seq())
        .expect("remember");
    let (status, written) = d
        .call_with(
            "POST",
            "/v1/sales",
            Some(body),
            &[("Idempotency-Key", "never-written")],
        )
        .await;
    assert_eq!(status, 200, "{written}");
    assert!(written["idempotent_replay"].is_null());
    assert!(written["seq"].as_u64() > Some(other.seq));
    assert_eq!(kinds(&d, "sale"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_sent_again_with_its_idempotency_key_pays_out_once() {
    let d = daemon("").await;
    let seq = d.sale(5).await["seq"].as_u64().expect("seq");
    let refund = json!({"operator":"alice","original_seq":seq,"reason":"rassis",
        "lines":[{"original_line":0,"quantity_milli":1000}],
        "payments":[{"method":"cash","amount_cents":130}]});
    let key = [("Idempotency-Key", "refund-7")];
    let (status, first) = d
        .call_with("POST", "/v1/refunds", Some(refund.clone()), &key)
        .await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = d
        .call_with("POST", "/v1/refunds", Some(refund.clone()), &key)
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["idempotent_replay"], true);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(kinds(&d, "refund"), 1, "one baguette refunded, once");
    assert_eq!(stock(&d, "BAGUETTE").await, 96_000);

    // Left unsettled (the answer never noted), it is found in the journal, not paid again.
    let journal = d.app.journal().expect("journal");
    let bytes = refund.to_string();
    let sha256 = sha256_of(&bytes);
    d.app
        .ops
        .begin_keyed("refund-8", &sha256, journal.last_seq())
        .expect("remember");
    let input = pos_core::ticket::RefundInput {
        operator: "alice".into(),
        reason: "rassis".into(),
        lines: vec![pos_core::ticket::RefundLineInput {
            original_line: 0,
            quantity: pos_core::money::Qty(1000),
        }],
        payments: vec![pos_core::ticket::Payment {
            method: pos_core::ticket::PaymentMethod::Cash,
            amount: pos_core::money::Cents(130),
        }],
        void: false,
    };
    let journaled = journal.refund(seq, &input).expect("journaled");
    let (status, settled) = d
        .call_with(
            "POST",
            "/v1/refunds",
            Some(refund),
            &[("Idempotency-Key", "refund-8")],
        )
        .await;
    assert_eq!(status, 200, "{settled}");
    assert_eq!(settled["seq"], journaled.seq);
    assert_eq!(kinds(&d, "refund"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ops_db_that_lost_its_projections_does_not_print_old_receipts_again() {
    let d = daemon("").await;
    let old = d.sale(2).await["seq"].as_u64().expect("seq");
    d.printed_text(old).await;
    let stock_after_sale = stock(&d, "BAGUETTE").await;

    // An hour later ops.db has lost every job and its cursor (created again, or restored from
    // an old backup): the journal is projected again from the start.
    d.clock.advance(3600 * 1000);
    {
        let conn = rusqlite::Connection::open(d.app.config.ops_path()).expect("ops.db");
        conn.execute("DELETE FROM print_jobs", []).expect("delete");
    }
    d.app.ops.set_meta("recovered_upto", "0").expect("cursor");
    let mut p = d.app.new_projector().expect("projector");
    let head = p.head().expect("head");
    p.project_to(head).expect("replay");

    // The old sale's job is recorded, not printed; its stock moved once.
    let job = d.app.ops.job_of_seq(old).expect("ops").expect("a job");
    assert_eq!(job.state, pos_daemon::ops::JobState::Skipped, "{job:?}");
    assert!(job
        .error
        .as_deref()
        .is_some_and(|e| e.contains("reprint it as a duplicate")));
    assert_eq!(stock(&d, "BAGUETTE").await, stock_after_sale);

    // A sale now prints as usual.
    let new = d.sale(1).await;
    assert!(new["print_job"].is_i64(), "{new}");
    d.printed_text(new["seq"].as_u64().expect("seq")).await;
    let job = d.app.ops.job_of_seq(new["seq"].as_u64().expect("seq"));
    assert_ne!(
        job.expect("ops").expect("a job").state,
        pos_daemon::ops::JobState::Skipped
    );
}

/// 12:00 in Paris on the 10th of the month after `now_ms`'s.
fn tenth_of_next_month(now_ms: i64) -> i64 {
    use chrono::{Datelike, TimeZone};
    let tz: chrono_tz::Tz = "Europe/Paris".parse().expect("zone");
    let now = tz.timestamp_millis_opt(now_ms).single().expect("time");
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    tz.with_ymd_and_hms(y, m, 10, 12, 0, 0)
        .single()
        .expect("time")
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_z_at_a_shift_change_lets_the_day_go_on_and_an_early_month_closure_asks_first() {
    let d = daemon("").await;
    // Mid-month, so that the month is not over whatever day the test runs.
    let now = d.clock.now_ms_for_test();
    d.clock.advance(tenth_of_next_month(now) - now);
    let z = |confirm: Option<bool>, period: &str| {
        let mut body = json!({"period": period, "operator": "marie", "pin": MANAGER_PIN});
        if let Some(c) = confirm {
            body["confirm"] = json!(c);
        }
        body
    };
    d.sale(1).await;
    // The midday Z: the afternoon sells on.
    let first = d.ok("POST", "/v1/closures", Some(z(None, "day"))).await;
    assert_eq!(first["closures"][0]["body"]["continues"], true, "{first}");
    d.clock.advance(60_000);
    let (status, v) = d.call("POST", "/v1/closures", Some(z(None, "day"))).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("nothing_to_close")),
        "a second Z right away: {v}"
    );
    d.clock.advance(3_600_000);
    d.sale(2).await;
    let x = d.ok("GET", "/v1/reports/x", None).await;
    assert_eq!(
        x["day"]["sales"], 1,
        "the open part holds the afternoon: {x}"
    );
    assert_eq!(x["month"]["sales"], 2, "{x}");
    let second = d.ok("POST", "/v1/closures", Some(z(None, "day"))).await;
    let day = &second["closures"][0]["body"];
    assert_eq!(
        (day["start"].clone(), day["totals"]["sales"].clone()),
        (first["closures"][0]["body"]["start"].clone(), json!(1)),
        "{second}"
    );

    // The month closed now would close it whole: the manager is told and confirms.
    let before = d.records().len();
    let (status, v) = d.call("POST", "/v1/closures", Some(z(None, "month"))).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("confirmation_required")),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("sales dated until") && message.contains("confirm"),
        "{message}"
    );
    assert_eq!(d.records().len(), before, "nothing journaled");
    let month = d
        .ok("POST", "/v1/closures", Some(z(Some(true), "month")))
        .await;
    let m = month["closures"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["body"]["period"] == "month"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        m["body"]["totals"]["sales"], 2,
        "both parts of the day: {month}"
    );
    let (status, v) = d
        .call(
            "POST",
            "/v1/sales",
            Some(json!({"operator":"alice","lines":[{"sku":"BAGUETTE"}],"payments":[{"method":"cash","amount_cents":130}]})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("closed_period")),
        "{v}"
    );
    let verified = d.ok("POST", "/v1/journal/verify", None).await;
    assert_eq!(verified["intact"], true, "{verified}");
}

/// The router serves every operation of the document it serves at `/v1/openapi.json`: none
/// falls through to "no such route" or "method not allowed".
#[tokio::test]
async fn every_documented_route_is_served() {
    let d = daemon("").await;
    let (status, doc) = d.call("GET", "/v1/openapi.json", None).await;
    assert_eq!(status, 200, "{doc}");
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                routes.push((method.clone(), path.clone()));
            }
        }
    }
    assert!(routes.len() >= 38, "{} routes", routes.len());
    for (method, path) in routes {
        // Path parameters filled with a value of the right shape.
        let uri = path
            .replace("{sku}", "BAGUETTE")
            .replace("{code}", "3017620422003")
            .replace("{seq}", "1")
            .replace("{shop}", "woo")
            .replace("{order}", "1");
        let body = if method == "get" { "" } else { "{}" };
        let req = Request::builder()
            .method(Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method"))
            .uri(&uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(HttpBody::from(body))
            .expect("request");
        let resp = d.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        assert_ne!(status, 405, "{method} {uri}");
        if status == 404 {
            // The event stream never ends: only other answers are read.
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .expect("body");
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert!(
                !v["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("no such route"),
                "{method} {uri} is not served: {v}"
            );
        }
    }
    // And a path outside the table is not.
    let (status, v) = d.call("GET", "/v1/nothing-here", None).await;
    assert_eq!(status, 404, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("no such route"));
}

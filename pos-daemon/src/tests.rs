//! In-process tests of the daemon: the router called directly, the journal on a clock the test
//! moves, the projector and the print worker (file printer) running as in `posd serve`.

use crate::app::App;
use crate::config::Config;
use axum::body::Body as HttpBody;
use axum::http::{header, Method, Request};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

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

fn config_text(dir: &std::path::Path, extra: &str) -> String {
    let cashier = crate::auth::hash_pin(CASHIER_PIN).expect("hash");
    let manager = crate::auth::hash_pin(MANAGER_PIN).expect("hash");
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
    crate::init(&config).expect("init");
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
        tokio::spawn(crate::print::run(app.clone(), address, stop_rx));
    }
    let router = crate::api::router(app.clone());
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
        d.ok("POST", "/v1/products", Some(p)).await;
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
        let req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
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
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
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
        Some(json!({"period":"month","operator":"marie","pin":MANAGER_PIN})),
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

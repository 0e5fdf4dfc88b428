//! The web till's figures, measured in a real headless Chromium against a running posd: the
//! first load, the size of the pages, and how long each interaction of a sale takes to show on
//! screen (p50, p95, max), for a sale of three scanned items paid in cash.
//!
//! ```sh
//! cargo build --release -p pos-daemon --bin posd --example web_till_figures
//! target/release/posd demo --listen 127.0.0.1:8421 &
//! target/release/examples/web_till_figures 127.0.0.1:8421 100
//! ```
//! Arguments: posd's address, sales (100). Needs Debian's `chromium` and `chromium-driver`.
//!
//! Each interaction is timed inside the page (`performance.now()`): from the touch or the
//! scanner's first key to the first animation frame after the page shows its effect (a line on
//! the ticket, the payment dialog, the change to give, which includes the sale made durable by
//! posd). The frame granularity is 1/60 s.

// The tests' browser harness, shared (the example uses part of it).
#[allow(dead_code)]
#[path = "../tests/common/browser.rs"]
mod browser;

use serde_json::{json, Value};

/// The sale's scans in the demo's catalogue: a baguette and a croissant (in-store EAN-13) and
/// 1.250 kg of Comté from a scale label.
fn codes() -> Vec<String> {
    let ean = |body: &str| {
        let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        format!("{body}{}", pos_core::barcode::check_digit(&digits))
    };
    vec![
        ean("040000000001"),
        ean("040000000002"),
        "2123450012503".into(),
    ]
}

/// Defines `window.figure(kind, act, done)`: runs `act`, waits for `done()` frame by frame, and
/// records the milliseconds up to the frame after it holds.
const HARNESS: &str = r#"
window.figures = {};
window.figure = async (kind, act, done) => {
  const t0 = performance.now();
  act();
  while (!done()) await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(r));
  (window.figures[kind] ||= []).push(performance.now() - t0);
};
window.scanKeys = (code) => {
  for (const key of [...code, 'Enter']) {
    document.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true }));
  }
};
"#;

/// One sale, timed; returns the touches and keys it took besides the scans.
const SALE: &str = r#"
const [codes, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const $ = (id) => document.getElementById(id);
  const lines = () => document.querySelectorAll('#lines li').length;
  let touches = 0;
  for (let i = 0; i < codes.length; i++) {
    await figure('scan', () => scanKeys(codes[i]), () => lines() === i + 1);
  }
  touches++;
  await figure('open payment', () => $('pay').click(), () => !$('pay-modal').hidden);
  touches++;
  await figure('pay cash (sale durable, change shown)', () => document.querySelector("[data-note='5000']").click(),
    () => !$('done-modal').hidden && $('done-change').textContent !== '');
  await figure('next sale', () => $('done-next').click(), () => $('done-modal').hidden);
  done(touches);
})();
"#;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8421".into());
    let sales: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let url = format!("http://{addr}/");
    let Some(b) = browser::start(1280, 800).await else {
        std::process::exit(2);
    };

    // First loads: the page, its scripts, its styles and its texts, from posd (each load asks
    // again: the assets are served `no-cache`), up to the sign-in screen listing the operators.
    let mut loads = Vec::new();
    for _ in 0..20 {
        b.client.goto(&url).await.expect("the till's page");
        b.shown("#operators button").await;
        let v = b
            .client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; \
                 const r = performance.getEntriesByType('resource'); \
                 const ready = performance.getEntriesByName('till-ready')[0]; \
                 return [n.loadEventEnd - n.startTime, ready ? ready.startTime : NaN, \
                         n.encodedBodySize + r.reduce((s, e) => s + e.encodedBodySize, 0)];",
                Vec::new(),
            )
            .await
            .expect("navigation timing");
        loads.push((
            v[0].as_f64().unwrap_or(f64::NAN),
            v[1].as_f64().unwrap_or(f64::NAN),
            v[2].as_f64().unwrap_or(0.0),
        ));
        b.client
            .execute("localStorage.clear(); return 0", Vec::new())
            .await
            .expect("clear");
    }
    let shown = b
        .client
        .find(fantoccini::Locator::Css(
            "#operators button[data-operator='alice']",
        ))
        .await
        .expect("alice");
    shown.click().await.expect("alice");
    for d in pos_daemon::demo::CASHIER_PIN.chars() {
        b.touch(&format!("#pinpad [data-digit='{d}']")).await;
    }
    b.touch("#pin-ok").await;
    b.shown("#till").await;
    b.client
        .execute(HARNESS, Vec::new())
        .await
        .expect("harness");

    let codes = codes();
    let mut touches = Vec::new();
    for _ in 0..sales {
        let t = b
            .client
            .execute_async(SALE, vec![json!(codes)])
            .await
            .expect("a sale");
        touches.push(t.as_u64().unwrap_or(0));
    }
    let figures: Value = b
        .client
        .execute("return window.figures", Vec::new())
        .await
        .expect("figures");
    b.close().await;

    let assets: usize = pos_daemon::web::files().map(|(_, bytes)| bytes.len()).sum();
    let mut load_ms: Vec<f64> = loads.iter().map(|l| l.0).collect();
    load_ms.sort_by(f64::total_cmp);
    let mut ready_ms: Vec<f64> = loads.iter().map(|l| l.1).collect();
    ready_ms.sort_by(f64::total_cmp);
    println!("web till figures, {sales} sales of 3 scanned items paid in cash, posd at {addr}");
    println!(
        "assets built into posd: {assets} bytes ({:.0} KB); transferred on a first load: {:.0} bytes",
        assets as f64 / 1024.0,
        loads.last().map_or(0.0, |l| l.2)
    );
    println!(
        "first load (20 loads): the sign-in screen usable (operators listed, texts in) p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; load event p50 {:.1} ms",
        percentile(&ready_ms, 0.5),
        percentile(&ready_ms, 0.95),
        ready_ms.last().copied().unwrap_or(f64::NAN),
        percentile(&load_ms, 0.5)
    );
    let max_touches = touches.iter().max().copied().unwrap_or(0);
    println!("touches or keys besides the scans, per sale: {max_touches}");
    if let Some(map) = figures.as_object() {
        for (kind, values) in map {
            let mut v: Vec<f64> = values
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            v.sort_by(f64::total_cmp);
            println!(
                "{kind:<40} n {:>4}  p50 {:>6.1} ms  p95 {:>6.1} ms  max {:>6.1} ms",
                v.len(),
                percentile(&v, 0.5),
                percentile(&v, 0.95),
                v.last().copied().unwrap_or(f64::NAN)
            );
        }
    }
}

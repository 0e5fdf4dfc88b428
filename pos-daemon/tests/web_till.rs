//! The web till in a real headless Chromium, against the real posd and the emupos printer
//! emulator: sign-in with the PIN pad, barcodes typed at scanner speed, a cash payment and its
//! receipt, the printer's state on the page, the network cut during a payment, and what a
//! cashier's session cannot do. Also the browser session over plain HTTP (cookie, CSRF).

mod common;

#[path = "common/browser.rs"]
mod browser;
#[path = "common/cut.rs"]
mod cut;

use common::emupos::Emupos;
use common::{start, Posd, MANAGER_PIN, TOKEN};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn printer_config(emupos: &Emupos) -> String {
    format!(
        "\n[printer]\naddress = \"{}\"\npaper_mm = 80\n\n[drawer]\npin = 2\n",
        emupos.tcp_address()
    )
}

/// A product weighed at the deli counter, whose scale prints its price: prefix 25 (a price
/// label), item 12345.
fn add_ham(posd: &Posd) {
    posd.ok(
        "POST",
        "/v1/products",
        Some(json!({"operator": "marie", "pin": MANAGER_PIN, "product": {
            "sku": "JAMBON", "label": "Jambon blanc à la coupe", "price_cents": 2990,
            "vat_rate": 550, "unit": "kg", "barcodes": ["2512345"], "category": "Traiteur"
        }})),
    );
}

/// The price label of 8.75 € of ham.
fn ham_label() -> String {
    let body = "251234500875";
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    format!("{body}{}", pos_core::barcode::check_digit(&digits))
}

async fn sign_in(b: &browser::Browser, posd_port: u16, operator: &str, pin: &str) {
    b.client
        .goto(&format!("http://127.0.0.1:{posd_port}/"))
        .await
        .expect("the till's page");
    b.touch(&format!("#operators button[data-operator='{operator}']"))
        .await;
    for d in pin.chars() {
        b.touch(&format!("#pinpad [data-digit='{d}']")).await;
    }
    b.touch("#pin-ok").await;
    b.shown("#till").await;
}

async fn scan_and_wait(b: &browser::Browser, code: &str, lines: usize) {
    b.scan(code).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.count("#lines li").await < lines {
        assert!(Instant::now() < deadline, "{code} not on the ticket");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashier_signs_in_scans_three_codes_pays_cash_and_the_receipt_prints() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let emupos = Emupos::start();
    let posd = start(&printer_config(&emupos));
    add_ham(&posd);

    b.client
        .goto(&format!("http://127.0.0.1:{}/", posd.port))
        .await
        .expect("page");
    b.shown("#operators button[data-operator='alice']").await;
    b.screenshot("signin").await;
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;
    assert_eq!(b.text("#operator-name").await, "Alice");

    // Three codes at scanner speed: an EAN-13, an EAN-8, and a price label from the scale.
    scan_and_wait(&b, "3017620422003", 1).await;
    scan_and_wait(&b, "96385074", 2).await;
    scan_and_wait(&b, &ham_label(), 3).await;
    let total = b.text("#ticket-total").await;
    assert!(total.contains("19,55"), "total {total:?}");
    b.screenshot("till").await;

    // Two touches: pay, then the 20 € note.
    b.touch("#pay").await;
    b.shown("#pay-modal").await;
    b.screenshot("payment").await;
    b.touch("#notes [data-note='2000']").await;
    let change = b
        .wait_text("#done-change", Duration::from_secs(10), |t| !t.is_empty())
        .await;
    assert!(change.contains("0,45"), "change {change:?}");
    assert!(b.text("#done-title").await.contains("Ticket n° 1"));
    let detail = b.text("#done-detail").await;
    assert!(
        detail.contains("19,55") && detail.contains("payé 20,00"),
        "{detail}"
    );
    b.screenshot("change").await;

    let receipts = emupos.wait_receipts(1);
    let r = &receipts[0];
    for needle in [
        "Baguette tradition",
        "Vin rouge « Côtes-du-Rhône »",
        "Jambon blanc à la coupe",
        "TOTAL TTC",
        "19,55 €",
        "Espèces",
        "Rendu monnaie",
        "0,45 €",
    ] {
        assert!(r.contains(needle), "missing {needle:?} in receipt:\n{r}");
    }
    assert_eq!(posd.count_kind("sale"), 1);
    // The next scan starts the next ticket.
    scan_and_wait(&b, "3017620422003", 1).await;
    assert!(b.text("#ticket-total").await.contains("1,30"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighed_goods_by_touch_ask_their_weight_and_search_finds_products() {
    let Some(b) = browser::start(1024, 768).await else {
        return;
    };
    let posd = start("");
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;
    // A 1024x768 tablet: nothing overflows sideways, and every control on screen is at least
    // 44 px each way (a finger, not a mouse).
    scan_and_wait(&b, "3017620422003", 1).await;
    let layout = b
        .client
        .execute(
            "const small = [...document.querySelectorAll('button, input, select')]
               .filter((e) => e.offsetParent !== null)
               .map((e) => [e.id || e.textContent.trim(), e.getBoundingClientRect()])
               .filter(([, r]) => r.width < 44 || r.height < 44)
               .map(([name, r]) => `${name} ${r.width}x${r.height}`);
             return [document.documentElement.scrollWidth, window.innerWidth, small];",
            Vec::new(),
        )
        .await
        .expect("layout");
    assert!(
        layout[0].as_f64() <= layout[1].as_f64(),
        "overflows sideways: {layout}"
    );
    assert_eq!(layout[2], json!([]), "controls under 44 px: {layout}");
    // English at the switch, French again.
    b.touch("#till [data-lang-switch]").await;
    b.wait_text("#pay", Duration::from_secs(5), |t| t == "Pay")
        .await;
    b.touch("#till [data-lang-switch]").await;
    b.wait_text("#pay", Duration::from_secs(5), |t| t == "Encaisser")
        .await;
    b.touch("#clear-ticket").await;
    b.touch("#search").await;
    b.keys("comt").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.count("#products button").await != 1 {
        assert!(Instant::now() < deadline, "search did not narrow the grid");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.touch("#products button[data-sku='COMTE']").await;
    b.shown("#weight-modal").await;
    b.keys(&format!("500{}", char::from(fantoccini::key::Key::Enter)))
        .await;
    let total = b
        .wait_text("#ticket-total", Duration::from_secs(5), |t| {
            t.contains("12,45")
        })
        .await;
    assert!(total.contains("12,45"));
    // Card pays exactly what is due: one touch on the method.
    b.touch("#pay").await;
    b.touch("[data-method='card']").await;
    let change = b
        .wait_text("#done-change", Duration::from_secs(10), |t| !t.is_empty())
        .await;
    assert!(change.contains("0,00"), "change {change:?}");
    let seq = posd
        .records()
        .into_iter()
        .rev()
        .find(|(_, k)| k == "sale")
        .map(|(seq, _)| seq)
        .expect("a sale");
    let sale = posd.ok("GET", &format!("/v1/tickets/{seq}"), None);
    let line = &sale["body"]["lines"][0];
    assert_eq!(
        (line["sku"].as_str(), line["total"].as_i64()),
        (Some("COMTE"), Some(1245)),
        "{sale}"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_out_shows_within_two_seconds_and_the_receipt_prints_once_after() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let emupos = Emupos::start();
    let posd = start(&printer_config(&emupos));
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;
    b.wait_text("#pill-printer", Duration::from_secs(10), |t| {
        t.contains("Imprimante prête")
    })
    .await;

    emupos.set_fault("paper-out", true);
    let shown = Instant::now();
    b.wait_text("#pill-printer", Duration::from_secs(5), |t| {
        t.contains("Plus de papier")
    })
    .await;
    let took = shown.elapsed();
    assert!(
        took <= Duration::from_secs(2),
        "paper out shown after {took:?}"
    );

    // The sale goes through (the journal first); its receipt waits for paper.
    scan_and_wait(&b, "3017620422003", 1).await;
    b.touch("#pay").await;
    b.touch("#notes [data-note='500']").await;
    b.wait_text("#done-change", Duration::from_secs(10), |t| {
        t.contains("3,70")
    })
    .await;
    std::thread::sleep(Duration::from_secs(1));
    assert!(emupos.receipts().is_empty(), "printed without paper");

    emupos.set_fault("paper-out", false);
    b.wait_text("#pill-printer", Duration::from_secs(5), |t| {
        !t.contains("Plus de papier")
    })
    .await;
    assert_eq!(emupos.wait_receipts(1).len(), 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        emupos.receipts().len(),
        1,
        "the receipt printed more than once"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_cut_during_a_payment_makes_exactly_one_sale() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let emupos = Emupos::start();
    let posd = start(&printer_config(&emupos));
    let relay = cut::Cut::start(posd.port);
    sign_in(&b, relay.port, "alice", common::CASHIER_PIN).await;
    scan_and_wait(&b, "3017620422003", 1).await;
    b.touch("#pay").await;

    // posd gets the sale, but its answer is lost.
    relay.drop_answers();
    b.touch("#notes [data-note='500']").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while posd.count_kind("sale") < 1 {
        assert!(Instant::now() < deadline, "the sale never reached posd");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.wait_text("#pay-status", Duration::from_secs(10), |t| {
        t.contains("injoignable")
    })
    .await;
    b.wait_text("#pill-network", Duration::from_secs(5), |t| {
        t.contains("injoignable")
    })
    .await;
    b.screenshot("offline").await;
    // Then no network at all for a while; the page keeps the ticket and tries again.
    relay.refuse();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(b
        .shown("#pay-modal")
        .await
        .is_displayed()
        .await
        .unwrap_or(false));

    relay.pass();
    let change = b
        .wait_text("#done-change", Duration::from_secs(15), |t| !t.is_empty())
        .await;
    assert!(change.contains("3,70"), "change {change:?}");
    assert_eq!(posd.count_kind("sale"), 1, "one sale, never two");
    assert_eq!(emupos.wait_receipts(1).len(), 1);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(emupos.receipts().len(), 1);

    // The same for a refund: its answer lost, the money goes out once.
    b.touch("#done-next").await;
    b.touch("#open-refund").await;
    b.shown("#refund-find").await;
    b.scan("1").await;
    b.touch("#refund-lines li[data-line='0']").await;
    relay.drop_answers();
    b.touch("#refund-go").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while posd.count_kind("refund") < 1 {
        assert!(Instant::now() < deadline, "the refund never reached posd");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.wait_text("#refund-error", Duration::from_secs(10), |t| {
        t.contains("injoignable")
    })
    .await;
    relay.pass();
    b.wait_text("#done-change", Duration::from_secs(15), |t| {
        t.contains("1,30")
    })
    .await;
    assert_eq!(posd.count_kind("refund"), 1, "one refund, never two");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashiers_page_cannot_reach_manager_actions_nor_write_without_its_csrf_token() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let posd = start("");
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;
    // What the page's own scripts could do with its session, by hand.
    let v = b
        .run_async(
            r#"
const done = arguments[arguments.length - 1];
(async () => {
  const session = await (await fetch('/v1/session')).json();
  const call = async (path, body, csrf) => {
    const headers = {'Content-Type': 'application/json'};
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const r = await fetch(path, {method: 'POST', headers, body: JSON.stringify(body)});
    return [r.status, (await r.json()).error?.code ?? null];
  };
  const sale = {operator: 'alice', lines: [{sku: 'BAGUETTE'}], payments: [{method: 'cash', amount_cents: 130}]};
  done({
    cookie: document.cookie,
    closure: await call('/v1/closures', {period: 'day', operator: 'alice', pin: '1234'}, session.csrf),
    as_manager: await call('/v1/sales', {...sale, operator: 'marie'}, session.csrf),
    no_csrf: await call('/v1/sales', sale, null),
    wrong_csrf: await call('/v1/sales', sale, 'f'.repeat(64)),
    page: (await (await fetch('/')).text()) + (await (await fetch('/assets/till.js')).text()),
  });
})();
"#,
        )
        .await;
    assert_eq!(
        v["cookie"], "",
        "the session cookie is not readable by scripts"
    );
    assert_eq!(v["closure"], json!([403, "manager_required"]));
    assert_eq!(v["as_manager"], json!([403, "operator_mismatch"]));
    assert_eq!(v["no_csrf"], json!([403, "csrf_failed"]));
    assert_eq!(v["wrong_csrf"], json!([403, "csrf_failed"]));
    assert!(!v["page"].as_str().unwrap_or(TOKEN).contains(TOKEN));
    assert_eq!(posd.count_kind("sale"), 0);
    assert_eq!(posd.count_kind("closure"), 0);
    b.close().await;
}

/// One HTTP/1.1 request; returns (status, headers, JSON body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[&str],
    body: Option<&str>,
) -> (u16, String, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("posd");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        head.to_string(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn a_browser_session_lives_in_an_http_only_cookie_and_its_writes_need_the_csrf_token() {
    let posd = start("");
    let json_type = "Content-Type: application/json";
    // The sign-in screen's list needs no token.
    let (status, _, v) = http(posd.port, "GET", "/v1/session/operators", &[], None);
    assert_eq!(status, 200);
    let names: Vec<&str> = v["operators"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, ["Alice", "Marie"]);
    assert!(!v.to_string().contains("argon2"));

    // A wrong PIN sets no cookie.
    let (status, head, v) = http(
        posd.port,
        "POST",
        "/v1/session/sign-in",
        &[json_type],
        Some(r#"{"operator":"alice","pin":"0000"}"#),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("wrong_pin"))
    );
    assert!(!head.to_ascii_lowercase().contains("set-cookie"));

    let (status, head, v) = http(
        posd.port,
        "POST",
        "/v1/session/sign-in",
        &[json_type],
        Some(r#"{"operator":"alice","pin":"1234"}"#),
    );
    assert_eq!(status, 200, "{v}");
    let cookie_line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"));
    let token = cookie_line
        .split_once("posd_session=")
        .and_then(|(_, r)| r.split(';').next())
        .expect("token");
    assert_eq!(token.len(), 64);
    let csrf = v["csrf"].as_str().expect("csrf").to_string();
    assert_ne!(csrf, token);
    let cookie = format!("Cookie: posd_session={token}");
    let csrf_header = format!("X-CSRF-Token: {csrf}");

    // Reading needs the cookie only; it gives the CSRF token again.
    let (status, _, v) = http(posd.port, "GET", "/v1/session", &[&cookie], None);
    assert_eq!((status, v["csrf"].as_str()), (200, Some(csrf.as_str())));
    assert_eq!(v["operator"], "alice");
    // A write without the CSRF token changes nothing.
    let sale = r#"{"operator":"alice","lines":[{"sku":"BAGUETTE"}],"payments":[{"method":"cash","amount_cents":130}]}"#;
    let (status, _, v) = http(
        posd.port,
        "POST",
        "/v1/sales",
        &[&cookie, json_type],
        Some(sale),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("csrf_failed"))
    );
    assert_eq!(posd.count_kind("sale"), 0);
    let (status, _, v) = http(
        posd.port,
        "POST",
        "/v1/sales",
        &[&cookie, &csrf_header, json_type],
        Some(sale),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(posd.count_kind("sale"), 1);

    // A configured token is never read from a cookie.
    let machine_cookie = format!("Cookie: posd_session={TOKEN}");
    let (status, _, _) = http(posd.port, "GET", "/v1/products", &[&machine_cookie], None);
    assert_eq!(status, 401);
    // Nor has it a browser session.
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let (status, _, v) = http(posd.port, "GET", "/v1/session", &[&bearer], None);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("not_a_session"))
    );

    // Signing out ends the session and removes the cookie.
    let (status, head, _) = http(
        posd.port,
        "POST",
        "/v1/session/sign-out",
        &[&cookie, &csrf_header],
        None,
    );
    assert_eq!(status, 200);
    assert!(head.contains("Max-Age=0"));
    let (status, _, _) = http(posd.port, "GET", "/v1/session", &[&cookie], None);
    assert_eq!(status, 401);
    let events: Vec<String> = posd.records().into_iter().map(|(_, k)| k).collect();
    assert!(events.iter().any(|k| k == "event"), "{events:?}");
}

#[test]
fn the_pages_are_served_with_a_strict_content_security_policy() {
    let posd = start("");
    for path in [
        "/",
        "/assets/till.js",
        "/assets/till.css",
        "/assets/i18n/fr.json",
    ] {
        let (status, head, _) = http(posd.port, "GET", path, &[], None);
        assert_eq!(status, 200, "{path}");
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
            "{path}: {head}"
        );
        assert!(head.contains("x-frame-options: deny"), "{path}");
    }
    let (status, _, _) = http(posd.port, "GET", "/assets/../posd.toml", &[], None);
    assert_eq!(status, 404);
    let (status, _, _) = http(posd.port, "GET", "/assets/nothing.js", &[], None);
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_by_receipt_code_a_void_with_a_managers_pin_and_the_z_from_the_page() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let emupos = Emupos::start();
    let posd = start(&printer_config(&emupos));
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;
    let sell = |codes: Vec<String>| {
        let b = &b;
        async move {
            for (i, code) in codes.iter().enumerate() {
                scan_and_wait(b, code, i + 1).await;
            }
            b.touch("#pay").await;
            b.touch("#notes [data-note='2000']").await;
            b.wait_text("#done-change", Duration::from_secs(10), |t| !t.is_empty())
                .await;
            b.touch("#done-next").await;
        }
    };
    add_ham(&posd);
    sell(vec!["3017620422003".into(), "96385074".into()]).await; // ticket 1: 10,80 €
    sell(vec!["3017620422003".into(), ham_label()]).await; // ticket 2: 10,05 €

    // The wine of ticket 1 comes back: its receipt's code is scanned; under the cashier's
    // limit, no manager is needed.
    let code = posd.ok("GET", "/v1/tickets/by-number/1", None)["receipt_code"]
        .as_str()
        .expect("receipt code")
        .to_string();
    b.touch("#open-refund").await;
    b.shown("#refund-find").await;
    b.scan(&code).await;
    b.touch("#refund-lines li[data-line='1']").await;
    assert!(b.text("#refund-total").await.contains("9,50"));
    b.touch("#refund-go").await;
    let given = b
        .wait_text("#done-change", Duration::from_secs(10), |t| {
            t.contains("9,50")
        })
        .await;
    assert!(given.contains("9,50"));
    b.touch("#done-next").await;
    let sale = posd.ok("GET", "/v1/tickets/by-number/1", None);
    assert_eq!(
        sale["returned"]["lines"],
        json!([{"original_line": 1, "quantity_milli": 1000, "amount_cents": 950}]),
        "{sale}"
    );
    assert_eq!(sale["returned"]["total_cents"], 950);
    // Found again, the wine is shown as returned already and cannot be picked twice.
    b.touch("#open-refund").await;
    b.shown("#refund-find").await;
    b.scan("1").await;
    b.wait_text(
        "#refund-lines li[data-line='1'] .l-detail",
        Duration::from_secs(5),
        |t| t.contains("déjà rendu"),
    )
    .await;
    b.touch("#refund-lines li[data-line='1']").await;
    assert!(b
        .shown("#refund-go")
        .await
        .attr("disabled")
        .await
        .ok()
        .flatten()
        .is_some());
    b.touch("#refund-cancel").await;

    // Ticket 2 voided, found by its number: a manager's PIN on the spot, a wrong one first.
    b.touch("#open-refund").await;
    b.shown("#refund-find").await;
    b.scan("2").await;
    b.shown("#refund-lines li").await;
    b.touch("#refund-void").await;
    b.shown("#manager-modal").await;
    for d in "0000".chars() {
        b.touch(&format!("#manager-pad [data-mdigit='{d}']")).await;
    }
    b.touch("#manager-ok").await;
    b.wait_text("#refund-error", Duration::from_secs(10), |t| {
        t.contains("Code erroné")
    })
    .await;
    assert_eq!(posd.count_kind("refund"), 1);
    b.touch("#refund-void").await;
    b.shown("#manager-modal").await;
    for d in MANAGER_PIN.chars() {
        b.touch(&format!("#manager-pad [data-mdigit='{d}']")).await;
    }
    b.touch("#manager-ok").await;
    b.wait_text("#done-change", Duration::from_secs(10), |t| {
        t.contains("10,05")
    })
    .await;
    assert_eq!(posd.count_kind("refund"), 2);
    let override_events = posd.records().iter().filter(|(_, k)| k == "event").count();
    assert!(override_events > 0);
    b.touch("#done-next").await;

    // The Z: the day's totals first (10,80 + 10,05 - 9,50 - 10,05 = 1,30 €), then the manager.
    b.touch("#open-reports").await;
    let total = b
        .wait_text("#x-day-total", Duration::from_secs(10), |t| {
            t.contains("1,30")
        })
        .await;
    assert!(total.contains("1,30"), "{total}");
    let x = posd.ok("GET", "/v1/reports/x", None);
    assert_eq!(x["day"]["total"], 130);
    b.screenshot("z-closure").await;
    assert_eq!(posd.count_kind("closure"), 0);
    b.touch("#z-close").await;
    b.shown("#manager-modal").await;
    for d in MANAGER_PIN.chars() {
        b.touch(&format!("#manager-pad [data-mdigit='{d}']")).await;
    }
    b.touch("#manager-ok").await;
    let done = b
        .wait_text("#reports-status", Duration::from_secs(10), |t| {
            t.contains("Clôture Z")
        })
        .await;
    assert!(done.contains("1,30"), "{done}");
    assert_eq!(posd.count_kind("closure"), 1);
    // The X now shows a day with nothing since the Z.
    b.wait_text("#x-day-total", Duration::from_secs(5), |t| {
        t.contains("0,00")
    })
    .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_discount_is_approved_by_a_manager_on_the_spot_and_a_ticket_waits_on_hold() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let posd = start("");
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;
    let enter = char::from(fantoccini::key::Key::Enter);

    // 20 % off the wine: beyond a cashier's 10 %.
    scan_and_wait(&b, "96385074", 1).await;
    b.touch("#lines li [data-action='discount']").await;
    b.shown("#entry-modal").await;
    b.touch("[data-entry-unit='percent']").await;
    b.keys(&format!("20{enter}")).await;
    b.wait_text("#ticket-total", Duration::from_secs(5), |t| {
        t.contains("7,60")
    })
    .await;

    // On hold while another customer buys three baguettes by card.
    b.touch("#hold-ticket").await;
    b.wait_text("#recall-ticket", Duration::from_secs(5), |t| {
        t.contains("(1)")
    })
    .await;
    assert_eq!(b.count("#lines li").await, 0);
    scan_and_wait(&b, "3017620422003", 1).await;
    b.touch("#lines li [data-action='qty']").await;
    b.shown("#entry-modal").await;
    b.keys(&format!("3{enter}")).await;
    b.wait_text("#ticket-total", Duration::from_secs(5), |t| {
        t.contains("3,90")
    })
    .await;
    b.touch("#pay").await;
    b.touch("[data-method='card']").await;
    b.wait_text("#done-title", Duration::from_secs(10), |t| {
        t.contains("n° 1")
    })
    .await;
    b.touch("#done-next").await;

    // Recalled, paid: posd asks a manager, who approves on the spot.
    b.touch("#recall-ticket").await;
    b.touch("#held-list li[data-held='0']").await;
    b.wait_text("#ticket-total", Duration::from_secs(5), |t| {
        t.contains("7,60")
    })
    .await;
    b.touch("#pay").await;
    b.touch("[data-method='card']").await;
    b.shown("#manager-modal").await;
    for d in MANAGER_PIN.chars() {
        b.touch(&format!("#manager-pad [data-mdigit='{d}']")).await;
    }
    b.touch("#manager-ok").await;
    b.wait_text("#done-title", Duration::from_secs(10), |t| {
        t.contains("n° 2")
    })
    .await;
    let sale = posd.ok("GET", "/v1/tickets/by-number/2", None);
    assert_eq!(sale["body"]["total"], 760, "{sale}");
    assert_eq!(sale["body"]["lines"][0]["line_discount"], 190, "{sale}");
    assert_eq!(posd.count_kind("sale"), 2);
    assert_eq!(
        b.text("#recall-ticket").await,
        "Rappeler (0)",
        "the recalled ticket left the list"
    );
    b.close().await;
}

/// Types `text` into the form field `name` of the product form (emptied first).
async fn fill(b: &browser::Browser, name: &str, text: &str) {
    let field = b.shown(&format!("#product-form [name='{name}']")).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_keeps_the_catalogue_with_a_managers_pin_and_is_closed_to_cashiers() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let posd = start("");
    let enter = char::from(fantoccini::key::Key::Enter);
    // A cashier signed in at the till is turned away.
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;
    b.client
        .goto(&format!("http://127.0.0.1:{}/admin", posd.port))
        .await
        .expect("the back office");
    b.wait_text("#admin-signin-error", Duration::from_secs(5), |t| {
        t.contains("réservée aux responsables")
    })
    .await;

    b.touch("#signin-pin").await;
    b.keys(&format!("{MANAGER_PIN}{enter}")).await;
    b.shown("#catalogue-rows tr[data-sku='BAGUETTE']").await;
    assert_eq!(b.count("#catalogue-rows tr").await, 3);

    // A new product sold by weight, in a new category.
    b.touch("#product-new").await;
    fill(&b, "sku", "POMME").await;
    fill(&b, "label", "Pomme Golden").await;
    fill(&b, "category", "Fruits").await;
    fill(&b, "price", "2,40").await;
    b.shown("#product-form [name='unit']")
        .await
        .select_by_value("kg")
        .await
        .expect("unit");
    fill(&b, "pin", MANAGER_PIN).await;
    b.screenshot("back-office-product").await;
    b.keys(&enter.to_string()).await;
    b.shown("#catalogue-rows tr[data-sku='POMME']").await;
    b.screenshot("back-office-catalogue").await;
    let products = posd.ok("GET", "/v1/products", None);
    let pomme = products["products"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["sku"] == "POMME"))
        .cloned()
        .expect("POMME stored");
    assert_eq!(
        (&pomme["price_cents"], &pomme["unit"], &pomme["category"]),
        (&json!(240), &json!("kg"), &json!("Fruits"))
    );

    // The baguette's price: a wrong PIN changes nothing.
    b.touch("#catalogue-rows tr[data-sku='BAGUETTE']").await;
    fill(&b, "price", "1,35").await;
    fill(&b, "pin", "0000").await;
    b.keys(&enter.to_string()).await;
    b.wait_text("#product-error", Duration::from_secs(5), |t| {
        t.contains("Code erroné")
    })
    .await;
    let price = |posd: &Posd| {
        posd.ok("GET", "/v1/products", None)["products"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["sku"] == "BAGUETTE"))
            .map(|p| p["price_cents"].clone())
    };
    assert_eq!(price(&posd), Some(json!(130)));
    fill(&b, "pin", MANAGER_PIN).await;
    b.keys(&enter.to_string()).await;
    b.wait_text("#catalogue-status", Duration::from_secs(5), |t| {
        t.contains("BAGUETTE")
    })
    .await;
    assert_eq!(price(&posd), Some(json!(135)));
    // The tracked baguette's stock was not counted again by the edit.
    let stock = posd.ok("GET", "/v1/stock", None);
    assert!(stock.to_string().contains("100000"), "{stock}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_receives_stock_shows_the_day_verifies_the_journal_and_keeps_the_merchant()
{
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    posd.ok(
        "POST",
        "/v1/sales",
        Some(common::sale(json!({"sku":"BAGUETTE","quantity":3}), 500)),
    );
    let enter = char::from(fantoccini::key::Key::Enter);
    b.client
        .goto(&format!("http://127.0.0.1:{}/admin", posd.port))
        .await
        .expect("the back office");
    b.touch("#signin-pin").await;
    b.keys(&format!("{MANAGER_PIN}{enter}")).await;
    b.shown("#catalogue-rows tr").await;

    // A reception of 24 baguettes: 100 - 3 + 24.
    b.touch("[data-section='stock']").await;
    b.wait_text(
        "#stock-rows tr[data-sku='BAGUETTE'] td:nth-child(3)",
        Duration::from_secs(5),
        |t| t == "97",
    )
    .await;
    b.touch("#stock-quantity").await;
    b.keys("24").await;
    b.touch("#stock-add").await;
    b.touch("#stock-pin").await;
    b.keys(MANAGER_PIN).await;
    b.touch("#stock-save").await;
    b.wait_text(
        "#stock-rows tr[data-sku='BAGUETTE'] td:nth-child(3)",
        Duration::from_secs(5),
        |t| t == "121",
    )
    .await;
    b.screenshot("back-office-stock").await;

    // The day's figures: the sale of 3,90 €.
    b.touch("[data-section='day']").await;
    b.wait_text("#day-total", Duration::from_secs(5), |t| t.contains("3,90"))
        .await;

    // The journal verified from the page.
    b.touch("[data-section='journal']").await;
    b.touch("#journal-verify").await;
    let result = b
        .wait_text("#journal-verify-result", Duration::from_secs(20), |t| {
            t.contains("intègre")
        })
        .await;
    assert!(result.contains("enregistrements vérifiés"), "{result}");

    // The merchant's address, changed with the PIN and journaled.
    b.touch("[data-section='shop']").await;
    let address = b.shown("#merchant-address").await;
    b.wait_text("#sync-state", Duration::from_secs(5), |t| {
        t.contains("Aucune boutique")
    })
    .await;
    address.clear().await.expect("clear");
    address
        .send_keys("14 rue de la Paix, 75002 Paris")
        .await
        .expect("address");
    b.touch("#merchant-pin").await;
    b.keys(MANAGER_PIN).await;
    b.touch("#merchant-save").await;
    b.wait_text("#merchant-status", Duration::from_secs(5), |t| {
        t.contains("enregistrées")
    })
    .await;
    let config = posd.ok("GET", "/v1/config", None);
    assert_eq!(
        config["merchant"]["address"],
        "14 rue de la Paix, 75002 Paris"
    );

    // The operators and their roles.
    b.touch("[data-section='operators']").await;
    let marie = b.text("#operator-rows tr[data-operator='marie']").await;
    assert!(
        marie.contains("Marie") && marie.contains("Responsable"),
        "{marie}"
    );
    b.close().await;
}

#[test]
fn behind_a_tls_proxy_the_session_cookie_is_secure() {
    let posd = common::start_configured("tls_proxy = true", "", &[]);
    let (status, head, _) = http(
        posd.port,
        "POST",
        "/v1/session/sign-in",
        &["Content-Type: application/json"],
        Some(r#"{"operator":"alice","pin":"1234"}"#),
    );
    assert_eq!(status, 200);
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_scanner_sells_through_the_event_stream_and_training_and_lock_out_show() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let emupos = Emupos::start();
    let posd = start(&format!(
        "{}\n[[scanners]]\npath = \"{}\"\n",
        printer_config(&emupos),
        emupos.scanner_link.display()
    ));
    // Wrong PINs: the lock-out and how long it lasts are shown.
    b.client
        .goto(&format!("http://127.0.0.1:{}/", posd.port))
        .await
        .expect("page");
    b.touch("#operators button[data-operator='alice']").await;
    for _ in 0..3 {
        for d in "0000".chars() {
            b.touch(&format!("#pinpad [data-digit='{d}']")).await;
        }
        b.touch("#pin-ok").await;
        b.wait_text("#signin-error", Duration::from_secs(10), |t| !t.is_empty())
            .await;
    }
    for d in common::CASHIER_PIN.chars() {
        b.touch(&format!("#pinpad [data-digit='{d}']")).await;
    }
    b.touch("#pin-ok").await;
    b.wait_text("#signin-error", Duration::from_secs(10), |t| {
        t.contains("Trop de codes erronés")
    })
    .await;
    let till = b
        .client
        .find(fantoccini::Locator::Css("#till"))
        .await
        .expect("till");
    assert_eq!(
        till.is_displayed().await.ok(),
        Some(false),
        "locked out, not signed in"
    );

    // Marie signs in; a scan on the serial scanner comes to the page through posd's events.
    sign_in(&b, posd.port, "marie", MANAGER_PIN).await;
    b.wait_text("#pill-scanners", Duration::from_secs(15), |t| {
        t.contains("Scanner connecté")
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.count("#lines li").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the serial scan never reached the page"
        );
        emupos.scan("96385074");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(b.text("#lines li .l-label").await.contains("Vin rouge"));

    // Training mode on, from the page: "MODE ÉCOLE" on the screen, and on the ticket's receipt.
    b.touch("#open-reports").await;
    b.touch("#training-toggle").await;
    b.shown("#manager-modal").await;
    for d in MANAGER_PIN.chars() {
        b.touch(&format!("#manager-pad [data-mdigit='{d}']")).await;
    }
    b.touch("#manager-ok").await;
    b.wait_text("#training-banner", Duration::from_secs(5), |t| {
        t.contains("MODE ÉCOLE")
    })
    .await;
    b.touch("#reports-close").await;
    b.touch("#pay").await;
    b.touch("[data-method='card']").await;
    b.wait_text("#done-title", Duration::from_secs(10), |t| {
        t.contains("n° 1")
    })
    .await;
    assert_eq!(posd.count_kind("training"), 1);
    assert_eq!(posd.count_kind("sale"), 0);
    let receipts = emupos.wait_receipts(1);
    assert!(
        receipts[0].to_uppercase().contains("ÉCOLE")
            || receipts[0].to_uppercase().contains("FORMATION"),
        "{}",
        receipts[0]
    );
    b.screenshot("training").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_on_request_prints_only_when_the_customer_asks_and_the_drawer_opens_anyway() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let emupos = Emupos::start();
    let config = printer_config(&emupos).replace(
        "paper_mm = 80\n",
        "paper_mm = 80\nreceipts = \"on_request\"\n",
    );
    let posd = start(&config);
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;

    // A first customer wants no receipt: the drawer opens, nothing prints.
    scan_and_wait(&b, "3017620422003", 1).await;
    b.touch("#pay").await;
    b.touch("#notes [data-note='500']").await;
    b.shown("#done-print").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while emupos.drawer_state() != "open" {
        assert!(Instant::now() < deadline, "the drawer did not open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    emupos.close_drawer();
    b.touch("#done-next").await;

    // The second asks for it: it prints once, as the original.
    scan_and_wait(&b, "96385074", 1).await;
    b.touch("#pay").await;
    b.touch("#notes [data-note='1000']").await;
    b.touch("#done-print").await;
    b.wait_text("#done-detail", Duration::from_secs(5), |t| {
        t.contains("envoyé")
    })
    .await;
    let receipts = emupos.wait_receipts(1);
    assert!(receipts[0].contains("Vin rouge"), "{}", receipts[0]);
    assert!(!receipts[0].contains("DUPLICATA"), "{}", receipts[0]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        emupos.receipts().len(),
        1,
        "the first customer's receipt never printed"
    );

    // Asked again, it is a duplicate's business; the first ticket's receipt can still be asked.
    let seqs: Vec<u64> = posd
        .records()
        .into_iter()
        .filter(|(_, k)| k == "sale")
        .map(|(s, _)| s)
        .collect();
    posd.sign_in("alice", common::CASHIER_PIN);
    let jobs = posd.ok("GET", "/v1/devices", None);
    assert_eq!(jobs["print_queue"]["held"], 1, "{jobs}");
    let print = |seq: u64| {
        posd.call(
            "POST",
            &format!("/v1/tickets/{seq}/print"),
            Some(json!({"operator": "alice"})),
        )
    };
    let (status, v) = print(seqs[1]);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("not_held")),
        "{v}"
    );
    let (status, v) = print(seqs[0]);
    assert_eq!(status, 200, "{v}");
    let receipts = emupos.wait_receipts(2);
    assert!(
        receipts[1].contains("Baguette tradition"),
        "{}",
        receipts[1]
    );
    let (status, _) = print(seqs[0]);
    assert_eq!(status, 409, "an original prints once");

    // A receipt nobody asked for leaves the queue at the day's closure.
    posd.ok(
        "POST",
        "/v1/sales",
        Some(common::sale(json!({"sku":"BAGUETTE"}), 130)),
    );
    assert_eq!(
        posd.ok("GET", "/v1/devices", None)["print_queue"]["held"],
        1
    );
    posd.ok(
        "POST",
        "/v1/closures",
        Some(json!({"period": "day", "operator": "marie", "pin": MANAGER_PIN})),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let queue = posd.ok("GET", "/v1/devices", None)["print_queue"].clone();
        if queue.get("held").is_none() {
            assert!(queue["skipped"].as_i64().unwrap_or(0) >= 1, "{queue}");
            break;
        }
        assert!(Instant::now() < deadline, "still held after the Z: {queue}");
        std::thread::sleep(Duration::from_millis(100));
    }
    b.close().await;
}

/// libfaketime (Debian's `libfaketime`): a posd started with it reads a clock moved forward.
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_far_ahead_is_shown_and_a_manager_confirms_the_date_from_the_page() {
    if !std::path::Path::new(FAKETIME).exists() {
        assert!(
            std::env::var_os("POSD_REQUIRE_BROWSER").is_none(),
            "libfaketime is missing (scripts/test-all.sh installs it)"
        );
        eprintln!("skipped: libfaketime is not installed");
        return;
    }
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let mut posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    posd.ok(
        "POST",
        "/v1/sales",
        Some(common::sale(json!({"sku":"BAGUETTE"}), 130)),
    );
    // The till PC restarts with its clock 60 days ahead (more than the 45 days allowed).
    posd.terminate();
    posd.env.push(("LD_PRELOAD".into(), FAKETIME.into()));
    posd.env.push(("FAKETIME".into(), "+60d".into()));
    posd.spawn();
    let health = posd.ok("GET", "/v1/health", None);
    assert_eq!(health["status"], "clock_ahead", "{health}");

    sign_in(&b, posd.port, "marie", MANAGER_PIN).await;
    b.wait_text("#pill-journal", Duration::from_secs(5), |t| {
        t.contains("Horloge en avance")
    })
    .await;
    b.touch("#confirm-clock").await;
    b.shown("#manager-modal").await;
    for d in MANAGER_PIN.chars() {
        b.touch(&format!("#manager-pad [data-mdigit='{d}']")).await;
    }
    b.touch("#manager-ok").await;
    b.wait_text("#till-alert", Duration::from_secs(10), |t| {
        t.contains("Date confirmée")
    })
    .await;
    b.wait_text("#pill-journal", Duration::from_secs(5), |t| {
        t.contains("Journal OK")
    })
    .await;
    // Sales go through again.
    scan_and_wait(&b, "3017620422003", 1).await;
    b.touch("#pay").await;
    b.touch("[data-method='card']").await;
    b.wait_text("#done-title", Duration::from_secs(10), |t| {
        t.contains("n° 2")
    })
    .await;
    assert_eq!(posd.count_kind("sale"), 2);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_payment_card_then_cash_and_a_duplicate_on_request() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let emupos = Emupos::start();
    let posd = start(&printer_config(&emupos));
    sign_in(&b, posd.port, "alice", common::CASHIER_PIN).await;
    scan_and_wait(&b, "96385074", 1).await; // 9,50 €
    b.touch("#pay").await;
    // 5 € by card typed in, then the rest in cash with a 10 € note.
    let amount = b.shown("#pay-amount").await;
    amount.clear().await.expect("clear");
    amount.send_keys("5").await.expect("amount");
    b.touch("[data-method='card']").await;
    b.wait_text("#pay-remaining", Duration::from_secs(5), |t| {
        t.contains("4,50")
    })
    .await;
    b.touch("#notes [data-note='1000']").await;
    let change = b
        .wait_text("#done-change", Duration::from_secs(10), |t| !t.is_empty())
        .await;
    assert!(change.contains("5,50"), "{change}");
    let sale = posd.ok("GET", "/v1/tickets/by-number/1", None);
    assert_eq!(
        sale["body"]["payments"],
        json!([{"method": "card", "amount": 500}, {"method": "cash", "amount": 1000}]),
        "{sale}"
    );
    emupos.wait_receipts(1);
    b.touch("#done-duplicate").await;
    b.wait_text("#done-detail", Duration::from_secs(5), |t| {
        t.contains("Duplicata")
    })
    .await;
    let receipts = emupos.wait_receipts(2);
    assert!(receipts[1].contains("DUPLICATA"), "{}", receipts[1]);
    assert_eq!(posd.count_kind("duplicate"), 1);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_archives_a_closed_month_and_hands_the_auditor_the_archive_and_the_key() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let posd = start("");
    posd.sign_in("alice", common::CASHIER_PIN);
    posd.ok(
        "POST",
        "/v1/sales",
        Some(common::sale(json!({"sku":"BAGUETTE"}), 130)),
    );
    // The month closed early (a shop closing its books), so that it can be archived.
    let closed = posd.ok(
        "POST",
        "/v1/closures",
        Some(json!({"period": "month", "operator": "marie", "pin": MANAGER_PIN, "confirm": true})),
    );
    let month = closed["closures"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c["body"]["start"].as_str())
        .map(|d| d[..7].to_string())
        .expect("the month closed");
    let enter = char::from(fantoccini::key::Key::Enter);
    b.client
        .goto(&format!("http://127.0.0.1:{}/admin", posd.port))
        .await
        .expect("the back office");
    b.touch("#signin-pin").await;
    b.keys(&format!("{MANAGER_PIN}{enter}")).await;
    b.shown("#catalogue-rows tr").await;
    b.touch("[data-section='journal']").await;
    let key_id = posd.ok("GET", "/v1/journal/public-key", None)["key_id"]
        .as_str()
        .expect("key id")
        .to_string();
    b.wait_text("#public-key-id", Duration::from_secs(5), |t| {
        t.contains(&key_id)
    })
    .await;
    b.touch("#archive-month").await;
    b.keys(&month).await;
    b.touch("#archive-pin").await;
    b.keys(MANAGER_PIN).await;
    b.touch("#archive-go").await;
    b.wait_text("#archive-result", Duration::from_secs(20), |t| {
        t.contains("SHA-256")
    })
    .await;
    let link = b.shown("#archive-list a").await;
    let href = link.attr("href").await.expect("href").expect("a link");
    b.screenshot("back-office-journal").await;

    // What the links download, with the page's session, checked as an auditor would.
    let got = b
        .run_async(&format!(
            r#"
const done = arguments[arguments.length - 1];
(async () => {{
  const zip = new Uint8Array(await (await fetch('{href}')).arrayBuffer());
  let bin = '';
  for (const byte of zip) bin += String.fromCharCode(byte);
  const key = await (await fetch('/v1/journal/public-key.pub')).text();
  done([btoa(bin), key]);
}})();
"#
        ))
        .await;
    use base64::Engine;
    let zip = base64::engine::general_purpose::STANDARD
        .decode(got[0].as_str().expect("zip"))
        .expect("base64");
    assert_eq!(&zip[..2], b"PK");
    let dir = tempfile::tempdir().expect("dir");
    let (zip_path, key_path) = (
        dir.path().join("archive.zip"),
        dir.path().join("register.pub"),
    );
    std::fs::write(&zip_path, &zip).expect("zip");
    std::fs::write(&key_path, got[1].as_str().expect("key")).expect("key");
    let (code, out) = common::pos_journal_verify(&zip_path);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&key_path).expect("key");
    let answer = posd.ok("GET", "/v1/journal/public-key", None);
    assert_eq!(Some(text.as_str()), answer["file"].as_str());
    // The archive verifies against the key file downloaded (pos-journal was built above).
    let pos_journal =
        std::path::Path::new(env!("CARGO_BIN_EXE_posd")).with_file_name("pos-journal");
    let out = std::process::Command::new(pos_journal)
        .arg("verify")
        .arg("--public-key")
        .arg(&key_path)
        .arg(&zip_path)
        .output()
        .expect("pos-journal");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing outside the archives directory is served.
    let (status, _) = posd.call("GET", "/v1/journal/archives/..%2Fjournal.db", None);
    assert_eq!(status, 404);
    b.close().await;
}

/// Fills the operator form's field `name`.
async fn fill_operator(b: &browser::Browser, name: &str, text: &str) {
    let field = b.shown(&format!("#operator-form [name='{name}']")).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_adds_changes_and_removes_operators_and_keeps_a_manager() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let mut posd = start("");
    let enter = char::from(fantoccini::key::Key::Enter);
    let sign_in_as = |posd: &Posd, who: &str, pin: &str| {
        http(
            posd.port,
            "POST",
            "/v1/session/sign-in",
            &["Content-Type: application/json"],
            Some(&json!({"operator": who, "pin": pin}).to_string()),
        )
        .0
    };
    b.client
        .goto(&format!("http://127.0.0.1:{}/admin", posd.port))
        .await
        .expect("the back office");
    b.touch("#signin-pin").await;
    b.keys(&format!("{MANAGER_PIN}{enter}")).await;
    b.shown("#catalogue-rows tr").await;
    b.touch("[data-section='operators']").await;
    b.shown("#operator-rows tr[data-operator='marie']").await;

    // Paul joins as a cashier.
    b.touch("#operator-new").await;
    fill_operator(&b, "id", "paul").await;
    fill_operator(&b, "name", "Paul").await;
    fill_operator(&b, "new_pin", "4321").await;
    fill_operator(&b, "pin", MANAGER_PIN).await;
    b.keys(&enter.to_string()).await;
    b.shown("#operator-rows tr[data-operator='paul']").await;
    b.screenshot("back-office-operators").await;
    assert_eq!(sign_in_as(&posd, "paul", "4321"), 200);

    // His PIN changed: the old one no longer opens a session.
    b.touch("#operator-rows tr[data-operator='paul']").await;
    fill_operator(&b, "new_pin", "8765").await;
    fill_operator(&b, "pin", MANAGER_PIN).await;
    b.keys(&enter.to_string()).await;
    b.wait_text("#operators-status", Duration::from_secs(5), |t| {
        t.contains("Paul")
    })
    .await;
    assert_eq!(sign_in_as(&posd, "paul", "4321"), 403);
    assert_eq!(sign_in_as(&posd, "paul", "8765"), 200);

    // Marie is the only manager: she cannot be removed.
    b.touch("#operator-rows tr[data-operator='marie']").await;
    fill_operator(&b, "pin", MANAGER_PIN).await;
    b.touch("#operator-remove").await;
    b.wait_text("#operator-error", Duration::from_secs(5), |t| {
        t.contains("au moins un responsable")
    })
    .await;

    // Kept across a restart; then Alice leaves.
    posd.terminate();
    posd.spawn();
    assert_eq!(sign_in_as(&posd, "paul", "8765"), 200);
    b.client.refresh().await.expect("reload");
    b.touch("#signin-pin").await;
    b.keys(&format!("{MANAGER_PIN}{enter}")).await;
    b.shown("#catalogue-rows tr").await;
    b.touch("[data-section='operators']").await;
    b.touch("#operator-rows tr[data-operator='alice']").await;
    fill_operator(&b, "pin", MANAGER_PIN).await;
    b.touch("#operator-remove").await;
    b.wait_text("#operators-status", Duration::from_secs(5), |t| {
        t.contains("Alice")
    })
    .await;
    assert_eq!(b.count("#operator-rows tr[data-operator='alice']").await, 0);
    assert_eq!(sign_in_as(&posd, "alice", common::CASHIER_PIN), 422);
    b.close().await;
}

#[test]
fn operator_changes_refuse_bad_input_and_cashiers_and_change_nothing() {
    let posd = start("");
    let put = |id: &str, body: Value| posd.call("PUT", &format!("/v1/operators/{id}"), Some(body));
    let change = |extra: Value| {
        let mut v = json!({"operator": "marie", "pin": MANAGER_PIN, "name": "Paul", "role": "cashier", "new_pin": "4321"});
        if let (Some(b), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        v
    };
    let refused = |(status, v): (u16, Value), code: &str| {
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (422, Some(code)),
            "{v}"
        );
    };
    refused(put("Paul%20Dupont", change(json!({}))), "invalid_operator");
    refused(
        put("paul", change(json!({"new_pin": "12"}))),
        "invalid_operator",
    );
    refused(
        put("paul", change(json!({"new_pin": "12ab"}))),
        "invalid_operator",
    );
    refused(
        put("paul", change(json!({"name": " "}))),
        "invalid_operator",
    );
    let mut no_pin = change(json!({}));
    no_pin.as_object_mut().map(|o| o.remove("new_pin"));
    refused(put("paul", no_pin), "invalid_operator");
    // A cashier cannot approve it.
    let (status, v) = put(
        "paul",
        change(json!({"operator": "alice", "pin": common::CASHIER_PIN})),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("manager_required")),
        "{v}"
    );
    // Demoting the only manager is refused too.
    let (status, v) = put("marie", change(json!({"name": "Marie", "role": "cashier"})));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("last_manager")),
        "{v}"
    );
    let (_, _, v) = http(posd.port, "GET", "/v1/session/operators", &[], None);
    assert_eq!(v["operators"].as_array().map(Vec::len), Some(2), "{v}");
    let events = posd.records().iter().filter(|(_, k)| k == "event").count();
    // A second manager added, then Marie may step down.
    let (status, v) = put(
        "jeanne",
        change(json!({"name": "Jeanne", "role": "manager", "new_pin": "2468"})),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = put("marie", change(json!({"name": "Marie", "role": "cashier"})));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        posd.records().iter().filter(|(_, k)| k == "event").count(),
        events + 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_from_the_keyboard_alone() {
    let Some(b) = browser::start(1280, 800).await else {
        return;
    };
    let posd = start("");
    b.client
        .goto(&format!("http://127.0.0.1:{}/", posd.port))
        .await
        .expect("page");
    let enter = char::from(fantoccini::key::Key::Enter);
    // The first operator has the focus: Enter picks her, the PIN is typed, Enter signs in.
    b.shown("#operators button[data-operator='alice']").await;
    b.scan("").await;
    b.shown("#pin-panel").await;
    b.scan(common::CASHIER_PIN).await;
    b.shown("#till").await;
    scan_and_wait(&b, "3017620422003", 1).await;
    // Enter opens the payment; the amount typed, Enter pays it in cash.
    b.scan("").await;
    b.shown("#pay-modal").await;
    b.keys(&format!("5{enter}")).await;
    let change = b
        .wait_text("#done-change", Duration::from_secs(10), |t| !t.is_empty())
        .await;
    assert!(change.contains("3,70"), "{change}");
    // Enter starts the next sale.
    b.scan("").await;
    b.wait_text("#ticket-total", Duration::from_secs(5), |t| {
        t.contains("0,00")
    })
    .await;
    assert!(!b
        .client
        .find(fantoccini::Locator::Css("#done-modal"))
        .await
        .expect("modal")
        .is_displayed()
        .await
        .unwrap_or(true));
    assert_eq!(posd.count_kind("sale"), 1);
    b.close().await;
}

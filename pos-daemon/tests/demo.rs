//! The README's first command, `posd demo`: it starts, prints how to make a first sale, the
//! commands it prints work as printed, the receipt is printed into the receipts directory, and
//! the journal it leaves verifies intact.

use pos_core::reader::JournalReader;
use pos_core::verify::{verify_journal, CollectFindings, VerifyOptions};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "demo-token-0123456789";

/// Kills the daemon when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// POSTs `body` to `http://addr{path}` with the token and `headers` (`Name: value` lines);
/// returns (status, JSON).
fn post(addr: &str, path: &str, headers: &[String], body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).expect("posd listening");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n{extra}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = raw
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

/// The raw answer to `GET http://addr{path}` (no token).
fn get_raw(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("posd listening");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw
}

/// The headers of a `curl` line other than those [`post`] sends itself.
fn curl_headers(line: &str) -> Vec<String> {
    line.split("-H '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(h, _)| h.to_string()))
        .filter(|h| !h.starts_with("Authorization:") && !h.starts_with("Content-Type:"))
        .collect()
}

/// The JSON body and the path of a `curl ... -d '{...}' http://host/path` line of the banner.
fn curl_request(line: &str) -> (String, String) {
    let body = line
        .split_once("-d '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(b, _)| b.to_string())
        .expect("a -d body");
    let url = line.split_whitespace().last().expect("a URL");
    let path = url
        .strip_prefix("http://")
        .and_then(|u| u.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .expect("a path");
    (body, path)
}

#[test]
fn the_demo_starts_and_its_printed_first_sale_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_posd"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--data",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("posd starts");
    let stdout = child.stdout.take().expect("stdout");
    let _running = Running(child);

    // The banner, read on a thread so that a silent daemon fails the test instead of hanging.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while banner
        .iter()
        .filter(|l: &&String| l.contains("curl"))
        .count()
        < 2
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => banner.push(line),
            Err(_) => panic!("no banner with the first sale within 60 s: {banner:?}"),
        }
    }
    // The till's URL comes first: a newcomer opens it and sells.
    let api = banner[0]
        .strip_prefix("posd demo: open the till at http://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(addr, _)| addr.to_string())
        .unwrap_or_else(|| panic!("the till's URL first: {banner:?}"));
    let page = get_raw(&api, "/");
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("/assets/till.js"),
        "the till's page: {page}"
    );
    let receipts = banner
        .iter()
        .find_map(|l| l.strip_prefix("receipts (ESC/POS and text): "))
        .map(std::path::PathBuf::from)
        .expect("the receipts directory");

    // The two printed commands, as printed: sign in, then the first sale.
    let curls: Vec<&String> = banner.iter().filter(|l| l.contains("curl")).collect();
    let (body, path) = curl_request(curls[0]);
    let (status, v) = post(&api, &path, &curl_headers(curls[0]), &body);
    assert_eq!(status, 200, "sign-in: {v}");
    let (body, path) = curl_request(curls[1]);
    let headers = curl_headers(curls[1]);
    assert!(
        headers.iter().any(|h| h.starts_with("Idempotency-Key:")),
        "{headers:?}"
    );
    let (status, sale) = post(&api, &path, &headers, &body);
    assert_eq!(status, 200, "first sale: {sale}");
    // Sent again as printed, it is answered as the first time, not sold twice.
    let (status, again) = post(&api, &path, &headers, &body);
    assert_eq!(status, 200, "the first sale again: {again}");
    assert_eq!(again["idempotent_replay"], true, "{again}");
    assert_eq!(again["seq"], sale["seq"], "{again}");
    assert_eq!(sale["kind"], "sale", "{sale}");
    assert_eq!(sale["ticket_number"], 1, "{sale}");
    let total = sale["total_cents"].as_i64().expect("a total");
    assert!(total > 0 && total <= 5000, "{sale}");

    // The receipt reaches the receipts directory (the print queue works after the answer): the
    // ESC/POS bytes of a French receipt, and a readable copy of the ticket.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (escpos, text) = loop {
        let files: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&receipts)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| Some((e.path(), std::fs::read(e.path()).ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        let find = |ext: &str| {
            files
                .iter()
                .find(|(p, _)| p.extension().is_some_and(|x| x == ext))
                .map(|(_, b)| b.clone())
        };
        if let (Some(b), Some(t)) = (find("bin"), find("txt")) {
            break (b, String::from_utf8_lossy(&t).into_owned());
        }
        assert!(
            Instant::now() < deadline,
            "no receipt in {}",
            receipts.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let contains = |needle: &[u8]| escpos.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"Baguette") && contains(b"TVA"), "ESC/POS receipt");
    assert!(escpos.starts_with(&[0x1b, 0x40]), "starts with ESC @");
    assert!(
        text.contains("TICKET") && text.contains("Baguette"),
        "{text}"
    );
    drop(_running);

    // What the demo leaves is a journal that verifies intact, holding the sale.
    let reader = JournalReader::open(&dir.path().join("journal.db")).expect("journal");
    let mut sink = CollectFindings::default();
    let summary = verify_journal(&reader, &VerifyOptions::default(), &mut sink).expect("readable");
    assert!(sink.findings.is_empty(), "{:?}", sink.findings);
    assert_eq!(summary.counts.get("sale"), Some(&1), "{summary:?}");
}

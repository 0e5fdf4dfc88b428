//! Load client for `posd`: N concurrent clients post cash sales over keep-alive connections and
//! the sales/s and latency percentiles are printed.
//!
//! ```sh
//! posd demo --token load-token-0123456789 &
//! cargo run --release -p pos-daemon --example load -- 127.0.0.1:8420 load-token-0123456789 32 10
//! ```
//! Arguments: address, token, clients (32), seconds (10).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn request(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    path: &str,
    token: &str,
    body: &str,
) -> Result<u16, String> {
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: posd\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .map_err(|e| e.to_string())?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(status)
}

fn connect(addr: &str) -> Result<(TcpStream, BufReader<TcpStream>), String> {
    let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    Ok((s, r))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8420".into());
    let token = args
        .get(2)
        .cloned()
        .ok_or("usage: load ADDR TOKEN [CLIENTS] [SECONDS]")?;
    let clients: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);

    let (mut s, mut r) = connect(&addr)?;
    let status = request(
        &mut s,
        &mut r,
        "/v1/operators/sign-in",
        &token,
        r#"{"operator":"alice","pin":"1234"}"#,
    )?;
    if status != 200 {
        return Err(format!("sign-in answered {status}"));
    }
    let sale = r#"{"operator":"alice","lines":[{"sku":"BAGUETTE","quantity":2},{"barcode":"2123450012503"},{"sku":"CAFE"}],"payments":[{"method":"cash","amount_cents":5000}]}"#;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let addr = addr.clone();
            let token = token.clone();
            std::thread::spawn(move || -> Result<(Vec<Duration>, usize), String> {
                let (mut s, mut r) = connect(&addr)?;
                let mut lat = Vec::new();
                let mut errors = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match request(&mut s, &mut r, "/v1/sales", &token, sale)? {
                        200 => lat.push(t.elapsed()),
                        _ => errors += 1,
                    }
                }
                Ok((lat, errors))
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (lat, e) = h.join().map_err(|_| "client panicked")??;
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!(
        "{} sales in {elapsed:.1} s with {clients} clients: {:.0} sales/s; errors {errors}",
        all.len(),
        all.len() as f64 / elapsed
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}

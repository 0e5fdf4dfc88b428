//! Serial scanners: each scan is decoded, looked up in the catalog and pushed on the event
//! stream (and kept in a short list of recent scans).

use crate::app::App;
use drivers::scanner::serial::{ScannerEvent, SerialScanner, SerialScannerConfig};
use serde_json::json;
use std::sync::Arc;

/// How many recent scans are kept for `GET /v1/scans`.
pub const RECENT_SCANS: usize = 50;

/// What a scan resolves to, as pushed on the event stream.
pub fn describe(app: &App, code: &str) -> serde_json::Value {
    let looked = app
        .catalog
        .read()
        .map(|c| c.lookup(code, &app.barcodes))
        .map_err(|_| ());
    match looked {
        Ok(Ok(l)) => json!({ "code": code, "found": true, "product": l.product,
                             "weight_grams": l.weight_grams, "price_cents": l.price_cents }),
        Ok(Err(e)) => json!({ "code": code, "found": false, "error": e.to_string() }),
        Err(()) => json!({ "code": code, "found": false, "error": "catalog unavailable" }),
    }
}

/// A decoded scan: looked up, kept in the recent scans and pushed on the event stream.
pub fn on_scan(app: &App, code: &str) {
    let event = describe(app, code);
    if let Ok(mut s) = app.scans.lock() {
        if s.len() >= RECENT_SCANS {
            s.pop_front();
        }
        s.push_back(event.clone());
    }
    app.bus.publish("scan", event);
}

/// Reads one scanner forever.
pub async fn run(app: Arc<App>, path: std::path::PathBuf, baud: u32) {
    let mut config = SerialScannerConfig::new(path.clone());
    config.baud = baud;
    let mut scanner = SerialScanner::new(config);
    loop {
        match scanner.next_event().await {
            ScannerEvent::Scan(code) => on_scan(&app, &code),
            ScannerEvent::Rejected(e) => {
                tracing::warn!(scanner = %path.display(), error = %e, "scan rejected")
            }
            ScannerEvent::Connected => {
                tracing::info!(scanner = %path.display(), "scanner connected")
            }
            ScannerEvent::Disconnected(why) => {
                tracing::warn!(scanner = %path.display(), reason = %why, "scanner disconnected")
            }
        }
    }
}

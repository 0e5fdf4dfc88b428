//! Scanners, serial or keyboard wedge (evdev): each scan is decoded, looked up in the catalog and pushed on the event
//! stream (and kept in a short list of recent scans).

use crate::app::App;
use crate::config::{ScannerConfig, ScannerKind, WedgeLayout};
use drivers::scanner::serial::{ScannerEvent, SerialScanner, SerialScannerConfig};
use serde_json::json;
use std::sync::Arc;

use crate::devices::RECENT_SCANS;

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
    if let Ok(mut s) = app.devices.scans.lock() {
        if s.len() >= RECENT_SCANS {
            s.pop_front();
        }
        s.push_back(event.clone());
    }
    app.bus.publish("scan", event);
}

/// How long a keyboard-wedge scanner that cannot be opened waits before the next try.
pub const WEDGE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

impl App {
    /// Records a scanner's state (`connected` or `disconnected`, with the reason).
    pub fn set_scanner_state(&self, s: &ScannerConfig, state: &str, error: Option<String>) {
        let value = json!({
            "path": s.path.display().to_string(),
            "kind": s.kind,
            "state": state,
            "error": error,
        });
        let changed = match self.devices.scanners.lock() {
            Ok(mut m) => {
                m.insert(s.path.display().to_string(), value.clone()) != Some(value.clone())
            }
            Err(_) => false,
        };
        if changed {
            self.bus.publish("scanner", value);
        }
    }

    /// The scanners' states, as `GET /v1/devices` shows them.
    pub fn scanner_states(&self) -> Vec<serde_json::Value> {
        let known = self
            .devices
            .scanners
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        self.config
            .scanners
            .iter()
            .map(|s| {
                known
                    .get(&s.path.display().to_string())
                    .cloned()
                    .unwrap_or_else(|| {
                        json!({ "path": s.path.display().to_string(), "kind": s.kind,
                            "state": "unknown", "error": null })
                    })
            })
            .collect()
    }
}

/// Reads one scanner forever.
pub async fn run(app: Arc<App>, s: ScannerConfig) {
    match s.kind {
        ScannerKind::Serial => run_serial(app, s).await,
        ScannerKind::Wedge => run_wedge(app, s).await,
    }
}

async fn run_serial(app: Arc<App>, s: ScannerConfig) {
    let path = s.path.clone();
    let mut config = SerialScannerConfig::new(path.clone());
    config.baud = s.baud;
    let mut scanner = SerialScanner::new(config);
    loop {
        match scanner.next_event().await {
            ScannerEvent::Scan(code) => on_scan(&app, &code),
            ScannerEvent::Rejected(e) => {
                tracing::warn!(scanner = %path.display(), error = %e, "scan rejected")
            }
            ScannerEvent::Connected => {
                tracing::info!(scanner = %path.display(), "scanner connected");
                app.set_scanner_state(&s, "connected", None);
            }
            ScannerEvent::Disconnected(why) => {
                tracing::warn!(scanner = %path.display(), reason = %why, "scanner disconnected");
                app.set_scanner_state(&s, "disconnected", Some(why.to_string()));
            }
        }
    }
}

#[cfg(target_os = "linux")]
async fn run_wedge(app: Arc<App>, s: ScannerConfig) {
    use drivers::scanner::keymap::KeyboardLayout;
    use drivers::scanner::wedge::WedgeScanner;
    let layout = match s.layout {
        WedgeLayout::Us => KeyboardLayout::UsQwerty,
        WedgeLayout::Fr => KeyboardLayout::FrAzerty,
    };
    let mut logged = false;
    loop {
        let mut scanner = match WedgeScanner::open(&s.path, layout) {
            Ok(w) => w,
            Err(e) => {
                if !logged {
                    tracing::warn!(scanner = %s.path.display(), error = %e,
                        "keyboard-wedge scanner cannot be opened; trying again");
                    logged = true;
                }
                app.set_scanner_state(&s, "disconnected", Some(e.to_string()));
                tokio::time::sleep(WEDGE_RETRY).await;
                continue;
            }
        };
        logged = false;
        tracing::info!(scanner = %s.path.display(), "keyboard-wedge scanner grabbed");
        app.set_scanner_state(&s, "connected", None);
        loop {
            match scanner.next_scan().await {
                Ok(Ok(code)) => on_scan(&app, &code),
                Ok(Err(e)) => {
                    tracing::warn!(scanner = %s.path.display(), error = %e, "scan rejected")
                }
                Err(e) => {
                    tracing::warn!(scanner = %s.path.display(), error = %e, "scanner disconnected");
                    app.set_scanner_state(&s, "disconnected", Some(e.to_string()));
                    break;
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
async fn run_wedge(app: Arc<App>, s: ScannerConfig) {
    app.set_scanner_state(
        &s,
        "disconnected",
        Some("keyboard-wedge scanners need Linux (evdev)".into()),
    );
}

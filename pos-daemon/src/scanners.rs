//! Scanners, serial or keyboard wedge (evdev): each scan is decoded, looked up in the catalog and pushed on the event
//! stream (and kept in a short list of recent scans).

use crate::app::App;
use crate::config::{ScannerConfig, ScannerKind, WedgeLayout};
use crate::devices::{Scan, ScannerState, RECENT_SCANS};
use drivers::scanner::serial::{ScannerEvent, SerialScanner, SerialScannerConfig};
use std::sync::Arc;

/// What a scan resolves to, as pushed on the event stream.
pub fn describe(app: &App, code: &str) -> Scan {
    let looked = app
        .catalog
        .read()
        .map(|c| c.lookup(code, &app.barcodes))
        .map_err(|_| ());
    let not_found = |error: String| Scan {
        code: code.to_string(),
        found: false,
        product: None,
        weight_grams: None,
        price_cents: None,
        error: Some(error),
    };
    match looked {
        Ok(Ok(l)) => Scan {
            code: code.to_string(),
            found: true,
            product: Some(l.product),
            weight_grams: l.weight_grams,
            price_cents: l.price_cents,
            error: None,
        },
        Ok(Err(e)) => not_found(e.to_string()),
        Err(()) => not_found("catalog unavailable".to_string()),
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
    app.bus
        .publish("scan", serde_json::to_value(event).unwrap_or_default());
}

/// How long a keyboard-wedge scanner that cannot be opened waits before the next try.
pub const WEDGE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

impl App {
    /// Records a scanner's state (`connected` or `disconnected`, with the reason).
    pub fn set_scanner_state(&self, s: &ScannerConfig, state: &str, error: Option<String>) {
        let value = ScannerState {
            path: s.path.display().to_string(),
            kind: s.kind,
            state: state.to_string(),
            error,
        };
        let changed = match self.devices.scanners.lock() {
            Ok(mut m) => {
                m.insert(s.path.display().to_string(), value.clone()) != Some(value.clone())
            }
            Err(_) => false,
        };
        if changed {
            self.bus
                .publish("scanner", serde_json::to_value(value).unwrap_or_default());
        }
    }

    /// The scanners' states, as `GET /v1/devices` shows them.
    pub fn scanner_states(&self) -> Vec<ScannerState> {
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
                    .unwrap_or_else(|| ScannerState {
                        path: s.path.display().to_string(),
                        kind: s.kind,
                        state: "unknown".to_string(),
                        error: None,
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

//! The event stream pushed to front-ends (`GET /v1/events`): scans, printer status changes,
//! print job outcomes, closures, health changes. A bounded broadcast: a slow subscriber misses
//! events (and is told so), it never holds anything up.

use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a subscriber may lag behind before it misses some.
pub const EVENT_BUFFER: usize = 1024;

/// One event.
#[derive(Debug, Clone, Serialize)]
pub struct BusEvent {
    /// The SSE event name: `scan`, `printer`, `drawer`, `print_job`, `closure`, `sale`,
    /// `training`, `health`.
    pub name: &'static str,
    /// The payload.
    pub data: serde_json::Value,
}

/// The sender side, shared by the daemon.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<BusEvent>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            tx: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

impl Bus {
    /// Publishes an event (dropped when nobody listens).
    pub fn publish(&self, name: &'static str, data: serde_json::Value) {
        let _ = self.tx.send(BusEvent { name, data });
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }
}

//! Time, real or simulated: back-off, Retry-After and the order cursor read the clock through
//! [`Clock`], so tests can run an hour of outage in milliseconds.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A source of wall-clock time (milliseconds since the Unix epoch) that can also wait.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Waits `d` (a simulated clock advances itself instead of waiting).
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The system clock and tokio timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A simulated clock: `sleep` advances the time at once. Shared (through `Arc`) between the
/// code under test and the fakes it talks to.
#[derive(Debug)]
pub struct SimClock {
    now: AtomicI64,
}

impl SimClock {
    /// A clock starting at `start_ms`.
    pub fn new(start_ms: i64) -> SimClock {
        SimClock {
            now: AtomicI64::new(start_ms),
        }
    }

    /// Moves the time forward.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.advance(d);
        Box::pin(tokio::task::yield_now())
    }
}

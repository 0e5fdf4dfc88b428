//! Repeated warnings let through at most once per interval, with how many were held back: a
//! long burst of sales below zero stock must not write a log line per sale.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kind of repeated warning.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    /// When one last went through, and how many were held back since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    /// At most one warning per `interval`.
    pub fn new(interval: Duration) -> Self {
        Throttle {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last one)` when this warning may be logged; `None` when it is
    /// held back (and counted).
    pub fn pass(&self) -> Option<u64> {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.interval => {
                state.1 += 1;
                None
            }
            _ => {
                let held = std::mem::take(&mut state.1);
                state.0 = Some(now);
                Some(held)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_interval_with_the_count_held_back() {
        let t = Throttle::new(Duration::from_millis(50));
        assert_eq!(t.pass(), Some(0));
        assert_eq!(t.pass(), None);
        assert_eq!(t.pass(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(t.pass(), Some(2));
        assert_eq!(t.pass(), None);
    }
}

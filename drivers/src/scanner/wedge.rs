//! USB keyboard-wedge scanner through evdev (`/dev/input/by-id/*-event-kbd`).
//!
//! The device is grabbed so scans do not also reach the desktop (typing into whatever window
//! has focus). Key events go to the pure [`KeyDecoder`].

use std::io;
use std::path::Path;

use evdev::{Device, EventStream, EventType};

use super::keymap::{KeyDecoder, KeyboardLayout, WedgeError};

/// Reads scans from a keyboard-wedge scanner.
pub struct WedgeScanner {
    events: EventStream,
    decoder: KeyDecoder,
}

impl std::fmt::Debug for WedgeScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WedgeScanner").finish_non_exhaustive()
    }
}

impl WedgeScanner {
    /// Opens and grabs the event device; the scanner types for `layout`. Needs a tokio runtime.
    pub fn open(path: &Path, layout: KeyboardLayout) -> io::Result<Self> {
        let mut device = Device::open(path)?;
        device.grab()?;
        Ok(Self {
            events: device.into_event_stream()?,
            decoder: KeyDecoder::new(layout),
        })
    }

    /// The next scan (or a scan that could not be decoded). An I/O error means the device went
    /// away: open it again when it comes back.
    pub async fn next_scan(&mut self) -> io::Result<Result<String, WedgeError>> {
        loop {
            let event = self.events.next_event().await?;
            if event.event_type() != EventType::KEY {
                continue;
            }
            if let Some(scan) = self.decoder.key(event.code(), event.value()) {
                return Ok(scan);
            }
        }
    }
}

//! Serial barcode scanner reader (RS-232 or USB-CDC), with `tokio-serial` (no libudev).
//!
//! On open, input already queued (a half scan from before, noise while plugging in) is flushed:
//! it would otherwise be delivered as a scan nobody made. When the device goes away (unplugged,
//! pty removed) the reader reports it and reopens the same path until it comes back.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_serial::{ClearBuffer, SerialPort, SerialPortBuilderExt, SerialStream};

use super::framing::{FrameError, FramingOptions, ScanFramer};

/// Settings of a serial scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialScannerConfig {
    /// Device path (`/dev/ttyACM0`, a by-id link...).
    pub path: PathBuf,
    /// Speed (9600 is the usual factory setting).
    pub baud: u32,
    /// Prefix and suffix to strip.
    pub framing: FramingOptions,
    /// Wait between attempts to reopen a missing device.
    pub reconnect_delay: Duration,
    /// Input arriving this soon after opening is treated as stale and discarded.
    pub settle: Duration,
}

impl SerialScannerConfig {
    /// Defaults for a device path: 9600 baud, nothing stripped, retry every 500 ms.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            baud: 9600,
            framing: FramingOptions::default(),
            reconnect_delay: Duration::from_millis(500),
            settle: Duration::from_millis(50),
        }
    }
}

/// What the reader saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerEvent {
    /// A scan (prefix and suffix stripped).
    Scan(String),
    /// Input that is not a usable scan.
    Rejected(FrameError),
    /// The device was opened (first time or after coming back).
    Connected,
    /// The device went away; the reader keeps trying to reopen it.
    Disconnected(String),
}

/// Reads scans from a serial scanner, reconnecting as needed.
#[derive(Debug)]
pub struct SerialScanner {
    config: SerialScannerConfig,
    port: Option<SerialStream>,
    framer: ScanFramer,
    pending: std::collections::VecDeque<ScannerEvent>,
    /// Whether the last open attempt failed (so a missing device is reported once).
    reported_missing: bool,
}

impl SerialScanner {
    /// A reader; the device is opened by the first [`SerialScanner::next_event`].
    pub fn new(config: SerialScannerConfig) -> Self {
        let framer = ScanFramer::new(config.framing.clone());
        Self {
            config,
            port: None,
            framer,
            pending: Default::default(),
            reported_missing: false,
        }
    }

    /// Whether the device is open now.
    pub fn is_connected(&self) -> bool {
        self.port.is_some()
    }

    async fn open(&mut self) -> Result<(), String> {
        let path = self.config.path.to_string_lossy().into_owned();
        let mut port = tokio_serial::new(&path, self.config.baud)
            .open_native_async()
            .map_err(|e| format!("{path}: {e}"))?;
        // Stale input: what the kernel already holds, then what trickles in while settling.
        port.clear(ClearBuffer::Input)
            .map_err(|e| format!("{path}: {e}"))?;
        let mut scratch = [0u8; 256];
        let deadline = tokio::time::Instant::now() + self.config.settle;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, port.read(&mut scratch)).await {
            if n == 0 {
                return Err(format!("{path}: closed while opening"));
            }
        }
        self.framer.clear();
        self.port = Some(port);
        Ok(())
    }

    /// The next event: a scan, a rejected input, or a connection change. Waits as long as it
    /// takes (wrap it in a timeout to bound it).
    pub async fn next_event(&mut self) -> ScannerEvent {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            let Some(port) = self.port.as_mut() else {
                match self.open().await {
                    Ok(()) => {
                        self.reported_missing = false;
                        return ScannerEvent::Connected;
                    }
                    Err(reason) => {
                        if !self.reported_missing {
                            self.reported_missing = true;
                            return ScannerEvent::Disconnected(reason);
                        }
                        tokio::time::sleep(self.config.reconnect_delay).await;
                        continue;
                    }
                }
            };
            let mut buf = [0u8; 256];
            match port.read(&mut buf).await {
                Ok(0) => return self.lost("device closed".to_owned()),
                Ok(n) => {
                    for result in self.framer.feed(&buf[..n]) {
                        self.pending.push_back(match result {
                            Ok(scan) => ScannerEvent::Scan(scan),
                            Err(e) => ScannerEvent::Rejected(e),
                        });
                    }
                }
                Err(e) => return self.lost(e.to_string()),
            }
        }
    }

    fn lost(&mut self, reason: String) -> ScannerEvent {
        self.port = None;
        self.framer.clear();
        // The device is gone: the next open failure is expected and not reported again.
        self.reported_missing = true;
        ScannerEvent::Disconnected(reason)
    }

    /// The next scan, skipping connection events and rejected input.
    pub async fn next_scan(&mut self) -> String {
        loop {
            if let ScannerEvent::Scan(scan) = self.next_event().await {
                return scan;
            }
        }
    }
}

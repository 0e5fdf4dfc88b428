//! Printer status: `DLE EOT n` replies and Automatic Status Back (`GS a`) frames, parsed into a
//! typed [`PrinterStatus`]. Pure: the transports feed bytes in, nothing here does I/O.
//!
//! One reply stream carries both: a `DLE EOT` reply is one byte `0xx1xx10` (bit 1 set), an ASB
//! frame is four bytes whose first is `0xx1xx00` (bit 1 clear). [`StatusDecoder`] tells them
//! apart and reports anything else as unexpected instead of guessing.

use thiserror::Error;

/// A status byte whose fixed bits are wrong: not a status reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StatusError {
    /// A `DLE EOT n` reply without the `0xx1xx10` pattern.
    #[error("DLE EOT {n} reply {byte:#04x} has wrong fixed bits")]
    RealTime {
        /// The request (1-4).
        n: u8,
        /// The byte received.
        byte: u8,
    },
    /// An ASB frame whose fixed bits are wrong.
    #[error("automatic status frame {0:02x?} has wrong fixed bits")]
    Asb([u8; 4]),
    /// Fewer or more than four `DLE EOT` replies.
    #[error("expected 4 DLE EOT replies, got {0}")]
    ReplyCount(usize),
}

/// Why a printer cannot print now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Offline for another reason (e.g. the feed button, or a fault the printer reports only as
    /// offline).
    Offline,
    /// The cover is open.
    CoverOpen,
    /// No paper.
    PaperOut,
    /// The autocutter failed.
    CutterError,
    /// A fault that needs a power cycle or service.
    UnrecoverableError,
    /// A fault that clears by itself (e.g. the head overheated).
    AutoRecoverableError,
}

/// Which level of connector pin 3 means "drawer open". Drawers differ; Epson's default is high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DrawerSensor {
    /// Pin 3 high: open.
    #[default]
    OpenWhenHigh,
    /// Pin 3 low: open.
    OpenWhenLow,
}

/// What the printer says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PrinterStatus {
    /// Offline (any blocking fault also sets this).
    pub offline: bool,
    /// Cover open.
    pub cover_open: bool,
    /// Paper roll near its end: still prints.
    pub paper_near_end: bool,
    /// No paper: printing stopped.
    pub paper_out: bool,
    /// Autocutter error.
    pub cutter_error: bool,
    /// Unrecoverable error.
    pub unrecoverable_error: bool,
    /// Auto-recoverable error.
    pub auto_recoverable_error: bool,
    /// An error is reported (`DLE EOT 2` bit 6) without a more precise cause.
    pub error: bool,
    /// Drawer kick-out connector pin 3 is high.
    pub drawer_pin3_high: bool,
}

impl PrinterStatus {
    /// Parses the replies to `DLE EOT 1`, `2`, `3` and `4`, in that order.
    pub fn from_realtime(replies: &[u8]) -> Result<Self, StatusError> {
        let [r1, r2, r3, r4] =
            <[u8; 4]>::try_from(replies).map_err(|_| StatusError::ReplyCount(replies.len()))?;
        for (n, byte) in [(1u8, r1), (2, r2), (3, r3), (4, r4)] {
            if !is_realtime_reply(byte) {
                return Err(StatusError::RealTime { n, byte });
            }
        }
        Ok(Self {
            drawer_pin3_high: r1 & 0x04 != 0,
            offline: r1 & 0x08 != 0,
            cover_open: r2 & 0x04 != 0,
            paper_out: r2 & 0x20 != 0 || r4 & 0x60 != 0,
            error: r2 & 0x40 != 0,
            cutter_error: r3 & 0x08 != 0,
            unrecoverable_error: r3 & 0x20 != 0,
            auto_recoverable_error: r3 & 0x40 != 0,
            paper_near_end: r4 & 0x0C != 0,
        })
    }

    /// Parses one Automatic Status Back frame.
    pub fn from_asb(frame: [u8; 4]) -> Result<Self, StatusError> {
        let [b1, b2, b3, b4] = frame;
        if !is_asb_start(b1) || [b2, b3, b4].iter().any(|b| b & 0x90 != 0) {
            return Err(StatusError::Asb(frame));
        }
        Ok(Self {
            drawer_pin3_high: b1 & 0x04 != 0,
            offline: b1 & 0x08 != 0,
            cover_open: b1 & 0x20 != 0,
            paper_out: b3 & 0x0C != 0,
            paper_near_end: b3 & 0x03 != 0,
            error: b2 & 0x04 != 0,
            cutter_error: b2 & 0x08 != 0,
            unrecoverable_error: b2 & 0x20 != 0,
            auto_recoverable_error: b2 & 0x40 != 0,
        })
    }

    /// Online: the printer accepts and prints data.
    pub fn online(&self) -> bool {
        !self.offline
    }

    /// Whether the drawer is open, for a drawer wired with `sensor`.
    pub fn drawer_open(&self, sensor: DrawerSensor) -> bool {
        match sensor {
            DrawerSensor::OpenWhenHigh => self.drawer_pin3_high,
            DrawerSensor::OpenWhenLow => !self.drawer_pin3_high,
        }
    }

    /// The faults that stop printing, most specific first; empty when the printer can print.
    pub fn faults(&self) -> Vec<Fault> {
        let mut faults = Vec::new();
        if self.paper_out {
            faults.push(Fault::PaperOut);
        }
        if self.cover_open {
            faults.push(Fault::CoverOpen);
        }
        if self.cutter_error {
            faults.push(Fault::CutterError);
        }
        if self.unrecoverable_error {
            faults.push(Fault::UnrecoverableError);
        }
        if self.auto_recoverable_error {
            faults.push(Fault::AutoRecoverableError);
        }
        if self.offline && faults.is_empty() {
            faults.push(Fault::Offline);
        }
        faults
    }

    /// True when nothing stops printing (paper near end is only a warning).
    pub fn ready(&self) -> bool {
        self.faults().is_empty()
    }
}

/// `0xx1xx10`: the fixed bits of a `DLE EOT` reply.
pub fn is_realtime_reply(byte: u8) -> bool {
    byte & 0x93 == 0x12
}

/// `0xx1xx00`: the fixed bits of the first byte of an ASB frame.
pub fn is_asb_start(byte: u8) -> bool {
    byte & 0x93 == 0x10
}

/// One item recognised in the printer's reply stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusEvent {
    /// A `DLE EOT` reply byte.
    RealTime(u8),
    /// A complete, valid ASB frame.
    Asb(PrinterStatus),
    /// Four bytes that started like an ASB frame but are not one.
    BadAsb([u8; 4]),
    /// A byte that is neither (a stale reply to some other command, line noise).
    Unexpected(u8),
}

/// Splits a reply stream into `DLE EOT` replies and ASB frames. Keeps a partial ASB frame
/// between calls, so reads may split the stream anywhere.
#[derive(Debug, Clone, Default)]
pub struct StatusDecoder {
    asb: Vec<u8>,
}

impl StatusDecoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one byte; returns what it completes, if anything.
    pub fn push(&mut self, byte: u8) -> Option<StatusEvent> {
        if !self.asb.is_empty() {
            self.asb.push(byte);
            if self.asb.len() < 4 {
                return None;
            }
            let mut frame = [0u8; 4];
            frame.copy_from_slice(&self.asb);
            self.asb.clear();
            return Some(match PrinterStatus::from_asb(frame) {
                Ok(status) => StatusEvent::Asb(status),
                Err(_) => StatusEvent::BadAsb(frame),
            });
        }
        if is_realtime_reply(byte) {
            Some(StatusEvent::RealTime(byte))
        } else if is_asb_start(byte) {
            self.asb.push(byte);
            None
        } else {
            Some(StatusEvent::Unexpected(byte))
        }
    }

    /// Feeds several bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StatusEvent> {
        bytes.iter().filter_map(|&b| self.push(b)).collect()
    }

    /// Forgets a partial ASB frame (after a reconnect).
    pub fn reset(&mut self) {
        self.asb.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_replies() {
        let normal = PrinterStatus::from_realtime(&[0x12, 0x12, 0x12, 0x12]);
        assert_eq!(normal, Ok(PrinterStatus::default()));
        assert!(normal.map(|s| s.ready()).unwrap_or(false));

        let paper_out = PrinterStatus::from_realtime(&[0x1e, 0x32, 0x12, 0x7e]).unwrap_or_default();
        assert!(paper_out.paper_out && paper_out.offline && paper_out.paper_near_end);
        assert_eq!(paper_out.faults(), vec![Fault::PaperOut]);

        let cover = PrinterStatus::from_realtime(&[0x1e, 0x16, 0x12, 0x12]).unwrap_or_default();
        assert_eq!(cover.faults(), vec![Fault::CoverOpen]);

        let near_end = PrinterStatus::from_realtime(&[0x16, 0x12, 0x12, 0x1e]).unwrap_or_default();
        assert!(near_end.ready() && near_end.paper_near_end && near_end.drawer_pin3_high);
        assert!(near_end.drawer_open(DrawerSensor::OpenWhenHigh));
        assert!(!near_end.drawer_open(DrawerSensor::OpenWhenLow));

        let offline = PrinterStatus::from_realtime(&[0x1a, 0x12, 0x12, 0x12]).unwrap_or_default();
        assert_eq!(offline.faults(), vec![Fault::Offline]);

        let cutter = PrinterStatus::from_realtime(&[0x1a, 0x52, 0x1a, 0x12]).unwrap_or_default();
        assert_eq!(cutter.faults(), vec![Fault::CutterError]);
    }

    #[test]
    fn wrong_fixed_bits_are_errors() {
        assert_eq!(
            PrinterStatus::from_realtime(&[0x12, 0x00, 0x12, 0x12]),
            Err(StatusError::RealTime { n: 2, byte: 0 })
        );
        assert_eq!(
            PrinterStatus::from_realtime(&[0x12]),
            Err(StatusError::ReplyCount(1))
        );
        assert!(PrinterStatus::from_asb([0x12, 0, 0, 0]).is_err());
        assert!(PrinterStatus::from_asb([0x10, 0x10, 0, 0]).is_err());
    }

    #[test]
    fn asb_frames() {
        let status = PrinterStatus::from_asb([0x38, 0, 0x0f, 0]).unwrap_or_default();
        assert!(status.offline && status.cover_open && status.paper_out && status.paper_near_end);
        assert_eq!(
            PrinterStatus::from_asb([0x10, 0, 0, 0]),
            Ok(PrinterStatus::default())
        );
    }

    #[test]
    fn decoder_separates_asb_from_realtime() {
        let mut decoder = StatusDecoder::new();
        let mut events = decoder.feed(&[0x12, 0x18, 0x00]);
        events.extend(decoder.feed(&[0x00, 0x00, 0x16, 0xff]));
        assert_eq!(events.len(), 4);
        assert_eq!(events[0], StatusEvent::RealTime(0x12));
        assert!(matches!(events[1], StatusEvent::Asb(s) if s.offline));
        assert_eq!(events[2], StatusEvent::RealTime(0x16));
        assert_eq!(events[3], StatusEvent::Unexpected(0xff));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn chunking_does_not_change_decoding(
                data in proptest::collection::vec(any::<u8>(), 0..200),
                chunk in 1usize..9,
            ) {
                let whole = StatusDecoder::new().feed(&data);
                let mut decoder = StatusDecoder::new();
                let chunked: Vec<StatusEvent> =
                    data.chunks(chunk).flat_map(|c| decoder.feed(c)).collect();
                prop_assert_eq!(whole, chunked);
            }

            #[test]
            fn realtime_parse_accepts_exactly_the_fixed_pattern(replies in any::<[u8; 4]>()) {
                let valid = replies.iter().all(|&b| is_realtime_reply(b));
                prop_assert_eq!(PrinterStatus::from_realtime(&replies).is_ok(), valid);
            }

            #[test]
            fn faults_and_ready_agree(replies in any::<[u8; 4]>()) {
                if let Ok(status) = PrinterStatus::from_realtime(&replies) {
                    prop_assert_eq!(status.ready(), status.faults().is_empty());
                    // Offline never passes as ready.
                    prop_assert!(!(status.offline && status.ready()));
                }
            }
        }
    }
}

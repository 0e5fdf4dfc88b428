//! Splits a serial scanner's byte stream into scans.
//!
//! Scanners end each code with a configurable suffix: CR, LF or CRLF. A line reader that waits
//! for LF blocks forever on CR-only scanners, so any of the three ends a scan; an LF right after
//! a CR is the second half of CRLF, not an empty scan. Configured prefix and suffix strings
//! (e.g. an AIM identifier the scanner adds) are stripped when present.

use thiserror::Error;

/// Longest scan kept, in bytes; longer input is reported as an error and skipped.
pub const MAX_SCAN_LEN: usize = 512;

/// A scan that cannot be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// More than [`MAX_SCAN_LEN`] bytes before a terminator.
    #[error("scan longer than {MAX_SCAN_LEN} bytes")]
    TooLong,
    /// Not UTF-8 text.
    #[error("scan is not valid UTF-8")]
    NotUtf8,
}

/// What to strip around each scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FramingOptions {
    /// Removed from the start of a scan when present.
    pub prefix: String,
    /// Removed from the end of a scan (before the terminator) when present.
    pub suffix: String,
}

/// Incremental framer: bytes in, complete scans out. Reads may split the stream anywhere.
#[derive(Debug, Clone, Default)]
pub struct ScanFramer {
    options: FramingOptions,
    buf: Vec<u8>,
    after_cr: bool,
    overflow: bool,
}

impl ScanFramer {
    /// A framer with `options`.
    pub fn new(options: FramingOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// Forgets a partial scan (after a reconnect or a flush).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.after_cr = false;
        self.overflow = false;
    }

    /// Feeds one byte; returns a scan when it ends one. Empty scans are dropped.
    pub fn push(&mut self, byte: u8) -> Option<Result<String, FrameError>> {
        match byte {
            b'\r' => {
                self.after_cr = true;
                self.complete()
            }
            b'\n' if self.after_cr => {
                self.after_cr = false;
                None
            }
            b'\n' => self.complete(),
            _ => {
                self.after_cr = false;
                if self.buf.len() >= MAX_SCAN_LEN {
                    self.overflow = true;
                } else {
                    self.buf.push(byte);
                }
                None
            }
        }
    }

    /// Feeds several bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Result<String, FrameError>> {
        bytes.iter().filter_map(|&b| self.push(b)).collect()
    }

    fn complete(&mut self) -> Option<Result<String, FrameError>> {
        let bytes = std::mem::take(&mut self.buf);
        if std::mem::take(&mut self.overflow) {
            return Some(Err(FrameError::TooLong));
        }
        let Ok(text) = String::from_utf8(bytes) else {
            return Some(Err(FrameError::NotUtf8));
        };
        let mut scan = text.as_str();
        if !self.options.prefix.is_empty() {
            scan = scan.strip_prefix(&self.options.prefix).unwrap_or(scan);
        }
        if !self.options.suffix.is_empty() {
            scan = scan.strip_suffix(&self.options.suffix).unwrap_or(scan);
        }
        (!scan.is_empty()).then(|| Ok(scan.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scans(options: FramingOptions, chunks: &[&[u8]]) -> Vec<Result<String, FrameError>> {
        let mut framer = ScanFramer::new(options);
        chunks.iter().flat_map(|c| framer.feed(c)).collect()
    }

    #[test]
    fn cr_lf_and_crlf_terminators() {
        let ok = |s: &str| Ok(s.to_owned());
        assert_eq!(
            scans(
                FramingOptions::default(),
                &[b"111\r222\n333\r\n444\r", b"\n555\n"]
            ),
            vec![ok("111"), ok("222"), ok("333"), ok("444"), ok("555")]
        );
        // LF CR is two terminators around nothing: no empty scans.
        assert_eq!(
            scans(FramingOptions::default(), &[b"1\n\r2\r\r\n"]),
            vec![ok("1"), ok("2")]
        );
    }

    #[test]
    fn prefix_and_suffix_are_stripped() {
        let options = FramingOptions {
            prefix: "]E0".into(),
            suffix: "#".into(),
        };
        assert_eq!(
            scans(options, &[b"]E03017620422003#\r", b"ABC\r"]),
            vec![Ok("3017620422003".into()), Ok("ABC".into())]
        );
    }

    #[test]
    fn overlong_and_invalid_scans_are_errors() {
        let long = vec![b'9'; MAX_SCAN_LEN + 10];
        assert_eq!(
            scans(FramingOptions::default(), &[&long, b"\r12\r"]),
            vec![Err(FrameError::TooLong), Ok("12".into())]
        );
        assert_eq!(
            scans(FramingOptions::default(), &[b"\xff\xfe\n"]),
            vec![Err(FrameError::NotUtf8)]
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn chunking_does_not_change_scans(
                data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), b'0'..=b'9'], 0..300),
                chunk in 1usize..7,
            ) {
                let whole = ScanFramer::default().feed(&data);
                let mut framer = ScanFramer::default();
                let chunked: Vec<_> = data.chunks(chunk).flat_map(|c| framer.feed(c)).collect();
                prop_assert_eq!(&whole, &chunked);
                // Scans never contain terminators and are never empty.
                for scan in whole.iter().flatten() {
                    prop_assert!(!scan.is_empty() && !scan.contains(['\r', '\n']));
                }
            }
        }
    }
}

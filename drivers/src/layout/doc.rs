//! A print job under construction, encoded with the `escpos` crate.
//!
//! The crate is used for what it encodes correctly: initialisation, justification, emphasis,
//! character size, feed and cut. Text never goes through it: its page-code tables fall back to
//! raw UTF-8 for characters they lack, so text is encoded by [`crate::text`] and passed as raw
//! bytes. Its synchronous drivers are not used either: a capture driver collects the bytes,
//! and the async transports send them.

use std::cell::RefCell;

use escpos::driver::Driver;
use escpos::printer::Printer;
use escpos::utils::{JustifyMode, Protocol};

use super::LayoutError;
use crate::commands;
use crate::receipt::Cut;
use crate::text;

/// Collects what the `escpos` printer writes.
#[derive(Default)]
struct Capture(RefCell<Vec<u8>>);

impl Driver for Capture {
    fn name(&self) -> String {
        "capture".to_owned()
    }

    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }

    fn read(&self, _buf: &mut [u8]) -> escpos::errors::Result<usize> {
        Ok(0)
    }

    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(())
    }
}

/// Horizontal alignment of the following lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
}

fn enc(error: escpos::errors::PrinterError) -> LayoutError {
    LayoutError::Encoder(error.to_string())
}

pub(crate) struct Doc {
    printer: Printer<Capture>,
    /// Columns at normal size.
    pub(crate) columns: usize,
}

impl Doc {
    /// A job that starts with `ESC @` and selects WPC1252.
    pub(crate) fn new(columns: usize) -> Result<Self, LayoutError> {
        let mut printer = Printer::new(Capture::default(), Protocol::default(), None);
        printer.init().map_err(enc)?;
        printer.custom(&text::SELECT_WPC1252).map_err(enc)?;
        Ok(Self { printer, columns })
    }

    pub(crate) fn align(&mut self, align: Align) -> Result<&mut Self, LayoutError> {
        let mode = match align {
            Align::Left => JustifyMode::LEFT,
            Align::Center => JustifyMode::CENTER,
        };
        self.printer.justify(mode).map_err(enc)?;
        Ok(self)
    }

    pub(crate) fn bold(&mut self, on: bool) -> Result<&mut Self, LayoutError> {
        self.printer.bold(on).map_err(enc)?;
        Ok(self)
    }

    /// Character size multipliers (1-8).
    pub(crate) fn size(&mut self, width: u8, height: u8) -> Result<&mut Self, LayoutError> {
        self.printer.size(width, height).map_err(enc)?;
        Ok(self)
    }

    /// Already-encoded bytes, then a line feed.
    pub(crate) fn line_bytes(&mut self, bytes: &[u8]) -> Result<&mut Self, LayoutError> {
        if !bytes.is_empty() {
            self.printer.custom(bytes).map_err(enc)?;
        }
        self.printer.feed().map_err(enc)?;
        Ok(self)
    }

    /// Text (encoded to WPC1252), truncated to `columns`, then a line feed.
    pub(crate) fn line(&mut self, text: &str) -> Result<&mut Self, LayoutError> {
        let mut bytes = text::encode(text);
        bytes.truncate(self.columns);
        self.line_bytes(&bytes)
    }

    /// Text wrapped on spaces over as many lines as needed (at most `max_lines`).
    pub(crate) fn wrapped(
        &mut self,
        text: &str,
        max_lines: usize,
    ) -> Result<&mut Self, LayoutError> {
        for line in super::format::wrap(&text::encode(text), self.columns, max_lines) {
            self.line_bytes(&line)?;
        }
        Ok(self)
    }

    /// A full-width separator.
    pub(crate) fn rule(&mut self, c: u8) -> Result<&mut Self, LayoutError> {
        let bytes = vec![c; self.columns];
        self.line_bytes(&bytes)
    }

    /// Bytes from [`crate::commands`] (QR code, barcode) or other raw commands.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<&mut Self, LayoutError> {
        self.printer.custom(bytes).map_err(enc)?;
        Ok(self)
    }

    pub(crate) fn feed(&mut self, lines: u8) -> Result<&mut Self, LayoutError> {
        self.printer.feeds(lines).map_err(enc)?;
        Ok(self)
    }

    /// Cut, and the finished job.
    pub(crate) fn finish(mut self, cut: Cut) -> Result<Vec<u8>, LayoutError> {
        match cut {
            // `GS V 65 0`: feed to the cutter, full cut. The crate has this one right.
            Cut::Full => {
                self.printer.cut().map_err(enc)?;
            }
            // The crate's partial cut is a full cut (see `commands::partial_cut`).
            Cut::Partial => {
                self.raw(&commands::partial_cut())?;
            }
        }
        self.printer.print().map_err(enc)?;
        Ok(self.printer.driver().0.into_inner())
    }
}

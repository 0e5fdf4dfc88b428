//! Device drivers of the point-of-sale workspace: receipt layout to ESC/POS bytes, printer
//! transports and status, the cash drawer and barcode scanner readers.
//!
//! It renders and talks to devices; it never writes fiscal facts (that is `pos-core`'s journal)
//! and knows nothing of HTTP or the daemon's configuration.
//!
//! - [`layout`]: pure functions from [`receipt`] data to ESC/POS bytes (58 and 80 mm, WPC1252).
//! - [`commands`]: the ESC/POS commands the `escpos` crate gets wrong, done right.
//! - [`status`]: `DLE EOT` and automatic status back parsing.
//! - [`transport`] and [`printer`]: TCP, serial, `/dev/usb/lpN` and file transports; a `print`
//!   that checks status before and after and never resends.
//! - [`scanner`]: serial and keyboard-wedge (evdev) barcode scanner readers.
#![deny(missing_docs)]

pub mod commands;
pub mod layout;
pub mod printer;
pub mod receipt;
pub mod sample;
pub mod scanner;
pub mod status;
pub mod text;
pub mod transport;

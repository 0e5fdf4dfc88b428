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
//!
//! ```no_run
//! use drivers::layout::{render_receipt, PaperWidth};
//! use drivers::printer::{PrintOutcome, Printer, PrinterOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let job = render_receipt(&drivers::sample::french_receipt(), PaperWidth::Mm80)?;
//! let mut printer = Printer::new("tcp:192.168.1.50:9100".parse()?, PrinterOptions::default());
//! match printer.print(&job).await {
//!     PrintOutcome::Printed(_) => {}
//!     PrintOutcome::NotSent(why) => eprintln!("kept in the queue: {why}"),
//!     PrintOutcome::Unknown(why) => eprintln!("ask the operator before reprinting: {why}"),
//! }
//! # Ok(())
//! # }
//! ```
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

//! Device drivers of the point-of-sale workspace: receipt layout to ESC/POS bytes, printer
//! transports and status, the cash drawer and barcode scanner readers.
//!
//! The crate is a placeholder until its own issue lands; it only states its boundary: it renders
//! and talks to devices, it never writes fiscal facts (that is `pos-core`'s journal).
#![deny(missing_docs)]

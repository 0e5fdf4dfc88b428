//! Barcode scanner readers: serial scanners and USB keyboard-wedge scanners (evdev).
//!
//! The byte framing ([`framing`]) and the key-code decoder ([`keymap`]) are pure, so they are
//! tested without devices; [`serial`] and `wedge` only move bytes and key events into them.

pub mod framing;
pub mod keymap;
pub mod serial;
#[cfg(target_os = "linux")]
pub mod wedge;

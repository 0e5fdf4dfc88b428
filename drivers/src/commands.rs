//! ESC/POS commands the `escpos` crate (0.20) gets wrong, written out here byte by byte.
//!
//! - Cash drawer: the crate sends `ESC p m` (3 bytes) where the command is `ESC p m t1 t2`;
//!   a printer then takes the next two bytes of the job as t1 t2 and swallows them.
//! - QR code: the crate leaves the model at the printer's default (Model 1 on many); receipts
//!   use Model 2, error correction level M, selected explicitly.
//! - Real-time status: the crate appends a stray 0x00 to `DLE EOT n`, which a printer takes as
//!   the start of the next command.
//! - Partial cut: the crate's `partial_cut` sends `GS V 65 1`, which is a *full* cut after a
//!   1-dot feed (65 is "function B, full cut"); a partial cut is `GS V 66 n`.
//! - EAN-13: the crate prints whatever 12/13 digits it gets; here the check digit is validated
//!   (with `pos-core`'s barcode module) before anything is printed.

use pos_format::barcode;
use thiserror::Error;

/// Largest QR payload accepted, in bytes: the byte-mode capacity of a version 40, level M,
/// Model 2 symbol. Longer data cannot be encoded at level M.
pub const MAX_QR_BYTES: usize = 2331;

/// A command that cannot be built from the data given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// QR payload longer than [`MAX_QR_BYTES`].
    #[error("QR payload of {0} bytes exceeds {MAX_QR_BYTES}")]
    QrTooLong(usize),
    /// QR payload empty: the printer would print nothing.
    #[error("empty QR payload")]
    QrEmpty,
    /// QR module size outside 1-16.
    #[error("QR module size {0} outside 1-16")]
    QrModuleSize(u8),
    /// EAN-13 data that is not 12 or 13 digits with a valid check digit.
    #[error("invalid EAN-13 data {0:?}")]
    Ean13(String),
}

/// Drawer kick-out connector pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrawerPin {
    /// Pin 2: the first (usually only) drawer.
    Pin2,
    /// Pin 5: a second drawer.
    Pin5,
}

/// `ESC p m t1 t2` (5 bytes): pulse ON for `t1` x 2 ms, OFF for `t2` x 2 ms.
pub fn drawer_pulse(pin: DrawerPin, on_2ms: u8, off_2ms: u8) -> [u8; 5] {
    let m = match pin {
        DrawerPin::Pin2 => 0,
        DrawerPin::Pin5 => 1,
    };
    [0x1B, 0x70, m, on_2ms, off_2ms]
}

/// The usual kick: 50 ms on, 500 ms off (`1B 70 m 19 FA`).
pub fn drawer_kick(pin: DrawerPin) -> [u8; 5] {
    drawer_pulse(pin, 0x19, 0xFA)
}

/// `GS V 66 0`: feed to the cutter and cut partially (one point left uncut).
pub fn partial_cut() -> [u8; 4] {
    [0x1D, 0x56, 66, 0]
}

/// `DLE EOT n` (3 bytes, no trailing NUL). `n` is 1-4.
pub fn realtime_status_request(n: u8) -> [u8; 3] {
    [0x10, 0x04, n]
}

/// `GS a n`: enable Automatic Status Back for the categories in `n` (0 disables it).
/// 0x0F: drawer, online/offline, errors, roll paper sensor.
pub fn automatic_status_back(n: u8) -> [u8; 3] {
    [0x1D, 0x61, n]
}

/// QR error correction level (GS ( k fn 169).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QrLevel {
    /// ~7 %.
    L,
    /// ~15 %: what receipts use.
    M,
    /// ~25 %.
    Q,
    /// ~30 %.
    H,
}

fn qr_function(out: &mut Vec<u8>, function: &[u8]) {
    // GS ( k pL pH cn fn ...: the length counts cn, fn and the arguments.
    let len = function.len();
    out.extend_from_slice(&[0x1D, 0x28, 0x6B, (len & 0xFF) as u8, (len >> 8) as u8]);
    out.extend_from_slice(function);
}

/// A QR code, Model 2, printed at the current justification: select the model, the module size
/// and the error correction level, store the data, print it.
pub fn qr_code(data: &[u8], level: QrLevel, module_size: u8) -> Result<Vec<u8>, CommandError> {
    if data.is_empty() {
        return Err(CommandError::QrEmpty);
    }
    if data.len() > MAX_QR_BYTES {
        return Err(CommandError::QrTooLong(data.len()));
    }
    if !(1..=16).contains(&module_size) {
        return Err(CommandError::QrModuleSize(module_size));
    }
    let level_byte = match level {
        QrLevel::L => 48,
        QrLevel::M => 49,
        QrLevel::Q => 50,
        QrLevel::H => 51,
    };
    let mut out = Vec::with_capacity(data.len() + 40);
    qr_function(&mut out, &[49, 65, 50, 0]); // fn 165: Model 2
    qr_function(&mut out, &[49, 67, module_size]); // fn 167: module size
    qr_function(&mut out, &[49, 69, level_byte]); // fn 169: error correction
    let mut store = Vec::with_capacity(data.len() + 3);
    store.extend_from_slice(&[49, 80, 48]); // fn 180: store
    store.extend_from_slice(data);
    qr_function(&mut out, &store);
    qr_function(&mut out, &[49, 81, 48]); // fn 181: print
    Ok(out)
}

/// `GS k 67 13 d1..d13`: an EAN-13 barcode with human-readable digits below, after checking
/// the check digit (12 digits get theirs appended).
pub fn ean13_barcode(digits: &str) -> Result<Vec<u8>, CommandError> {
    let bad = || CommandError::Ean13(digits.to_owned());
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let full = match digits.len() {
        12 => {
            let body: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
            format!("{digits}{}", barcode::check_digit(&body))
        }
        13 if barcode::has_valid_check_digit(digits) => digits.to_owned(),
        _ => return Err(bad()),
    };
    let mut out = vec![0x1D, 0x48, 2]; // GS H 2: HRI below
    out.extend_from_slice(&[0x1D, 0x6B, 67, 13]);
    out.extend_from_slice(full.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawer_is_five_bytes() {
        assert_eq!(drawer_kick(DrawerPin::Pin2), [0x1B, 0x70, 0x00, 0x19, 0xFA]);
        assert_eq!(drawer_kick(DrawerPin::Pin5), [0x1B, 0x70, 0x01, 0x19, 0xFA]);
    }

    #[test]
    fn partial_cut_is_function_b_partial() {
        assert_eq!(partial_cut(), [0x1D, 0x56, 0x42, 0x00]);
    }

    #[test]
    fn status_request_has_no_trailing_nul() {
        assert_eq!(realtime_status_request(4), [0x10, 0x04, 0x04]);
    }

    #[test]
    fn qr_selects_model_2_level_m() {
        let bytes = qr_code(b"ABC", QrLevel::M, 6).unwrap_or_default();
        let expected: Vec<u8> = [
            &[0x1D, 0x28, 0x6B, 4, 0, 49, 65, 50, 0][..],
            &[0x1D, 0x28, 0x6B, 3, 0, 49, 67, 6],
            &[0x1D, 0x28, 0x6B, 3, 0, 49, 69, 49],
            &[0x1D, 0x28, 0x6B, 6, 0, 49, 80, 48, b'A', b'B', b'C'],
            &[0x1D, 0x28, 0x6B, 3, 0, 49, 81, 48],
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(qr_code(b"", QrLevel::M, 6), Err(CommandError::QrEmpty));
        let long = vec![b'A'; MAX_QR_BYTES + 1];
        assert_eq!(
            qr_code(&long, QrLevel::M, 6),
            Err(CommandError::QrTooLong(MAX_QR_BYTES + 1))
        );
        assert_eq!(
            qr_code(b"A", QrLevel::M, 0),
            Err(CommandError::QrModuleSize(0))
        );
    }

    #[test]
    fn qr_length_bytes_for_long_payloads() {
        let data = vec![b'Z'; 300];
        let bytes = qr_code(&data, QrLevel::M, 4).unwrap_or_default();
        // The store function's pL pH: 303 = 0x012F.
        let store = &bytes[25..];
        assert_eq!(&store[..8], &[0x1D, 0x28, 0x6B, 0x2F, 0x01, 49, 80, 48]);
    }

    #[test]
    fn ean13_check_digit_is_validated() {
        assert!(ean13_barcode("3017620422003").is_ok());
        assert!(ean13_barcode("301762042200")
            .map(|b| b.ends_with(b"3017620422003"))
            .unwrap_or(false));
        assert!(ean13_barcode("3017620422004").is_err());
        assert!(ean13_barcode("30176204220A3").is_err());
    }
}

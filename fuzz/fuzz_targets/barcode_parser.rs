//! Arbitrary scans into the barcode parser: no panic, and whatever it accepts as EAN/UPC has a
//! valid check digit.
#![no_main]

use barcode::{Barcode, BarcodeConfig, MeasureKind, VariableLayout};
use libfuzzer_sys::fuzz_target;
use pos_format::barcode;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut config = BarcodeConfig::french_default();
    if let Ok(layout) = VariableLayout::new(4, 5, MeasureKind::PriceCents, true) {
        if let Ok(with_check) = config.clone().with_layout(23, layout) {
            config = with_check;
        }
    }
    match barcode::parse(text, &config) {
        Ok(Barcode::Ean13 { code, .. }) | Ok(Barcode::VariableMeasure { code, .. }) => {
            assert_eq!(code.len(), 13);
            assert!(barcode::has_valid_check_digit(&code));
        }
        Ok(Barcode::Ean8 { code }) => assert!(barcode::has_valid_check_digit(&code)),
        Ok(Barcode::Opaque(code)) => assert!(!code.is_empty()),
        Err(_) => {}
    }
});

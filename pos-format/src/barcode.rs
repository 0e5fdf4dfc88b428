//! Barcode parsing: EAN-13, EAN-8, UPC-A (normalized to EAN-13) with check-digit validation,
//! variable-measure EAN-13 (prefixes 20-29) with a layout configured per prefix, and other
//! symbologies passed through as opaque codes.
//!
//! Pure functions, no I/O: the daemon's catalog and the scanner readers both call [`parse`].
//! A code that looks like an EAN/UPC (8, 12 or 13 digits) but has a wrong check digit is an
//! error, never a guess: a misread must not sell the wrong product.

use std::fmt;

use thiserror::Error;

/// Longest scan accepted, in bytes. Real symbologies stay far below (a QR code excepted, which a
/// till does not use for products); anything longer is a reader fault or noise.
pub const MAX_BARCODE_LEN: usize = 256;

/// First and last variable-measure (restricted circulation) EAN-13 prefix.
pub const VARIABLE_MEASURE_PREFIXES: std::ops::RangeInclusive<u8> = 20..=29;

/// Why a scan is not a usable barcode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BarcodeError {
    /// Nothing left once surrounding whitespace is removed.
    #[error("empty barcode")]
    Empty,
    /// Longer than [`MAX_BARCODE_LEN`].
    #[error("barcode of {len} bytes is longer than the {MAX_BARCODE_LEN} allowed")]
    TooLong {
        /// Length of the scan in bytes.
        len: usize,
    },
    /// A control character (or other non-printable) inside the code.
    #[error("barcode contains the non-printable character U+{0:04X}")]
    NonPrintable(u32),
    /// The EAN/UPC check digit does not match the other digits.
    #[error("{symbology} check digit is {found}, expected {expected}")]
    CheckDigit {
        /// EAN-13, EAN-8 or UPC-A.
        symbology: Symbology,
        /// Check digit computed from the other digits.
        expected: u8,
        /// Check digit the code carries.
        found: u8,
    },
    /// The price check digit inside a variable-measure code does not match its value.
    #[error("price check digit is {found}, expected {expected}")]
    PriceCheckDigit {
        /// Digit computed from the value.
        expected: u8,
        /// Digit the code carries.
        found: u8,
    },
}

/// A variable-measure layout that cannot describe an EAN-13.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutError {
    /// The prefix is outside 20-29.
    #[error("prefix {0} is not a variable-measure prefix (20-29)")]
    Prefix(u8),
    /// Item digits, value digits and the optional price check digit must fill the 10 digits
    /// between the prefix and the EAN check digit.
    #[error("item digits ({item}) + value digits ({value}) + price check ({check}) must be 10")]
    Width {
        /// Item code digits.
        item: u8,
        /// Value digits.
        value: u8,
        /// 1 with a price check digit, else 0.
        check: u8,
    },
    /// GS1 defines a price check digit only for 4- and 5-digit values.
    #[error("a price check digit needs a 4- or 5-digit value, not {0}")]
    PriceCheckWidth(u8),
}

/// The linear symbologies this module validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbology {
    /// 13 digits (and UPC-A after normalization).
    Ean13,
    /// 8 digits.
    Ean8,
    /// 12 digits, North American; stored as EAN-13 with a leading 0.
    UpcA,
}

impl fmt::Display for Symbology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Symbology::Ean13 => "EAN-13",
            Symbology::Ean8 => "EAN-8",
            Symbology::UpcA => "UPC-A",
        })
    }
}

/// What the value digits of a variable-measure code mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeasureKind {
    /// Price in cents (euro cents for France).
    PriceCents,
    /// Net weight in grams.
    WeightGrams,
}

/// The value read from a variable-measure code. Integers only: money is cents, weight grams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    /// Price in cents.
    PriceCents(i64),
    /// Weight in grams.
    WeightGrams(i64),
}

/// How one variable-measure prefix splits its 10 inner digits: `PP IIIII [K] VVVVV C` where `P`
/// is the prefix, `I` the item code, `K` an optional GS1 price check digit, `V` the value and `C`
/// the EAN-13 check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VariableLayout {
    item_digits: u8,
    value_digits: u8,
    kind: MeasureKind,
    price_check_digit: bool,
}

impl VariableLayout {
    /// A layout, checked to fill the 10 inner digits exactly.
    pub fn new(
        item_digits: u8,
        value_digits: u8,
        kind: MeasureKind,
        price_check_digit: bool,
    ) -> Result<Self, LayoutError> {
        let check = u8::from(price_check_digit);
        if item_digits
            .checked_add(value_digits)
            .and_then(|s| s.checked_add(check))
            != Some(10)
            || value_digits == 0
        {
            return Err(LayoutError::Width {
                item: item_digits,
                value: value_digits,
                check,
            });
        }
        if price_check_digit && !matches!(value_digits, 4 | 5) {
            return Err(LayoutError::PriceCheckWidth(value_digits));
        }
        Ok(Self {
            item_digits,
            value_digits,
            kind,
            price_check_digit,
        })
    }

    /// The common French layout `2F IIIII VVVVV C`: 5 item digits, 5 value digits, no price check.
    pub fn french(kind: MeasureKind) -> Self {
        Self {
            item_digits: 5,
            value_digits: 5,
            kind,
            price_check_digit: false,
        }
    }

    /// Item code digits.
    pub fn item_digits(&self) -> u8 {
        self.item_digits
    }

    /// Value digits.
    pub fn value_digits(&self) -> u8 {
        self.value_digits
    }

    /// What the value means.
    pub fn kind(&self) -> MeasureKind {
        self.kind
    }

    /// Whether a GS1 price check digit sits between item and value.
    pub fn price_check_digit(&self) -> bool {
        self.price_check_digit
    }
}

/// Which variable-measure prefixes the store uses, and how. Prefixes without a layout are plain
/// (store-internal) EAN-13 codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BarcodeConfig {
    layouts: [Option<VariableLayout>; 10],
}

impl BarcodeConfig {
    /// No variable-measure prefix configured.
    pub fn new() -> Self {
        Self::default()
    }

    /// A common French shop: 20-24 weight in grams, 25-29 price in cents, `2F IIIII VVVVV C`.
    /// Scales differ: real shops should configure what their scale prints.
    pub fn french_default() -> Self {
        let mut config = Self::new();
        for prefix in VARIABLE_MEASURE_PREFIXES {
            let kind = if prefix < 25 {
                MeasureKind::WeightGrams
            } else {
                MeasureKind::PriceCents
            };
            config.layouts[usize::from(prefix - 20)] = Some(VariableLayout::french(kind));
        }
        config
    }

    /// Sets (or replaces) the layout of one prefix (20-29).
    pub fn with_layout(mut self, prefix: u8, layout: VariableLayout) -> Result<Self, LayoutError> {
        if !VARIABLE_MEASURE_PREFIXES.contains(&prefix) {
            return Err(LayoutError::Prefix(prefix));
        }
        self.layouts[usize::from(prefix - 20)] = Some(layout);
        Ok(self)
    }

    /// The layout of a prefix, if configured.
    pub fn layout(&self, prefix: u8) -> Option<&VariableLayout> {
        if VARIABLE_MEASURE_PREFIXES.contains(&prefix) {
            self.layouts[usize::from(prefix - 20)].as_ref()
        } else {
            None
        }
    }
}

/// A parsed scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Barcode {
    /// A valid EAN-13; UPC-A codes arrive here with a leading `0`.
    Ean13 {
        /// The 13 digits.
        code: String,
        /// What was scanned: EAN-13 or UPC-A.
        scanned_as: Symbology,
    },
    /// A valid EAN-8.
    Ean8 {
        /// The 8 digits.
        code: String,
    },
    /// A valid variable-measure EAN-13 whose prefix has a configured layout.
    VariableMeasure {
        /// The 13 digits as scanned.
        code: String,
        /// 20-29.
        prefix: u8,
        /// Item code digits (leading zeros kept: they are part of the key).
        item: String,
        /// Price or weight.
        measure: Measure,
    },
    /// Anything else (Code 128, Code 39, QR, GTIN-14...), passed through unchanged.
    Opaque(String),
}

impl Barcode {
    /// The key to look a product up by: the EAN-13/EAN-8 digits, the prefix and item code of a
    /// variable-measure code (e.g. `21` + `23450`), or the opaque text.
    pub fn lookup_key(&self) -> String {
        match self {
            Barcode::Ean13 { code, .. } | Barcode::Ean8 { code } => code.clone(),
            Barcode::VariableMeasure { prefix, item, .. } => format!("{prefix}{item}"),
            Barcode::Opaque(text) => text.clone(),
        }
    }
}

/// Parses one scan (surrounding ASCII whitespace is ignored).
pub fn parse(input: &str, config: &BarcodeConfig) -> Result<Barcode, BarcodeError> {
    if input.len() > MAX_BARCODE_LEN {
        return Err(BarcodeError::TooLong { len: input.len() });
    }
    let text = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return Err(BarcodeError::Empty);
    }
    if let Some(bad) = text.chars().find(|c| c.is_control()) {
        return Err(BarcodeError::NonPrintable(u32::from(bad)));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Barcode::Opaque(text.to_owned()));
    }
    match text.len() {
        8 => {
            validate_check_digit(text, Symbology::Ean8)?;
            Ok(Barcode::Ean8 {
                code: text.to_owned(),
            })
        }
        12 => {
            validate_check_digit(text, Symbology::UpcA)?;
            Ok(Barcode::Ean13 {
                code: format!("0{text}"),
                scanned_as: Symbology::UpcA,
            })
        }
        13 => {
            validate_check_digit(text, Symbology::Ean13)?;
            parse_ean13(text, config)
        }
        _ => Ok(Barcode::Opaque(text.to_owned())),
    }
}

fn parse_ean13(code: &str, config: &BarcodeConfig) -> Result<Barcode, BarcodeError> {
    let digits = digits(code);
    let prefix = digits[0] * 10 + digits[1];
    let Some(layout) = config.layout(prefix) else {
        return Ok(Barcode::Ean13 {
            code: code.to_owned(),
            scanned_as: Symbology::Ean13,
        });
    };
    let item_end = 2 + usize::from(layout.item_digits);
    let value_start = item_end + usize::from(layout.price_check_digit);
    let value_digits = &digits[value_start..12];
    if layout.price_check_digit {
        let expected = price_check_digit(value_digits);
        let found = digits[item_end];
        if expected != Some(found) {
            return Err(BarcodeError::PriceCheckDigit {
                expected: expected.unwrap_or(0),
                found,
            });
        }
    }
    // At most 9 digits (the layout keeps 10 inner digits): no overflow in an i64.
    let value = value_digits
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(*d));
    let measure = match layout.kind {
        MeasureKind::PriceCents => Measure::PriceCents(value),
        MeasureKind::WeightGrams => Measure::WeightGrams(value),
    };
    Ok(Barcode::VariableMeasure {
        code: code.to_owned(),
        prefix,
        item: code[2..item_end].to_owned(),
        measure,
    })
}

fn digits(code: &str) -> Vec<u8> {
    code.bytes().map(|b| b - b'0').collect()
}

fn validate_check_digit(code: &str, symbology: Symbology) -> Result<(), BarcodeError> {
    let digits = digits(code);
    let (body, check) = digits.split_at(digits.len() - 1);
    let expected = check_digit(body);
    if expected != check[0] {
        return Err(BarcodeError::CheckDigit {
            symbology,
            expected,
            found: check[0],
        });
    }
    Ok(())
}

/// The GS1 mod-10 check digit of an EAN/UPC body (every digit but the check digit): weights
/// 3, 1, 3, ... starting from the digit next to the check digit. Digits above 9 are a caller bug
/// and are taken modulo 10.
pub fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d % 10) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Whether a string of digits ends with its correct GS1 check digit (EAN-13, EAN-8, UPC-A,
/// GTIN-14). False for anything that is not 2 or more ASCII digits.
pub fn has_valid_check_digit(code: &str) -> bool {
    code.len() >= 2
        && code.bytes().all(|b| b.is_ascii_digit())
        && validate_check_digit(code, Symbology::Ean13).is_ok()
}

// GS1 General Specifications, price check digit weighting factors (index = digit).
const W2_MINUS: [u8; 10] = [0, 2, 4, 6, 8, 9, 1, 3, 5, 7];
const W3: [u8; 10] = [0, 3, 6, 9, 2, 5, 8, 1, 4, 7];
const W5_PLUS: [u8; 10] = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9];
const W5_MINUS: [u8; 10] = [0, 5, 9, 4, 8, 3, 7, 2, 6, 1];

/// The GS1 price check digit of a 4- or 5-digit value; `None` for other lengths.
pub fn price_check_digit(value: &[u8]) -> Option<u8> {
    let w = |table: &[u8; 10], d: u8| u32::from(table[usize::from(d % 10)]);
    match value {
        [a, b, c, d] => {
            let sum = w(&W2_MINUS, *a) + w(&W2_MINUS, *b) + w(&W3, *c) + w(&W5_MINUS, *d);
            Some(((sum * 3) % 10) as u8)
        }
        [a, b, c, d, e] => {
            let sum = w(&W5_PLUS, *a)
                + w(&W2_MINUS, *b)
                + w(&W5_MINUS, *c)
                + w(&W5_PLUS, *d)
                + w(&W2_MINUS, *e);
            let target = ((10 - sum % 10) % 10) as u8;
            // W5_MINUS is a permutation of 0-9, so exactly one digit maps to `target`.
            W5_MINUS.iter().position(|&p| p == target).map(|i| i as u8)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_check(body: &str) -> String {
        format!("{body}{}", check_digit(&digits(body)))
    }

    #[test]
    fn reference_examples_are_valid() {
        let config = BarcodeConfig::new();
        assert_eq!(
            parse("3017620422003", &config),
            Ok(Barcode::Ean13 {
                code: "3017620422003".into(),
                scanned_as: Symbology::Ean13
            })
        );
        assert_eq!(
            parse("96385074", &config),
            Ok(Barcode::Ean8 {
                code: "96385074".into()
            })
        );
        assert!(has_valid_check_digit("2123450012503"));
    }

    #[test]
    fn french_weight_label() {
        let config = BarcodeConfig::french_default();
        let parsed = parse("2123450012503", &config);
        assert_eq!(
            parsed,
            Ok(Barcode::VariableMeasure {
                code: "2123450012503".into(),
                prefix: 21,
                item: "23450".into(),
                measure: Measure::WeightGrams(1250),
            })
        );
        assert_eq!(parsed.map(|b| b.lookup_key()), Ok("2123450".into()));
    }

    #[test]
    fn price_prefix_and_unconfigured_prefix() {
        let code = with_check("280004201999");
        let config = BarcodeConfig::french_default();
        assert!(matches!(
            parse(&code, &config),
            Ok(Barcode::VariableMeasure {
                measure: Measure::PriceCents(1999),
                ..
            })
        ));
        assert!(matches!(
            parse(&code, &BarcodeConfig::new()),
            Ok(Barcode::Ean13 { .. })
        ));
    }

    #[test]
    fn upc_a_is_normalized() {
        // 036000291452: a well-known valid UPC-A.
        assert_eq!(
            parse("036000291452", &BarcodeConfig::new()),
            Ok(Barcode::Ean13 {
                code: "0036000291452".into(),
                scanned_as: Symbology::UpcA
            })
        );
    }

    #[test]
    fn bad_check_digit_is_an_error() {
        assert_eq!(
            parse("3017620422004", &BarcodeConfig::new()),
            Err(BarcodeError::CheckDigit {
                symbology: Symbology::Ean13,
                expected: 3,
                found: 4
            })
        );
        assert!(matches!(
            parse("96385075", &BarcodeConfig::new()),
            Err(BarcodeError::CheckDigit {
                symbology: Symbology::Ean8,
                ..
            })
        ));
    }

    #[test]
    fn opaque_and_bad_input() {
        let config = BarcodeConfig::new();
        assert_eq!(
            parse(" ABC-123\r\n", &config),
            Ok(Barcode::Opaque("ABC-123".into()))
        );
        assert_eq!(parse("12345", &config), Ok(Barcode::Opaque("12345".into())));
        assert_eq!(parse(" \r\n", &config), Err(BarcodeError::Empty));
        assert_eq!(
            parse("AB\x07C", &config),
            Err(BarcodeError::NonPrintable(7))
        );
        let long = "1".repeat(MAX_BARCODE_LEN + 1);
        assert!(matches!(
            parse(&long, &config),
            Err(BarcodeError::TooLong { .. })
        ));
    }

    #[test]
    fn gs1_price_check_examples() {
        // GS1 General Specifications worked examples.
        assert_eq!(price_check_digit(&[2, 8, 7, 5]), Some(9));
        assert_eq!(price_check_digit(&[1, 4, 6, 8, 5]), Some(6));
        assert_eq!(price_check_digit(&[1, 2, 3]), None);
    }

    #[test]
    fn layout_with_price_check_digit() {
        let layout = VariableLayout::new(4, 5, MeasureKind::PriceCents, true);
        let config = BarcodeConfig::new()
            .with_layout(23, layout.unwrap())
            .unwrap();
        let good = with_check("231234614685");
        assert!(matches!(
            parse(&good, &config),
            Ok(Barcode::VariableMeasure { measure: Measure::PriceCents(14685), ref item, .. }) if item == "1234"
        ));
        let bad = with_check("231234514685");
        assert_eq!(
            parse(&bad, &config),
            Err(BarcodeError::PriceCheckDigit {
                expected: 6,
                found: 5
            })
        );
    }

    #[test]
    fn invalid_layouts() {
        assert_eq!(
            VariableLayout::new(5, 4, MeasureKind::PriceCents, false),
            Err(LayoutError::Width {
                item: 5,
                value: 4,
                check: 0
            })
        );
        assert_eq!(
            VariableLayout::new(4, 6, MeasureKind::PriceCents, true),
            Err(LayoutError::Width {
                item: 4,
                value: 6,
                check: 1
            })
        );
        assert_eq!(
            VariableLayout::new(3, 6, MeasureKind::PriceCents, true),
            Err(LayoutError::PriceCheckWidth(6))
        );
        assert_eq!(
            BarcodeConfig::new().with_layout(30, VariableLayout::french(MeasureKind::PriceCents)),
            Err(LayoutError::Prefix(30))
        );
    }

    proptest! {
        #[test]
        fn appended_check_digit_always_validates(body in "[0-9]{12}") {
            let code = with_check(&body);
            prop_assert!(has_valid_check_digit(&code));
            prop_assert!(parse(&code, &BarcodeConfig::french_default()).is_ok());
        }

        #[test]
        fn any_single_digit_error_is_caught(body in "[0-9]{12}", pos in 0usize..13, delta in 1u8..10) {
            let code = with_check(&body);
            let mut bytes = code.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let corrupted = String::from_utf8(bytes).unwrap();
            let is_check_error = matches!(
                parse(&corrupted, &BarcodeConfig::french_default()),
                Err(BarcodeError::CheckDigit { .. })
            );
            prop_assert!(is_check_error);
        }

        #[test]
        fn ean8_and_upc_round_trip(body7 in "[0-9]{7}", body11 in "[0-9]{11}") {
            let ean8 = with_check(&body7);
            prop_assert_eq!(parse(&ean8, &BarcodeConfig::new()), Ok(Barcode::Ean8 { code: ean8.clone() }));
            let upc = with_check(&body11);
            let parsed = parse(&upc, &BarcodeConfig::new());
            prop_assert_eq!(parsed, Ok(Barcode::Ean13 { code: format!("0{upc}"), scanned_as: Symbology::UpcA }));
            // The normalized code is itself a valid EAN-13.
            let normalized = format!("0{upc}");
            prop_assert!(has_valid_check_digit(&normalized));
        }

        #[test]
        fn variable_measure_value_round_trips(prefix in 20u8..=29, item in 0u32..100_000, value in 0i64..100_000) {
            let code = with_check(&format!("{prefix}{item:05}{value:05}"));
            let parsed = parse(&code, &BarcodeConfig::french_default());
            let expected = if prefix < 25 { Measure::WeightGrams(value) } else { Measure::PriceCents(value) };
            prop_assert_eq!(parsed, Ok(Barcode::VariableMeasure {
                code: code.clone(), prefix, item: format!("{item:05}"), measure: expected,
            }));
        }

        #[test]
        fn price_check_digit_catches_single_changes(value in proptest::collection::vec(0u8..10, 4..=5), pos in 0usize..4, delta in 1u8..10) {
            let check = price_check_digit(&value);
            let mut changed = value.clone();
            changed[pos] = (changed[pos] + delta) % 10;
            prop_assert!(check.is_some());
            prop_assert_ne!(price_check_digit(&changed), check);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,40}") {
            let _ = parse(&input, &BarcodeConfig::french_default());
        }
    }
}

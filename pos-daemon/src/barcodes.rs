//! The shop's variable-measure barcode layouts (`[barcodes]` in the configuration): which GS1
//! prefixes (20-29) its scales print, weight or price, and how many digits hold the item and
//! the value. A product's own barcode that a scan matches whole wins over a layout
//! ([`crate::catalog::Catalog::lookup`]).

use pos_core::barcode::{BarcodeConfig, MeasureKind, VariableLayout};
use serde::{Deserialize, Serialize};

/// What a variable-measure code's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Net weight in grams.
    Weight,
    /// Price in cents.
    Price,
}

/// One layout: `prefix` (20 to 29), then `item_digits` digits of item code, an optional price
/// check digit, `value_digits` digits of value, and the EAN-13 check digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutConfig {
    /// The GS1 prefix, 20 to 29.
    pub prefix: u8,
    /// Weight or price.
    pub kind: ValueKind,
    /// Digits of item code (default 5).
    #[serde(default = "five")]
    pub item_digits: u8,
    /// Digits of value (default 5).
    #[serde(default = "five")]
    pub value_digits: u8,
    /// A GS1 price check digit between item and value (default false).
    #[serde(default)]
    pub price_check_digit: bool,
}

fn five() -> u8 {
    5
}

/// `[barcodes]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarcodesConfig {
    /// The layouts; prefixes not listed are plain in-store EAN-13 codes. Default: the common
    /// French scale labels, 20-24 weight in grams and 25-29 price in cents, `2P IIIII VVVVV C`.
    /// `variable_measure = []` reads every code whole.
    #[serde(default = "french_layouts")]
    pub variable_measure: Vec<LayoutConfig>,
}

impl Default for BarcodesConfig {
    fn default() -> Self {
        BarcodesConfig {
            variable_measure: french_layouts(),
        }
    }
}

fn french_layouts() -> Vec<LayoutConfig> {
    (20..=29)
        .map(|prefix| LayoutConfig {
            prefix,
            kind: if prefix < 25 {
                ValueKind::Weight
            } else {
                ValueKind::Price
            },
            item_digits: 5,
            value_digits: 5,
            price_check_digit: false,
        })
        .collect()
}

/// Why the variable-measure layouts are not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(pub String);

impl BarcodesConfig {
    /// The parser's configuration, or why the layouts are not usable (a prefix outside 20-29 or
    /// given twice, digits that do not fill the code).
    pub fn build(&self) -> Result<BarcodeConfig, LayoutError> {
        let mut config = BarcodeConfig::new();
        let mut seen = std::collections::BTreeSet::new();
        for l in &self.variable_measure {
            if !seen.insert(l.prefix) {
                return Err(LayoutError(format!(
                    "barcodes.variable_measure: prefix {} is given twice",
                    l.prefix
                )));
            }
            let kind = match l.kind {
                ValueKind::Weight => MeasureKind::WeightGrams,
                ValueKind::Price => MeasureKind::PriceCents,
            };
            let layout =
                VariableLayout::new(l.item_digits, l.value_digits, kind, l.price_check_digit)
                    .map_err(|e| {
                        LayoutError(format!(
                            "barcodes.variable_measure, prefix {}: {e}",
                            l.prefix
                        ))
                    })?;
            config = config
                .with_layout(l.prefix, layout)
                .map_err(|e| LayoutError(format!("barcodes.variable_measure: {e}")))?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_french_scale_layout() {
        assert_eq!(
            BarcodesConfig::default().build(),
            Ok(BarcodeConfig::french_default())
        );
    }

    #[test]
    fn layouts_are_checked() {
        let one = |prefix, item_digits, value_digits| BarcodesConfig {
            variable_measure: vec![LayoutConfig {
                prefix,
                kind: ValueKind::Price,
                item_digits,
                value_digits,
                price_check_digit: false,
            }],
        };
        assert!(one(21, 4, 6).build().is_ok());
        assert!(one(19, 5, 5).build().unwrap_err().0.contains("prefix"));
        assert!(one(21, 5, 6).build().is_err());
        let mut twice = one(21, 5, 5);
        twice
            .variable_measure
            .push(twice.variable_measure[0].clone());
        assert!(twice.build().unwrap_err().0.contains("twice"));
        let none = BarcodesConfig {
            variable_measure: Vec::new(),
        };
        assert_eq!(none.build(), Ok(BarcodeConfig::new()));
    }
}

//! The catalog: products, their barcodes, and how a scanned code or a sale line resolves to a
//! priced ticket line.

use pos_core::barcode::{self, Barcode, BarcodeConfig, Measure};
use pos_core::money::{Cents, Qty, VatRate};
use pos_core::ticket::{LineInput, MAX_SKU_LEN, MAX_UNIT_PRICE};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// At most this many barcodes per product.
pub const MAX_BARCODES_PER_PRODUCT: usize = 16;
/// At most this many products.
pub const MAX_PRODUCTS: usize = 100_000;

/// How a product is sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ProductUnit)]
pub enum Unit {
    /// By the piece.
    #[default]
    Piece,
    /// By weight; the price is per kilogram.
    Kg,
}

impl Unit {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Piece => "piece",
            Unit::Kg => "kg",
        }
    }
}

/// A product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Stock-keeping unit.
    pub sku: String,
    /// Label printed on receipts.
    pub label: String,
    /// Price incl. VAT in cents (per kg when sold by weight).
    pub price_cents: i64,
    /// VAT rate in hundredths of a percent.
    pub vat_rate: u32,
    /// Sold by piece or by weight.
    #[serde(default)]
    pub unit: Unit,
    /// Whether stock is tracked.
    #[serde(default)]
    pub track_stock: bool,
    /// Stock in thousandths (pieces or grams), when tracked.
    #[serde(default)]
    pub stock_milli: Option<i64>,
    /// Barcodes: EAN-13, EAN-8, UPC-A, any other text, or for variable-measure items the
    /// prefix and item code (`2123450`: prefix 21, item 23450).
    #[serde(default)]
    pub barcodes: Vec<String>,
    /// The category the till's product grid files it under (`null`: "Divers"); at most 40
    /// characters, no control characters.
    #[serde(default)]
    pub category: Option<String>,
}

/// What a barcode resolved to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Lookup {
    /// The product.
    pub product: Product,
    /// The code as scanned.
    pub code: String,
    /// Weight in grams read from a variable-measure code.
    pub weight_grams: Option<i64>,
    /// Price in cents read from a variable-measure code.
    pub price_cents: Option<i64>,
}

/// Why a code or a line does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The code cannot be parsed (bad check digit, too long...).
    #[error("bad barcode: {0}")]
    BadBarcode(String),
    /// No product has this code.
    #[error("no product has barcode {0}")]
    UnknownBarcode(String),
    /// No product has this SKU.
    #[error("unknown SKU {0:?}")]
    UnknownSku(String),
    /// The line is not usable as given.
    #[error("{0}")]
    BadLine(String),
    /// The product is not valid.
    #[error("{0}")]
    BadProduct(String),
}

/// The in-memory catalog used on the sale path.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    by_sku: HashMap<String, Product>,
    by_code: HashMap<String, String>,
}

/// The key a product's barcode is stored under: a whole EAN-13, UPC-A or EAN-8 code by its
/// digits, even when its prefix has a variable-measure layout (an in-store code printed for
/// that product wins over the layout); a variable-measure item's prefix and item code
/// (`2123450`) and any other text as they are.
pub fn code_key(code: &str) -> Result<String, CatalogError> {
    barcode::parse(code, &BarcodeConfig::new())
        .map(|b| b.lookup_key())
        .map_err(|e| CatalogError::BadBarcode(e.to_string()))
}

impl Catalog {
    /// Builds the catalog from products.
    pub fn new(products: Vec<Product>) -> Catalog {
        let mut c = Catalog::default();
        for p in products {
            c.insert(p);
        }
        c
    }

    /// Adds or replaces a product.
    pub fn insert(&mut self, p: Product) {
        if let Some(old) = self.by_sku.get(&p.sku) {
            let old_codes = old.barcodes.clone();
            for code in old_codes {
                if let Ok(key) = code_key(&code) {
                    self.by_code.remove(&key);
                }
            }
        }
        for code in &p.barcodes {
            if let Ok(key) = code_key(code) {
                self.by_code.insert(key, p.sku.clone());
            }
        }
        self.by_sku.insert(p.sku.clone(), p);
    }

    /// Every product, in no particular order.
    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.by_sku.values()
    }

    /// A product by SKU.
    pub fn get(&self, sku: &str) -> Option<&Product> {
        self.by_sku.get(sku)
    }

    /// Checks a product before it is stored: fields in range, VAT rate configured, barcodes
    /// valid and not used by another product.
    pub fn check(&self, p: &Product, rates: &[VatRate]) -> Result<(), CatalogError> {
        let bad = |m: String| Err(CatalogError::BadProduct(m));
        if p.sku.is_empty() || p.sku.len() > MAX_SKU_LEN || p.sku.chars().any(char::is_control) {
            return bad(format!("sku must be 1 to {MAX_SKU_LEN} printable bytes"));
        }
        // The journal's own rule for ticket text, checked here: a product it would refuse on
        // every sale is refused when it is saved.
        if let Err(e) = pos_core::ticket::check_text_field("label", &p.label) {
            return bad(e.to_string());
        }
        if !(0..=MAX_UNIT_PRICE).contains(&p.price_cents) {
            return bad(format!(
                "price_cents must be between 0 and {MAX_UNIT_PRICE}"
            ));
        }
        if let Some(c) = &p.category {
            if c.trim().is_empty()
                || c.chars().count() > MAX_CATEGORY_CHARS
                || c.chars().any(char::is_control)
            {
                return bad(format!(
                    "category must be 1 to {MAX_CATEGORY_CHARS} characters, none a control character"
                ));
            }
        }
        if !rates.contains(&VatRate(p.vat_rate)) {
            return bad(format!("VAT rate {} is not a configured rate", p.vat_rate));
        }
        if p.barcodes.len() > MAX_BARCODES_PER_PRODUCT {
            return bad(format!("at most {MAX_BARCODES_PER_PRODUCT} barcodes"));
        }
        if let Some(s) = p.stock_milli {
            if s.unsigned_abs() > 1 << 50 {
                return bad("stock_milli is out of range".into());
            }
        }
        for code in &p.barcodes {
            let key = code_key(code)?;
            if let Some(other) = self.by_code.get(&key) {
                if other != &p.sku {
                    return bad(format!("barcode {code} already belongs to {other}"));
                }
            }
        }
        if !self.by_sku.contains_key(&p.sku) && self.by_sku.len() >= MAX_PRODUCTS {
            return bad(format!("the catalog is full ({MAX_PRODUCTS} products)"));
        }
        Ok(())
    }

    /// Resolves a scanned code: a product's own code matched whole first, then the layout's
    /// reading (the item of a weight or price label).
    pub fn lookup(&self, code: &str, config: &BarcodeConfig) -> Result<Lookup, CatalogError> {
        if let Ok(whole) = barcode::parse(code, &BarcodeConfig::new()) {
            if let Some(product) = self
                .by_code
                .get(&whole.lookup_key())
                .and_then(|sku| self.by_sku.get(sku))
            {
                return Ok(Lookup {
                    product: product.clone(),
                    code: code.trim().to_string(),
                    weight_grams: None,
                    price_cents: None,
                });
            }
        }
        let parsed =
            barcode::parse(code, config).map_err(|e| CatalogError::BadBarcode(e.to_string()))?;
        let key = parsed.lookup_key();
        let product = self
            .by_code
            .get(&key)
            .and_then(|sku| self.by_sku.get(sku))
            .ok_or_else(|| CatalogError::UnknownBarcode(code.trim().to_string()))?;
        let (weight_grams, price_cents) = match parsed {
            Barcode::VariableMeasure {
                measure: Measure::WeightGrams(g),
                ..
            } => (Some(g), None),
            Barcode::VariableMeasure {
                measure: Measure::PriceCents(c),
                ..
            } => (None, Some(c)),
            _ => (None, None),
        };
        Ok(Lookup {
            product: product.clone(),
            code: code.trim().to_string(),
            weight_grams,
            price_cents,
        })
    }
}

/// A sale line as the till sends it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// The product's SKU (or give `barcode`).
    #[serde(default)]
    pub sku: Option<String>,
    /// A scanned code (or give `sku`).
    #[serde(default)]
    pub barcode: Option<String>,
    /// Pieces, for products sold by the piece (default 1; `null` is not a quantity).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = i64, minimum = 1)]
    pub quantity: Option<i64>,
    /// Grams, for products sold by weight (read from a weight-embedded code otherwise).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = i64, minimum = 1)]
    pub weight_grams: Option<i64>,
    /// Discount on the line, in cents.
    #[serde(default)]
    pub discount_cents: i64,
    /// A unit price other than the catalogue's, in cents incl. VAT (per kg when sold by
    /// weight): a price override, which takes a manager's approval; not with a price-embedded
    /// code (the scale priced it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = i64, minimum = 0)]
    pub unit_price_cents: Option<i64>,
}

/// An optional integer member: absent is `None` (through `#[serde(default)]`), but when given it
/// must be an integer; `null` is refused instead of read as absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    <i64 as serde::Deserialize>::deserialize(d).map(Some)
}

/// The longest category name, in characters (a tab of the till's product grid).
pub const MAX_CATEGORY_CHARS: usize = 40;

/// The largest quantity in pieces on one line.
pub const MAX_PIECES: i64 = pos_core::ticket::MAX_QUANTITY / 1000;

impl Catalog {
    /// Turns a request line into a ticket line.
    pub fn resolve_line(
        &self,
        index: usize,
        line: &LineRequest,
        config: &BarcodeConfig,
    ) -> Result<LineInput, CatalogError> {
        let bad = |m: String| CatalogError::BadLine(format!("line {index}: {m}"));
        let (product, weight, price) = match (&line.sku, &line.barcode) {
            (Some(sku), None) => {
                let p = self
                    .by_sku
                    .get(sku)
                    .ok_or_else(|| CatalogError::UnknownSku(sku.clone()))?;
                (p.clone(), None, None)
            }
            (None, Some(code)) => {
                let l = self.lookup(code, config)?;
                (l.product, l.weight_grams, l.price_cents)
            }
            _ => return Err(bad("give exactly one of `sku` and `barcode`".into())),
        };
        let mut input = LineInput {
            sku: product.sku.clone(),
            label: product.label.clone(),
            quantity: Qty::ONE,
            unit: pos_core::ticket::Unit::Piece,
            unit_price: Cents(product.price_cents),
            vat_rate: VatRate(product.vat_rate),
            discount: Cents(line.discount_cents),
        };
        if let Some(p) = line.unit_price_cents {
            if price.is_some() {
                return Err(bad("a price-embedded code carries its price".into()));
            }
            if !(0..=MAX_UNIT_PRICE).contains(&p) {
                return Err(bad(format!(
                    "unit_price_cents must be between 0 and {MAX_UNIT_PRICE}"
                )));
            }
            input.unit_price = Cents(p);
        }
        if let Some(p) = price {
            // A price-embedded code: the scale priced the item; one piece at that price.
            if line.quantity.is_some_and(|q| q != 1) || line.weight_grams.is_some() {
                return Err(bad("a price-embedded code is one item".into()));
            }
            input.unit_price = Cents(p);
            return Ok(input);
        }
        match product.unit {
            Unit::Piece => {
                if line.weight_grams.is_some() || weight.is_some() {
                    return Err(bad(format!("{} is sold by the piece", product.sku)));
                }
                let q = line.quantity.unwrap_or(1);
                if !(1..=MAX_PIECES).contains(&q) {
                    return Err(bad(format!(
                        "quantity {q} must be between 1 and {MAX_PIECES}"
                    )));
                }
                input.quantity = Qty::pieces(q);
            }
            Unit::Kg => {
                if line.quantity.is_some() {
                    return Err(bad(format!(
                        "{} is sold by weight: give weight_grams",
                        product.sku
                    )));
                }
                let g = match (line.weight_grams, weight) {
                    (Some(g), None) | (None, Some(g)) => g,
                    (Some(_), Some(_)) => {
                        return Err(bad("the code already carries the weight".into()))
                    }
                    (None, None) => return Err(bad("weight_grams is required".into())),
                };
                if !(1..=pos_core::ticket::MAX_QUANTITY).contains(&g) {
                    return Err(bad(format!("weight_grams {g} must be positive")));
                }
                input.quantity = Qty(g);
                input.unit = pos_core::ticket::Unit::Kg;
            }
        }
        Ok(input)
    }
}

//! Reading WooCommerce's answers leniently (ids and numbers as numbers or strings, money as
//! decimal strings), its dates, and what an order status does to stock.

use crate::connector::StockEffect;
use serde_json::Value;

/// An id that may be a number or a string; `None` for null, `""` or 0.
pub fn lenient_id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => n.as_u64().filter(|n| *n != 0).map(|n| n.to_string()),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() || s == "0" {
                None
            } else {
                Some(s.to_string())
            }
        }
        _ => None,
    }
}

/// An integer that may be a number, a string (`"3"`, `"3.0"`) or `""`.
pub fn lenient_int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f.round() as i64)
            })
        }
        _ => None,
    }
}

pub(super) fn lenient_str(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The most digits a money amount may have (more is not money: `None`).
const MAX_MONEY_DIGITS: usize = 30;

/// A decimal number held exactly: `mantissa * 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// The digits, with the sign.
    pub mantissa: i128,
    /// How many of the digits are decimals.
    pub scale: u32,
}

impl Decimal {
    /// Parses a decimal amount as WooCommerce sends money: a string (`"8.33"`, `"6.941667"`,
    /// `"-1.5"`, `" 12 "`) or a JSON number (`8.33`, `12`). `None` for `""`, null, garbage, or
    /// more than 30 digits. No floating point is involved: a JSON number is read from its
    /// decimal text.
    pub fn parse(v: Option<&Value>) -> Option<Decimal> {
        match v? {
            Value::String(s) => Decimal::parse_str(s),
            Value::Number(n) => Decimal::parse_str(&n.to_string()),
            _ => None,
        }
    }

    /// Parses `[+-]digits[.digits][e[+-]digits]` (surrounding spaces allowed).
    pub fn parse_str(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (neg, s) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (num, exp) = match s.find(['e', 'E']) {
            Some(i) => {
                let e: i32 = s[i + 1..].parse().ok()?;
                (&s[..i], e)
            }
            None => (s, 0),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let digits = int.len() + frac.len();
        if digits > MAX_MONEY_DIGITS || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa * 10 + i128::from(b - b'0');
        }
        // The exponent moves the decimal point: shift the mantissa or the scale.
        let mut scale = i64::try_from(frac.len()).ok()? - i64::from(exp);
        while scale < 0 {
            mantissa = mantissa.checked_mul(10)?;
            scale += 1;
        }
        let scale = u32::try_from(scale).ok().filter(|s| *s <= 60)?;
        if mantissa.unsigned_abs() >= 10u128.pow(MAX_MONEY_DIGITS as u32) {
            return None;
        }
        Some(Decimal {
            mantissa: if neg { -mantissa } else { mantissa },
            scale,
        })
    }

    /// The exact sum, or `None` if it cannot be held.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let a = self
            .mantissa
            .checked_mul(10i128.checked_pow(scale - self.scale)?)?;
        let b = other
            .mantissa
            .checked_mul(10i128.checked_pow(scale - other.scale)?)?;
        Some(Decimal {
            mantissa: a.checked_add(b)?,
            scale,
        })
    }

    /// Rounded to cents, half away from zero (`None` beyond `i64`).
    pub fn to_cents(self) -> Option<i64> {
        let cents = if self.scale <= 2 {
            self.mantissa.checked_mul(10i128.pow(2 - self.scale))?
        } else if self.scale - 2 > MAX_MONEY_DIGITS as u32 {
            // Fewer digits than decimals past the cents: well below half a cent.
            0
        } else {
            let d = 10i128.pow(self.scale - 2);
            let (q, r) = (self.mantissa / d, self.mantissa % d);
            if r.unsigned_abs() * 2 >= d.unsigned_abs() {
                q + self.mantissa.signum()
            } else {
                q
            }
        };
        i64::try_from(cents).ok()
    }
}

/// A money amount in cents (rounded half away from zero), leniently parsed (see
/// [`Decimal::parse`]).
pub fn lenient_cents(v: Option<&Value>) -> Option<i64> {
    Decimal::parse(v)?.to_cents()
}

/// What was paid for an order line, VAT included, in cents: its `total` (after discounts,
/// without tax) plus its `total_tax`, summed at full precision and rounded once. `None` unless
/// both are amounts.
pub fn line_paid_cents(line: &Value) -> Option<i64> {
    let total = Decimal::parse(line.get("total"))?;
    let tax = Decimal::parse(line.get("total_tax"))?;
    total.checked_add(tax)?.to_cents()
}

/// A WooCommerce `*_gmt` date (`2025-03-01T10:00:00`, no offset) as milliseconds since the
/// epoch; an offset or `Z`, if present, is honoured.
pub fn parse_gmt(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .ok()
        .map(|d| d.and_utc().timestamp_millis())
}

/// Formats a time (ms) the way `modified_after` expects it, in UTC.
pub fn format_gmt(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// The stock effect of a WooCommerce order status.
pub fn woo_effect(status: &str) -> StockEffect {
    match status {
        "processing" | "on-hold" | "completed" => StockEffect::Holds,
        "cancelled" | "pending" => StockEffect::Releases,
        _ => StockEffect::Keeps,
    }
}

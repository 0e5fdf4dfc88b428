//! Money, quantities and VAT rates as integers, with checked arithmetic and one rounding rule.
//!
//! - amounts are cents in an `i64` ([`Cents`]);
//! - quantities are thousandths in an `i64` ([`Qty`]): 1 piece is `1000`, 250 g is `250`;
//! - VAT rates are hundredths of a percent in a `u32` ([`VatRate`]): 20 % is `2000`.
//!
//! Every value that enters the journal must stay within [`MAX_JSON_INT`], the largest integer an
//! independent verifier can read exactly from JSON (RFC 8785 numbers are IEEE 754 doubles).
//!
//! **The one rounding rule**: a division is rounded to the nearest integer, halves away from zero
//! ([`div_round`]). It is symmetric (`div_round(-n, d) == -div_round(n, d)`), which is what makes a
//! full refund the exact negation of its sale.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest magnitude of an integer stored in a record body: 2^53 - 1.
pub const MAX_JSON_INT: i64 = (1 << 53) - 1;

/// Arithmetic left the range of `i64` or of [`MAX_JSON_INT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount overflow")]
pub struct Overflow;

/// An amount of money in cents (euro cents for a EUR journal). Negative for refunds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    /// Zero cents.
    pub const ZERO: Cents = Cents(0);

    /// `self + other`, or [`Overflow`] past [`MAX_JSON_INT`].
    pub fn checked_add(self, other: Cents) -> Result<Cents, Overflow> {
        self.0
            .checked_add(other.0)
            .map(Cents)
            .ok_or(Overflow)?
            .in_json_range()
    }

    /// `self - other`, or [`Overflow`] past [`MAX_JSON_INT`].
    pub fn checked_sub(self, other: Cents) -> Result<Cents, Overflow> {
        self.0
            .checked_sub(other.0)
            .map(Cents)
            .ok_or(Overflow)?
            .in_json_range()
    }

    /// The absolute value (saturating: `i64::MIN` gives `i64::MAX`).
    pub fn abs(self) -> Cents {
        Cents(self.0.saturating_abs())
    }

    /// `self` if its magnitude is at most [`MAX_JSON_INT`].
    pub fn in_json_range(self) -> Result<Cents, Overflow> {
        // `unsigned_abs`: `i64::MIN.abs()` would overflow.
        if self.0.unsigned_abs() <= MAX_JSON_INT as u64 {
            Ok(self)
        } else {
            Err(Overflow)
        }
    }

    /// Sums amounts with overflow checks.
    pub fn sum<I: IntoIterator<Item = Cents>>(items: I) -> Result<Cents, Overflow> {
        items
            .into_iter()
            .try_fold(Cents::ZERO, |acc, c| acc.checked_add(c))
    }
}

impl std::ops::Neg for Cents {
    type Output = Cents;
    /// `-self` (never overflows within the JSON range).
    fn neg(self) -> Cents {
        Cents(-self.0)
    }
}

impl fmt::Display for Cents {
    /// Formats as a decimal amount with two decimals and a dot: `-12.05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// A quantity in thousandths: pieces (`1000` = 1 piece) or weights (`1000` = 1 kg, `1` = 1 g).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Qty(pub i64);

impl Qty {
    /// One piece.
    pub const ONE: Qty = Qty(1000);

    /// Whole pieces.
    pub fn pieces(n: i64) -> Qty {
        Qty(n.saturating_mul(1000))
    }
}

impl fmt::Display for Qty {
    /// Formats with three decimals: `1.250`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:03}", abs / 1000, abs % 1000)
    }
}

/// A VAT rate in hundredths of a percent: `2000` is 20 %, `550` is 5.5 %.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct VatRate(pub u32);

impl VatRate {
    /// The largest accepted rate: 100 %.
    pub const MAX: VatRate = VatRate(10_000);
}

impl fmt::Display for VatRate {
    /// Formats as a percentage without trailing zeros: `20`, `5.5`, `2.1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 100;
        let frac = self.0 % 100;
        if frac == 0 {
            write!(f, "{whole}")
        } else if frac.is_multiple_of(10) {
            write!(f, "{whole}.{}", frac / 10)
        } else {
            write!(f, "{whole}.{frac:02}")
        }
    }
}

/// `n / d` rounded to the nearest integer, halves away from zero. `d` must be positive.
pub fn div_round(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0, "division by a non-positive number");
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// Converts an `i128` intermediate back to cents within [`MAX_JSON_INT`].
pub fn to_cents(v: i128) -> Result<Cents, Overflow> {
    i64::try_from(v)
        .map_err(|_| Overflow)
        .map(Cents)?
        .in_json_range()
}

/// The price of `qty` at `unit_price` per unit (per kg for weights), rounded by [`div_round`].
pub fn extend(qty: Qty, unit_price: Cents) -> Result<Cents, Overflow> {
    to_cents(div_round(
        i128::from(qty.0) * i128::from(unit_price.0),
        1000,
    ))
}

/// The VAT included in `gross` at `rate`: `gross * rate / (10000 + rate)`, rounded by
/// [`div_round`].
pub fn vat_included(gross: Cents, rate: VatRate) -> Cents {
    let rate = i128::from(rate.0);
    // |gross| <= 2^53 and rate <= 10^4 cannot overflow i128, and the result is smaller than gross.
    Cents(div_round(i128::from(gross.0) * rate, 10_000 + rate) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(div_round(5, 10), 1);
        assert_eq!(div_round(-5, 10), -1);
        assert_eq!(div_round(4, 10), 0);
        assert_eq!(div_round(-4, 10), 0);
        assert_eq!(div_round(15, 10), 2);
        assert_eq!(div_round(-15, 10), -2);
        assert_eq!(div_round(14, 10), 1);
    }

    #[test]
    fn vat_of_french_rates() {
        // 12.00 incl. 20 % VAT holds 2.00 of VAT.
        assert_eq!(vat_included(Cents(1200), VatRate(2000)), Cents(200));
        // 1.00 incl. 5.5 % holds 0.0521... -> 5 cents.
        assert_eq!(vat_included(Cents(100), VatRate(550)), Cents(5));
        assert_eq!(vat_included(Cents(-100), VatRate(550)), Cents(-5));
    }

    #[test]
    fn display() {
        assert_eq!(Cents(-1205).to_string(), "-12.05");
        assert_eq!(Cents(7).to_string(), "0.07");
        assert_eq!(Qty(1250).to_string(), "1.250");
        assert_eq!(VatRate(550).to_string(), "5.5");
        assert_eq!(VatRate(210).to_string(), "2.1");
        assert_eq!(VatRate(2000).to_string(), "20");
        assert_eq!(VatRate(1025).to_string(), "10.25");
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(Cents(MAX_JSON_INT).checked_add(Cents(1)), Err(Overflow));
        assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), Err(Overflow));
        assert!(extend(Qty(i64::MAX), Cents(i64::MAX)).is_err());
        assert_eq!(Cents(i64::MIN).in_json_range(), Err(Overflow));
        assert_eq!(Cents(i64::MIN + 1).checked_add(Cents(-1)), Err(Overflow));
    }
}

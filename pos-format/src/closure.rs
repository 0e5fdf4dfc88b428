//! Closure bodies (the Z): the period closed, its totals, the perpetual grand totals.
//!
//! What a closure must total and when one is due are the fiscal rules' (pos-core's `closure`
//! state machine); this module is the signed schema and the arithmetic of totals.

use crate::money::{Cents, Overflow, VatRate};
use crate::ticket::{PaymentMethod, RefundBody, SaleBody, VatTotal};
use serde::{Deserialize, Serialize};

/// Which period a closure closes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One business day.
    Day,
    /// One calendar month.
    Month,
    /// One fiscal year.
    Year,
    /// One week: the period between the day and the year of rules that close weeks instead
    /// of months (the French rules never write it).
    Week,
}

impl Period {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
            Period::Year => "year",
            Period::Week => "week",
        }
    }
}

/// A payment method's total over a period: amounts paid minus change given.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentTotal {
    /// The method.
    pub method: PaymentMethod,
    /// Net amount.
    pub amount: Cents,
}

/// Totals of a period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Sale tickets.
    pub sales: u64,
    /// Refund tickets.
    pub refunds: u64,
    /// Per VAT rate, highest rate first.
    pub vat: Vec<VatTotal>,
    /// Per payment method, in [`PaymentMethod::ALL`] order; cash is net of change.
    pub payments: Vec<PaymentTotal>,
    /// The period grand total incl. VAT (sales plus refunds).
    pub total: Cents,
    /// The sum of the absolute values of ticket totals.
    pub absolute_total: Cents,
}

impl Totals {
    fn add_vat(&mut self, lines: &[VatTotal]) -> Result<(), Overflow> {
        for v in lines {
            match self.vat.iter_mut().find(|t| t.rate == v.rate) {
                Some(t) => {
                    t.net = t.net.checked_add(v.net)?;
                    t.vat = t.vat.checked_add(v.vat)?;
                    t.gross = t.gross.checked_add(v.gross)?;
                }
                None => self.vat.push(*v),
            }
        }
        self.vat.sort_by_key(|t| std::cmp::Reverse(t.rate));
        Ok(())
    }

    fn add_payment(&mut self, method: PaymentMethod, amount: Cents) -> Result<(), Overflow> {
        match self.payments.iter_mut().find(|p| p.method == method) {
            Some(p) => p.amount = p.amount.checked_add(amount)?,
            None => self.payments.push(PaymentTotal { method, amount }),
        }
        self.payments
            .sort_by_key(|p| PaymentMethod::ALL.iter().position(|m| *m == p.method));
        Ok(())
    }

    /// Adds a sale.
    pub fn add_sale(&mut self, s: &SaleBody) -> Result<(), Overflow> {
        self.sales += 1;
        self.add_vat(&s.vat)?;
        for p in &s.payments {
            self.add_payment(p.method, p.amount)?;
        }
        if s.change != Cents::ZERO {
            self.add_payment(PaymentMethod::Cash, -s.change)?;
        }
        self.total = self.total.checked_add(s.total)?;
        self.absolute_total = self.absolute_total.checked_add(s.total.abs())?;
        Ok(())
    }

    /// Adds a refund (its amounts are negative).
    pub fn add_refund(&mut self, r: &RefundBody) -> Result<(), Overflow> {
        self.refunds += 1;
        self.add_vat(&r.vat)?;
        for p in &r.payments {
            self.add_payment(p.method, p.amount)?;
        }
        self.total = self.total.checked_add(r.total)?;
        self.absolute_total = self.absolute_total.checked_add(r.total.abs())?;
        Ok(())
    }

    /// Adds another period's totals.
    pub fn add(&mut self, o: &Totals) -> Result<(), Overflow> {
        self.sales += o.sales;
        self.refunds += o.refunds;
        self.add_vat(&o.vat)?;
        for p in &o.payments {
            self.add_payment(p.method, p.amount)?;
        }
        self.total = self.total.checked_add(o.total)?;
        self.absolute_total = self.absolute_total.checked_add(o.absolute_total)?;
        Ok(())
    }
}

/// The body of a `closure` record.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    /// Day, month or fiscal year.
    pub period: Period,
    /// First local date of the period (`YYYY-MM-DD`).
    pub start: String,
    /// Last local date of the period, inclusive.
    pub end: String,
    /// First sequence number covered.
    pub first_seq: u64,
    /// Last sequence number covered.
    pub last_seq: u64,
    /// Hash (hex) of the record at `last_seq`.
    pub last_hash: String,
    /// The period's totals.
    pub totals: Totals,
    /// Grand total since the journal opened, never reset.
    pub perpetual_total: Cents,
    /// Sum of absolute ticket totals since the journal opened, never reset.
    pub perpetual_absolute_total: Cents,
    /// Written automatically (a record arrived on a later day) rather than on demand.
    pub automatic: bool,
    /// A day closure written during its own day (a Z before the day is over): the records
    /// after it open another part of the same day instead of the next day. Absent (false)
    /// otherwise, and in every closure of journals written before it existed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub continues: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Returns the names of the fields where two closure bodies differ.
pub fn differences(stored: &ClosureBody, expected: &ClosureBody) -> Vec<&'static str> {
    let mut out = Vec::new();
    let checks: [(&'static str, bool); 11] = [
        ("period", stored.period == expected.period),
        ("start", stored.start == expected.start),
        ("end", stored.end == expected.end),
        ("first_seq", stored.first_seq == expected.first_seq),
        ("last_seq", stored.last_seq == expected.last_seq),
        ("last_hash", stored.last_hash == expected.last_hash),
        ("totals", stored.totals == expected.totals),
        (
            "perpetual_total",
            stored.perpetual_total == expected.perpetual_total,
        ),
        (
            "perpetual_absolute_total",
            stored.perpetual_absolute_total == expected.perpetual_absolute_total,
        ),
        ("automatic", stored.automatic == expected.automatic),
        ("continues", stored.continues == expected.continues),
    ];
    for (name, same) in checks {
        if !same {
            out.push(name);
        }
    }
    out
}

/// The VAT rates referenced in a period's totals (for reports).
pub fn rates_of(t: &Totals) -> Vec<VatRate> {
    t.vat.iter().map(|v| v.rate).collect()
}

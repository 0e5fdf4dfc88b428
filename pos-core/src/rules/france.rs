//! The French rules (CGI art. 286-I-3° bis, NF525): a SIRET in the opening, the technical
//! event table (JET), day, month and fiscal-year closures in the register's time zone.

use super::calendar::{Calendar, MonthCalendar};
use super::fiscal::FiscalRules;
use crate::closure::ClosureError;
use crate::keys::PublicKey;
use pos_format::body::{OpeningBody, DEFAULT_FISCAL_RULES};
use pos_format::events;
use pos_format::money::VatRate;
use std::sync::Arc;

/// The French rules: the default of every journal.
#[derive(Debug, Clone, Copy, Default)]
pub struct France;

impl FiscalRules for France {
    fn id(&self) -> &str {
        DEFAULT_FISCAL_RULES
    }

    fn validate_opening(&self, opening: &OpeningBody) -> Result<(), String> {
        validate_identity(opening)?;
        let m = &opening.merchant;
        if m.siret.len() != 14 || !m.siret.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("SIRET {:?} must be 14 digits", m.siret));
        }
        validate_terms(opening)
    }

    fn is_known_event(&self, code: &str) -> bool {
        events::is_known(code)
    }

    fn calendar(&self, opening: &OpeningBody) -> Result<Arc<dyn Calendar>, ClosureError> {
        Ok(Arc::new(month_calendar(opening)?))
    }
}

/// The calendar of months and fiscal years of an opening's time zone and first month.
pub fn month_calendar(opening: &OpeningBody) -> Result<MonthCalendar, ClosureError> {
    let tz = opening
        .time_zone
        .parse::<chrono_tz::Tz>()
        .map_err(|_| ClosureError::TimeZone(opening.time_zone.clone()))?;
    Ok(MonthCalendar {
        tz,
        fiscal_year_start_month: opening.fiscal_year_start_month.clamp(1, 12),
    })
}

/// The identity checks every rules need: names within bounds, a register id fit for receipt
/// strings.
pub fn validate_identity(opening: &OpeningBody) -> Result<(), String> {
    let m = &opening.merchant;
    for (field, value) in [
        ("merchant name", &m.name),
        ("merchant address", &m.address),
        ("register id", &opening.register_id),
        ("software name", &opening.software.name),
        ("software version", &opening.software.version),
    ] {
        if value.trim().is_empty() || value.len() > 256 {
            return Err(format!("{field} must be 1 to 256 bytes"));
        }
    }
    if opening.register_id.contains(['*', '~']) {
        // They separate the fields of receipt and anchor QR strings.
        return Err("the register id must not contain '*' or '~'".into());
    }
    Ok(())
}

/// The checks after the merchant's registration number: VAT id, time zone, currency, fiscal
/// year, VAT rates, the key.
pub fn validate_terms(opening: &OpeningBody) -> Result<(), String> {
    if opening.merchant.vat_id.len() > 32 {
        return Err("VAT id is too long".into());
    }
    if opening.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(format!("{:?} is not an IANA time zone", opening.time_zone));
    }
    if opening.currency.len() != 3 || !opening.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "currency {:?} is not an ISO 4217 code",
            opening.currency
        ));
    }
    if !(1..=12).contains(&opening.fiscal_year_start_month) {
        return Err("the fiscal year's first month must be 1 to 12".into());
    }
    if opening.vat_rates.is_empty() {
        return Err("at least one VAT rate is needed".into());
    }
    let mut sorted = opening.vat_rates.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != opening.vat_rates.len() || sorted.iter().any(|r| *r > VatRate::MAX) {
        return Err("VAT rates must be distinct and at most 100 %".into());
    }
    PublicKey::decode(&opening.key).map_err(|e| e.to_string())?;
    Ok(())
}

//! Record bodies ([`pos_format::body`], re-exported) and the checks of an opening's identity.

pub use pos_format::body::*;

use crate::keys::PublicKey;
use crate::money::VatRate;

/// Checks the identity fields of an opening; returns what is wrong.
pub fn validate_opening(opening: &OpeningBody) -> Result<(), String> {
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
    if m.siret.len() != 14 || !m.siret.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("SIRET {:?} must be 14 digits", m.siret));
    }
    if m.vat_id.len() > 32 {
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

//! The VAT rates in force: the opening's, replaced by each `configuration_changed` event that
//! sets them (`details`: `setting` = `vat_rates`, `new` = the rates as `2000,1000,550`).

use pos_format::body::EventBody;
use pos_format::events;
use pos_format::money::VatRate;

/// The VAT rates a `configuration_changed` event sets, if it sets them.
pub fn vat_rates_set_by(e: &EventBody) -> Option<Vec<VatRate>> {
    if e.code != events::CONFIGURATION_CHANGED
        || e.details.get("setting").map(String::as_str) != Some("vat_rates")
    {
        return None;
    }
    parse_rates(e.details.get("new")?)
}

/// Formats rates as stored in events: `2000,1000,550`.
pub fn format_rates(rates: &[VatRate]) -> String {
    rates
        .iter()
        .map(|r| r.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_rates(text: &str) -> Option<Vec<VatRate>> {
    text.split(',')
        .map(|p| p.trim().parse::<u32>().ok().map(VatRate))
        .collect()
}

//! Timestamps as people read them.

use chrono::{DateTime, TimeZone, Utc};

/// Formats UTC milliseconds as `2026-03-01 10:15:02 UTC`, or in the journal's zone when given
/// (`2026-03-01 11:15:02 Europe/Paris`).
pub fn format_time(ms: i64, zone: Option<&str>) -> String {
    let Some(utc) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return format!("{ms} ms (out of range)");
    };
    match zone.and_then(|z| z.parse::<chrono_tz::Tz>().ok()) {
        Some(tz) => format!(
            "{} {}",
            tz.from_utc_datetime(&utc.naive_utc())
                .format("%Y-%m-%d %H:%M:%S"),
            tz.name()
        ),
        None => utc.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

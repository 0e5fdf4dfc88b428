//! Dates as WooCommerce writes and reads them in its REST API (`date_modified_gmt`,
//! `modified_after` with `dates_are_gmt`), written here rather than taken from the client in
//! `shop-sync`, so that a mistake in the client's formatting or parsing fails the tests.
//!
//! WooCommerce writes `YYYY-MM-DDTHH:MM:SS` (no zone: the `_gmt` fields are UTC) and reads
//! ISO 8601 (WordPress's `rest_parse_date`: an optional fraction, and `Z` or an offset).

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A UTC time (milliseconds) as WooCommerce writes its `_gmt` dates.
pub fn format_gmt(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// An ISO 8601 date-time as WooCommerce reads it, in UTC milliseconds (no zone: UTC).
pub fn parse(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    let sep = |i: usize, c: &[u8]| t.as_bytes().get(i).is_some_and(|b| c.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"T ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d, h, mi, s) = (
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let f = &frac[..digits];
        ms = format!("{:0<3}", &f[..f.len().min(3)])
            .parse::<i64>()
            .ok()?;
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "" | "Z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest[1..].replace(':', "");
            if hm.len() != 4 {
                return None;
            }
            sign * (hm[..2].parse::<i64>().ok()? * 3600 + hm[2..].parse::<i64>().ok()? * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_both_ways() {
        // 2025-01-06T08:00:00Z, 2000-02-29T23:59:59Z, the epoch, 1969-12-31T23:59:59Z.
        for (ms, text) in [
            (1_736_150_400_000, "2025-01-06T08:00:00"),
            (951_868_799_000, "2000-02-29T23:59:59"),
            (0, "1970-01-01T00:00:00"),
            (-1_000, "1969-12-31T23:59:59"),
        ] {
            assert_eq!(format_gmt(ms), text);
            assert_eq!(parse(text), Some(ms), "{text}");
        }
    }

    #[test]
    fn zones_fractions_and_bad_dates() {
        let at = 1_736_150_400_000;
        assert_eq!(parse("2025-01-06T08:00:00Z"), Some(at));
        assert_eq!(parse("2025-01-06T09:30:00+01:30"), Some(at));
        assert_eq!(parse("2025-01-06T03:00:00-0500"), Some(at));
        assert_eq!(parse("2025-01-06 08:00:00.25"), Some(at + 250));
        for bad in [
            "",
            "2025-01-06",
            "2025-13-06T08:00:00",
            "2025-01-06T08:00:00+1",
            "now",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}

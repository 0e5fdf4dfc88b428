//! Number formatting (French conventions) and column helpers on encoded bytes.

/// Cents as a French amount: `1234` -> `12,34`, `-5` -> `-0,05`.
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    // unsigned_abs: i64::MIN has no positive i64.
    let abs = cents.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

/// A quantity in thousandths: weights as kg with 3 decimals (`1,250 kg`), units as a whole
/// number when whole (`2`), else with 3 decimals.
pub fn format_quantity(milli: i64, is_weight: bool) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let abs = milli.unsigned_abs();
    if is_weight {
        format!("{sign}{},{:03} kg", abs / 1000, abs % 1000)
    } else if abs.is_multiple_of(1000) {
        format!("{sign}{}", abs / 1000)
    } else {
        format!("{sign}{},{:03}", abs / 1000, abs % 1000)
    }
}

/// A VAT rate in hundredths of a percent: `2000` -> `20%`, `550` -> `5,5%`, `210` -> `2,1%`.
pub fn format_rate(bp: u32) -> String {
    let whole = bp / 100;
    let frac = bp % 100;
    if frac == 0 {
        format!("{whole}%")
    } else if frac.is_multiple_of(10) {
        format!("{whole},{}%", frac / 10)
    } else {
        format!("{whole},{frac:02}%")
    }
}

/// `left` and `right` on one line of `columns`, right flush; when they do not fit, `left` alone
/// (truncated) then `right` flush right on the next line.
pub(crate) fn two_columns(left: &[u8], right: &[u8], columns: usize) -> Vec<Vec<u8>> {
    if left.len() + right.len() < columns {
        let mut line = left.to_vec();
        line.resize(columns - right.len(), b' ');
        line.extend_from_slice(right);
        return vec![line];
    }
    let mut first = left.to_vec();
    first.truncate(columns);
    let right = &right[..right.len().min(columns)];
    let mut second = vec![b' '; columns - right.len()];
    second.extend_from_slice(right);
    vec![first, second]
}

/// Fixed-width columns, each right-aligned in its width except the first (left-aligned).
pub(crate) fn table_row(cells: &[&[u8]], widths: &[usize]) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        let cell = &cell[..cell.len().min(width)];
        if i == 0 {
            line.extend_from_slice(cell);
            line.resize(line.len() + width - cell.len(), b' ');
        } else {
            line.resize(line.len() + width - cell.len(), b' ');
            line.extend_from_slice(cell);
        }
    }
    line
}

/// Wraps encoded text on spaces into lines of at most `columns` bytes; words longer than a line
/// are cut. At most `max_lines` lines; the rest is dropped.
pub(crate) fn wrap(text: &[u8], columns: usize, max_lines: usize) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for word in text.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let mut word = word;
        loop {
            let needed = if current.is_empty() {
                word.len()
            } else {
                current.len() + 1 + word.len()
            };
            if needed <= columns {
                if !current.is_empty() {
                    current.push(b' ');
                }
                current.extend_from_slice(word);
                break;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            // A word longer than the line: cut it.
            lines.push(word[..columns].to_vec());
            word = &word[columns..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines.truncate(max_lines.max(1));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money() {
        assert_eq!(format_money(0), "0,00");
        assert_eq!(format_money(1234), "12,34");
        assert_eq!(format_money(-5), "-0,05");
        assert_eq!(format_money(i64::MIN), "-92233720368547758,08");
    }

    #[test]
    fn quantities_and_rates() {
        assert_eq!(format_quantity(1250, true), "1,250 kg");
        assert_eq!(format_quantity(2000, false), "2");
        assert_eq!(format_quantity(1500, false), "1,500");
        assert_eq!(format_quantity(-1000, false), "-1");
        assert_eq!(format_rate(2000), "20%");
        assert_eq!(format_rate(550), "5,5%");
        assert_eq!(format_rate(210), "2,1%");
        assert_eq!(format_rate(0), "0%");
        assert_eq!(format_rate(1234), "12,34%");
    }

    #[test]
    fn columns() {
        assert_eq!(two_columns(b"ab", b"12", 6), vec![b"ab  12".to_vec()]);
        assert_eq!(
            two_columns(b"abcdef", b"12", 6),
            vec![b"abcdef".to_vec(), b"    12".to_vec()]
        );
        assert_eq!(
            table_row(&[b"a", b"1", b"22"], &[3, 3, 3]),
            b"a    1 22".to_vec()
        );
    }

    #[test]
    fn wrapping() {
        assert_eq!(
            wrap(b"aaa bbb ccc", 7, 5),
            vec![b"aaa bbb".to_vec(), b"ccc".to_vec()]
        );
        assert_eq!(
            wrap(b"abcdefghij", 4, 5),
            vec![b"abcd".to_vec(), b"efgh".to_vec(), b"ij".to_vec()]
        );
        assert_eq!(wrap(b"abcdefghij", 4, 2).len(), 2);
        assert_eq!(wrap(b"", 4, 2), vec![Vec::<u8>::new()]);
    }
}

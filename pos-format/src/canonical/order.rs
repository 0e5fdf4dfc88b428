//! What canonical form orders by (UTF-16 code units) and how deep it nests.

/// Nesting depth at which `serde_json` refuses an input; the scanner stops before it.
pub(super) const MAX_DEPTH: usize = 127;

/// Compares two raw JSON string contents (escapes undecoded, both already scanned as valid) by
/// their UTF-16 code units, as RFC 8785 orders object keys.
pub(super) fn utf16_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    // The common case, plain keys: byte order is code-unit order for ASCII.
    let plain = |s: &[u8]| s.iter().all(|&c| c != b'\\' && c.is_ascii());
    if plain(a) && plain(b) {
        return a.cmp(b);
    }
    Utf16Units::new(a).cmp(Utf16Units::new(b))
}

/// The UTF-16 code units of a scanned JSON string's raw content.
struct Utf16Units<'a> {
    rest: &'a [u8],
    pending: Option<u16>,
}

impl<'a> Utf16Units<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Utf16Units {
            rest: raw,
            pending: None,
        }
    }

    fn hex(digits: &[u8]) -> u16 {
        digits.iter().fold(0u16, |n, &d| {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                _ => d.wrapping_sub(b'A').wrapping_add(10),
            };
            n << 4 | u16::from(v)
        })
    }
}

impl Iterator for Utf16Units<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if let Some(u) = self.pending.take() {
            return Some(u);
        }
        let (&first, _) = self.rest.split_first()?;
        if first == b'\\' {
            let e = *self.rest.get(1)?;
            let (unit, len) = match e {
                b'b' => (0x08, 2),
                b'f' => (0x0c, 2),
                b'n' => (0x0a, 2),
                b'r' => (0x0d, 2),
                b't' => (0x09, 2),
                b'u' => (Self::hex(self.rest.get(2..6)?), 6),
                other => (u16::from(other), 2),
            };
            self.rest = &self.rest[len..];
            return Some(unit);
        }
        // A whole UTF-8 character (the input was checked to be UTF-8).
        let len = match first {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        let c = std::str::from_utf8(self.rest.get(..len)?)
            .ok()?
            .chars()
            .next()?;
        self.rest = &self.rest[len..];
        let mut buf = [0u16; 2];
        let units = c.encode_utf16(&mut buf);
        if units.len() == 2 {
            self.pending = Some(units[1]);
        }
        Some(units[0])
    }
}

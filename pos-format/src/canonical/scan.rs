//! Checking canonical JSON: the reference check (parse, encode again, compare) and the
//! single-pass scanner that accepts exactly what it accepts, without allocating.

use super::error::CanonicalError;
use super::order::{utf16_cmp, MAX_DEPTH};
use crate::money::MAX_JSON_INT;
use serde_json::Value;

/// Checks that `bytes` are a JSON object in canonical form with integers only, and returns the
/// parsed value.
pub fn check_canonical(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let tree: Value =
        serde_json::from_slice(bytes).map_err(|e| CanonicalError::NotJson(e.to_string()))?;
    if !tree.is_object() {
        return Err(CanonicalError::NotAnObject);
    }
    check_integers(&tree)?;
    let again = serde_json_canonicalizer::to_vec(&tree)
        .map_err(|e| CanonicalError::Encode(e.to_string()))?;
    if again != bytes {
        return Err(CanonicalError::NotCanonical);
    }
    Ok(tree)
}

/// Checks that `bytes` are a JSON object in canonical form with integers only, like
/// [`check_canonical`], without building a tree.
///
/// The verifier runs this on every record, where parsing into a [`Value`] and encoding it again
/// cost more than everything else but the signature check. A single scan, without allocating,
/// accepts exactly the canonical bodies; anything it does not accept (a tampered record, rare)
/// goes through [`check_canonical`], so that the error reported is the same.
pub fn validate_canonical(bytes: &[u8]) -> Result<(), CanonicalError> {
    if is_surely_canonical(bytes) {
        Ok(())
    } else {
        check_canonical(bytes).map(|_| ())
    }
}

/// Whether `bytes` are, beyond doubt, an object in canonical form with integers in range: the
/// parse-and-re-encode check accepts every input this accepts. It may refuse more (it does not
/// try to tell why an input is wrong): callers fall back to that check when it says no.
pub fn is_surely_canonical(bytes: &[u8]) -> bool {
    // Checking UTF-8 up front lets the scanner take every non-ASCII byte of a string as part of
    // a valid character, written as itself as canonical form wants.
    if std::str::from_utf8(bytes).is_err() || bytes.first() != Some(&b'{') {
        return false;
    }
    let mut v = Scanner { bytes, pos: 0 };
    v.value(0).is_some() && v.pos == bytes.len()
}

/// A scanner of canonical JSON: no whitespace, keys sorted by UTF-16 code units and unique,
/// integers within +/-(2^53 - 1) in plain digits, strings with only the escapes RFC 8785 writes.
/// Each step returns `None` on the first thing that is not so.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' => self.integer(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.pos..]
            .starts_with(word)
            .then(|| self.pos += word.len())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut previous: Option<&'a [u8]> = None;
        loop {
            let key = self.string()?;
            // Strictly increasing: equal keys (duplicates) are not canonical either.
            if let Some(prev) = previous {
                if utf16_cmp(prev, key) != std::cmp::Ordering::Less {
                    return None;
                }
            }
            previous = Some(key);
            self.eat(b':')?;
            self.value(depth)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Scans a string; returns its raw content (between the quotes, escapes undecoded).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let bytes: &'a [u8] = self.bytes;
        let start = self.pos;
        loop {
            self.skip_plain();
            match *bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(&bytes[start..self.pos - 1]);
                }
                0x00..=0x1f => return None,
                b'\\' => {
                    let escape = bytes.get(self.pos + 1..)?;
                    self.pos += match *escape.first()? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        // Canonical form uses `\u` only for the control characters without a
                        // short escape, in lowercase hex.
                        b'u' => match escape.get(1..5)? {
                            [b'0', b'0', b'0', b'0'..=b'7' | b'b' | b'e' | b'f']
                            | [b'0', b'0', b'1', b'0'..=b'9' | b'a'..=b'f'] => 6,
                            _ => return None,
                        },
                        _ => return None,
                    };
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Skips the bytes of a string that stand for themselves, eight at a time: string contents
    /// are most of a body, and a byte-by-byte loop made this check cost a third of decoding.
    fn skip_plain(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // A lane of `x` is flagged if it is zero; flags may also appear above a flagged lane,
        // which only sends that word to the byte-by-byte loop.
        let zero_lane = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        while let Some(word) = self.bytes.get(self.pos..self.pos + 8) {
            let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            let special = zero_lane(x ^ (ONES * u64::from(b'"')))
                | zero_lane(x ^ (ONES * u64::from(b'\\')))
                | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
            if special != 0 {
                break;
            }
            self.pos += 8;
        }
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                return;
            }
            self.pos += 1;
        }
    }

    /// An integer in plain digits within +/-(2^53 - 1), and not `-0` (a float to JSON readers).
    fn integer(&mut self) -> Option<()> {
        let negative = self.eat(b'-').is_some();
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let digits = &self.bytes[start..self.pos];
        let plain = match digits {
            [b'0'] => !negative,
            [b'1'..=b'9', ..] => digits.len() <= 16,
            _ => false,
        };
        if !plain || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        (value <= MAX_JSON_INT).then_some(())
    }
}

pub(super) fn check_integers(v: &Value) -> Result<(), CanonicalError> {
    match v {
        Value::Number(n) => {
            let ok = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() <= MAX_JSON_INT as u64,
                (None, Some(u)) => u <= MAX_JSON_INT as u64,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(CanonicalError::NotAnInteger)
            }
        }
        Value::Array(items) => items.iter().try_for_each(check_integers),
        Value::Object(map) => map.values().try_for_each(check_integers),
        _ => Ok(()),
    }
}

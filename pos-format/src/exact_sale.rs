//! A decoder for sale bodies in exactly the canonical layout the journal writes (the keys in
//! their sorted order, no whitespace, integers in canonical form and range, and strings without
//! escapes), and its mirror, the one-pass encoder the journal writes sales with ([`encode`]). Bodies it accepts are canonical by construction, so the verifier skips the separate
//! canonical check and serde's decoding for them: for a million sales, those two passes were
//! about a fifth of a full verification's CPU.
//!
//! It returns `None` for anything else (a string with an escape, a tampered body, another
//! layout), and the caller then takes the general path, which also words the errors. What it
//! returns is always what serde decodes from the same bytes (property-tested, with random
//! damage to the bytes).

use crate::money::MAX_JSON_INT;
use crate::money::{Cents, Qty, VatRate};
use crate::ticket::{
    check_stored_sale, LineView, Payment, PaymentMethod, SaleBody, TicketError, Unit, VatTotal,
};

/// Decodes `bytes` if they are a sale body in the exact canonical layout (see the module).
pub fn decode(bytes: &[u8]) -> Option<SaleBody> {
    let (operator, lines, mut body) = decode_borrowed(bytes)?;
    body.operator = operator.to_owned();
    body.lines = lines.into_iter().map(Into::into).collect();
    Some(body)
}

/// A sale in the exact layout, decoded and checked by [`decode_checked`].
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Its arithmetic is consistent: the body without its lines and operator (what the
    /// verifier's checks in order need is its totals).
    Consistent(SaleBody),
    /// It is not: the whole body, and why.
    Inconsistent(SaleBody, TicketError),
}

/// [`decode`] and the sale's arithmetic check for the verifier, in one pass: the text of a
/// consistent sale is never copied out of `bytes` (two strings per line and the operator were
/// most of a sale's allocations). `None` for anything but the exact layout.
pub fn decode_checked(bytes: &[u8]) -> Option<Checked> {
    let (operator, lines, mut body) = decode_borrowed(bytes)?;
    Some(
        match check_stored_sale(operator, lines.iter().copied(), &body, |_| true) {
            Ok(()) => Checked::Consistent(body),
            Err(e) => {
                body.operator = operator.to_owned();
                body.lines = lines.into_iter().map(Into::into).collect();
                Checked::Inconsistent(body, e)
            }
        },
    )
}

/// The operator, the lines with their text borrowed from `bytes`, and the rest of the body
/// (its operator and lines empty).
fn decode_borrowed(bytes: &[u8]) -> Option<(&str, Vec<LineView<'_>>, SaleBody)> {
    // One UTF-8 check of the whole body: each string is then a slice of valid text between two
    // quotes (ASCII, so on character boundaries).
    let text = std::str::from_utf8(bytes).ok()?;
    let mut c = Cursor { bytes, text, at: 0 };
    c.literal(b"{\"change\":")?;
    let change = Cents(c.int()?);
    c.literal(b",\"lines\":")?;
    let lines = c.array(Cursor::line)?;
    c.literal(b",\"operator\":")?;
    let operator = c.text()?;
    c.literal(b",\"payments\":")?;
    let payments = c.array(Cursor::payment)?;
    c.literal(b",\"ticket_discount\":")?;
    let ticket_discount = Cents(c.int()?);
    c.literal(b",\"total\":")?;
    let total = Cents(c.int()?);
    c.literal(b",\"vat\":")?;
    let vat = c.array(Cursor::vat_total)?;
    c.literal(b"}")?;
    (c.at == bytes.len()).then_some((
        operator,
        lines,
        SaleBody {
            operator: String::new(),
            lines: Vec::new(),
            ticket_discount,
            vat,
            total,
            payments,
            change,
        },
    ))
}

/// Encodes `body` exactly as [`crate::canonical::to_canonical`] does (property-tested), in one
/// pass without serde: the generic encoder collects and sorts every object's keys, a tenth of a
/// group-committed append's CPU. `None` when an integer is outside JSON's exact range; the
/// caller then takes the generic encoder, which words the error.
pub fn encode(body: &SaleBody) -> Option<Vec<u8>> {
    let text: usize = body.lines.iter().map(|l| l.sku.len() + l.label.len()).sum();
    let mut w = Out(Vec::with_capacity(
        160 + body.operator.len()
            + text
            + 240 * body.lines.len()
            + 48 * body.payments.len()
            + 64 * body.vat.len(),
    ));
    w.int(b"{\"change\":", body.change.0)?;
    w.raw(b",\"lines\":");
    w.array(&body.lines, |w, l| {
        w.int(b"{\"gross\":", l.gross.0)?;
        w.text(b",\"label\":", &l.label);
        w.int(b",\"line_discount\":", l.line_discount.0)?;
        w.int(b",\"quantity\":", l.quantity.0)?;
        w.text(b",\"sku\":", &l.sku);
        w.int(b",\"ticket_discount\":", l.ticket_discount.0)?;
        w.int(b",\"total\":", l.total.0)?;
        let unit = match l.unit {
            Unit::Piece => "piece",
            Unit::Kg => "kg",
        };
        w.text(b",\"unit\":", unit);
        w.int(b",\"unit_price\":", l.unit_price.0)?;
        w.int(b",\"vat_rate\":", i64::from(l.vat_rate.0))?;
        w.raw(b"}");
        Some(())
    })?;
    w.text(b",\"operator\":", &body.operator);
    w.raw(b",\"payments\":");
    w.array(&body.payments, |w, p| {
        w.int(b"{\"amount\":", p.amount.0)?;
        w.text(b",\"method\":", p.method.as_str());
        w.raw(b"}");
        Some(())
    })?;
    w.int(b",\"ticket_discount\":", body.ticket_discount.0)?;
    w.int(b",\"total\":", body.total.0)?;
    w.raw(b",\"vat\":");
    w.array(&body.vat, |w, v| {
        w.int(b"{\"gross\":", v.gross.0)?;
        w.int(b",\"net\":", v.net.0)?;
        w.int(b",\"rate\":", i64::from(v.rate.0))?;
        w.int(b",\"vat\":", v.vat.0)?;
        w.raw(b"}");
        Some(())
    })?;
    w.raw(b"}");
    Some(w.0)
}

/// A sale body's canonical bytes: [`encode`], or the generic encoder for what it declines.
pub fn canonical_bytes(body: &SaleBody) -> Result<Vec<u8>, crate::canonical::CanonicalError> {
    encode(body).map_or_else(|| crate::canonical::to_canonical(body), Ok)
}

/// The bytes being encoded.
struct Out(Vec<u8>);

impl Out {
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// `key` (what comes before the value: `{` or `,`, the key and `:`), then an integer in
    /// canonical form; `None` outside +/-(2^53 - 1).
    fn int(&mut self, key: &[u8], value: i64) -> Option<()> {
        self.raw(key);
        crate::canonical::write_integer(value < 0, value.unsigned_abs(), &mut self.0).then_some(())
    }

    /// `key`, then a string in canonical form.
    fn text(&mut self, key: &[u8], s: &str) {
        self.raw(key);
        crate::canonical::write_string(s, &mut self.0);
    }

    /// `[]` or `[item,item,...]`.
    fn array<T>(
        &mut self,
        items: &[T],
        mut item: impl FnMut(&mut Self, &T) -> Option<()>,
    ) -> Option<()> {
        self.raw(b"[");
        for (i, t) in items.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            item(self, t)?;
        }
        self.raw(b"]");
        Some(())
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    /// The same bytes, checked as UTF-8.
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn literal(&mut self, text: &[u8]) -> Option<()> {
        let end = self.at.checked_add(text.len())?;
        (self.bytes.get(self.at..end)? == text).then(|| self.at = end)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// An integer as canonical JSON writes it: `0`, or digits without a leading zero, with a
    /// `-` before a non-zero value, within +/-(2^53 - 1).
    fn int(&mut self) -> Option<i64> {
        let negative = self.literal(b"-").is_some();
        let digits = self.bytes[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = &self.bytes[self.at..self.at + digits];
        // 2^53 - 1 has 16 digits: more cannot be in range (and cannot overflow below).
        if digits == 0 || digits > 16 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        let value = text.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        if value > MAX_JSON_INT || (negative && value == 0) {
            return None;
        }
        self.at += digits;
        Some(if negative { -value } else { value })
    }

    fn rate(&mut self) -> Option<VatRate> {
        u32::try_from(self.int()?).ok().map(VatRate)
    }

    /// A string without escapes or control characters: its bytes are its text.
    fn text(&mut self) -> Option<&'a str> {
        self.literal(b"\"")?;
        let len = memchr::memchr(b'"', &self.bytes[self.at..])?;
        let raw = &self.bytes[self.at..self.at + len];
        // Folded without an early exit, so that the check runs on whole vectors.
        if raw
            .iter()
            .fold(false, |bad, &b| bad | (b == b'\\' || b < 0x20))
        {
            return None;
        }
        let text = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        Some(text)
    }

    /// `[]` or `[item,item,...]`.
    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.literal(b"[")?;
        let mut out = Vec::new();
        if self.literal(b"]").is_some() {
            return Some(out);
        }
        loop {
            out.push(item(self)?);
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    fn line(&mut self) -> Option<LineView<'a>> {
        self.literal(b"{\"gross\":")?;
        let gross = Cents(self.int()?);
        self.literal(b",\"label\":")?;
        let label = self.text()?;
        self.literal(b",\"line_discount\":")?;
        let line_discount = Cents(self.int()?);
        self.literal(b",\"quantity\":")?;
        let quantity = Qty(self.int()?);
        self.literal(b",\"sku\":")?;
        let sku = self.text()?;
        self.literal(b",\"ticket_discount\":")?;
        let ticket_discount = Cents(self.int()?);
        self.literal(b",\"total\":")?;
        let total = Cents(self.int()?);
        self.literal(b",\"unit\":")?;
        let unit = match self.text()? {
            "piece" => Unit::Piece,
            "kg" => Unit::Kg,
            _ => return None,
        };
        self.literal(b",\"unit_price\":")?;
        let unit_price = Cents(self.int()?);
        self.literal(b",\"vat_rate\":")?;
        let vat_rate = self.rate()?;
        self.literal(b"}")?;
        Some(LineView {
            sku,
            label,
            quantity,
            unit,
            unit_price,
            vat_rate,
            gross,
            line_discount,
            ticket_discount,
            total,
        })
    }

    fn payment(&mut self) -> Option<Payment> {
        self.literal(b"{\"amount\":")?;
        let amount = Cents(self.int()?);
        self.literal(b",\"method\":")?;
        let name = self.text()?;
        let method = PaymentMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == name)?;
        self.literal(b"}")?;
        Some(Payment { method, amount })
    }

    fn vat_total(&mut self) -> Option<VatTotal> {
        self.literal(b"{\"gross\":")?;
        let gross = Cents(self.int()?);
        self.literal(b",\"net\":")?;
        let net = Cents(self.int()?);
        self.literal(b",\"rate\":")?;
        let rate = self.rate()?;
        self.literal(b",\"vat\":")?;
        let vat = Cents(self.int()?);
        self.literal(b"}")?;
        Some(VatTotal {
            rate,
            net,
            vat,
            gross,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{to_canonical, validate_canonical};
    use crate::ticket::{check_sale_arithmetic, compute_sale, LineInput, SaleInput, TicketLine};
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Plain text mostly; quotes, backslashes, control and astral characters sometimes
        // (those take the general path).
        prop_oneof![
            4 => "[a-zA-Z0-9 é€]{0,12}",
            1 => "[a-z\"\\\\\u{1}\n\u{7f}\u{1f950}]{0,6}",
        ]
    }

    fn amount() -> impl Strategy<Value = i64> {
        prop_oneof![
            -1000i64..1000,
            Just(MAX_JSON_INT),
            Just(-MAX_JSON_INT),
            Just(0),
        ]
    }

    prop_compose! {
        fn line()(
            sku in text(), label in text(), q in amount(), kg in any::<bool>(),
            price in amount(), rate in prop_oneof![Just(0u32), 0u32..3000, Just(u32::MAX)],
            gross in amount(), line_discount in amount(), ticket_discount in amount(),
            total in amount(),
        ) -> TicketLine {
            TicketLine {
                sku, label, quantity: Qty(q), unit: if kg { Unit::Kg } else { Unit::Piece },
                unit_price: Cents(price), vat_rate: VatRate(rate), gross: Cents(gross),
                line_discount: Cents(line_discount), ticket_discount: Cents(ticket_discount),
                total: Cents(total),
            }
        }
    }

    prop_compose! {
        /// Any sale body, consistent or not: the decoder reads what is there.
        fn body()(
            operator in text(),
            lines in prop::collection::vec(line(), 0..4),
            payments in prop::collection::vec(
                (amount(), prop::sample::select(PaymentMethod::ALL.to_vec())), 0..3),
            vat in prop::collection::vec((0u32..3000, amount(), amount(), amount()), 0..3),
            ticket_discount in amount(), total in amount(), change in amount(),
        ) -> SaleBody {
            SaleBody {
                operator,
                lines,
                ticket_discount: Cents(ticket_discount),
                vat: vat.into_iter().map(|(r, net, v, gross)| VatTotal {
                    rate: VatRate(r), net: Cents(net), vat: Cents(v), gross: Cents(gross),
                }).collect(),
                total: Cents(total),
                payments: payments.into_iter()
                    .map(|(amount, method)| Payment { method, amount: Cents(amount) })
                    .collect(),
                change: Cents(change),
            }
        }
    }

    /// Text the journal accepts as a name (not empty), escapes sometimes.
    fn named() -> impl Strategy<Value = String> {
        prop_oneof![8 => "[a-zA-Z0-9 é€]{1,12}", 1 => "[a-z\"\\\\]{1,6}"]
    }

    prop_compose! {
        /// A sale as the journal computes it (consistent), when its inputs are valid.
        fn computed()(
            operator in named(),
            lines in prop::collection::vec(
                (named(), named(), 1i64..5000, 0i64..3000, 0usize..5, 0i64..50), 1..5),
            ticket_discount in 0i64..30,
            extra in 0i64..500,
            cash in any::<bool>(),
        ) -> Option<SaleBody> {
            let rates = crate::sample::FRENCH_VAT_RATES;
            let mut input = SaleInput {
                operator,
                lines: lines.into_iter().map(|(sku, label, q, price, rate, discount)| LineInput {
                    sku, label, quantity: Qty(q), unit: Unit::Piece, unit_price: Cents(price),
                    vat_rate: rates[rate], discount: Cents(discount),
                }).collect(),
                ticket_discount: Cents(ticket_discount),
                payments: Vec::new(),
            };
            // Paid exactly (or with change in cash): the total is known once computed.
            let total = compute_sale(&SaleInput {
                payments: vec![Payment { method: PaymentMethod::Cash, amount: Cents(100_000_000) }],
                ..input.clone()
            }, &rates).ok()?.total;
            let method = if cash { PaymentMethod::Cash } else { PaymentMethod::Card };
            let paid = if cash { total.0 + extra } else { total.0 };
            input.payments = vec![Payment { method, amount: Cents(paid) }];
            compute_sale(&input, &rates).ok()
        }
    }

    /// Whether the canonical form of `s` needs an escape (then the decoder declines).
    fn escaped(s: &str) -> bool {
        s.chars().any(|c| c == '"' || c == '\\' || c < ' ')
    }

    fn all_text(b: &SaleBody) -> impl Iterator<Item = &str> {
        std::iter::once(b.operator.as_str()).chain(
            b.lines
                .iter()
                .flat_map(|l| [l.sku.as_str(), l.label.as_str()]),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// On the journal's own encoding: the same body back, unless a string needs an escape.
        #[test]
        fn decodes_the_canonical_encoding(body in body()) {
            let bytes = to_canonical(&body).unwrap();
            let decoded = decode(&bytes);
            if all_text(&body).any(escaped) {
                prop_assert_eq!(decoded, None);
            } else {
                prop_assert_eq!(decoded, Some(body));
            }
        }

        /// On damaged bytes (a byte changed, removed or added): whatever it accepts is
        /// canonical and decodes with serde to the same body.
        #[test]
        fn accepts_only_what_serde_and_the_canonical_check_accept_alike(
            body in body(),
            at in any::<prop::sample::Index>(),
            edit in 0u8..3,
            byte in prop_oneof![
                Just(b'"'), Just(b'\\'), Just(b'-'), Just(b'0'), Just(b'9'), Just(b','),
                Just(b'}'), Just(b']'), Just(b' '), Just(b'e'), Just(b'.'), Just(0x01u8),
                Just(0xc3u8), any::<u8>(),
            ],
        ) {
            let mut bytes = to_canonical(&body).unwrap();
            let i = at.index(bytes.len());
            match edit {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
            if let Some(decoded) = decode(&bytes) {
                prop_assert!(validate_canonical(&bytes).is_ok());
                let by_serde: SaleBody = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(decoded, by_serde);
            }
        }
    }

    proptest! {
        /// The verifier's decoder gives a consistent sale's totals without its lines and
        /// operator, an inconsistent sale whole with the check's error, and nothing for any
        /// other body (then the general path runs), on consistent sales and on any body,
        /// damaged or not.
        #[test]
        fn decode_checked_is_decode_then_the_check(
            sale in prop_oneof![3 => computed(), 1 => body().prop_map(Some)],
            at in any::<prop::sample::Index>(),
            damage in prop_oneof![3 => Just(None), 1 => any::<u8>().prop_map(Some)],
        ) {
            let Some(sale) = sale else { return Ok(()) };
            let mut bytes = to_canonical(&sale).unwrap();
            if let Some(byte) = damage {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let expected = decode(&bytes).map(|full| match check_sale_arithmetic(&full) {
                Ok(()) => Checked::Consistent(SaleBody {
                    operator: String::new(),
                    lines: Vec::new(),
                    ..full
                }),
                Err(e) => Checked::Inconsistent(full, e),
            });
            prop_assert_eq!(decode_checked(&bytes), expected);
        }
    }

    fn any_amount() -> impl Strategy<Value = i64> {
        prop_oneof![
            8 => amount(),
            1 => Just(MAX_JSON_INT + 1),
            1 => Just(-MAX_JSON_INT - 1),
            1 => Just(i64::MIN),
            1 => Just(i64::MAX),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The one-pass encoder writes what the generic canonical encoder writes, escapes
        /// included, and declines exactly the bodies the generic one refuses.
        #[test]
        fn encodes_as_the_canonical_encoder(
            body in body(),
            at in any::<prop::sample::Index>(),
            field in 0u8..6,
            wild in any_amount(),
        ) {
            let mut body = body;
            // One integer somewhere may be out of JSON's exact range.
            let line = (!body.lines.is_empty()).then(|| at.index(body.lines.len()));
            match (field, line) {
                (0, _) => body.change = Cents(wild),
                (1, _) => body.total = Cents(wild),
                (2, Some(i)) => body.lines[i].quantity = Qty(wild),
                (3, Some(i)) => body.lines[i].line_discount = Cents(wild),
                _ => {}
            }
            prop_assert_eq!(encode(&body), to_canonical(&body).ok());
        }

        /// Consistent sales as the journal computes them, and back through the decoder.
        #[test]
        fn encodes_computed_sales_as_the_canonical_encoder(sale in computed()) {
            let Some(sale) = sale else { return Ok(()) };
            let bytes = encode(&sale);
            prop_assert_eq!(&bytes, &to_canonical(&sale).ok());
            if !all_text(&sale).any(escaped) {
                prop_assert_eq!(bytes.and_then(|b| decode(&b)), Some(sale));
            }
        }
    }

    #[test]
    fn declines_integers_outside_canonical_form() {
        let sample = crate::sample::sample_sale(2);
        let body = crate::ticket::compute_sale(&sample, &crate::sample::FRENCH_VAT_RATES).unwrap();
        let bytes = String::from_utf8(to_canonical(&body).unwrap()).unwrap();
        assert!(decode(bytes.as_bytes()).is_some());
        for (from, to) in [
            ("\"change\":0", "\"change\":-0"),
            ("\"change\":0", "\"change\":00"),
            ("\"change\":0", "\"change\":0.0"),
            ("\"change\":0", "\"change\":9007199254740992"),
            ("\"change\":0", "\"change\":1e3"),
            ("\"change\":0", "\"change\": 0"),
        ] {
            let changed = bytes.replacen(from, to, 1);
            assert_ne!(changed, bytes, "{to}");
            assert_eq!(decode(changed.as_bytes()), None, "{to}");
        }
    }
}

use super::encode::write_string;
use super::scan::check_integers;
use super::*;
use crate::money::MAX_JSON_INT;
use serde::Serialize;
use serde_json::Value;

/// The encoder before [`to_canonical`]: through a `serde_json::Value` tree. Kept as the
/// reference the tests compare with.
fn to_canonical_via_value<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let tree = serde_json::to_value(value).map_err(|e| CanonicalError::Encode(e.to_string()))?;
    if !tree.is_object() {
        return Err(CanonicalError::NotAnObject);
    }
    check_integers(&tree)?;
    let mut out = Vec::with_capacity(1024);
    write_canonical(&tree, &mut out);
    Ok(out)
}

/// Writes `v` in RFC 8785 form. Every number must already be an integer (see
/// [`check_integers`]), which RFC 8785 prints as plain digits.
///
/// `serde_json_canonicalizer` gives the same bytes, but it re-parses every object key to sort
/// it and buffers every value, which made encoding cost more than signing on the append path.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let text = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(u)) => u.to_string(),
                _ => n.to_string(),
            };
            out.extend_from_slice(text.as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Keys in UTF-16 code-unit order. The map iterates in UTF-8 byte order (or in
            // insertion order with serde_json's `preserve_order`), so sort unless already sorted.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if !entries.is_sorted_by(|a, b| utf16_str_cmp(a.0, b.0).is_le()) {
                entries.sort_by(|a, b| utf16_str_cmp(a.0, b.0));
            }
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
    }
}

/// Compares two strings by their UTF-16 code units.
fn utf16_str_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

mod cases {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorts_keys_and_drops_spaces() {
        let v = serde_json::json!({"b": 1, "a": [true, null, "é\n"], "A": {"z": -3}});
        let bytes = to_canonical(&v).unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"A":{"z":-3},"a":[true,null,"é\n"],"b":1}"#
        );
        check_canonical(&bytes).unwrap();
    }

    /// The scanner accepts exactly what the parse-and-re-encode check accepts, and the validator
    /// reports the same error kind.
    fn same_verdict(bytes: &[u8]) {
        let reference = check_canonical(bytes).map(|_| ());
        assert_eq!(
            is_surely_canonical(bytes),
            reference.is_ok(),
            "scanner on {:?}: reference says {reference:?}",
            String::from_utf8_lossy(bytes)
        );
        assert_eq!(validate_canonical(bytes), reference);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn encoder_matches_reference_canonicalizer(
            fields in prop::collection::btree_map(json_string(), json_value(), 0..6),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            match to_canonical(&object) {
                Ok(bytes) => {
                    prop_assert_eq!(&bytes, &serde_json_canonicalizer::to_vec(&object).unwrap());
                    prop_assert!(is_surely_canonical(&bytes));
                }
                Err(e) => prop_assert_eq!(check_integers(&object), Err(e)),
            }
        }
    }

    fn text() -> impl Strategy<Value = String> {
        // Quotes, backslashes, control characters, non-ASCII and astral characters.
        "[a-zA-Z0-9 \"\\\\\u{1}\u{1f}\n\té€\u{10000}\u{1f950}]{1,12}"
    }

    fn sale_text() -> impl Strategy<Value = String> {
        // What a ticket accepts: no control characters, no blank text.
        "[a-zA-Z0-9][a-zA-Z0-9 \"\\\\é€\u{10000}\u{1f950}]{0,10}[a-zA-Z0-9]"
    }

    proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The direct encoder writes the same bytes as the encoder through a `Value` tree, on
        /// the structs the journal stores (sales with every kind of text, events with maps).
        #[test]
        fn direct_encoder_matches_the_value_tree_on_bodies(
            operator in sale_text(),
            lines in prop::collection::vec(
                (sale_text(), sale_text(), 1i64..5000, 0i64..100_000, 0usize..5),
                1..5,
            ),
            discount in 0i64..50,
            details in prop::collection::btree_map(text(), text(), 0..4),
            code_operator in prop::option::of(text()),
        ) {
            use crate::ticket::*;
            use crate::money::*;
            let rates = crate::sample::FRENCH_VAT_RATES;
            let input = SaleInput {
                operator,
                lines: lines
                    .iter()
                    .map(|(sku, label, q, price, rate)| LineInput {
                        sku: sku.clone(),
                        label: label.clone(),
                        quantity: Qty(*q),
                        unit: if q % 2 == 0 { Unit::Kg } else { Unit::Piece },
                        unit_price: Cents(*price),
                        vat_rate: rates[*rate],
                        discount: Cents::ZERO,
                    })
                    .collect(),
                ticket_discount: Cents(discount),
                payments: vec![Payment { method: PaymentMethod::Cash, amount: Cents(10_000_000) }],
            };
            let body = compute_sale(&input, &rates);
            prop_assert!(body.is_ok() || discount > 0, "{:?}", body);
            if let Ok(body) = body {
                let direct = to_canonical(&body).unwrap();
                prop_assert_eq!(&direct, &to_canonical_via_value(&body).unwrap());
                prop_assert!(validate_canonical(&direct).is_ok());
            }
            let event = crate::body::EventBody {
                code: "configuration_changed".into(),
                message: "réglage \"x\"".into(),
                operator: code_operator,
                details,
            };
            prop_assert_eq!(to_canonical(&event).unwrap(), to_canonical_via_value(&event).unwrap());
        }
    }

    #[test]
    fn direct_encoder_errors_like_the_value_tree() {
        #[derive(Serialize)]
        struct Big {
            n: u64,
        }
        #[derive(Serialize)]
        struct Float {
            x: f64,
        }
        let too_big = Big {
            n: MAX_JSON_INT as u64 + 1,
        };
        assert_eq!(to_canonical(&too_big), Err(CanonicalError::NotAnInteger));
        assert_eq!(to_canonical(&too_big), to_canonical_via_value(&too_big));
        assert_eq!(
            to_canonical(&Float { x: 1.0 }),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(to_canonical(&[1, 2]), Err(CanonicalError::NotAnObject));
        assert_eq!(to_canonical(&"text"), Err(CanonicalError::NotAnObject));
        assert_eq!(
            to_canonical(&-(MAX_JSON_INT)),
            Err(CanonicalError::NotAnObject)
        );
        let mut by_number = std::collections::BTreeMap::new();
        by_number.insert(10u32, "ten");
        by_number.insert(9u32, "nine");
        // Integer keys become strings, ordered as strings ("10" before "9").
        assert_eq!(
            to_canonical(&by_number).unwrap(),
            br#"{"10":"ten","9":"nine"}"#
        );
        assert_eq!(to_canonical(&by_number), to_canonical_via_value(&by_number));
        // A flattened map repeating a field's key is not an RFC 8785 object.
        #[derive(Serialize)]
        struct Clash {
            a: u8,
            #[serde(flatten)]
            more: std::collections::BTreeMap<String, u8>,
        }
        let clash = Clash {
            a: 1,
            more: [("a".to_string(), 2)].into_iter().collect(),
        };
        assert!(matches!(
            to_canonical(&clash),
            Err(CanonicalError::Encode(_))
        ));
    }

    #[test]
    fn encoder_output_takes_the_fast_path() {
        let opening = to_canonical(&crate::sample::sample_opening()).unwrap();
        assert!(is_surely_canonical(&opening));
        let escapes =
            to_canonical(&serde_json::json!({"a": "\u{1}\u{b}\u{1f}\"\\\n\t/é"})).unwrap();
        assert!(is_surely_canonical(&escapes));
    }

    #[test]
    fn scanner_finds_special_bytes_at_every_offset() {
        // Long strings take the eight-bytes-at-a-time path; put each kind of special byte at
        // every offset of a word, as text and as raw bytes.
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', 'é', '\u{7f}', '😀'] {
            for len in 0..40 {
                for at in 0..=len {
                    let mut text: String = "x".repeat(len);
                    text.insert(at, special);
                    let body = to_canonical(&serde_json::json!({ "k": text })).unwrap();
                    assert!(is_surely_canonical(&body), "{text:?}");
                    let mut raw = br#"{"k":""#.to_vec();
                    raw.extend(std::iter::repeat_n(b'x', at));
                    let mut utf8 = [0; 4];
                    raw.extend_from_slice(special.encode_utf8(&mut utf8).as_bytes());
                    raw.extend(std::iter::repeat_n(b'x', len - at));
                    raw.extend_from_slice(br#""}"#);
                    same_verdict(&raw);
                }
            }
        }
    }

    #[test]
    fn validator_agrees_on_edge_cases() {
        let cases: &[&[u8]] = &[
            b"",
            b" ",
            b"{}",
            b" {}",
            b"{} ",
            b"{}x",
            b"[]",
            b"1",
            b"\"a\"",
            b"null",
            b"{\"a\":-0}",
            b"{\"a\":0}",
            b"{\"a\":-1}",
            b"{\"a\":01}",
            b"{\"a\":-}",
            b"{\"a\":1.}",
            b"{\"a\":1e5}",
            b"{\"a\":1E+5}",
            b"{\"a\":1e400}",
            b"{\"a\":-1e400}",
            b"{\"a\":9007199254740991}",
            b"{\"a\":-9007199254740991}",
            b"{\"a\":9007199254740992}",
            b"{\"a\":123456789012345678901234567890}",
            b"{\"a\":1,\"a\":1}",
            b"{\"a\":1,\"a\":2}",
            b"{\"b\":1,\"a\":2}",
            b"{\"a\":\"\\/\"}",
            b"{\"a\":\"/\"}",
            b"{\"a\":\"\\u001f\"}",
            b"{\"a\":\"\\u001F\"}",
            b"{\"a\":\"\\u000a\"}",
            b"{\"a\":\"\\n\"}",
            b"{\"a\":\"\\u00e9\"}",
            b"{\"a\":\"\\ud83d\\ude00\"}",
            b"{\"a\":\"\\ud83d\"}",
            b"{\"a\":\"\\ude00\"}",
            b"{\"a\":\"\\ud83d\\u0041\"}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\x7f\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":tru}",
            b"{\"a\":true,}",
            b"{\"a\":[1,]}",
            b"{\"a\":[1 ,2]}",
            b"{\"a\"\n:1}",
            b"{\"\\u0041\":1}",
            b"{\"\\u0061\":1,\"b\":2}",
            // U+E000 sorts after U+1F600 in UTF-8 order but before it in UTF-16 order.
            "{\"\u{e000}\":1,\"\u{1f600}\":2}".as_bytes(),
            "{\"\u{1f600}\":1,\"\u{e000}\":2}".as_bytes(),
            b"{\"a\":1}\n",
            b"{\"a\":1.5,\"b\" :1}",
            b"[1.5]",
            b"{\"b\":1.5,\"a\":1}",
        ];
        for case in cases {
            same_verdict(case);
        }
        let deep = |n: usize| {
            let mut v = b"{\"a\":".to_vec();
            v.extend(std::iter::repeat_n(b'[', n));
            v.extend(std::iter::repeat_n(b']', n));
            v.push(b'}');
            v
        };
        for n in [125, 126, 127, 128, 200] {
            same_verdict(&deep(n));
        }
    }

    fn json_string() -> impl Strategy<Value = String> {
        let special = prop::sample::select(vec![
            '"',
            '\\',
            '/',
            '\u{0}',
            '\u{8}',
            '\t',
            '\n',
            '\u{c}',
            '\r',
            '\u{1f}',
            '\u{7f}',
            'a',
            'b',
            'A',
            'é',
            '\u{2028}',
            '\u{e000}',
            '\u{ffff}',
            '\u{10000}',
            '\u{1f600}',
        ]);
        prop::collection::vec(prop_oneof![special, any::<char>()], 0..6).prop_map(String::from_iter)
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-(MAX_JSON_INT + 2)..=MAX_JSON_INT + 2).prop_map(Value::from),
            (-1000i64..1000).prop_map(Value::from),
            prop::sample::select(vec![0.5, -0.0, 1e300, -2.5e-7]).prop_map(Value::from),
            json_string().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(json_string(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn validator_agrees_with_reencoding(
            fields in prop::collection::btree_map(json_string(), json_value(), 0..6),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, prop::sample::select(
                b" \t\n\\\"/,:{}[]0123-.eEu+AafF\x01\x1f\xc3\xa9".to_vec())), 0..4),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            let canonical = serde_json_canonicalizer::to_vec(&object).unwrap();
            same_verdict(&canonical);
            // serde_json's own encodings: keys in UTF-8 order, and with whitespace.
            same_verdict(&serde_json::to_vec(&object).unwrap());
            same_verdict(&serde_json::to_vec_pretty(&object).unwrap());
            // Small edits of the canonical bytes: most break something, some do not.
            let mut bytes = canonical;
            for (at, op, byte) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 => bytes.insert(i, byte),
                    1 if i < bytes.len() => { bytes.remove(i); }
                    2 if i < bytes.len() => bytes[i] = byte,
                    3 if i + 1 < bytes.len() => bytes.swap(i, i + 1),
                    _ => {}
                }
                same_verdict(&bytes);
            }
        }
    }

    #[test]
    fn rejects_non_canonical_and_floats() {
        assert_eq!(
            check_canonical(br#"{"b":1,"a":2}"#),
            Err(CanonicalError::NotCanonical)
        );
        assert_eq!(
            check_canonical(br#"{"a": 2}"#),
            Err(CanonicalError::NotCanonical)
        );
        assert_eq!(
            check_canonical(br#"{"a":1.5}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(
            check_canonical(br#"{"a":9007199254740992}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(
            check_canonical(br#"{"a":-9223372036854775808}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(check_canonical(b"[1]"), Err(CanonicalError::NotAnObject));
        assert!(matches!(
            check_canonical(b"{"),
            Err(CanonicalError::NotJson(_))
        ));
        assert!(to_canonical(&serde_json::json!({"x": 0.5})).is_err());
    }
}

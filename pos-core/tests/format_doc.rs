//! Keeps the worked example of `docs/JOURNAL-FORMAT.md` true.
//!
//! The example is regenerated here with the same fixed key, clock and inputs, through the public
//! API (`Journal::create`, `Journal::sale`, `JournalReader`). Every fenced block of the document
//! that follows an `<!-- example:NAME -->` marker must equal what the code produces now, so the
//! test fails when the document or the format drifts. The hash and the signature are also
//! recomputed independently, from the documented layout, with `sha2` and `ed25519_dalek`.
//!
//! To print the blocks after a deliberate format change:
//! `cargo test -p pos-core --test format_doc -- --ignored --nocapture`.

use ed25519_dalek::{Signature, SigningKey, Verifier};
use pos_core::journal::Clock;
use pos_core::prelude::*;
use pos_core::record::{preimage, Record};
use pos_core::sample::FRENCH_VAT_RATES;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The seed of the example's signing key.
const SEED: [u8; 32] = [1; 32];
/// 2025-03-14T08:00:00.000Z.
const OPENING_MS: i64 = 1_741_939_200_000;
/// 2025-03-14T08:02:15.250Z.
const SALE_MS: i64 = 1_741_939_335_250;

/// A clock that gives the listed instants one after the other (then the last one again).
struct ListClock {
    times: Vec<i64>,
    next: AtomicUsize,
}

impl Clock for ListClock {
    fn now_ms(&self) -> i64 {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.times[i.min(self.times.len() - 1)]
    }
}

fn example_opening() -> OpeningBody {
    let mut o = sample_opening();
    // Fixed, so that a new crate version does not change the example.
    o.software = Software {
        name: "pos-core".into(),
        version: "1.0.0".into(),
    };
    o.vat_rates = FRENCH_VAT_RATES.to_vec();
    o
}

fn example_sale() -> SaleInput {
    SaleInput {
        operator: "op-07".into(),
        lines: vec![
            LineInput {
                sku: "BAG-TRAD".into(),
                label: "Baguette tradition".into(),
                quantity: Qty(2000),
                unit: Unit::Piece,
                unit_price: Cents(130),
                vat_rate: VatRate(550),
                discount: Cents::ZERO,
            },
            LineInput {
                sku: "COMTE-18".into(),
                label: "Comté 18 mois".into(),
                quantity: Qty(253),
                unit: Unit::Kg,
                unit_price: Cents(2890),
                vat_rate: VatRate(550),
                discount: Cents(31),
            },
            LineInput {
                sku: "CAFE".into(),
                label: "Café".into(),
                quantity: Qty(1000),
                unit: Unit::Piece,
                unit_price: Cents(250),
                vat_rate: VatRate(1000),
                discount: Cents::ZERO,
            },
        ],
        ticket_discount: Cents(50),
        payments: vec![
            Payment {
                method: PaymentMethod::Card,
                amount: Cents(500),
            },
            Payment {
                method: PaymentMethod::Cash,
                amount: Cents(1000),
            },
        ],
    }
}

struct Example {
    opening: Record,
    event: Record,
    sale: Record,
}

fn generate() -> Example {
    generate_with(KeyPair::from_seed(SEED))
}

/// The secret scalar of the P-256 example: RFC 6979's key of appendix A.2.5, so that its
/// published signatures check the deterministic nonce and the `r || s` encoding.
const P256_SECRET: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
/// RFC 6979 A.2.5, ECDSA P-256 with SHA-256, message "sample": r then s.
const RFC6979_SAMPLE: &str = "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716\
                              f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8";

fn p256_key() -> KeyPair {
    let secret: [u8; 32] = hex::decode(P256_SECRET).unwrap().try_into().unwrap();
    KeyPair::from_secret(pos_core::keys::Algorithm::EcdsaP256Sha256, secret).unwrap()
}

/// The example journal (same opening, clock and sale) signed with `key`.
fn generate_with(key: KeyPair) -> Example {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let options = JournalOptions {
        clock: Arc::new(ListClock {
            times: vec![OPENING_MS, SALE_MS],
            next: AtomicUsize::new(0),
        }),
        ..JournalOptions::default()
    };
    let journal = Journal::create(&path, key, example_opening(), options).unwrap();
    let appended = journal.sale(&example_sale()).unwrap();
    journal.close();

    let reader = JournalReader::open(&path).unwrap();
    let opening = reader.record(1).unwrap().unwrap().unwrap();
    // Seq 2 is the `journal_opened` event the journal writes after its opening record.
    let event = reader.record(2).unwrap().unwrap().unwrap();
    assert_eq!(event.kind, "event");
    let sale = reader.record(3).unwrap().unwrap().unwrap();
    assert_eq!(reader.last_seq().unwrap(), 3);
    assert_eq!(appended.seq, sale.seq);
    assert_eq!(appended.hash, sale.hash);
    assert_eq!(appended.signature, sale.signature);
    assert_eq!(appended.body, sale.body);

    let mut findings = CollectFindings::default();
    let summary = verify_journal(&reader, &VerifyOptions::default(), &mut findings).unwrap();
    assert!(findings.findings.is_empty(), "{:?}", findings.findings);
    assert_eq!(summary.records, 3);
    Example {
        opening,
        event,
        sale,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header_block(r: &Record) -> String {
    format!(
        "format_version = {}\nseq            = {}\nkind           = {}\nkind_seq       = {}\n\
         timestamp_ms   = {}\nprev_hash      = {}\nprev_kind_hash = {}\nkey_id         = {}\n",
        r.format_version,
        r.seq,
        r.kind,
        r.kind_seq,
        r.timestamp_ms,
        hex::encode(r.prev_hash),
        hex::encode(r.prev_kind_hash),
        hex::encode(r.key_id.0),
    )
}

/// The preimage as an annotated dump: decimal offset, the bytes in hex, what they are.
fn preimage_dump(r: &Record) -> String {
    let fields: Vec<(Vec<u8>, String)> = vec![
        (b"POSJRNL1".to_vec(), "tag \"POSJRNL1\"".into()),
        (
            r.format_version.to_be_bytes().to_vec(),
            format!("format_version = {}", r.format_version),
        ),
        (r.seq.to_be_bytes().to_vec(), format!("seq = {}", r.seq)),
        (
            vec![r.kind.len() as u8],
            format!("kind length = {}", r.kind.len()),
        ),
        (r.kind.as_bytes().to_vec(), format!("kind = \"{}\"", r.kind)),
        (
            r.kind_seq.to_be_bytes().to_vec(),
            format!("kind_seq = {}", r.kind_seq),
        ),
        (
            r.timestamp_ms.to_be_bytes().to_vec(),
            format!("timestamp_ms = {}", r.timestamp_ms),
        ),
        (r.prev_hash.to_vec(), "prev_hash".into()),
        (r.prev_kind_hash.to_vec(), "prev_kind_hash".into()),
        (r.key_id.0.to_vec(), "key_id".into()),
        (
            (r.body.len() as u32).to_be_bytes().to_vec(),
            format!("body length = {}", r.body.len()),
        ),
    ];
    let mut out = String::new();
    let mut offset = 0;
    for (bytes, label) in fields {
        out += &format!("{offset:>4}  {}  {label}\n", hex::encode(&bytes));
        offset += bytes.len();
    }
    for (i, chunk) in r.body.chunks(32).enumerate() {
        let label = if i == 0 { "  body" } else { "" };
        out += &format!("{offset:>4}  {}{label}\n", hex::encode(chunk));
        offset += chunk.len();
    }
    out
}

/// Every documented block, by marker name, as the code produces it now.
fn expected_blocks(ex: &Example) -> BTreeMap<&'static str, String> {
    let key = KeyPair::from_seed(SEED);
    let line = |s: String| s + "\n";
    BTreeMap::from([
        ("seed", line(hex::encode(SEED))),
        (
            "public-key",
            line(hex::encode(key.verifying_key().to_bytes())),
        ),
        ("key-id", line(key.id().to_hex())),
        ("opening-body", line(text(&ex.opening.body))),
        ("opening-header", header_block(&ex.opening)),
        ("opening-hash", line(hex::encode(ex.opening.hash))),
        ("opening-signature", line(hex::encode(ex.opening.signature))),
        ("sale-body", line(text(&ex.sale.body))),
        ("sale-header", header_block(&ex.sale)),
        ("sale-preimage", preimage_dump(&ex.sale)),
        ("sale-hash", line(hex::encode(ex.sale.hash))),
        ("sale-signature", line(hex::encode(ex.sale.signature))),
    ])
}

/// The P-256 blocks: the key, RFC 6979's "sample" signature, and the example's sale signed
/// with that key.
fn expected_p256_blocks() -> BTreeMap<&'static str, String> {
    let key = p256_key();
    let ex = generate_with(key.clone());
    let line = |s: String| s + "\n";
    BTreeMap::from([
        ("p256-secret", line(P256_SECRET.to_string())),
        (
            "p256-public-key",
            line(hex::encode(key.verifying_key().to_bytes())),
        ),
        ("p256-key-id", line(key.id().to_hex())),
        (
            "p256-sample-signature",
            line(hex::encode(
                pos_core::keys::Signer::sign(&key, b"sample").unwrap(),
            )),
        ),
        ("p256-sale-header", header_block(&ex.sale)),
        ("p256-sale-hash", line(hex::encode(ex.sale.hash))),
        ("p256-sale-signature", line(hex::encode(ex.sale.signature))),
    ])
}

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/JOURNAL-FORMAT.md")
}

/// The fenced blocks that follow `<!-- example:NAME -->` markers.
fn doc_blocks(doc: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = doc.lines();
    while let Some(l) = lines.next() {
        let Some(name) = l
            .trim()
            .strip_prefix("<!-- example:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let name = name.trim().to_string();
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "marker {name} must be followed by a fenced block, found {fence:?}"
        );
        let mut body = String::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            body += l;
            body += "\n";
        }
        assert!(
            out.insert(name.clone(), body).is_none(),
            "marker {name} appears twice"
        );
    }
    out
}

#[test]
fn document_example_matches_the_code() {
    let ex = generate();
    let doc = std::fs::read_to_string(doc_path()).expect("docs/JOURNAL-FORMAT.md is readable");
    let found = doc_blocks(&doc);
    let mut expected = expected_blocks(&ex);
    expected.extend(expected_p256_blocks());
    let found_names: Vec<&str> = found.keys().map(String::as_str).collect();
    let expected_names: Vec<&str> = expected.keys().copied().collect();
    assert_eq!(
        found_names, expected_names,
        "the document's example markers"
    );
    for (name, want) in &expected {
        assert_eq!(
            &found[*name], want,
            "block <!-- example:{name} --> of docs/JOURNAL-FORMAT.md differs from the code"
        );
    }
}

/// The documented layout, written out here without `record_hash` or `preimage`.
fn documented_preimage(r: &Record) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(b"POSJRNL1");
    p.extend_from_slice(&r.format_version.to_be_bytes());
    p.extend_from_slice(&r.seq.to_be_bytes());
    p.push(u8::try_from(r.kind.len()).unwrap());
    p.extend_from_slice(r.kind.as_bytes());
    p.extend_from_slice(&r.kind_seq.to_be_bytes());
    p.extend_from_slice(&r.timestamp_ms.to_be_bytes());
    p.extend_from_slice(&r.prev_hash);
    p.extend_from_slice(&r.prev_kind_hash);
    p.extend_from_slice(&r.key_id.0);
    p.extend_from_slice(&u32::try_from(r.body.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&r.body);
    p
}

#[test]
fn hash_signature_and_key_id_recomputed_independently() {
    let ex = generate();
    let signing = SigningKey::from_bytes(&SEED);
    let public = signing.verifying_key();

    // Key id: the first 16 bytes of SHA-256("ed25519" || 0x00 || public key).
    let mut d = Sha256::new();
    d.update(b"ed25519\0");
    d.update(public.as_bytes());
    let key_id: [u8; 32] = d.finalize().into();
    assert_eq!(&key_id[..16], &ex.sale.key_id.0[..]);
    assert_eq!(ex.opening.key_id, ex.sale.key_id);

    // The opening names the key that signs it.
    let opening: serde_json::Value = serde_json::from_slice(&ex.opening.body).unwrap();
    assert_eq!(opening["key"]["public_key"], hex::encode(public.as_bytes()));
    assert_eq!(opening["key"]["key_id"], hex::encode(&key_id[..16]));
    assert_eq!(opening["key"]["algorithm"], "ed25519");

    for r in [&ex.opening, &ex.sale] {
        let pre = documented_preimage(r);
        assert_eq!(Some(pre.clone()), preimage(&r.header(), &r.body));
        let hash: [u8; 32] = Sha256::digest(&pre).into();
        assert_eq!(hash, r.hash, "hash of seq {}", r.seq);
        // Ed25519 over the 32 hash bytes (not over the preimage).
        let sig = Signature::from_bytes(&r.signature);
        public.verify(&hash, &sig).unwrap();
        assert!(public.verify(&pre, &sig).is_err());
        // Deterministic signatures (RFC 8032): signing again gives the same bytes.
        assert_eq!(
            ed25519_dalek::Signer::sign(&signing, &hash).to_bytes(),
            r.signature
        );
    }

    // The links.
    assert_eq!(ex.opening.prev_hash, [0; 32]);
    assert_eq!(ex.event.prev_hash, ex.opening.hash);
    assert_eq!(ex.sale.prev_hash, ex.event.hash);
    assert_eq!(ex.sale.prev_kind_hash, [0; 32]);

    // The documented dump is the preimage: its hex column, joined, decodes to the same bytes.
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let dump = &doc_blocks(&doc)["sale-preimage"];
    let hex_text: String = dump
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default())
        .collect();
    let documented = hex::decode(hex_text).unwrap();
    assert_eq!(documented, documented_preimage(&ex.sale));
    let hash: [u8; 32] = Sha256::digest(&documented).into();
    let doc_hash = doc_blocks(&doc)["sale-hash"].trim().to_string();
    assert_eq!(hex::encode(hash), doc_hash);
}

/// Prints the blocks for the document (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn print_example_blocks() {
    let ex = generate();
    for (name, block) in expected_blocks(&ex)
        .into_iter()
        .chain(expected_p256_blocks())
    {
        println!("<!-- example:{name} -->\n```text\n{block}```\n");
    }
}

/// The canonical-encoding rules the document states, on the cases where a naive encoder differs.
#[test]
fn canonical_encoding_rules_of_the_document() {
    use pos_core::canonical::{check_canonical, to_canonical, CanonicalError};
    // Strings: only `"`, `\` and U+0000..U+001F are escaped (short forms where they exist,
    // otherwise \u00xx in lowercase hex); everything else is literal UTF-8.
    let v = serde_json::json!({"s": "\u{1}\u{8}\t\n\u{c}\r\u{1f}\"\\/\u{7f}é\u{2028}😀"});
    assert_eq!(
        text(&to_canonical(&v).unwrap()),
        "{\"s\":\"\\u0001\\b\\t\\n\\f\\r\\u001f\\\"\\\\/\u{7f}é\u{2028}😀\"}"
    );
    // Keys sort by UTF-16 code units, not by UTF-8 bytes: U+1F600 (D83D DE00) sorts before
    // U+E000, although its UTF-8 form (F0...) sorts after (EE...).
    let v = serde_json::json!({"\u{e000}": 1, "😀": 2, "b": 3, "B": 4, "a": {"y": 5, "x": 6}});
    assert_eq!(
        text(&to_canonical(&v).unwrap()),
        "{\"B\":4,\"a\":{\"x\":6,\"y\":5},\"b\":3,\"😀\":2,\"\u{e000}\":1}"
    );
    // Integers only, within +/-(2^53 - 1); `-0`, `1.0` and exponents are not integers.
    check_canonical(b"{\"a\":9007199254740991,\"b\":-9007199254740991}").unwrap();
    for bad in [
        &b"{\"a\":9007199254740992}"[..],
        b"{\"a\":-9007199254740992}",
        b"{\"a\":-0}",
        b"{\"a\":1.0}",
        b"{\"a\":1e2}",
    ] {
        assert_eq!(check_canonical(bad), Err(CanonicalError::NotAnInteger));
    }
    // Whitespace, key order, duplicate keys and needless escapes are not canonical.
    for bad in [
        &b"{\"a\": 1}"[..],
        b"{\"b\":1,\"a\":2}",
        b"{\"a\":1,\"a\":1}",
        b"{\"a\":\"\\u0041\"}",
        b"{\"a\":\"\\/\"}",
        b"{\"a\":1}\n",
    ] {
        assert_eq!(check_canonical(bad), Err(CanonicalError::NotCanonical));
    }
}

#[test]
fn document_tables_match_the_code() {
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    for e in pos_core::events::ALL {
        let row = format!("| `{}` | {} |", e.code, e.meaning);
        assert!(doc.contains(&row), "event code row missing: {row}");
    }
    for p in pos_core::verify::Problem::ALL {
        let name = serde_json::to_value(p).unwrap();
        let row = format!("| `{}` | {} |", name.as_str().unwrap(), p.explain());
        assert!(doc.contains(&row), "finding row missing: {row}");
    }
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "opening",
            "sale",
            "refund",
            "event",
            "key_change",
            "closure",
            "duplicate",
            "training",
            "archive"
        ]
    );
    for (i, k) in kinds.iter().enumerate() {
        let title = format!("### 6.{} `{k}`", i + 1);
        assert!(doc.contains(&title), "section {title:?} missing");
    }
    for (value, what) in [
        (
            format!("0x{:X}", pos_core::store::APPLICATION_ID),
            "application id",
        ),
        (
            format!("`{}`", pos_core::store::SCHEMA_VERSION),
            "user version",
        ),
        (
            format!("{}", pos_core::ticket::MAX_LINES_PER_TICKET),
            "line limit",
        ),
        (
            format!("{}", pos_core::ticket::MAX_QUANTITY),
            "quantity limit",
        ),
        (
            format!("{}", pos_core::ticket::MAX_UNIT_PRICE),
            "unit price limit",
        ),
        (
            format!("{:?}", pos_core::record::KNOWN_FORMAT_VERSIONS),
            "known versions",
        ),
    ] {
        assert!(doc.contains(&value), "{what} {value} not in the document");
    }
    assert_eq!(pos_core::record::PREIMAGE_TAG, b"POSJRNL1");
    assert_eq!(pos_core::record::MAX_BODY_LEN, 1_048_576);
    assert_eq!(pos_core::record::MAX_KIND_LEN, 32);
    assert_eq!(pos_core::ticket::MAX_PAYMENTS_PER_TICKET, 16);
    assert_eq!(pos_core::ticket::MAX_SKU_LEN, 64);
    assert_eq!(pos_core::ticket::MAX_TEXT_LEN, 256);
}

#[test]
fn p256_signatures_recomputed_independently() {
    use p256::ecdsa::signature::{Signer as _, Verifier as _};
    let secret = hex::decode(P256_SECRET).unwrap();
    let signing = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    let public = signing.verifying_key();
    // RFC 6979's published signature of "sample": the nonce is deterministic and the signature
    // is r || s, big-endian.
    let sample: p256::ecdsa::Signature = signing.sign(b"sample");
    assert_eq!(hex::encode(sample.to_bytes()), RFC6979_SAMPLE);
    // The key id: the first 16 bytes of SHA-256("ecdsa-p256-sha256" || 0x00 || 04 || x || y).
    let point = public.to_encoded_point(false);
    assert_eq!(point.as_bytes().len(), 65);
    let mut d = Sha256::new();
    d.update(b"ecdsa-p256-sha256\0");
    d.update(point.as_bytes());
    let key_id: [u8; 32] = d.finalize().into();
    let ex = generate_with(p256_key());
    assert_eq!(&key_id[..16], &ex.sale.key_id.0[..]);
    let opening: serde_json::Value = serde_json::from_slice(&ex.opening.body).unwrap();
    assert_eq!(opening["key"]["algorithm"], "ecdsa-p256-sha256");
    assert_eq!(opening["key"]["public_key"], hex::encode(point.as_bytes()));
    for r in [&ex.opening, &ex.event, &ex.sale] {
        let hash: [u8; 32] = Sha256::digest(documented_preimage(r)).into();
        assert_eq!(hash, r.hash);
        // ECDSA over the 32 hash bytes as the message (its digest is SHA-256 of the hash).
        let sig = p256::ecdsa::Signature::from_slice(&r.signature).unwrap();
        public.verify(&hash, &sig).unwrap();
        let again: p256::ecdsa::Signature = signing.sign(&hash);
        assert_eq!(again.to_bytes().as_slice(), &r.signature[..]);
    }
}

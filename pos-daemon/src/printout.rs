//! What gets printed, from the journal's own records: receipts (sales, refunds, training
//! tickets, duplicates) and Z reports (closures), mapped onto the drivers' data types.

use crate::config::Config;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use drivers::receipt as r;
use pos_core::anchor::Anchor;
use pos_core::body::{Body, OpeningBody};
use pos_core::closure::{ClosureBody, XReport};
use pos_core::keys::KeyPair;
use pos_core::reader::JournalReader;
use pos_core::receipt::ReceiptFields;
use pos_core::record::{Kind, Record};
use pos_core::ticket::{PaymentMethod, VatTotal};

/// Why a record cannot be printed.
#[derive(Debug, thiserror::Error)]
pub enum PrintoutError {
    /// The record is missing or unreadable.
    #[error("record {0} cannot be read: {1}")]
    Unreadable(u64, String),
    /// The record's kind has no printout.
    #[error("record {0} ({1}) has no printout")]
    NotPrintable(u64, String),
    /// The layout refused it.
    #[error("layout: {0}")]
    Layout(#[from] drivers::layout::LayoutError),
}

/// A payment method as printed.
pub fn method_label(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::Cash => "Espèces",
        PaymentMethod::Card => "Carte bancaire",
        PaymentMethod::Cheque => "Chèque",
        PaymentMethod::MealVoucher => "Titre-restaurant",
        PaymentMethod::CreditNote => "Avoir",
        PaymentMethod::Online => "Payé en ligne",
        PaymentMethod::Other => "Autre",
    }
}

/// Local date and time, `27/11/2026 10:15:03`.
pub fn local_time(ms: i64, zone: &str) -> String {
    let Some(utc) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz
            .from_utc_datetime(&utc.naive_utc())
            .format("%d/%m/%Y %H:%M:%S")
            .to_string(),
        Err(_) => utc.format("%d/%m/%Y %H:%M:%S UTC").to_string(),
    }
}

/// NF525 practice: characters 3, 7, 13 and 19 of the signature string (base64url here).
pub fn signature_extract(signature: &[u8; 64]) -> String {
    let s = URL_SAFE_NO_PAD.encode(signature);
    [3usize, 7, 13, 19]
        .iter()
        .filter_map(|i| s.chars().nth(i - 1))
        .collect()
}

/// The receipt verification string of a ticket record, signed with `key`.
pub fn receipt_code(
    record: &Record,
    register: &str,
    total_cents: i64,
    key: &KeyPair,
) -> Result<String, pos_core::receipt::ReceiptError> {
    ReceiptFields {
        register: register.to_string(),
        seq: record.seq,
        kind: record.kind.clone(),
        number: record.kind_seq,
        timestamp_ms: record.timestamp_ms,
        total_cents,
        hash_prefix: hex::encode(&record.hash[..8]),
    }
    .sign(key)
}

fn merchant(o: &OpeningBody) -> r::Merchant {
    r::Merchant {
        name: o.merchant.name.clone(),
        address: o.merchant.address.split(", ").map(str::to_string).collect(),
        siret: o.merchant.siret.clone(),
        vat_id: Some(o.merchant.vat_id.clone()).filter(|v| !v.is_empty()),
    }
}

fn software() -> r::Software {
    let s = crate::software();
    r::Software {
        name: s.name,
        version: s.version,
        certificate: None,
    }
}

fn vat(v: &[VatTotal]) -> Vec<r::VatTotal> {
    v.iter()
        .map(|t| r::VatTotal {
            rate_bp: t.rate.0,
            base_cents: t.net.0,
            vat_cents: t.vat.0,
            total_cents: t.gross.0,
        })
        .collect()
}

fn read(reader: &JournalReader, seq: u64) -> Result<Record, PrintoutError> {
    match reader.record(seq) {
        Ok(Some(Ok(rec))) => Ok(rec),
        Ok(Some(Err(e))) => Err(PrintoutError::Unreadable(seq, format!("{e:?}"))),
        Ok(None) => Err(PrintoutError::Unreadable(seq, "no such record".into())),
        Err(e) => Err(PrintoutError::Unreadable(seq, e.to_string())),
    }
}

fn decode(rec: &Record) -> Result<Body, PrintoutError> {
    let kind = rec
        .known_kind()
        .ok_or_else(|| PrintoutError::NotPrintable(rec.seq, rec.kind.clone()))?;
    Body::decode(kind, &rec.body).map_err(|e| PrintoutError::Unreadable(rec.seq, e.to_string()))
}

/// The receipt of a ticket record (`copy` for a duplicate).
pub fn receipt_of(
    rec: &Record,
    opening: &OpeningBody,
    config: &Config,
    key: &KeyPair,
    copy: Option<u64>,
) -> Result<r::Receipt, PrintoutError> {
    let body = decode(rec)?;
    let mut receipt = r::Receipt {
        merchant: merchant(opening),
        ticket_number: rec.kind_seq,
        register: opening.register_id.clone(),
        date_time: local_time(rec.timestamp_ms, &opening.time_zone),
        software: software(),
        signature_extract: signature_extract(&rec.signature),
        duplicate: copy.map(|c| u32::try_from(c).unwrap_or(u32::MAX)),
        footer: config.receipt_footer.clone(),
        ..Default::default()
    };
    match body {
        Body::Sale(s) | Body::Training(s) => {
            receipt.training = rec.kind == Kind::Training.as_str();
            receipt.operator = Some(s.operator.clone());
            receipt.lines = s
                .lines
                .iter()
                .map(|l| r::ReceiptLine {
                    label: l.label.clone(),
                    quantity_milli: l.quantity.0,
                    is_weight: l.unit == pos_core::ticket::Unit::Kg,
                    unit_price_cents: l.unit_price.0,
                    total_cents: l.gross.0 - l.line_discount.0,
                    vat_rate_bp: l.vat_rate.0,
                    discount: (l.line_discount.0 != 0).then(|| r::Discount {
                        label: "remise".into(),
                        amount_cents: l.line_discount.0,
                    }),
                })
                .collect();
            receipt.ticket_discount = (s.ticket_discount.0 != 0).then(|| r::Discount {
                label: "remise ticket".into(),
                amount_cents: s.ticket_discount.0,
            });
            receipt.vat = vat(&s.vat);
            receipt.total_cents = s.total.0;
            receipt.payments = s
                .payments
                .iter()
                .map(|p| r::Payment {
                    method: method_label(p.method).into(),
                    amount_cents: p.amount.0,
                })
                .collect();
            receipt.change_cents = s.change.0;
            receipt.line_count = u32::try_from(s.lines.len()).unwrap_or(u32::MAX);
            receipt.qr_payload = receipt_code(rec, &opening.register_id, s.total.0, key)
                .map_err(|e| PrintoutError::Unreadable(rec.seq, e.to_string()))?;
        }
        Body::Refund(rf) => {
            receipt.operator = Some(rf.operator.clone());
            receipt.lines = rf
                .lines
                .iter()
                .map(|l| r::ReceiptLine {
                    label: l.label.clone(),
                    quantity_milli: l.quantity.0,
                    is_weight: l.unit == pos_core::ticket::Unit::Kg,
                    unit_price_cents: l.unit_price.0,
                    total_cents: l.total.0,
                    vat_rate_bp: l.vat_rate.0,
                    discount: None,
                })
                .collect();
            receipt.vat = vat(&rf.vat);
            receipt.total_cents = rf.total.0;
            receipt.payments = rf
                .payments
                .iter()
                .map(|p| r::Payment {
                    method: method_label(p.method).into(),
                    amount_cents: p.amount.0,
                })
                .collect();
            receipt.line_count = u32::try_from(rf.lines.len()).unwrap_or(u32::MAX);
            receipt.refund = Some(r::RefundMark {
                void: rf.void,
                original_ticket: rf.original.ticket,
                reason: rf.reason.clone(),
            });
            receipt.qr_payload = receipt_code(rec, &opening.register_id, rf.total.0, key)
                .map_err(|e| PrintoutError::Unreadable(rec.seq, e.to_string()))?;
        }
        _ => return Err(PrintoutError::NotPrintable(rec.seq, rec.kind.clone())),
    }
    Ok(receipt)
}

fn date_fr(iso: &str) -> String {
    match chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d") {
        Ok(d) => d.format("%d/%m/%Y").to_string(),
        Err(_) => iso.to_string(),
    }
}

fn chain_head(rec: &Record, register: &str) -> r::ChainHead {
    let anchor = Anchor::of_record(register, rec);
    r::ChainHead {
        sequence: rec.seq,
        hash_hex: anchor.hash.clone(),
        signature_extract: signature_extract(&rec.signature),
        qr_payload: anchor.qr_text(),
    }
}

/// The Z report of a closure record; its chain head is the closure record itself.
pub fn z_report_of(
    rec: &Record,
    c: &ClosureBody,
    opening: &OpeningBody,
    copy: Option<u64>,
) -> r::Report {
    r::Report {
        kind: r::ReportKind::Z,
        merchant: merchant(opening),
        register: opening.register_id.clone(),
        number: Some(rec.kind_seq),
        period_start: date_fr(&c.start),
        period_end: date_fr(&c.end),
        ticket_count: c.totals.sales + c.totals.refunds,
        vat: vat(&c.totals.vat),
        payments: c
            .totals
            .payments
            .iter()
            .map(|p| r::Payment {
                method: method_label(p.method).into(),
                amount_cents: p.amount.0,
            })
            .collect(),
        period_total_cents: c.totals.total.0,
        perpetual_total_cents: c.perpetual_total.0,
        perpetual_absolute_cents: c.perpetual_absolute_total.0,
        chain_head: chain_head(rec, &opening.register_id),
        software: software(),
        training: false,
        duplicate: copy.map(|c| u32::try_from(c).unwrap_or(u32::MAX)),
    }
}

/// The X report of the open day, with the current chain head.
pub fn x_report_of(x: &XReport, head: &Record, opening: &OpeningBody) -> r::Report {
    let day = x.open_day.clone().map(|d| date_fr(&d)).unwrap_or_default();
    r::Report {
        kind: r::ReportKind::X,
        merchant: merchant(opening),
        register: opening.register_id.clone(),
        number: None,
        period_start: day,
        period_end: local_time(head.timestamp_ms, &opening.time_zone),
        ticket_count: x.day.sales + x.day.refunds,
        vat: vat(&x.day.vat),
        payments: x
            .day
            .payments
            .iter()
            .map(|p| r::Payment {
                method: method_label(p.method).into(),
                amount_cents: p.amount.0,
            })
            .collect(),
        period_total_cents: x.day.total.0,
        perpetual_total_cents: x.perpetual_total.0,
        perpetual_absolute_cents: x.perpetual_absolute_total.0,
        chain_head: chain_head(head, &opening.register_id),
        software: software(),
        training: false,
        duplicate: None,
    }
}

/// The bytes of a journal record's printout, and a readable text of it.
pub fn render_record(
    reader: &JournalReader,
    seq: u64,
    opening: &OpeningBody,
    config: &Config,
    key: &KeyPair,
    width: drivers::layout::PaperWidth,
) -> Result<(Vec<u8>, String), PrintoutError> {
    let rec = read(reader, seq)?;
    let text = pos_core::render::record_text(&rec, Some(opening));
    let bytes = match decode(&rec)? {
        Body::Sale(_) | Body::Training(_) | Body::Refund(_) => {
            let receipt = receipt_of(&rec, opening, config, key, None)?;
            drivers::layout::render_receipt(&receipt, width)?
        }
        Body::Duplicate(d) => {
            let original = read(reader, d.original.seq)?;
            match decode(&original)? {
                Body::Closure(c) => drivers::layout::render_report(
                    &z_report_of(&original, &c, opening, Some(d.copy)),
                    width,
                )?,
                _ => {
                    let receipt = receipt_of(&original, opening, config, key, Some(d.copy))?;
                    drivers::layout::render_receipt(&receipt, width)?
                }
            }
        }
        Body::Closure(c) => {
            drivers::layout::render_report(&z_report_of(&rec, &c, opening, None), width)?
        }
        _ => return Err(PrintoutError::NotPrintable(seq, rec.kind.clone())),
    };
    Ok((bytes, text))
}

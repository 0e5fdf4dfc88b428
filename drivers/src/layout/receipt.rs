//! The sales receipt.

use super::doc::{Align, Doc};
use super::format::{format_money, format_quantity, format_rate, table_row, two_columns};
use super::{LayoutError, PaperWidth, MAX_RECEIPT_LINES};
use crate::commands::{qr_code, QrLevel};
use crate::receipt::{Merchant, Receipt, Software, VatTotal};
use crate::text::encode;

/// Label lines kept per item: a longer label is cut rather than flooding the paper.
const MAX_LABEL_LINES: usize = 3;
/// QR module size in dots: ~25 mm for a 100-character payload at 203 dpi, easy to scan.
const QR_MODULE: u8 = 5;

pub(crate) const TRAINING_MARK: &str = "MODE ÉCOLE – FACTICE";

/// Lays a receipt out for `width` paper. Deterministic: the same receipt gives the same bytes.
pub fn render_receipt(receipt: &Receipt, width: PaperWidth) -> Result<Vec<u8>, LayoutError> {
    if receipt.lines.len() > MAX_RECEIPT_LINES {
        return Err(LayoutError::TooManyLines(receipt.lines.len()));
    }
    let mut doc = Doc::new(width.columns())?;
    if receipt.training {
        training_mark(&mut doc)?;
    }
    if let Some(copy) = receipt.duplicate {
        duplicate_mark(&mut doc, copy)?;
    }
    merchant_header(&mut doc, &receipt.merchant)?;
    ticket_header(&mut doc, receipt)?;
    items(&mut doc, receipt)?;
    totals(&mut doc, receipt)?;
    vat_table(&mut doc, &receipt.vat)?;
    payments(&mut doc, receipt)?;
    footer(&mut doc, receipt)?;
    doc.feed(3)?;
    doc.finish(receipt.cut)
}

pub(crate) fn training_mark(doc: &mut Doc) -> Result<(), LayoutError> {
    doc.align(Align::Center)?.bold(true)?.size(1, 2)?;
    doc.line(TRAINING_MARK)?;
    doc.size(1, 1)?.bold(false)?.align(Align::Left)?;
    Ok(())
}

pub(crate) fn duplicate_mark(doc: &mut Doc, copy: u32) -> Result<(), LayoutError> {
    doc.align(Align::Center)?.bold(true)?.size(1, 2)?;
    doc.line(&format!("DUPLICATA n° {copy}"))?;
    doc.size(1, 1)?.bold(false)?.align(Align::Left)?;
    Ok(())
}

pub(crate) fn merchant_header(doc: &mut Doc, merchant: &Merchant) -> Result<(), LayoutError> {
    doc.align(Align::Center)?.bold(true)?.size(1, 2)?;
    doc.wrapped(&merchant.name, 2)?;
    doc.size(1, 1)?.bold(false)?;
    for line in &merchant.address {
        doc.wrapped(line, 2)?;
    }
    doc.line(&format!("SIRET {}", merchant.siret))?;
    if let Some(vat_id) = &merchant.vat_id {
        doc.line(&format!("TVA intracom. {vat_id}"))?;
    }
    doc.align(Align::Left)?;
    Ok(())
}

fn pair(doc: &mut Doc, left: &str, right: &str) -> Result<(), LayoutError> {
    for line in two_columns(&encode(left), &encode(right), doc.columns) {
        doc.line_bytes(&line)?;
    }
    Ok(())
}

fn ticket_header(doc: &mut Doc, receipt: &Receipt) -> Result<(), LayoutError> {
    doc.rule(b'-')?;
    pair(
        doc,
        &format!("Ticket n° {}", receipt.ticket_number),
        &format!("Caisse {}", receipt.register),
    )?;
    doc.line(&format!("Le {}", receipt.date_time))?;
    if let Some(operator) = &receipt.operator {
        doc.line(&format!("Vendeur : {operator}"))?;
    }
    if let Some(refund) = &receipt.refund {
        doc.rule(b'-')?;
        doc.align(Align::Center)?.bold(true)?.size(1, 2)?;
        doc.line(if refund.void {
            "ANNULATION"
        } else {
            "REMBOURSEMENT"
        })?;
        doc.size(1, 1)?.bold(false)?.align(Align::Left)?;
        doc.line(&format!("du ticket n° {}", refund.original_ticket))?;
        if !refund.reason.is_empty() {
            doc.wrapped(&format!("Motif : {}", refund.reason), 2)?;
        }
    }
    doc.rule(b'-')?;
    Ok(())
}

fn items(doc: &mut Doc, receipt: &Receipt) -> Result<(), LayoutError> {
    for line in &receipt.lines {
        doc.wrapped(&line.label, MAX_LABEL_LINES)?;
        let per_kg = if line.is_weight { "/kg" } else { "" };
        let detail = format!(
            "  {} x {} €{per_kg}",
            format_quantity(line.quantity_milli, line.is_weight),
            format_money(line.unit_price_cents)
        );
        let total = format!(
            "{} {}",
            format_money(line.total_cents),
            format_rate(line.vat_rate_bp)
        );
        pair(doc, &detail, &total)?;
        if let Some(discount) = &line.discount {
            pair(
                doc,
                &format!("  Remise {}", discount.label),
                &format!("-{}", format_money(discount.amount_cents)),
            )?;
        }
    }
    doc.rule(b'-')?;
    Ok(())
}

fn totals(doc: &mut Doc, receipt: &Receipt) -> Result<(), LayoutError> {
    if let Some(discount) = &receipt.ticket_discount {
        pair(
            doc,
            &format!("Remise {}", discount.label),
            &format!("-{} €", format_money(discount.amount_cents)),
        )?;
    }
    doc.bold(true)?.size(1, 2)?;
    pair(
        doc,
        "TOTAL TTC",
        &format!("{} €", format_money(receipt.total_cents)),
    )?;
    doc.size(1, 1)?.bold(false)?;
    Ok(())
}

pub(crate) fn vat_table(doc: &mut Doc, vat: &[VatTotal]) -> Result<(), LayoutError> {
    let cell = doc.columns / 4;
    let widths = [doc.columns - 3 * cell, cell, cell, cell];
    doc.line_bytes(&table_row(&[b"Taux TVA", b"HT", b"TVA", b"TTC"], &widths))?;
    for total in vat {
        let cells = [
            encode(&format_rate(total.rate_bp)),
            encode(&format_money(total.base_cents)),
            encode(&format_money(total.vat_cents)),
            encode(&format_money(total.total_cents)),
        ];
        let refs: Vec<&[u8]> = cells.iter().map(Vec::as_slice).collect();
        doc.line_bytes(&table_row(&refs, &widths))?;
    }
    doc.rule(b'-')?;
    Ok(())
}

fn payments(doc: &mut Doc, receipt: &Receipt) -> Result<(), LayoutError> {
    for payment in &receipt.payments {
        pair(
            doc,
            &payment.method,
            &format!("{} €", format_money(payment.amount_cents)),
        )?;
    }
    if receipt.change_cents != 0 {
        pair(
            doc,
            "Rendu monnaie",
            &format!("{} €", format_money(receipt.change_cents)),
        )?;
    }
    doc.rule(b'-')?;
    Ok(())
}

pub(crate) fn software_lines(doc: &mut Doc, software: &Software) -> Result<(), LayoutError> {
    doc.line(&format!("Logiciel {} {}", software.name, software.version))?;
    if let Some(certificate) = &software.certificate {
        doc.line(&format!("Certificat {certificate}"))?;
    }
    Ok(())
}

fn footer(doc: &mut Doc, receipt: &Receipt) -> Result<(), LayoutError> {
    doc.line(&format!("Nombre de lignes : {}", receipt.line_count))?;
    doc.line(&format!("Signature : {}", receipt.signature_extract))?;
    software_lines(doc, &receipt.software)?;
    doc.align(Align::Center)?;
    doc.raw(&qr_code(
        receipt.qr_payload.as_bytes(),
        QrLevel::M,
        QR_MODULE,
    )?)?;
    doc.feed(1)?;
    for line in &receipt.footer {
        doc.wrapped(line, 2)?;
    }
    if let Some(copy) = receipt.duplicate {
        doc.bold(true)?
            .line(&format!("DUPLICATA n° {copy}"))?
            .bold(false)?;
    }
    doc.align(Align::Left)?;
    if receipt.training {
        training_mark(doc)?;
    }
    Ok(())
}

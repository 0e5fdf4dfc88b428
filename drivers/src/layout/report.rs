//! Z (closure) and X (reading) reports.

use super::doc::{Align, Doc};
use super::format::{format_money, two_columns};
use super::receipt::{duplicate_mark, merchant_header, software_lines, training_mark, vat_table};
use super::{LayoutError, PaperWidth};
use crate::commands::{qr_code, QrLevel};
use crate::receipt::{Cut, Report, ReportKind};
use crate::text::encode;

/// Lays a Z or X report out for `width` paper; the chain head is printed as text and QR code.
pub fn render_report(report: &Report, width: PaperWidth) -> Result<Vec<u8>, LayoutError> {
    let mut doc = Doc::new(width.columns())?;
    if report.training {
        training_mark(&mut doc)?;
    }
    if let Some(copy) = report.duplicate {
        duplicate_mark(&mut doc, copy)?;
    }
    merchant_header(&mut doc, &report.merchant)?;
    doc.rule(b'=')?;
    doc.align(Align::Center)?.bold(true)?.size(1, 2)?;
    let title = match (report.kind, report.number) {
        (ReportKind::Z, Some(n)) => format!("RAPPORT Z n° {n}"),
        (ReportKind::Z, None) => "RAPPORT Z".to_owned(),
        (ReportKind::X, _) => "RAPPORT X (lecture)".to_owned(),
    };
    doc.line(&title)?;
    doc.size(1, 1)?.bold(false)?.align(Align::Left)?;
    doc.line(&format!("Caisse {}", report.register))?;
    doc.line(&format!("Du {}", report.period_start))?;
    doc.line(&format!("Au {}", report.period_end))?;
    pair(&mut doc, "Tickets", &report.ticket_count.to_string())?;
    doc.rule(b'-')?;
    vat_table(&mut doc, &report.vat)?;
    doc.line("Règlements")?;
    for payment in &report.payments {
        pair(
            &mut doc,
            &format!("  {}", payment.method),
            &format!("{} €", format_money(payment.amount_cents)),
        )?;
    }
    doc.rule(b'-')?;
    doc.bold(true)?;
    pair(
        &mut doc,
        "Total période TTC",
        &format!("{} €", format_money(report.period_total_cents)),
    )?;
    doc.bold(false)?;
    pair(
        &mut doc,
        "Grand total perpétuel",
        &format!("{} €", format_money(report.perpetual_total_cents)),
    )?;
    pair(
        &mut doc,
        "Total perpétuel absolu",
        &format!("{} €", format_money(report.perpetual_absolute_cents)),
    )?;
    doc.rule(b'-')?;
    let head = &report.chain_head;
    doc.line(&format!("Séquence {}", head.sequence))?;
    doc.wrapped(&format!("Empreinte {}", head.hash_hex), 3)?;
    doc.line(&format!("Signature : {}", head.signature_extract))?;
    software_lines(&mut doc, &report.software)?;
    doc.align(Align::Center)?;
    doc.raw(&qr_code(head.qr_payload.as_bytes(), QrLevel::M, 5)?)?;
    doc.feed(1)?.align(Align::Left)?;
    if let Some(copy) = report.duplicate {
        duplicate_mark(&mut doc, copy)?;
    }
    if report.training {
        training_mark(&mut doc)?;
    }
    doc.feed(3)?;
    doc.finish(Cut::Partial)
}

fn pair(doc: &mut Doc, left: &str, right: &str) -> Result<(), LayoutError> {
    for line in two_columns(&encode(left), &encode(right), doc.columns) {
        doc.line_bytes(&line)?;
    }
    Ok(())
}

//! Plain-text views of records and verification results for people (`pos-journal show` and
//! `verify`). Pure functions from data to text.

use crate::body::{Body, OpeningBody};
use crate::closure::{ClosureBody, Period, Totals, XReport};
use crate::money::Cents;
use crate::record::Record;
use crate::ticket::{Payment, RefundBody, SaleBody, Unit};
use crate::verify::Summary;
use std::fmt::Write;

pub use crate::datetime::format_time;

/// A record header line followed by its body, readable. Tickets look like receipts.
pub fn record_text(r: &Record, opening: Option<&OpeningBody>) -> String {
    let zone = opening.map(|o| o.time_zone.as_str());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "── seq {} · {} #{} · {} · key {}",
        r.seq,
        r.kind,
        r.kind_seq,
        format_time(r.timestamp_ms, zone),
        r.key_id
    );
    let _ = writeln!(out, "   hash {}", hex::encode(r.hash));
    let body = r.known_kind().and_then(|k| Body::decode(k, &r.body).ok());
    match body {
        Some(Body::Opening(o)) => {
            let m = &o.merchant;
            let _ = writeln!(out, "   {} — {}", m.name, m.address);
            let _ = writeln!(out, "   SIRET {} · VAT {}", m.siret, m.vat_id);
            let _ = writeln!(
                out,
                "   register {} · {} {} · {} · {}",
                o.register_id, o.software.name, o.software.version, o.time_zone, o.currency
            );
            let rates: Vec<String> = o.vat_rates.iter().map(|r| format!("{r} %")).collect();
            let _ = writeln!(out, "   VAT rates {}", rates.join(", "));
            let _ = writeln!(
                out,
                "   key {} ({})",
                o.key.key_id,
                o.key.algorithm.as_str()
            );
        }
        Some(Body::Sale(s)) => sale_text(&mut out, "TICKET", r, &s),
        Some(Body::Training(s)) => {
            let _ = writeln!(out, "   *** MODE ÉCOLE – FACTICE ***");
            sale_text(&mut out, "TICKET ÉCOLE", r, &s);
            let _ = writeln!(out, "   *** MODE ÉCOLE – FACTICE ***");
        }
        Some(Body::Closure(c)) => closure_text(&mut out, r, &c),
        Some(Body::Archive(a)) => {
            let _ = writeln!(
                out,
                "   ARCHIVE {} · seq {} to {} · file {} sha256 {}",
                a.label, a.first_seq, a.last_seq, a.file_name, a.file_sha256
            );
        }
        Some(Body::Duplicate(d)) => {
            let _ = writeln!(
                out,
                "   DUPLICATA n° {} of {} n° {} (seq {}) · operator {} · {}",
                d.copy, d.original.kind, d.original.number, d.original.seq, d.operator, d.reason
            );
        }
        Some(Body::Refund(rf)) => refund_text(&mut out, &rf),
        Some(Body::Event(e)) => {
            let _ = writeln!(out, "   [{}] {}", e.code, e.message);
            if let Some(op) = &e.operator {
                let _ = writeln!(out, "   operator {op}");
            }
            for (k, v) in &e.details {
                let _ = writeln!(out, "   {k}: {v}");
            }
        }
        Some(Body::KeyChange(k)) => {
            let _ = writeln!(
                out,
                "   new key {} ({}): {}",
                k.new_key.key_id,
                k.new_key.algorithm.as_str(),
                k.reason
            );
        }
        None => {
            let _ = writeln!(out, "   {}", String::from_utf8_lossy(&r.body));
        }
    }
    out
}

fn quantity_text(q: crate::money::Qty, unit: Unit) -> String {
    match unit {
        Unit::Kg => format!("{q} kg"),
        Unit::Piece if q.0 % 1000 == 0 => format!("{}", q.0 / 1000),
        Unit::Piece => q.to_string(),
    }
}

fn payments_text(out: &mut String, payments: &[Payment]) {
    for p in payments {
        let _ = writeln!(
            out,
            "   {:<28}{:>12}",
            p.method.as_str(),
            p.amount.to_string()
        );
    }
}

fn sale_text(out: &mut String, title: &str, r: &Record, s: &SaleBody) {
    let _ = writeln!(
        out,
        "   {title} n° {} · operator {}",
        r.kind_seq, s.operator
    );
    for l in &s.lines {
        let _ = writeln!(out, "   {}", l.label);
        let _ = writeln!(
            out,
            "     {} x {} ({} %){:>12}",
            quantity_text(l.quantity, l.unit),
            l.unit_price,
            l.vat_rate,
            l.gross.to_string()
        );
        if l.line_discount != Cents::ZERO {
            let _ = writeln!(out, "     discount{:>28}", (-l.line_discount).to_string());
        }
    }
    if s.ticket_discount != Cents::ZERO {
        let _ = writeln!(
            out,
            "   ticket discount{:>25}",
            (-s.ticket_discount).to_string()
        );
    }
    let _ = writeln!(out, "   TOTAL{:>35}", s.total.to_string());
    for v in &s.vat {
        let _ = writeln!(
            out,
            "   VAT {:>5} %  net {:>10}  VAT {:>9}  incl. {:>10}",
            v.rate.to_string(),
            v.net.to_string(),
            v.vat.to_string(),
            v.gross.to_string()
        );
    }
    payments_text(out, &s.payments);
    if s.change != Cents::ZERO {
        let _ = writeln!(out, "   change{:>34}", s.change.to_string());
    }
    let _ = writeln!(out, "   {} line(s)", s.lines.len());
}

/// The totals block shared by Z and X reports.
pub fn totals_text(out: &mut String, t: &Totals) {
    let _ = writeln!(out, "   tickets {} · refunds {}", t.sales, t.refunds);
    for v in &t.vat {
        let _ = writeln!(
            out,
            "   VAT {:>5} %  net {:>12}  VAT {:>11}  incl. {:>12}",
            v.rate.to_string(),
            v.net.to_string(),
            v.vat.to_string(),
            v.gross.to_string()
        );
    }
    for p in &t.payments {
        let _ = writeln!(
            out,
            "   {:<28}{:>14}",
            p.method.as_str(),
            p.amount.to_string()
        );
    }
    let _ = writeln!(out, "   period total{:>30}", t.total.to_string());
    let _ = writeln!(
        out,
        "   period absolute total{:>21}",
        t.absolute_total.to_string()
    );
}

fn closure_text(out: &mut String, r: &Record, c: &ClosureBody) {
    let title = match c.period {
        Period::Day => "Z — DAY CLOSURE",
        Period::Month => "MONTH CLOSURE",
        Period::Year => "FISCAL-YEAR CLOSURE",
        Period::Week => "WEEK CLOSURE",
    };
    let _ = writeln!(
        out,
        "   {title} n° {} · {} → {} · seq {} to {}{}{}",
        r.kind_seq,
        c.start,
        c.end,
        c.first_seq,
        c.last_seq,
        if c.automatic { " · automatic" } else { "" },
        if c.continues {
            " · the day goes on"
        } else {
            ""
        }
    );
    totals_text(out, &c.totals);
    let _ = writeln!(
        out,
        "   PERPETUAL GRAND TOTAL{:>21}",
        c.perpetual_total.to_string()
    );
    let _ = writeln!(
        out,
        "   perpetual absolute total{:>18}",
        c.perpetual_absolute_total.to_string()
    );
    let _ = writeln!(out, "   last record hash {}", c.last_hash);
}

/// An X report as text.
pub fn x_report_text(x: &XReport, opening: Option<&OpeningBody>) -> String {
    let mut out = String::new();
    if let Some(o) = opening {
        let _ = writeln!(out, "{} — register {}", o.merchant.name, o.register_id);
    }
    let _ = writeln!(
        out,
        "X REPORT (no closure written) · open day {} · up to seq {}",
        x.open_day.as_deref().unwrap_or("none"),
        x.last_seq
    );
    let _ = writeln!(out, "── open day");
    totals_text(&mut out, &x.day);
    let _ = writeln!(out, "── month to date");
    totals_text(&mut out, &x.month);
    let _ = writeln!(out, "── fiscal year to date");
    totals_text(&mut out, &x.year);
    let _ = writeln!(
        out,
        "PERPETUAL GRAND TOTAL{:>24}",
        x.perpetual_total.to_string()
    );
    let _ = writeln!(
        out,
        "perpetual absolute total{:>21}",
        x.perpetual_absolute_total.to_string()
    );
    out
}

fn refund_text(out: &mut String, rf: &RefundBody) {
    let _ = writeln!(
        out,
        "   {} of ticket n° {} (seq {}) · operator {} · {}",
        if rf.void { "VOID" } else { "REFUND" },
        rf.original.ticket,
        rf.original.seq,
        rf.operator,
        rf.reason
    );
    for l in &rf.lines {
        let _ = writeln!(
            out,
            "   {} (line {}) {} x {} ({} %){:>10}",
            l.label,
            l.original_line,
            quantity_text(l.quantity, l.unit),
            l.unit_price,
            l.vat_rate,
            l.total.to_string()
        );
    }
    let _ = writeln!(out, "   TOTAL{:>35}", rf.total.to_string());
    payments_text(out, &rf.payments);
}

/// The human report of a verification: who, what range, counts, totals, then every finding.
pub fn summary_text(
    source: &str,
    s: &Summary,
    findings: &[crate::verify::Finding],
    chain_only: bool,
) -> String {
    let mut out = String::new();
    let zone = s.opening.as_ref().map(|o| o.time_zone.as_str());
    let currency = s.opening.as_ref().map_or("", |o| o.currency.as_str());
    let _ = writeln!(out, "Journal    {source}");
    match &s.opening {
        Some(o) => {
            let m = &o.merchant;
            let _ = writeln!(out, "Merchant   {} — {}", m.name, m.address);
            let _ = writeln!(out, "           SIRET {} · VAT {}", m.siret, m.vat_id);
            let _ = writeln!(
                out,
                "Register   {} · software {} {} · {}",
                o.register_id, o.software.name, o.software.version, o.time_zone
            );
        }
        None => {
            let _ = writeln!(out, "Merchant   (no readable opening record)");
        }
    }
    if let (Some(first), Some(last)) = (s.first_seq, s.last_seq) {
        let _ = writeln!(out, "Records    {} (seq {first} to {last})", s.records);
        let _ = writeln!(
            out,
            "Period     {} → {}",
            format_time(s.first_timestamp_ms.unwrap_or(0), zone),
            format_time(s.last_timestamp_ms.unwrap_or(0), zone)
        );
    } else {
        let _ = writeln!(out, "Records    none");
    }
    let counts: Vec<String> = s.counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(out, "By kind    {}", counts.join(", "));
    if !chain_only {
        let _ = writeln!(
            out,
            "Totals     sales {} {currency}, refunds {} {currency}",
            s.sales_total, s.refunds_total
        );
    }
    if let Some(h) = &s.last_hash {
        let _ = writeln!(out, "Last hash  {h}");
    }
    let checked = if chain_only {
        "hashes, sequence numbers and links (chain only: signatures and bodies NOT checked)"
            .to_string()
    } else {
        format!(
            "hashes, sequence numbers, links, timestamps, {} signatures, bodies, ticket totals, refunds",
            s.signatures_checked
        )
    };
    let _ = writeln!(out, "Checked    {checked}");
    if s.findings == 0 {
        let _ = writeln!(out, "Result     INTACT: no finding");
    } else {
        let _ = writeln!(out, "Result     {} FINDING(S)", s.findings);
        for f in findings {
            let when = if f.timestamp_ms != 0 {
                format!(", {}", format_time(f.timestamp_ms, zone))
            } else {
                String::new()
            };
            // Findings about archives or anchors name no record kind.
            let place = match (f.kind.is_empty(), f.seq) {
                (false, _) => format!("seq {} ({} #{}{when})", f.seq, f.kind, f.kind_seq),
                (true, 0) => "archive".to_string(),
                (true, seq) => format!("at seq {seq}{when}"),
            };
            let _ = writeln!(out, "  {place}: {}: {}", f.problem.explain(), f.detail);
        }
        if (findings.len() as u64) < s.findings {
            let _ = writeln!(
                out,
                "  … {} more (use --json for all)",
                s.findings - findings.len() as u64
            );
        }
    }
    out
}

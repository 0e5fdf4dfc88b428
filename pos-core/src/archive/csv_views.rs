//! The spreadsheet views of an archive: one CSV file per table, written while the records are
//! streamed (to temporary files, so memory does not grow with the archive).

use crate::body::Body;
use crate::datetime::format_time;
use crate::record::Record;
use crate::ticket::{Payment, VatTotal};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// The CSV views of an archive, in archive order, each with its columns in header order, as
/// documented in `docs/ARCHIVE-FORMAT.md`.
pub const VIEWS: [(&str, &[&str]); 6] = [
    (
        "tickets.csv",
        &[
            "seq",
            "kind",
            "number",
            "timestamp_utc",
            "local_time",
            "operator",
            "lines",
            "total",
            "change",
            "void",
            "original_seq",
            "original_ticket",
            "reason",
        ],
    ),
    (
        "lines.csv",
        &[
            "seq",
            "kind",
            "number",
            "line",
            "original_line",
            "sku",
            "label",
            "quantity",
            "unit",
            "unit_price",
            "vat_rate",
            "gross",
            "line_discount",
            "ticket_discount",
            "total",
        ],
    ),
    (
        "payments.csv",
        &["seq", "kind", "number", "method", "amount"],
    ),
    (
        "vat.csv",
        &["seq", "kind", "number", "vat_rate", "net", "vat", "gross"],
    ),
    (
        "closures.csv",
        &[
            "seq",
            "number",
            "period",
            "start",
            "end",
            "first_seq",
            "last_seq",
            "sales",
            "refunds",
            "total",
            "absolute_total",
            "perpetual_total",
            "perpetual_absolute_total",
            "automatic",
            "continues",
            "last_hash",
        ],
    ),
    (
        "events.csv",
        &[
            "seq",
            "number",
            "timestamp_utc",
            "local_time",
            "code",
            "message",
            "operator",
            "details",
        ],
    ),
];

type Sheet = csv::Writer<BufWriter<File>>;

/// The six CSV writers.
pub(crate) struct CsvViews {
    sheets: Vec<(String, PathBuf, Sheet)>,
    zone: String,
}

fn rate(r: crate::money::VatRate) -> String {
    r.to_string()
}

fn qty(q: crate::money::Qty) -> String {
    q.to_string()
}

impl CsvViews {
    /// Creates the files in `dir` with their header rows.
    pub(crate) fn create(dir: &Path, zone: &str) -> std::io::Result<CsvViews> {
        let mut sheets = Vec::with_capacity(VIEWS.len());
        for (name, columns) in VIEWS {
            let path = dir.join(name);
            let mut w = csv::Writer::from_writer(BufWriter::new(File::create(&path)?));
            w.write_record(columns).map_err(std::io::Error::other)?;
            sheets.push((name.to_string(), path, w));
        }
        Ok(CsvViews {
            sheets,
            zone: zone.to_string(),
        })
    }

    fn row(&mut self, sheet: usize, fields: &[String]) -> std::io::Result<()> {
        self.sheets[sheet]
            .2
            .write_record(fields)
            .map_err(std::io::Error::other)
    }

    fn amounts(
        &mut self,
        head: &[String],
        payments: &[Payment],
        vat: &[VatTotal],
    ) -> std::io::Result<()> {
        for p in payments {
            let mut f = head.to_vec();
            f.extend([p.method.as_str().to_string(), p.amount.to_string()]);
            self.row(2, &f)?;
        }
        for v in vat {
            let mut f = head.to_vec();
            f.extend([
                rate(v.rate),
                v.net.to_string(),
                v.vat.to_string(),
                v.gross.to_string(),
            ]);
            self.row(3, &f)?;
        }
        Ok(())
    }

    /// Adds the rows of one record.
    pub(crate) fn add(&mut self, r: &Record, body: &Body) -> std::io::Result<()> {
        let head = vec![r.seq.to_string(), r.kind.clone(), r.kind_seq.to_string()];
        let utc = format_time(r.timestamp_ms, None);
        let local = format_time(r.timestamp_ms, Some(&self.zone));
        match body {
            Body::Sale(s) | Body::Training(s) => {
                let mut f = head.clone();
                f.extend([
                    utc,
                    local,
                    s.operator.clone(),
                    s.lines.len().to_string(),
                    s.total.to_string(),
                    s.change.to_string(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
                self.row(0, &f)?;
                for (i, l) in s.lines.iter().enumerate() {
                    let mut f = head.clone();
                    f.extend([
                        i.to_string(),
                        String::new(),
                        l.sku.clone(),
                        l.label.clone(),
                        qty(l.quantity),
                        format!("{:?}", l.unit).to_lowercase(),
                        l.unit_price.to_string(),
                        rate(l.vat_rate),
                        l.gross.to_string(),
                        l.line_discount.to_string(),
                        l.ticket_discount.to_string(),
                        l.total.to_string(),
                    ]);
                    self.row(1, &f)?;
                }
                self.amounts(&head, &s.payments, &s.vat)?;
            }
            Body::Refund(rf) => {
                let mut f = head.clone();
                f.extend([
                    utc,
                    local,
                    rf.operator.clone(),
                    rf.lines.len().to_string(),
                    rf.total.to_string(),
                    "0.00".to_string(),
                    rf.void.to_string(),
                    rf.original.seq.to_string(),
                    rf.original.ticket.to_string(),
                    rf.reason.clone(),
                ]);
                self.row(0, &f)?;
                for (i, l) in rf.lines.iter().enumerate() {
                    let mut f = head.clone();
                    f.extend([
                        i.to_string(),
                        l.original_line.to_string(),
                        l.sku.clone(),
                        l.label.clone(),
                        qty(l.quantity),
                        format!("{:?}", l.unit).to_lowercase(),
                        l.unit_price.to_string(),
                        rate(l.vat_rate),
                        String::new(),
                        String::new(),
                        String::new(),
                        l.total.to_string(),
                    ]);
                    self.row(1, &f)?;
                }
                self.amounts(&head, &rf.payments, &rf.vat)?;
            }
            Body::Closure(c) => {
                let t = &c.totals;
                self.row(
                    4,
                    &[
                        r.seq.to_string(),
                        r.kind_seq.to_string(),
                        c.period.as_str().to_string(),
                        c.start.clone(),
                        c.end.clone(),
                        c.first_seq.to_string(),
                        c.last_seq.to_string(),
                        t.sales.to_string(),
                        t.refunds.to_string(),
                        t.total.to_string(),
                        t.absolute_total.to_string(),
                        c.perpetual_total.to_string(),
                        c.perpetual_absolute_total.to_string(),
                        c.automatic.to_string(),
                        c.continues.to_string(),
                        c.last_hash.clone(),
                    ],
                )?;
            }
            Body::Event(e) => {
                let details: Vec<String> =
                    e.details.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.row(
                    5,
                    &[
                        r.seq.to_string(),
                        r.kind_seq.to_string(),
                        utc,
                        local,
                        e.code.clone(),
                        e.message.clone(),
                        e.operator.clone().unwrap_or_default(),
                        details.join("; "),
                    ],
                )?;
            }
            Body::Opening(_) | Body::KeyChange(_) | Body::Duplicate(_) | Body::Archive(_) => {}
        }
        Ok(())
    }

    /// Flushes every file and returns their names and paths, in [`VIEWS`] order.
    pub(crate) fn finish(self) -> std::io::Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::with_capacity(self.sheets.len());
        for (name, path, mut w) in self.sheets {
            w.flush()?;
            out.push((name, path));
        }
        Ok(out)
    }
}

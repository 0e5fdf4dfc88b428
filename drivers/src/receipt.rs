//! Plain data a receipt or a Z/X report is printed from. No behaviour: the daemon maps the
//! journal's records onto these, the layout turns them into bytes.
//!
//! Integers only: money in cents (`i64`), quantities in thousandths, VAT rates in hundredths of
//! a percent (2000 = 20 %). Dates and times arrive already formatted in local time.

/// Who sells: the mandatory merchant identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Merchant {
    /// Trading name.
    pub name: String,
    /// Postal address, one entry per printed line.
    pub address: Vec<String>,
    /// SIRET number (14 digits).
    pub siret: String,
    /// Intra-community VAT number, where the merchant has one.
    pub vat_id: Option<String>,
}

/// A discount on a line or on the whole ticket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discount {
    /// What it is ("Remise fidélité", "-10 %").
    pub label: String,
    /// Amount taken off, in cents (positive: the customer pays less).
    pub amount_cents: i64,
}

/// One sold (or refunded) line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiptLine {
    /// Product label.
    pub label: String,
    /// Quantity in thousandths: 2000 is 2 units, or 2.000 kg when `is_weight`.
    pub quantity_milli: i64,
    /// Sold by weight: the quantity prints as kg with 3 decimals.
    pub is_weight: bool,
    /// Unit price incl. VAT, in cents (per kg when `is_weight`).
    pub unit_price_cents: i64,
    /// Line total incl. VAT after the line discount, in cents.
    pub total_cents: i64,
    /// VAT rate in hundredths of a percent (2000 = 20 %).
    pub vat_rate_bp: u32,
    /// Discount applied to this line, if any.
    pub discount: Option<Discount>,
}

/// Totals of one VAT rate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VatTotal {
    /// VAT rate in hundredths of a percent.
    pub rate_bp: u32,
    /// Total excluding VAT, in cents.
    pub base_cents: i64,
    /// VAT, in cents.
    pub vat_cents: i64,
    /// Total including VAT, in cents.
    pub total_cents: i64,
}

/// One payment (or a payment method's total on a report).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payment {
    /// Method as printed ("Espèces", "Carte bancaire").
    pub method: String,
    /// Amount in cents.
    pub amount_cents: i64,
}

/// The software that produced the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Software {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Certificate reference (NF525 number), once there is one.
    pub certificate: Option<String>,
}

/// Paper cut at the end of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cut {
    /// Full cut.
    Full,
    /// Partial cut (one point left uncut).
    #[default]
    Partial,
}

/// What a refund receipt says about the ticket it refunds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundMark {
    /// A void (the whole ticket cancelled): prints "ANNULATION", else "REMBOURSEMENT".
    pub void: bool,
    /// The number of the ticket refunded.
    pub original_ticket: u64,
    /// Why.
    pub reason: String,
}

/// Everything a French sales receipt prints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    /// The merchant.
    pub merchant: Merchant,
    /// Ticket number (gapless per register).
    pub ticket_number: u64,
    /// Register identifier.
    pub register: String,
    /// Local date and time, formatted (`27/11/2026 10:15:03`).
    pub date_time: String,
    /// Operator name or number, if printed.
    pub operator: Option<String>,
    /// The lines.
    pub lines: Vec<ReceiptLine>,
    /// Discount on the whole ticket.
    pub ticket_discount: Option<Discount>,
    /// Totals per VAT rate.
    pub vat: Vec<VatTotal>,
    /// Total incl. VAT, in cents.
    pub total_cents: i64,
    /// Payments.
    pub payments: Vec<Payment>,
    /// Change given back, in cents.
    pub change_cents: i64,
    /// Software name, version and certificate.
    pub software: Software,
    /// Extract of the record's signature (NF525 practice: a few characters of it).
    pub signature_extract: String,
    /// Number of lines of the ticket.
    pub line_count: u32,
    /// Compact verification string, printed as a QR code.
    pub qr_payload: String,
    /// `Some(k)` for the k-th reprint: prints "DUPLICATA n° k".
    pub duplicate: Option<u32>,
    /// Training ticket: prints "MODE ÉCOLE – FACTICE".
    pub training: bool,
    /// A refund or void: prints "REMBOURSEMENT" or "ANNULATION" above the lines, with the
    /// ticket refunded and the reason.
    pub refund: Option<RefundMark>,
    /// Free lines at the bottom ("Merci de votre visite").
    pub footer: Vec<String>,
    /// Cut at the end.
    pub cut: Cut,
}

/// X (intermediate, no reset) or Z (closure) report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReportKind {
    /// Reading without closing the period.
    #[default]
    X,
    /// Closure: signed, numbered.
    Z,
}

/// The head of the journal's chain at the report, printed as text and QR code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChainHead {
    /// Sequence number of the last record.
    pub sequence: u64,
    /// Its hash, hex.
    pub hash_hex: String,
    /// Extract of its signature.
    pub signature_extract: String,
    /// What the QR code carries (sequence, hash and signature in a compact form).
    pub qr_payload: String,
}

/// A Z or X report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// X or Z.
    pub kind: ReportKind,
    /// The merchant.
    pub merchant: Merchant,
    /// Register identifier.
    pub register: String,
    /// Closure number (Z), if any.
    pub number: Option<u64>,
    /// Period start, local, formatted.
    pub period_start: String,
    /// Period end (or now for an X), local, formatted.
    pub period_end: String,
    /// Number of tickets in the period.
    pub ticket_count: u64,
    /// Totals per VAT rate over the period.
    pub vat: Vec<VatTotal>,
    /// Totals per payment method over the period.
    pub payments: Vec<Payment>,
    /// Period grand total incl. VAT, in cents.
    pub period_total_cents: i64,
    /// Perpetual grand total incl. VAT (never reset), in cents.
    pub perpetual_total_cents: i64,
    /// Perpetual total of absolute values, in cents.
    pub perpetual_absolute_cents: i64,
    /// The chain head.
    pub chain_head: ChainHead,
    /// Software name, version and certificate.
    pub software: Software,
    /// Training mode report.
    pub training: bool,
    /// `Some(k)` for the k-th reprint of a Z: prints "DUPLICATA n° k".
    pub duplicate: Option<u32>,
}

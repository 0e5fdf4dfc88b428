//! The TOML configuration of `posd`.
//!
//! Relative paths are resolved against the directory of the configuration file. Unknown keys
//! are refused, so a typo never silently leaves a default in place.

mod shops;

use serde::{Deserialize, Serialize};
pub use shops::{ShopConfig, ShopsConfig, SyncSkus, WooAuth, WooShopConfig};
use std::path::{Path, PathBuf};

/// The largest configuration file read (a till's config is a few kilobytes).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The merchant identity printed on receipts and written in the journal's opening record.
    pub merchant: MerchantConfig,
    /// The register (till) id: one journal per register.
    pub register_id: String,
    /// IANA time zone of the shop.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// VAT rates in hundredths of a percent (2000 = 20 %).
    #[serde(default = "default_vat_rates")]
    pub vat_rates: Vec<u32>,
    /// First month of the fiscal year (1 to 12).
    #[serde(default = "default_fiscal_month")]
    pub fiscal_year_start_month: u32,
    /// Where the journal, `ops.db` and (by default) the key live.
    pub data_dir: PathBuf,
    /// The signing key file (default `DATA/signing.key`, mode 0600).
    #[serde(default)]
    pub key_path: Option<PathBuf>,
    /// The anchor file (chain heads after closures); put it on another medium than the data
    /// directory. Default `DATA/anchors.jsonl`.
    #[serde(default)]
    pub anchor_path: Option<PathBuf>,
    /// The local HTTP API.
    #[serde(default)]
    pub api: ApiConfig,
    /// The receipt printer, if any.
    #[serde(default)]
    pub printer: Option<PrinterConfig>,
    /// The cash drawer (wired to the printer), if any.
    #[serde(default)]
    pub drawer: Option<DrawerConfig>,
    /// Serial barcode scanners.
    #[serde(default)]
    pub scanners: Vec<ScannerConfig>,
    /// The operators.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
    /// Limits and rules.
    #[serde(default)]
    pub policy: Policy,
    /// Lines printed at the bottom of receipts.
    #[serde(default)]
    pub receipt_footer: Vec<String>,
    /// Stock at the till.
    #[serde(default)]
    pub stock: StockConfig,
    /// Online shops synced with the till's stock.
    #[serde(default)]
    pub shops: ShopsConfig,
    /// Warnings about the data directory's disk.
    #[serde(default)]
    pub storage: StorageConfig,
    /// The variable-measure barcode layouts of the shop's scales.
    #[serde(default)]
    pub barcodes: crate::barcodes::BarcodesConfig,
    /// Snapshots of the stores to a second medium.
    #[serde(default)]
    pub backup: Option<BackupConfig>,
}

/// Snapshots of every store to a second medium (`[backup]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where snapshots are written: a directory on another medium than the data directory
    /// (a USB stick, a NAS mount).
    pub dir: PathBuf,
    /// Take one after every day closure (Z), automatic or on demand.
    #[serde(default = "yes")]
    pub after_closure: bool,
    /// Keep the newest snapshot of each of the last this many days.
    #[serde(default = "default_keep_daily")]
    pub keep_daily: u32,
    /// Keep the newest snapshot of each of the last this many months.
    #[serde(default = "default_keep_monthly")]
    pub keep_monthly: u32,
    /// Copies of the snapshots on another machine.
    #[serde(default)]
    pub offsite: Option<OffsiteConfig>,
}

/// Copies of the snapshots on another machine (`[backup.offsite]`), sent and encrypted by
/// restic.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsiteConfig {
    /// The restic repository: `sftp:user@host:/path`, or `s3:https://host/bucket` (S3
    /// credentials from posd's environment, as restic reads them).
    pub repository: String,
    /// The file holding the repository's password (restic encrypts with it; without it the
    /// copies cannot be read: a lost password is a lost backup).
    pub password_file: PathBuf,
    /// The restic program.
    #[serde(default = "default_restic")]
    pub restic: PathBuf,
    /// The command restic runs to reach an SFTP server (`ssh -p 2222 -i KEY user@host -s
    /// sftp`), when the default `ssh` is not enough.
    #[serde(default)]
    pub sftp_command: Option<String>,
    /// How often a copy that failed (the server unreachable) is tried again, in seconds.
    #[serde(default = "default_offsite_retry_secs")]
    pub retry_secs: u64,
}

fn default_restic() -> PathBuf {
    PathBuf::from("restic")
}

/// Five minutes: a server back is used soon, a server down is not hammered.
fn default_offsite_retry_secs() -> u64 {
    300
}

fn yes() -> bool {
    true
}

/// A week of days.
fn default_keep_daily() -> u32 {
    7
}

/// A year of months (the yearly ones are all kept).
fn default_keep_monthly() -> u32 {
    12
}

/// Warnings about the data directory's disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Below this much free space (MiB) on the data directory's file system, `GET /v1/health`
    /// warns (`disk.low`), long before a full disk refuses sales.
    #[serde(default = "default_low_free_mib")]
    pub low_free_mib: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            low_free_mib: default_low_free_mib(),
        }
    }
}

/// A day of a busy till's journal, receipts and logs is a few MiB: 512 MiB leaves weeks.
fn default_low_free_mib() -> u64 {
    512
}

/// Stock at the till (`[stock]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockConfig {
    /// What a sale that would take a product below zero does: `refuse` (409, nothing
    /// journaled) or `warn` (sold, with warnings in the answer). Default `warn`.
    #[serde(default)]
    pub zero_stock: shop_sync::ledger::ZeroStockPolicy,
    /// The low-stock threshold of tracked products without their own, in thousandths.
    #[serde(default)]
    pub default_low_milli: Option<i64>,
    /// Low-stock thresholds by SKU, in thousandths (`[stock.low_milli]`, `BAGUETTE = 10000`).
    #[serde(default)]
    pub low_milli: std::collections::BTreeMap<String, i64>,
}

impl StockConfig {
    /// The low-stock threshold of a product.
    pub fn low_of(&self, sku: &str) -> Option<i64> {
        self.low_milli.get(sku).copied().or(self.default_low_milli)
    }
}

/// Who sells.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
    /// Trading name.
    pub name: String,
    /// Postal address; lines separated by `, `.
    pub address: String,
    /// SIRET, 14 digits.
    pub siret: String,
    /// Intra-community VAT number (empty when none).
    #[serde(default)]
    pub vat_id: String,
}

/// The shortest idle time a session may be given.
pub const MIN_SESSION_IDLE_SECS: u64 = 60;

/// The HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address (loopback by default).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Bearer tokens accepted from API clients. Never logged.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// The largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Connections open at once (1 to 65536, default 512): a connection over the limit is
    /// closed as soon as it is accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds an operator's session (one per client: a till, a browser tab) stays open without
    /// a request (60 to 86400, default 900: a till left alone a quarter of an hour asks for the
    /// PIN again).
    #[serde(default = "default_session_idle_secs")]
    pub session_idle_secs: u64,
    /// Sessions open at once (1 to 10000, default 64); opening one more ends the one idle
    /// longest.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// posd is reached through a TLS reverse proxy (tablets on the shop's network): browser
    /// session cookies are marked `Secure`, and listening beyond this machine is not warned
    /// about. posd itself speaks plain HTTP, to the proxy.
    #[serde(default)]
    pub tls_proxy: bool,
}

fn default_max_connections() -> usize {
    512
}

fn default_session_idle_secs() -> u64 {
    900
}

fn default_max_sessions() -> usize {
    64
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_listen(),
            tokens: Vec::new(),
            max_body_bytes: default_max_body(),
            max_connections: default_max_connections(),
            session_idle_secs: default_session_idle_secs(),
            max_sessions: default_max_sessions(),
            tls_proxy: false,
        }
    }
}

/// A receipt printer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// `tcp:HOST[:PORT]`, `serial:PATH[@BAUD]`, `usb:/dev/usb/lpN` or `file:PATH`.
    pub address: String,
    /// Paper width in millimetres: 58 or 80.
    #[serde(default = "default_paper")]
    pub paper_mm: u32,
    /// Also write a readable text copy of every printed record into this directory.
    #[serde(default)]
    pub text_dir: Option<PathBuf>,
    /// `always` (default): every ticket's receipt prints as the ticket is journaled;
    /// `on_request`: a ticket's receipt waits (`held`) until the customer asks for it
    /// (`POST /v1/tickets/{seq}/print`; in France since 2023, a receipt is printed only when the
    /// customer asks). The cash drawer opens all the same. Closures and duplicates always print.
    #[serde(default)]
    pub receipts: ReceiptMode,
}

/// When a ticket's receipt prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptMode {
    /// As the ticket is journaled.
    #[default]
    Always,
    /// When the customer asks for it.
    OnRequest,
}

/// The cash drawer, kicked through the printer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawerConfig {
    /// Connector pin: 2 or 5.
    #[serde(default = "default_drawer_pin")]
    pub pin: u8,
}

/// How a scanner is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScannerKind {
    /// A serial (or USB CDC serial) port.
    #[default]
    Serial,
    /// A USB keyboard-wedge scanner read through evdev (`/dev/input/by-id/*-event-kbd`),
    /// grabbed so its keys reach nothing else.
    Wedge,
}

/// The keyboard layout a keyboard-wedge scanner types for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WedgeLayout {
    /// US QWERTY.
    #[default]
    Us,
    /// French AZERTY.
    Fr,
}

/// A barcode scanner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// Device path.
    pub path: PathBuf,
    /// Serial (default) or keyboard wedge.
    #[serde(default)]
    pub kind: ScannerKind,
    /// Speed (serial).
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Keyboard layout (wedge).
    #[serde(default)]
    pub layout: WedgeLayout,
}

/// An operator's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sells, refunds up to the configured limit.
    Cashier,
    /// Everything: voids, large refunds, closures, training mode, configuration.
    Manager,
}

/// An operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// The id recorded in the journal.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The PIN's argon2 hash (PHC string, see `posd hash-pin`).
    pub pin_hash: String,
}

/// Rules and limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Refunds above this amount (cents) need a manager.
    #[serde(default = "default_refund_limit")]
    pub cashier_refund_limit_cents: i64,
    /// Wrong PINs allowed in a row before an operator is locked out.
    #[serde(default = "default_pin_failures")]
    pub pin_max_failures: u32,
    /// How long a lock-out lasts, in seconds.
    #[serde(default = "default_pin_lockout")]
    pub pin_lockout_secs: u64,
    /// A clock reading more than this many days after the journal's last record refuses sales
    /// until a manager confirms the date (`POST /v1/clock/confirm`) or the clock is corrected:
    /// longer than the shop's longest closure (1 to 366).
    #[serde(default = "default_clock_ahead_limit_days")]
    pub clock_ahead_limit_days: u32,
    /// The largest amount of one payment of a sale or refund, in cents (default 10,000 EUR): a
    /// payment above it is refused (422 `payment_too_large`) before anything is journaled.
    #[serde(default = "default_max_payment")]
    pub max_payment_cents: i64,
    /// The most change a sale may give, in cents (default 1,000 EUR: twice the largest euro
    /// banknote): more is refused (422 `change_too_large`), as a mistyped amount.
    #[serde(default = "default_max_change")]
    pub max_change_cents: i64,
    /// The most discount a cashier gives on a ticket without a manager, in percent of the
    /// ticket's gross (line and ticket discounts together; default 10, 0 to 100). A price
    /// override always takes a manager.
    #[serde(default = "default_cashier_discount")]
    pub cashier_max_discount_percent: u32,
}

impl Policy {
    /// Whether a refund takes a manager's approval: a void (the whole ticket, at once), or
    /// money given back above the cashier's limit (`amount_cents`: the payments' absolute sum).
    pub fn refund_needs_manager(&self, void: bool, amount_cents: i64) -> bool {
        void || amount_cents > self.cashier_refund_limit_cents
    }

    /// Whether a sale takes a manager's approval: a price other than the catalogue's, or
    /// discounts (`discount_cents`, line and ticket together) above the cashier's share of the
    /// ticket's gross (`gross_cents`, before any discount).
    pub fn sale_needs_manager(
        &self,
        price_override: bool,
        discount_cents: i64,
        gross_cents: i64,
    ) -> bool {
        let allowed =
            i128::from(gross_cents.max(0)) * i128::from(self.cashier_max_discount_percent);
        price_override || i128::from(discount_cents) * 100 > allowed
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            cashier_refund_limit_cents: default_refund_limit(),
            pin_max_failures: default_pin_failures(),
            pin_lockout_secs: default_pin_lockout(),
            clock_ahead_limit_days: default_clock_ahead_limit_days(),
            max_payment_cents: default_max_payment(),
            max_change_cents: default_max_change(),
            cashier_max_discount_percent: default_cashier_discount(),
        }
    }
}

/// The merchant's name and address follow the journal's rule for ticket text (no control
/// characters: an ESC would reach the printer as a command): checked where they come in, the
/// configuration and `PUT /v1/merchant`.
pub fn check_merchant_text(m: &pos_core::body::Merchant) -> Result<(), ControlCharacters> {
    for (field, value) in [
        ("merchant.name", &m.name),
        ("merchant.address", &m.address),
        ("merchant.siret", &m.siret),
        ("merchant.vat_id", &m.vat_id),
    ] {
        if value.chars().any(char::is_control) {
            return Err(ControlCharacters(field));
        }
    }
    Ok(())
}

/// A merchant field holds control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} must not hold control characters")]
pub struct ControlCharacters(pub &'static str);

/// The token of `posd.example.toml`, refused as it is: every copy must get its own.
pub const EXAMPLE_TOKEN: &str = "replace-with-a-long-random-token";

/// pos-core's default: longer than an annual closure, far shorter than a year typed wrong.
fn default_clock_ahead_limit_days() -> u32 {
    (pos_core::journal::DEFAULT_CLOCK_AHEAD_LIMIT_MS / (24 * 3600 * 1000)) as u32
}

fn default_time_zone() -> String {
    "Europe/Paris".into()
}
fn default_vat_rates() -> Vec<u32> {
    pos_core::sample::FRENCH_VAT_RATES
        .iter()
        .map(|r| r.0)
        .collect()
}
fn default_fiscal_month() -> u32 {
    1
}
fn default_listen() -> String {
    "127.0.0.1:8420".into()
}
fn default_max_body() -> usize {
    256 * 1024
}
fn default_paper() -> u32 {
    80
}
fn default_drawer_pin() -> u8 {
    2
}
fn default_baud() -> u32 {
    9600
}
/// The ceiling that `policy.max_payment_cents` may be set to: ten million euros.
pub const MAX_PAYMENT_CEILING_CENTS: i64 = 1_000_000_000;

fn default_max_payment() -> i64 {
    1_000_000
}
fn default_max_change() -> i64 {
    100_000
}
fn default_refund_limit() -> i64 {
    5000
}
fn default_cashier_discount() -> u32 {
    10
}
fn default_pin_failures() -> u32 {
    5
}
fn default_pin_lockout() -> u64 {
    60
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads, parses, resolves and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::Invalid(format!(
                "{} is larger than {MAX_CONFIG_BYTES} bytes",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base);
        config.validate()?;
        Ok(config)
    }

    /// Makes relative paths relative to `base`.
    pub fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        if let Some(k) = self.key_path.as_mut() {
            fix(k);
        }
        if let Some(a) = self.anchor_path.as_mut() {
            fix(a);
        }
        if let Some(b) = self.backup.as_mut() {
            fix(&mut b.dir);
            if let Some(o) = b.offsite.as_mut() {
                fix(&mut o.password_file);
            }
        }
        if let Some(p) = self.printer.as_mut() {
            if let Some(t) = p.text_dir.as_mut() {
                fix(t);
            }
        }
    }

    /// Checks values the types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.api.tokens.is_empty() {
            return bad("api.tokens: at least one bearer token is needed".into());
        }
        if self.api.tokens.iter().any(|t| t.len() < 16) {
            return bad("api.tokens: tokens must be at least 16 characters".into());
        }
        if self.api.tokens.iter().any(|t| t == EXAMPLE_TOKEN) {
            return bad(format!(
                "api.tokens: {EXAMPLE_TOKEN:?} is the example's token: replace it with a long random one (`openssl rand -hex 24`)"
            ));
        }
        if self
            .api
            .tokens
            .iter()
            .any(|t| t.contains(char::is_whitespace))
        {
            return bad("api.tokens: a token cannot hold spaces".into());
        }
        let mut names = std::collections::HashSet::new();
        for shop in &self.shops.list {
            let name = shop.name();
            if name.is_empty()
                || name.len() > 32
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return bad(format!(
                    "shops: name {name:?} must be 1 to 32 lowercase letters, digits, - or _ (it is part of stock keys and of its webhook's path)"
                ));
            }
            if !names.insert(name) {
                return bad(format!("shops: two shops are named {name:?}"));
            }
        }
        if !(1..=65536).contains(&self.api.max_connections) {
            return bad("api.max_connections must be between 1 and 65536".into());
        }
        if !(MIN_SESSION_IDLE_SECS..=86400).contains(&self.api.session_idle_secs) {
            return bad(format!(
                "api.session_idle_secs must be between {MIN_SESSION_IDLE_SECS} and 86400"
            ));
        }
        if !(1..=10000).contains(&self.api.max_sessions) {
            return bad("api.max_sessions must be between 1 and 10000".into());
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.api.max_body_bytes) {
            return bad("api.max_body_bytes must be between 1 KiB and 16 MiB".into());
        }
        if let Some(p) = &self.printer {
            if p.address
                .parse::<drivers::transport::PrinterAddress>()
                .is_err()
            {
                return bad(format!(
                    "printer.address {:?} is not a printer address",
                    p.address
                ));
            }
            if drivers::layout::PaperWidth::from_mm(p.paper_mm).is_none() {
                return bad("printer.paper_mm must be 58 or 80".into());
            }
        }
        if let Some(d) = &self.drawer {
            if !matches!(d.pin, 2 | 5) {
                return bad("drawer.pin must be 2 or 5".into());
            }
            if self.printer.is_none() {
                return bad("a drawer needs a printer to kick it".into());
            }
        }
        let mut ids = std::collections::HashSet::new();
        for op in &self.operators {
            if op.id.is_empty() || op.id.len() > 64 {
                return bad("operator ids must be 1 to 64 bytes".into());
            }
            if !ids.insert(op.id.as_str()) {
                return bad(format!("operator {:?} is defined twice", op.id));
            }
            if argon2::PasswordHash::new(&op.pin_hash).is_err() {
                return bad(format!(
                    "operator {:?}: pin_hash is not a PHC string (use `posd hash-pin`)",
                    op.id
                ));
            }
        }
        if !(1..=MAX_PAYMENT_CEILING_CENTS).contains(&self.policy.max_payment_cents) {
            return bad(format!(
                "policy.max_payment_cents must be between 1 and {MAX_PAYMENT_CEILING_CENTS}"
            ));
        }
        if !(0..=self.policy.max_payment_cents).contains(&self.policy.max_change_cents) {
            return bad(
                "policy.max_change_cents must be between 0 and policy.max_payment_cents".into(),
            );
        }
        if self.policy.pin_max_failures == 0 {
            return bad("policy.pin_max_failures must be at least 1".into());
        }
        if self.policy.cashier_max_discount_percent > 100 {
            return bad("policy.cashier_max_discount_percent must be between 0 and 100".into());
        }
        if !(1..=366).contains(&self.policy.clock_ahead_limit_days) {
            return bad("policy.clock_ahead_limit_days must be between 1 and 366".into());
        }
        self.barcodes
            .build()
            .map_err(|e| ConfigError::Invalid(e.0))?;
        check_merchant_text(&self.opening().merchant)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        pos_core::body::validate_opening(&self.opening()).map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The signing key file.
    pub fn key_path(&self) -> PathBuf {
        self.key_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing.key"))
    }

    /// The anchor file.
    pub fn anchor_path(&self) -> PathBuf {
        self.anchor_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("anchors.jsonl"))
    }

    /// The journal file.
    pub fn journal_path(&self) -> PathBuf {
        self.data_dir.join("journal.db")
    }

    /// The operational database (catalog, print queue).
    pub fn ops_path(&self) -> PathBuf {
        self.data_dir.join("ops.db")
    }

    /// The stock ledger, next to `ops.db`.
    pub fn stock_path(&self) -> PathBuf {
        self.data_dir.join("stock.db")
    }

    /// The journal's opening body for this configuration (the key is filled in on creation).
    pub fn opening(&self) -> pos_core::body::OpeningBody {
        let mut opening = pos_core::sample::sample_opening();
        opening.merchant = pos_core::body::Merchant {
            name: self.merchant.name.clone(),
            address: self.merchant.address.clone(),
            siret: self.merchant.siret.clone(),
            vat_id: self.merchant.vat_id.clone(),
        };
        opening.register_id = self.register_id.clone();
        opening.software = crate::software();
        opening.time_zone = self.time_zone.clone();
        opening.vat_rates = self
            .vat_rates
            .iter()
            .map(|r| pos_core::money::VatRate(*r))
            .collect();
        opening.fiscal_year_start_month = self.fiscal_year_start_month;
        // A syntactically valid placeholder key so `validate` can run before creation.
        opening.key = pos_core::keys::KeyPair::from_seed([7; 32]).public_info();
        opening
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_void_or_a_refund_above_the_cashiers_limit_takes_a_manager() {
        let p = Policy {
            cashier_refund_limit_cents: 5000,
            ..Policy::default()
        };
        assert!(
            !p.refund_needs_manager(false, 5000),
            "at the limit: the cashier"
        );
        assert!(p.refund_needs_manager(false, 5001));
        assert!(
            p.refund_needs_manager(true, 0),
            "a void, whatever its amount"
        );
    }

    #[test]
    fn a_price_override_or_a_discount_above_the_cashiers_share_takes_a_manager() {
        let p = Policy {
            cashier_max_discount_percent: 10,
            ..Policy::default()
        };
        assert!(!p.sale_needs_manager(false, 0, 1000));
        assert!(!p.sale_needs_manager(false, 100, 1000), "10 % exactly");
        assert!(p.sale_needs_manager(false, 101, 1000));
        assert!(p.sale_needs_manager(true, 0, 1000), "any price override");
        assert!(p.sale_needs_manager(false, 1, 0), "a discount on nothing");
        let none = Policy {
            cashier_max_discount_percent: 0,
            ..Policy::default()
        };
        assert!(none.sale_needs_manager(false, 1, 1000));
    }
}

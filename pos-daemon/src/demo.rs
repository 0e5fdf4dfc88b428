//! `posd demo`: a French bakery and grocery, ready to sell, with a temporary data directory, a
//! generated key, receipts written to a directory (ESC/POS and readable text), and the curl
//! lines for a first sale.

use crate::catalog::{Product, Unit};
use crate::config::{
    ApiConfig, Config, DrawerConfig, MerchantConfig, OperatorConfig, Policy, PrinterConfig, Role,
    ScannerConfig,
};
use rand_core::{OsRng, RngCore};
use std::path::PathBuf;

/// Options of `posd demo`.
#[derive(Debug)]
pub struct DemoOptions {
    /// Data directory (temporary when `None`).
    pub data: Option<PathBuf>,
    /// Listen address.
    pub listen: String,
    /// Printer address.
    pub printer: Option<String>,
    /// API token.
    pub token: Option<String>,
    /// A serial scanner.
    pub scanner: Option<PathBuf>,
    /// Kick a drawer.
    pub drawer: bool,
}

/// The demo cashier's PIN.
pub const CASHIER_PIN: &str = "1234";
/// The demo manager's PIN.
pub const MANAGER_PIN: &str = "9999";

/// An EAN-13 from its first 12 digits.
fn ean13(body12: &str) -> String {
    let digits: Vec<u8> = body12.bytes().map(|b| b - b'0').collect();
    format!("{body12}{}", pos_core::barcode::check_digit(&digits))
}

fn product(sku: &str, label: &str, price: i64, vat: u32, unit: Unit, codes: &[String]) -> Product {
    Product {
        sku: sku.into(),
        label: label.into(),
        price_cents: price,
        vat_rate: vat,
        unit,
        track_stock: unit == Unit::Piece,
        stock_milli: Some(if unit == Unit::Piece { 200_000 } else { 0 }),
        barcodes: codes.to_vec(),
        category: Some(category_of(sku).into()),
    }
}

/// The till's tab of a sample product.
fn category_of(sku: &str) -> &'static str {
    match sku {
        "BAGUETTE" | "PAIN-CAMPAGNE" => "Boulangerie",
        "CROISSANT" | "PAIN-CHOC" => "Viennoiserie",
        "TARTE-CITRON" => "Pâtisserie",
        "VIN-CDR" | "EAU-15" => "Boissons",
        "COMTE" | "OEUFS" => "Crèmerie",
        "JOURNAL" => "Presse",
        _ => "Épicerie",
    }
}

/// The sample catalog. The Comté is sold by weight from a scale label: prefix 21, item 23450,
/// so `2123450012503` is 1.250 kg.
pub fn sample_catalog() -> Vec<Product> {
    vec![
        product(
            "BAGUETTE",
            "Baguette tradition",
            130,
            550,
            Unit::Piece,
            &[ean13("040000000001")],
        ),
        product(
            "CROISSANT",
            "Croissant au beurre",
            120,
            550,
            Unit::Piece,
            &[ean13("040000000002")],
        ),
        product(
            "PAIN-CHOC",
            "Pain au chocolat",
            135,
            550,
            Unit::Piece,
            &[ean13("040000000003")],
        ),
        product(
            "TARTE-CITRON",
            "Tarte au citron meringuée (part)",
            390,
            550,
            Unit::Piece,
            &[],
        ),
        product(
            "PAIN-CAMPAGNE",
            "Pain de campagne 500 g",
            320,
            550,
            Unit::Piece,
            &[],
        ),
        product(
            "PATE-TARTINER",
            "Pâte à tartiner 400 g",
            429,
            550,
            Unit::Piece,
            &["3017620422003".into()],
        ),
        product(
            "VIN-CDR",
            "Vin rouge « Côtes-du-Rhône »",
            950,
            2000,
            Unit::Piece,
            &["96385074".into()],
        ),
        product(
            "EAU-15",
            "Eau minérale 1,5 L",
            65,
            550,
            Unit::Piece,
            &[ean13("376000000015")],
        ),
        product(
            "CAFE",
            "Café expresso (sur place)",
            150,
            1000,
            Unit::Piece,
            &[],
        ),
        product(
            "JOURNAL",
            "Le Monde (journal)",
            320,
            210,
            Unit::Piece,
            &[ean13("377000000001")],
        ),
        product(
            "COMTE",
            "Comté AOP 18 mois",
            2490,
            550,
            Unit::Kg,
            &["2123450".into()],
        ),
        product(
            "OEUFS",
            "Œufs plein air x6",
            289,
            550,
            Unit::Piece,
            &[ean13("376000000022")],
        ),
    ]
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Runs the demo.
pub fn run(opts: DemoOptions) -> Result<(), crate::DaemonError> {
    let (_temp, data) = match opts.data {
        Some(d) => (None, d),
        None => {
            let t = tempfile::Builder::new()
                .prefix("posd-demo-")
                .tempdir()
                .map_err(|source| crate::DaemonError::Files {
                    path: std::env::temp_dir(),
                    source,
                })?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let receipts = data.join("receipts");
    std::fs::create_dir_all(&receipts).map_err(|source| crate::DaemonError::Files {
        path: receipts.clone(),
        source,
    })?;
    // The backup medium's directory (a till's is made when its medium is prepared).
    let backups = data.join("backups");
    std::fs::create_dir_all(&backups).map_err(|source| crate::DaemonError::Files {
        path: backups.clone(),
        source,
    })?;
    let token = opts.token.unwrap_or_else(random_token);
    let config = Config {
        merchant: MerchantConfig {
            name: "Boulangerie-Épicerie du Marché".into(),
            address: "3 place du Marché, 69002 Lyon".into(),
            siret: "73282932000074".into(),
            vat_id: "FR44732829320".into(),
        },
        register_id: "CAISSE-01".into(),
        time_zone: "Europe/Paris".into(),
        vat_rates: pos_core::sample::FRENCH_VAT_RATES
            .iter()
            .map(|r| r.0)
            .collect(),
        fiscal_year_start_month: 1,
        data_dir: data.clone(),
        key_path: None,
        anchor_path: None,
        stock: Default::default(),
        shops: Default::default(),
        storage: Default::default(),
        barcodes: Default::default(),
        // On a till, another medium (a USB stick, a NAS mount); the demo keeps them beside its
        // data.
        backup: Some(crate::config::BackupConfig {
            dir: backups,
            after_closure: true,
            keep_daily: 7,
            keep_monthly: 12,
            offsite: None,
        }),
        api: ApiConfig {
            listen: opts.listen.clone(),
            tokens: vec![token.clone()],
            ..ApiConfig::default()
        },
        printer: Some(PrinterConfig {
            address: opts
                .printer
                .clone()
                .unwrap_or_else(|| format!("file:{}", receipts.display())),
            paper_mm: 80,
            text_dir: Some(receipts.clone()),
            receipts: Default::default(),
        }),
        drawer: opts.drawer.then_some(DrawerConfig { pin: 2 }),
        scanners: opts
            .scanner
            .iter()
            .map(|p| ScannerConfig {
                path: p.clone(),
                kind: Default::default(),
                baud: 9600,
                layout: Default::default(),
            })
            .collect(),
        operators: vec![
            OperatorConfig {
                id: "alice".into(),
                name: "Alice".into(),
                role: Role::Cashier,
                pin_hash: crate::auth::hash_pin(CASHIER_PIN)?,
            },
            OperatorConfig {
                id: "marie".into(),
                name: "Marie".into(),
                role: Role::Manager,
                pin_hash: crate::auth::hash_pin(MANAGER_PIN)?,
            },
        ],
        policy: Policy::default(),
        receipt_footer: vec!["Merci de votre visite !".into()],
    };
    config.validate()?;
    if !config.journal_path().exists() {
        crate::init(&config)?;
    }
    {
        let ops = crate::ops::Ops::open(&config.ops_path(), true)?;
        if ops.products()?.is_empty() {
            let mut ledger =
                shop_sync::ledger::Ledger::open(&config.stock_path(), config.stock.zero_stock)?;
            for p in sample_catalog() {
                ops.upsert_product(&p)?;
                if let (true, Some(q)) = (p.track_stock, p.stock_milli) {
                    ledger.track(&p.sku, None)?;
                    ledger.count("demo", &[(p.sku.clone(), q)])?;
                }
            }
        }
    }
    let banner_token = token.clone();
    let banner_receipts = receipts.clone();
    let ready = Box::new(move |addr: std::net::SocketAddr| {
        let url = format!("http://{addr}");
        println!("posd demo: open the till at {url}/ (sign in as alice, PIN {CASHIER_PIN})");
        println!("API at {url}/v1 (OpenAPI: {url}/v1/openapi.json)");
        println!("data directory: {}", data.display());
        println!("receipts (ESC/POS and text): {}", banner_receipts.display());
        println!(
            "operators: alice (cashier, PIN {CASHIER_PIN}), marie (manager, PIN {MANAGER_PIN})"
        );
        println!("first sale:");
        println!(
            "  curl -s -H 'Authorization: Bearer {banner_token}' -H 'Content-Type: application/json' \
             -d '{{\"operator\":\"alice\",\"pin\":\"{CASHIER_PIN}\"}}' {url}/v1/operators/sign-in"
        );
        // The front-end's own id for the ticket: sent again (a lost answer), it is not sold twice.
        println!(
            "  curl -s -H 'Authorization: Bearer {banner_token}' -H 'Content-Type: application/json' \
             -H 'Idempotency-Key: demo-ticket-1' \
             -d '{{\"operator\":\"alice\",\"lines\":[{{\"sku\":\"BAGUETTE\",\"quantity\":2}},\
             {{\"barcode\":\"2123450012503\"}}],\"payments\":[{{\"method\":\"cash\",\"amount_cents\":5000}}]}}' \
             {url}/v1/sales"
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
    });
    crate::serve(config, Some(ready))
}

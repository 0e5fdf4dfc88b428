//! Reads a serial barcode scanner and prints each scan decoded.
//!
//! ```text
//! cargo run --example scan -- --serial /dev/ttyACM0 [--baud 9600] [--prefix ]E0] [--suffix X]
//! ```
//!
//! Variable-measure labels use the common French layout: prefixes 20-24 carry a weight in
//! grams, 25-29 a price in cents (`2F IIIII VVVVV C`).

use std::path::PathBuf;

use clap::Parser;
use drivers::scanner::framing::FramingOptions;
use drivers::scanner::serial::{ScannerEvent, SerialScanner, SerialScannerConfig};
use pos_core::barcode::{self, Barcode, BarcodeConfig, Measure};

#[derive(Parser)]
#[command(about = "Print each scan of a serial barcode scanner, decoded")]
struct Args {
    /// Serial device of the scanner.
    #[arg(long)]
    serial: PathBuf,
    /// Speed.
    #[arg(long, default_value_t = 9600)]
    baud: u32,
    /// Prefix the scanner adds (stripped).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Suffix the scanner adds before its terminator (stripped).
    #[arg(long, default_value = "")]
    suffix: String,
}

fn describe(code: &Barcode) -> String {
    match code {
        Barcode::Ean13 { code, scanned_as } => format!("product {code} ({scanned_as})"),
        Barcode::Ean8 { code } => format!("product {code} (EAN-8)"),
        Barcode::VariableMeasure {
            prefix,
            item,
            measure,
            ..
        } => match measure {
            Measure::WeightGrams(g) => {
                format!(
                    "item {prefix}-{item}, weight {}.{:03} kg",
                    g / 1000,
                    g % 1000
                )
            }
            Measure::PriceCents(c) => {
                format!("item {prefix}-{item}, price {}.{:02} EUR", c / 100, c % 100)
            }
        },
        Barcode::Opaque(text) => format!("other code {text:?}"),
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut config = SerialScannerConfig::new(args.serial);
    config.baud = args.baud;
    config.framing = FramingOptions {
        prefix: args.prefix,
        suffix: args.suffix,
    };
    let barcodes = BarcodeConfig::french_default();
    let mut scanner = SerialScanner::new(config);
    loop {
        match scanner.next_event().await {
            ScannerEvent::Scan(scan) => match barcode::parse(&scan, &barcodes) {
                Ok(code) => println!("{}", describe(&code)),
                Err(e) => println!("rejected {scan:?}: {e}"),
            },
            ScannerEvent::Rejected(e) => println!("rejected input: {e}"),
            ScannerEvent::Connected => eprintln!("scanner connected"),
            ScannerEvent::Disconnected(reason) => eprintln!("scanner gone ({reason}), waiting"),
        }
    }
}

//! Prints a sample French receipt (with its QR code) and opens the cash drawer.
//!
//! ```text
//! cargo run --example print_receipt -- --printer tcp:127.0.0.1:9100 [--width 80]
//! cargo run --example print_receipt -- --printer serial:/dev/ttyUSB0@9600 --width 58
//! cargo run --example print_receipt -- --printer usb:/dev/usb/lp0
//! cargo run --example print_receipt -- --printer file:receipt.bin
//! ```

use std::process::ExitCode;

use clap::Parser;
use drivers::commands::DrawerPin;
use drivers::layout::{render_receipt, PaperWidth};
use drivers::printer::{PrintOutcome, Printer, PrinterOptions};
use drivers::sample;
use drivers::transport::PrinterAddress;

#[derive(Parser)]
#[command(about = "Print a sample French receipt and open the cash drawer")]
struct Args {
    /// tcp:HOST[:PORT], serial:PATH[@BAUD], usb:/dev/usb/lpN or file:PATH
    #[arg(long)]
    printer: PrinterAddress,
    /// Paper width in mm: 58 (32 columns) or 80 (48 columns).
    #[arg(long, default_value = "80", value_parser = parse_width)]
    width: PaperWidth,
    /// Do not open the drawer.
    #[arg(long)]
    no_drawer: bool,
}

fn parse_width(mm: &str) -> Result<PaperWidth, String> {
    mm.parse()
        .ok()
        .and_then(PaperWidth::from_mm)
        .ok_or_else(|| format!("{mm}: expected 58 or 80"))
}

fn report(what: &str, outcome: &PrintOutcome) -> bool {
    match outcome {
        PrintOutcome::Printed(status) => {
            println!("{what}: printed ({status:?})");
            true
        }
        PrintOutcome::NotSent(reason) => {
            eprintln!("{what}: not sent: {reason}");
            false
        }
        PrintOutcome::Unknown(reason) => {
            eprintln!("{what}: outcome unknown, do not resend blindly: {reason}");
            false
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let job = match render_receipt(&sample::french_receipt(), args.width) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("layout: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut printer = Printer::new(args.printer, PrinterOptions::default());
    if !report("receipt", &printer.print(&job).await) {
        return ExitCode::FAILURE;
    }
    if !args.no_drawer && !report("drawer", &printer.open_drawer(DrawerPin::Pin2).await) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

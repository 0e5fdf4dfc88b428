//! The serial scanner reader against emupos's emulated serial scanner (CR-terminated scans on
//! its pseudo-terminal), then through the barcode parser as the `scan` example does.

mod common;

use std::time::Duration;

use common::Emupos;
use drivers::scanner::serial::{ScannerEvent, SerialScanner, SerialScannerConfig};
use pos_format::barcode::{self, Barcode, BarcodeConfig, Measure};

async fn next(scanner: &mut SerialScanner) -> ScannerEvent {
    tokio::time::timeout(Duration::from_secs(10), scanner.next_event())
        .await
        .expect("scanner event within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulated_scanner_scans_decode() {
    let emupos = Emupos::start();
    eprintln!(
        "DEBUG {:?} {:?}",
        std::fs::read_link(&emupos.scanner_link),
        std::fs::read_dir(emupos.dir.path().join("emupos"))
            .map(|d| d.map(|e| e.map(|e| e.file_name())).collect::<Vec<_>>())
    );
    eprintln!("LOG {}", emupos.log());
    let mut scanner = SerialScanner::new(SerialScannerConfig::new(&emupos.scanner_link));
    assert_eq!(next(&mut scanner).await, ScannerEvent::Connected);

    let config = BarcodeConfig::french_default();
    for (data, expected) in [
        (
            "3017620422003",
            Barcode::Ean13 {
                code: "3017620422003".into(),
                scanned_as: barcode::Symbology::Ean13,
            },
        ),
        (
            "96385074",
            Barcode::Ean8 {
                code: "96385074".into(),
            },
        ),
        (
            "2123450012503",
            Barcode::VariableMeasure {
                code: "2123450012503".into(),
                prefix: 21,
                item: "23450".into(),
                measure: Measure::WeightGrams(1250),
            },
        ),
        ("LOT-42/B", Barcode::Opaque("LOT-42/B".into())),
    ] {
        emupos.scan(data);
        let ScannerEvent::Scan(scan) = next(&mut scanner).await else {
            panic!("expected a scan of {data}");
        };
        assert_eq!(barcode::parse(&scan, &config), Ok(expected));
    }
}

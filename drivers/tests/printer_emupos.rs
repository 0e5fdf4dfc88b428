//! The printer driver against the emupos emulator (Epson TM-T20III profile), over TCP, its
//! pseudo-terminal (serial transport) and the same pty through the `usb:` character-device
//! transport. Every check reads what emupos decoded, or its state through its control API.

mod common;

use std::time::Duration;

use common::Emupos;
use drivers::commands::{drawer_kick, DrawerPin};
use drivers::layout::{render_receipt, render_report, PaperWidth};
use drivers::printer::{NotSent, PrintOutcome, Printer, PrinterOptions};
use drivers::sample;
use drivers::transport::PrinterAddress;

fn printer(address: &str) -> Printer {
    let address: PrinterAddress = address.parse().expect("valid address");
    Printer::new(address, PrinterOptions::default())
}

fn assert_printed(outcome: &PrintOutcome) {
    assert!(outcome.is_printed(), "expected Printed, got {outcome:?}");
}

fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            text.contains(needle),
            "missing {needle:?} in receipt:\n{text}"
        );
    }
}

/// Every mandatory mention of the sample receipt, as emupos decodes it.
const MANDATORY: &[&str] = &[
    // Merchant identity.
    "Épicerie Les Œillets",
    "12 rue de la Paix",
    "75002 Paris",
    "SIRET 12345678900012",
    "TVA intracom. FR32123456789",
    // Ticket number, register, date and time.
    "Ticket n° 1042",
    "Caisse 01",
    "Le 27/11/2026 10:15:03",
    "Vendeur : Amélie",
    // Lines: label, quantity, unit price, total, VAT rate; weights in kg.
    "Crème fraîche épaisse 20cl",
    "  2 x 1,89 €",
    "3,78 5,5%",
    "Comté AOP 18 mois",
    "  1,250 kg x 24,90 €/kg",
    "31,13 5,5%",
    "Vin rouge « Côtes-du-Rhône »",
    "8,55 20%",
    "Le Monde (journal)",
    "3,20 2,1%",
    // Discounts.
    "  Remise fidélité 10 %",
    "-0,95",
    "Remise bon d'achat",
    "-1,00 €",
    // Total, VAT breakdown.
    "TOTAL TTC",
    "45,30 €",
    "Taux TVA",
    "2,1%",
    "3,13",
    "0,07",
    "32,75",
    "1,80",
    "34,55",
    "6,29",
    "1,26",
    "7,55",
    // Payments and change.
    "Espèces",
    "50,00 €",
    "Rendu monnaie",
    "4,70 €",
    // Line count, signature, software.
    "Nombre de lignes : 4",
    "Signature : Xk9P",
    "Logiciel PosCaisse 0.1.0",
    "Merci de votre visite !",
];

fn assert_width(text: &str, columns: usize) {
    for line in text.lines().filter(|l| !l.starts_with("[qr ")) {
        assert!(
            line.chars().count() <= columns,
            "line wider than {columns} columns: {line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_french_receipt_over_tcp() {
    let emupos = Emupos::start();
    let mut printer = printer(&emupos.tcp_address());
    let job = render_receipt(&sample::french_receipt(), PaperWidth::Mm80).expect("layout");
    assert_printed(&printer.print(&job).await);

    let receipts = emupos.wait_receipts(1);
    let text = &receipts[0];
    assert_contains_all(text, MANDATORY);
    // The QR code carries the verification string exactly.
    assert!(
        text.lines()
            .any(|l| l == "[qr FR1;R01;T1042;20261127101503;4530;Xk9P7fQ2]"),
        "QR content missing:\n{text}"
    );
    assert!(!text.contains("DUPLICATA") && !text.contains("MODE ÉCOLE"));
    assert_width(text, 48);
    // Nothing was sent raw: no UTF-8 sequence decoded as WPC1252 ("Ã©" for "é").
    assert!(
        !text.contains('Ã') && !text.contains('â'),
        "raw UTF-8:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_training_58mm_over_pty_serial() {
    let emupos = Emupos::start();
    let mut printer = printer(&format!("serial:{}@9600", emupos.pty_link.display()));
    let mut receipt = sample::french_receipt();
    receipt.duplicate = Some(2);
    receipt.training = true;
    let job = render_receipt(&receipt, PaperWidth::Mm58).expect("layout");
    assert_printed(&printer.print(&job).await);

    let text = &emupos.wait_receipts(1)[0];
    assert_contains_all(text, MANDATORY);
    assert_contains_all(
        text,
        &[
            "DUPLICATA n° 2",
            "MODE ÉCOLE – FACTICE",
            "Épicerie Les Œillets",
            "SIRET 12345678900012",
            "Ticket n° 1042",
            "TOTAL TTC",
            "45,30 €",
            "1,250 kg x 24,90 €/kg",
            "Signature : Xk9P",
        ],
    );
    assert!(text.contains("[qr FR1;R01;T1042;20261127101503;4530;Xk9P7fQ2]"));
    assert_width(text, 32);
    assert_eq!(text.matches("MODE ÉCOLE – FACTICE").count(), 2, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn z_report_over_character_device() {
    let emupos = Emupos::start();
    // The `usb:` transport drives any character device non-blocking: here, emupos's pty.
    let mut printer = printer(&format!("usb:{}", emupos.pty_link.display()));
    let status = printer
        .status()
        .await
        .expect("status over the character device");
    assert!(status.ready());
    let job = render_report(&sample::z_report(), PaperWidth::Mm80).expect("layout");
    assert_printed(&printer.print(&job).await);

    let text = &emupos.wait_receipts(1)[0];
    assert_contains_all(
        text,
        &[
            "RAPPORT Z n° 87",
            "Caisse 01",
            "Tickets",
            "143",
            "Règlements",
            "Carte bancaire",
            "1000,00 €",
            "Total période TTC",
            "1513,90 €",
            "Grand total perpétuel",
            "123456,78 €",
            "Total perpétuel absolu",
            "Séquence 20511",
            "9f86d081884c7d659a2feaa0c55ad015",
            "Signature : Qz3T",
        ],
    );
    assert!(
        text.contains("[qr Z87;S20511;H9f86d081884c7d65;Qz3T]"),
        "{text}"
    );
    assert_width(text, 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_replies_are_drained_before_status() {
    let emupos = Emupos::start();
    let mut printer = printer(&emupos.tcp_address());
    // GS I 67: the printer answers "_TM-T20III\0", bytes a status query must not take as its
    // replies ('2' even has the fixed bits of a DLE EOT reply).
    for _ in 0..3 {
        assert_printed(&printer.print(b"\x1dI\x43").await);
        let status = printer.status().await.expect("status after stale replies");
        assert_eq!(status, drivers::status::PrinterStatus::default());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drawer_opens_and_following_bytes_survive() {
    let emupos = Emupos::start();
    let mut printer = printer(&emupos.tcp_address());
    assert!(!printer.drawer_open().await.expect("status"));

    // Text, the drawer kick, more text: a 3-byte ESC p would eat "Ap" of the second line.
    let mut job = b"\x1b@Avant tiroir\n".to_vec();
    job.extend_from_slice(&drawer_kick(DrawerPin::Pin2));
    job.extend_from_slice(b"Apres tiroir\n\x1dVA\x00");
    assert_printed(&printer.print(&job).await);

    let text = &emupos.wait_receipts(1)[0];
    assert!(text.lines().any(|l| l == "Avant tiroir"), "{text}");
    assert!(text.lines().any(|l| l == "Apres tiroir"), "{text}");
    assert_eq!(emupos.drawer_state(), "open");
    assert!(printer.drawer_open().await.expect("status"));

    emupos.close_drawer();
    assert!(!printer.drawer_open().await.expect("status"));
    assert_printed(&printer.open_drawer(DrawerPin::Pin5).await);
    assert_eq!(emupos.drawer_state(), "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_reported_and_block_printing_without_double_prints() {
    let emupos = Emupos::start();
    let mut printer = printer(&emupos.tcp_address());
    let job = render_receipt(&sample::french_receipt(), PaperWidth::Mm80).expect("layout");

    let status = printer.status().await.expect("status");
    assert!(status.ready() && status.online());

    for fault in ["paper-out", "cover-open", "offline"] {
        emupos.set_fault(fault, true);
        let status = printer.status().await.expect("status");
        match fault {
            "paper-out" => assert!(status.paper_out && status.offline, "{status:?}"),
            "cover-open" => assert!(status.cover_open && status.offline, "{status:?}"),
            _ => assert!(
                status.offline && !status.paper_out && !status.cover_open,
                "{status:?}"
            ),
        }
        assert!(!status.ready());
        match printer.print(&job).await {
            PrintOutcome::NotSent(NotSent::NotReady(reported)) => assert_eq!(reported, status),
            other => panic!("{fault}: print must refuse, got {other:?}"),
        }
        assert!(matches!(
            printer.open_drawer(DrawerPin::Pin2).await,
            PrintOutcome::NotSent(NotSent::NotReady(_))
        ));
        emupos.set_fault(fault, false);
        assert!(printer.status().await.expect("status").ready());
    }
    // Nothing was held by the printer: clearing the faults printed nothing, opened nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(emupos.receipts().is_empty(), "{:?}", emupos.receipts());
    assert_eq!(emupos.drawer_state(), "closed");

    // Paper near end is a warning only.
    emupos.set_fault("paper-near-end", true);
    let status = printer.status().await.expect("status");
    assert!(status.paper_near_end && status.ready());
    assert_printed(&printer.print(&job).await);

    // Exactly one receipt, even after the emulator's idle timeout.
    assert_eq!(emupos.wait_receipts(1).len(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(emupos.receipts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_status_back_reports_changes() {
    let emupos = Emupos::start();
    let mut printer = printer(&emupos.tcp_address());
    let first = printer
        .enable_automatic_status(0x0F)
        .await
        .expect("enable ASB");
    assert!(first.is_some_and(|s| s.ready()), "{first:?}");

    emupos.set_fault("cover-open", true);
    let status = printer
        .wait_automatic_status(Duration::from_secs(5))
        .await
        .expect("ASB frame");
    assert!(status.cover_open && status.offline);

    // A status query on the same stream still works while ASB frames arrive.
    emupos.set_fault("cover-open", false);
    let queried = printer.status().await.expect("status");
    assert!(queried.ready());
    let last = printer.last_automatic_status();
    assert!(last.is_some_and(|s| s.ready()), "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printer_switched_off_then_on() {
    let mut emupos = Emupos::start();
    let mut printer = printer(&emupos.tcp_address());
    let job = render_receipt(&sample::french_receipt(), PaperWidth::Mm58).expect("layout");
    assert_printed(&printer.print(&job).await);
    assert_eq!(emupos.wait_receipts(1).len(), 1);

    emupos.stop();
    assert!(matches!(
        printer.print(&job).await,
        PrintOutcome::NotSent(NotSent::NoStatus(_))
    ));
    assert!(printer.status().await.is_err());

    emupos.restart();
    // The driver reconnects by itself; the refused job was never sent, so one more print
    // makes exactly two receipts.
    assert_printed(&printer.print(&job).await);
    assert_eq!(emupos.wait_receipts(2).len(), 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(emupos.receipts().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_or_silent_printers_are_not_sent() {
    // Nothing listens on this port.
    let port = common::free_port();
    let mut gone = printer(&format!("tcp:127.0.0.1:{port}"));
    assert!(matches!(
        gone.print(b"x").await,
        PrintOutcome::NotSent(NotSent::NoStatus(_))
    ));

    // Something accepts but never answers: the status query times out, nothing is sent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut all = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(4), socket.read_to_end(&mut all)).await;
        all
    });
    let mut silent = printer(&format!("tcp:127.0.0.1:{port}"));
    assert!(matches!(
        silent.print(b"JOB").await,
        PrintOutcome::NotSent(NotSent::NoStatus(_))
    ));
    drop(silent);
    let bytes = received.await.expect("peer task");
    assert_eq!(
        bytes,
        vec![0x10, 0x04, 0x01],
        "only the first status request was sent"
    );
}

#[tokio::test]
async fn file_transport_writes_the_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("receipt.bin");
    let mut printer = printer(&format!("file:{}", path.display()));
    let job = render_receipt(&sample::french_receipt(), PaperWidth::Mm58).expect("layout");
    assert!(matches!(
        printer.print(&job).await,
        PrintOutcome::Printed(None)
    ));
    printer.disconnect();
    assert_eq!(std::fs::read(&path).expect("job file"), job);

    let mut to_dir = printer_for_dir(dir.path());
    assert!(to_dir.print(&job).await.is_printed());
    to_dir.disconnect();
    let jobs = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter(|e| {
            e.as_ref()
                .map(|e| e.file_name().to_string_lossy().starts_with("job-"))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(jobs, 1);
}

fn printer_for_dir(dir: &std::path::Path) -> Printer {
    printer(&format!("file:{}", dir.display()))
}

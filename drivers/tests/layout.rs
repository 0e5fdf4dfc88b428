//! Byte-level checks of the receipt layout (the emupos tests check the decoded result).

use drivers::layout::{render_receipt, render_report, LayoutError, PaperWidth, MAX_RECEIPT_LINES};
use drivers::receipt::{Cut, ReceiptLine};
use drivers::sample;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn starts_with_init_and_wpc1252() {
    let job = render_receipt(&sample::french_receipt(), PaperWidth::Mm80).expect("layout");
    assert_eq!(&job[..5], &[0x1B, 0x40, 0x1B, 0x74, 16]);
}

#[test]
fn french_text_is_wpc1252_not_utf8() {
    let job = render_receipt(&sample::french_receipt(), PaperWidth::Mm58).expect("layout");
    assert!(find(&job, "é".as_bytes()).is_none(), "raw UTF-8 é");
    assert!(find(&job, "€".as_bytes()).is_none(), "raw UTF-8 €");
    assert!(find(&job, b"Cr\xe8me fra\xeeche \xe9paisse").is_some());
    assert!(find(&job, b"45,30 \x80").is_some(), "euro sign is 0x80");
    assert!(find(&job, b"\xc9picerie Les \x8cillets").is_some());
}

#[test]
fn qr_is_model_2_level_m_with_the_payload() {
    let job = render_receipt(&sample::french_receipt(), PaperWidth::Mm80).expect("layout");
    assert!(find(&job, &[0x1D, 0x28, 0x6B, 4, 0, 49, 65, 50, 0]).is_some());
    assert!(find(&job, &[0x1D, 0x28, 0x6B, 3, 0, 49, 69, 49]).is_some());
    let payload = b"FR1;R01;T1042;20261127101503;4530;Xk9P7fQ2";
    let mut store = vec![0x1D, 0x28, 0x6B, (payload.len() + 3) as u8, 0, 49, 80, 48];
    store.extend_from_slice(payload);
    assert!(find(&job, &store).is_some());
}

#[test]
fn cuts_are_correct() {
    let mut receipt = sample::french_receipt();
    let partial = render_receipt(&receipt, PaperWidth::Mm80).expect("layout");
    assert!(partial.ends_with(&[0x1D, 0x56, 66, 0]));
    receipt.cut = Cut::Full;
    let full = render_receipt(&receipt, PaperWidth::Mm80).expect("layout");
    assert!(full.ends_with(&[0x1D, 0x56, 65, 0]));
}

#[test]
fn labels_cannot_inject_commands() {
    let mut receipt = sample::french_receipt();
    receipt.lines[0].label = "Evil\x1bp\x00\x19\u{fa}\x1d\x56\x41".to_owned();
    let job = render_receipt(&receipt, PaperWidth::Mm80).expect("layout");
    assert!(
        find(&job, b"\x1bp").is_none(),
        "ESC p from a label reached the job"
    );
}

#[test]
fn limits_and_bad_qr_are_errors() {
    let mut receipt = sample::french_receipt();
    receipt.qr_payload = "Q".repeat(5000);
    assert!(matches!(
        render_receipt(&receipt, PaperWidth::Mm80),
        Err(LayoutError::Command(_))
    ));
    let mut receipt = sample::french_receipt();
    receipt.lines = vec![ReceiptLine::default(); MAX_RECEIPT_LINES + 1];
    assert_eq!(
        render_receipt(&receipt, PaperWidth::Mm80),
        Err(LayoutError::TooManyLines(MAX_RECEIPT_LINES + 1))
    );
}

#[test]
fn layout_is_deterministic() {
    let receipt = sample::french_receipt();
    assert_eq!(
        render_receipt(&receipt, PaperWidth::Mm58),
        render_receipt(&receipt, PaperWidth::Mm58)
    );
    let report = sample::z_report();
    assert_eq!(
        render_report(&report, PaperWidth::Mm80),
        render_report(&report, PaperWidth::Mm80)
    );
}

#[test]
fn x_report_and_training_marks() {
    let mut report = sample::z_report();
    report.kind = drivers::receipt::ReportKind::X;
    report.training = true;
    let job = render_report(&report, PaperWidth::Mm58).expect("layout");
    assert!(find(&job, b"RAPPORT X (lecture)").is_some());
    assert!(find(&job, b"RAPPORT Z").is_none());
    assert_eq!(
        job.windows(20)
            .filter(|w| *w == b"MODE \xc9COLE \x96 FACTICE")
            .count(),
        2
    );
}

#[test]
fn z_duplicate_and_refund_marks() {
    let mut report = sample::z_report();
    let plain = render_report(&report, PaperWidth::Mm80).expect("layout");
    assert!(find(&plain, b"DUPLICATA").is_none());
    report.duplicate = Some(2);
    let job = render_report(&report, PaperWidth::Mm80).expect("layout");
    assert!(find(&job, b"RAPPORT Z").is_some());
    assert_eq!(
        job.windows(14)
            .filter(|w| *w == b"DUPLICATA n\xb0 2")
            .count(),
        2
    );

    let mut receipt = sample::french_receipt();
    let plain = render_receipt(&receipt, PaperWidth::Mm58).expect("layout");
    assert!(find(&plain, b"REMBOURSEMENT").is_none());
    receipt.refund = Some(drivers::receipt::RefundMark {
        void: false,
        original_ticket: 41,
        reason: "produit abîmé".into(),
    });
    let job = render_receipt(&receipt, PaperWidth::Mm58).expect("layout");
    let mark = find(&job, b"REMBOURSEMENT").expect("refund mark");
    assert!(find(&job, b"du ticket n\xb0 41").is_some());
    assert!(find(&job, b"Motif : produit ab\xeem\xe9").is_some());
    // Above the lines.
    let first_line = find(&job, b"Cr\xe8me fra\xeeche").expect("a line");
    assert!(mark < first_line);
    receipt.refund = Some(drivers::receipt::RefundMark {
        void: true,
        original_ticket: 41,
        reason: String::new(),
    });
    let job = render_receipt(&receipt, PaperWidth::Mm58).expect("layout");
    assert!(find(&job, b"ANNULATION").is_some());
    assert!(find(&job, b"REMBOURSEMENT").is_none());
    assert!(find(&job, b"Motif").is_none());
}

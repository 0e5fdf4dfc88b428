//! A sample French receipt and Z report, for the examples, demos and tests.

use crate::receipt::{
    ChainHead, Cut, Discount, Merchant, Payment, Receipt, ReceiptLine, Report, ReportKind,
    Software, VatTotal,
};

fn merchant() -> Merchant {
    Merchant {
        name: "Épicerie Les Œillets".to_owned(),
        address: vec!["12 rue de la Paix".to_owned(), "75002 Paris".to_owned()],
        siret: "12345678900012".to_owned(),
        vat_id: Some("FR32123456789".to_owned()),
    }
}

fn software() -> Software {
    Software {
        name: "PosCaisse".to_owned(),
        version: "0.1.0".to_owned(),
        certificate: None,
    }
}

/// A cash sale with a weighed line, a discounted line, three VAT rates and change.
pub fn french_receipt() -> Receipt {
    Receipt {
        merchant: merchant(),
        ticket_number: 1042,
        register: "01".to_owned(),
        date_time: "27/11/2026 10:15:03".to_owned(),
        operator: Some("Amélie".to_owned()),
        lines: vec![
            ReceiptLine {
                label: "Crème fraîche épaisse 20cl".to_owned(),
                quantity_milli: 2000,
                is_weight: false,
                unit_price_cents: 189,
                total_cents: 378,
                vat_rate_bp: 550,
                discount: None,
            },
            ReceiptLine {
                label: "Comté AOP 18 mois".to_owned(),
                quantity_milli: 1250,
                is_weight: true,
                unit_price_cents: 2490,
                total_cents: 3113,
                vat_rate_bp: 550,
                discount: None,
            },
            ReceiptLine {
                label: "Vin rouge « Côtes-du-Rhône »".to_owned(),
                quantity_milli: 1000,
                is_weight: false,
                unit_price_cents: 950,
                total_cents: 855,
                vat_rate_bp: 2000,
                discount: Some(Discount {
                    label: "fidélité 10 %".to_owned(),
                    amount_cents: 95,
                }),
            },
            ReceiptLine {
                label: "Le Monde (journal)".to_owned(),
                quantity_milli: 1000,
                is_weight: false,
                unit_price_cents: 320,
                total_cents: 320,
                vat_rate_bp: 210,
                discount: None,
            },
        ],
        ticket_discount: Some(Discount {
            label: "bon d'achat".to_owned(),
            amount_cents: 100,
        }),
        vat: vec![
            VatTotal {
                rate_bp: 210,
                base_cents: 313,
                vat_cents: 7,
                total_cents: 320,
            },
            VatTotal {
                rate_bp: 550,
                base_cents: 3275,
                vat_cents: 180,
                total_cents: 3455,
            },
            VatTotal {
                rate_bp: 2000,
                base_cents: 629,
                vat_cents: 126,
                total_cents: 755,
            },
        ],
        total_cents: 4530,
        payments: vec![Payment {
            method: "Espèces".to_owned(),
            amount_cents: 5000,
        }],
        change_cents: 470,
        software: software(),
        signature_extract: "Xk9P".to_owned(),
        line_count: 4,
        qr_payload: "FR1;R01;T1042;20261127101503;4530;Xk9P7fQ2".to_owned(),
        duplicate: None,
        training: false,
        refund: None,
        footer: vec!["Merci de votre visite !".to_owned()],
        cut: Cut::Partial,
    }
}

/// A Z report closing a day.
pub fn z_report() -> Report {
    Report {
        kind: ReportKind::Z,
        merchant: merchant(),
        register: "01".to_owned(),
        number: Some(87),
        period_start: "27/11/2026 08:00:00".to_owned(),
        period_end: "27/11/2026 19:30:12".to_owned(),
        ticket_count: 143,
        vat: vec![
            VatTotal {
                rate_bp: 550,
                base_cents: 98_000,
                vat_cents: 5_390,
                total_cents: 103_390,
            },
            VatTotal {
                rate_bp: 2000,
                base_cents: 40_000,
                vat_cents: 8_000,
                total_cents: 48_000,
            },
        ],
        payments: vec![
            Payment {
                method: "Espèces".to_owned(),
                amount_cents: 51_390,
            },
            Payment {
                method: "Carte bancaire".to_owned(),
                amount_cents: 100_000,
            },
        ],
        period_total_cents: 151_390,
        perpetual_total_cents: 12_345_678,
        perpetual_absolute_cents: 12_400_000,
        chain_head: ChainHead {
            sequence: 20_511,
            hash_hex: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
            signature_extract: "Qz3T".to_owned(),
            qr_payload: "Z87;S20511;H9f86d081884c7d65;Qz3T".to_owned(),
        },
        software: software(),
        training: false,
        duplicate: None,
    }
}

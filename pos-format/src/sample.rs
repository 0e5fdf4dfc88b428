//! A sample merchant identity for examples, tests and demos.

use crate::body::{Merchant, OpeningBody, Software};
use crate::key::{Algorithm, PublicKeyInfo};
use crate::money::{Cents, Qty, VatRate};
use crate::ticket::{
    LineInput, Payment, PaymentMethod, RefundInput, RefundLineInput, SaleInput, Unit,
};

/// The French VAT rates: 20 %, 10 %, 5.5 %, 2.1 % and 0 %.
pub const FRENCH_VAT_RATES: [VatRate; 5] = [
    VatRate(2000),
    VatRate(1000),
    VatRate(550),
    VatRate(210),
    VatRate(0),
];

/// An opening body for a sample Paris bakery (the key is filled in by `Journal::create`).
pub fn sample_opening() -> OpeningBody {
    OpeningBody {
        merchant: Merchant {
            name: "Boulangerie Sainte-Cécile".into(),
            address: "12 rue des Écoles, 75005 Paris".into(),
            siret: "73282932000074".into(),
            vat_id: "FR44732829320".into(),
        },
        register_id: "CAISSE-01".into(),
        software: Software::this(),
        time_zone: "Europe/Paris".into(),
        currency: "EUR".into(),
        vat_rates: FRENCH_VAT_RATES.to_vec(),
        fiscal_year_start_month: 1,
        key: PublicKeyInfo {
            algorithm: Algorithm::Ed25519,
            public_key: String::new(),
            key_id: String::new(),
        },
        fiscal_rules: None,
    }
}

/// A sale of `pieces` baguettes at 1.30 (5.5 % VAT), paid by card, for examples and tests.
pub fn sample_sale(pieces: i64) -> SaleInput {
    SaleInput {
        operator: "alice".into(),
        lines: vec![LineInput {
            sku: "BAG-TRAD".into(),
            label: "Baguette tradition".into(),
            quantity: Qty::pieces(pieces),
            unit: Unit::Piece,
            unit_price: Cents(130),
            vat_rate: VatRate(550),
            discount: Cents::ZERO,
        }],
        ticket_discount: Cents::ZERO,
        payments: vec![Payment {
            method: PaymentMethod::Card,
            amount: Cents(130 * pieces),
        }],
    }
}

/// A refund of one baguette of a [`sample_sale`], paid back in cash, for examples and tests.
pub fn sample_refund_one_piece() -> RefundInput {
    RefundInput {
        operator: "manager".into(),
        reason: "returned".into(),
        lines: vec![RefundLineInput {
            original_line: 0,
            quantity: Qty::pieces(1),
        }],
        payments: vec![Payment {
            method: PaymentMethod::Cash,
            amount: Cents(130),
        }],
        void: false,
    }
}

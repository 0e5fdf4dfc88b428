use super::check::*;
use super::refund::*;
use super::sale::*;
use super::*;
use crate::money::*;

pub(crate) const FR: [VatRate; 5] = [
    VatRate(2000),
    VatRate(1000),
    VatRate(550),
    VatRate(210),
    VatRate(0),
];

fn line(sku: &str, qty: i64, price: i64, rate: u32) -> LineInput {
    LineInput {
        sku: sku.into(),
        label: format!("Article {sku}"),
        quantity: Qty(qty),
        unit: Unit::Piece,
        unit_price: Cents(price),
        vat_rate: VatRate(rate),
        discount: Cents::ZERO,
    }
}

fn pay(method: PaymentMethod, amount: i64) -> Payment {
    Payment {
        method,
        amount: Cents(amount),
    }
}

#[test]
fn bakery_ticket() {
    let input = SaleInput {
        operator: "op1".into(),
        lines: vec![
            line("BAG", 3000, 120, 550),
            line("CAFE", 1000, 250, 1000),
            LineInput {
                unit: Unit::Kg,
                ..line("COMTE", 253, 2890, 550)
            },
        ],
        ticket_discount: Cents(50),
        payments: vec![
            pay(PaymentMethod::Card, 500),
            pay(PaymentMethod::Cash, 1000),
        ],
    };
    let t = compute_sale(&input, &FR).unwrap();
    // 253 g at 28.90/kg = 7.3117 -> 7.31
    assert_eq!(t.lines[2].gross, Cents(731));
    let before: i64 = 360 + 250 + 731;
    assert_eq!(t.total, Cents(before - 50));
    let shares: i64 = t.lines.iter().map(|l| l.ticket_discount.0).sum();
    assert_eq!(shares, 50);
    let vat_sum: i64 = t.vat.iter().map(|v| v.gross.0).sum();
    assert_eq!(vat_sum, t.total.0);
    assert_eq!(t.change, Cents(1500 - t.total.0));
    assert_eq!(t.vat[0].rate, VatRate(1000));
    check_sale(&t, &FR).unwrap();
}

#[test]
fn validation_errors() {
    let ok = SaleInput {
        operator: "op".into(),
        lines: vec![line("A", 1000, 100, 2000)],
        ticket_discount: Cents::ZERO,
        payments: vec![pay(PaymentMethod::Cash, 100)],
    };
    assert!(compute_sale(&ok, &FR).is_ok());
    let mut t = ok.clone();
    t.lines.clear();
    assert_eq!(compute_sale(&t, &FR), Err(TicketError::Empty));
    let mut t = ok.clone();
    t.lines[0].quantity = Qty(0);
    assert!(matches!(
        compute_sale(&t, &FR),
        Err(TicketError::BadQuantity { .. })
    ));
    t.lines[0].quantity = Qty(-1000);
    assert!(matches!(
        compute_sale(&t, &FR),
        Err(TicketError::BadQuantity { .. })
    ));
    let mut t = ok.clone();
    t.lines[0].vat_rate = VatRate(1960);
    assert!(matches!(
        compute_sale(&t, &FR),
        Err(TicketError::UnknownVatRate { .. })
    ));
    let mut t = ok.clone();
    t.payments = vec![pay(PaymentMethod::Card, 99)];
    assert!(matches!(
        compute_sale(&t, &FR),
        Err(TicketError::PaymentsShort { .. })
    ));
    t.payments = vec![pay(PaymentMethod::Card, 150)];
    assert!(matches!(
        compute_sale(&t, &FR),
        Err(TicketError::ChangeOnNonCash { .. })
    ));
    t.payments = vec![pay(PaymentMethod::Card, 60), pay(PaymentMethod::Cash, 50)];
    assert_eq!(compute_sale(&t, &FR).unwrap().change, Cents(10));
    let mut t = ok.clone();
    t.lines = vec![line("A", 1000, 1, 2000); MAX_LINES_PER_TICKET + 1];
    assert!(matches!(
        compute_sale(&t, &FR),
        Err(TicketError::TooManyLines { .. })
    ));
    let mut t = ok.clone();
    t.lines[0].unit_price = Cents(MAX_UNIT_PRICE);
    t.lines[0].quantity = Qty(MAX_QUANTITY);
    assert_eq!(compute_sale(&t, &FR), Err(TicketError::Overflow));
    let mut t = ok.clone();
    t.operator = "".into();
    assert!(matches!(
        compute_sale(&t, &FR),
        Err(TicketError::BadText { .. })
    ));
}

#[test]
fn partial_refunds_never_exceed_the_sale() {
    let sale = compute_sale(
        &SaleInput {
            operator: "op".into(),
            lines: vec![line("A", 4000, 50, 2000)],
            ticket_discount: Cents(1),
            payments: vec![pay(PaymentMethod::Cash, 199)],
        },
        &FR,
    )
    .unwrap();
    let orig = OriginalRef { seq: 2, ticket: 1 };
    let mut rem = Remaining::of_sale(&sale);
    let mut refunded = 0;
    for _ in 0..4 {
        let r = RefundInput {
            operator: "op".into(),
            reason: "broken".into(),
            lines: vec![RefundLineInput {
                original_line: 0,
                quantity: Qty(1000),
            }],
            payments: vec![],
            void: false,
        };
        // Ask with the right amount: compute once without payments to learn it.
        let amount = match compute_refund(orig, &sale, &rem, &r) {
            Err(TicketError::RefundPaymentsMismatch { total, .. }) => total,
            other => panic!("{other:?}"),
        };
        let r = RefundInput {
            payments: vec![pay(PaymentMethod::Cash, amount)],
            ..r
        };
        let body = compute_refund(orig, &sale, &rem, &r).unwrap();
        check_refund(&body, &sale, &rem).unwrap();
        rem.apply(&body).unwrap();
        refunded += amount;
    }
    assert_eq!(refunded, sale.total.0);
    assert!(rem.is_exhausted());
    let again = RefundInput {
        operator: "op".into(),
        reason: "again".into(),
        lines: vec![RefundLineInput {
            original_line: 0,
            quantity: Qty(1000),
        }],
        payments: vec![],
        void: false,
    };
    assert!(matches!(
        compute_refund(orig, &sale, &rem, &again),
        Err(TicketError::RefundExceedsRemaining { .. })
    ));
}

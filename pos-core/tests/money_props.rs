//! Property tests of the money, VAT, sale and refund rules.

use pos_core::canonical::{check_canonical, to_canonical};
use pos_core::money::{div_round, extend, vat_included, Cents, Qty, VatRate, MAX_JSON_INT};
use pos_core::sample::FRENCH_VAT_RATES;
use pos_core::ticket::{
    check_refund, check_sale, compute_refund, compute_sale, LineInput, OriginalRef, Payment,
    PaymentMethod, RefundBody, RefundInput, RefundLine, RefundLineInput, Remaining, SaleBody,
    SaleInput, TicketError, TicketLine, Unit, VatTotal,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

const ORIGINAL: OriginalRef = OriginalRef { seq: 2, ticket: 1 };

fn rate() -> impl Strategy<Value = VatRate> {
    prop::sample::select(FRENCH_VAT_RATES.to_vec())
}

fn method() -> impl Strategy<Value = PaymentMethod> {
    prop::sample::select(PaymentMethod::ALL.to_vec())
}

/// A valid line: pieces or grams, a price, a French rate, a discount of 0..=100 % of the line.
fn line() -> impl Strategy<Value = LineInput> {
    (
        prop_oneof![
            (1i64..=20).prop_map(|n| (Qty::pieces(n), Unit::Piece)),
            (1i64..=20_000).prop_map(|q| (Qty(q), Unit::Piece)),
            (1i64..=5_000).prop_map(|g| (Qty(g), Unit::Kg)),
        ],
        prop_oneof![0i64..=2_000, 0i64..=200_000],
        rate(),
        0u8..=100,
        any::<bool>(),
    )
        .prop_map(|((quantity, unit), price, vat_rate, pct, discounted)| {
            let gross = extend(quantity, Cents(price)).unwrap();
            let discount = if discounted {
                Cents(gross.0 * i64::from(pct) / 100)
            } else {
                Cents::ZERO
            };
            LineInput {
                sku: "SKU".into(),
                label: "Article".into(),
                quantity,
                unit,
                unit_price: Cents(price),
                vat_rate,
                discount,
            }
        })
}

/// A valid sale: lines, a ticket discount of 0..=100 % of what the lines leave, and payments
/// that cover the total, split between non-cash methods and cash, with change only on cash.
fn sale_input() -> impl Strategy<Value = SaleInput> {
    (
        prop::collection::vec(line(), 1..12),
        0u8..=100,
        any::<bool>(),
        prop::collection::vec((method(), 0u8..=100), 0..4),
        prop_oneof![Just(0i64), 0i64..=5_000],
    )
        .prop_map(|(lines, pct, discounted, splits, extra_cash)| {
            let before: i64 = lines
                .iter()
                .map(|l| extend(l.quantity, l.unit_price).unwrap().0 - l.discount.0)
                .sum();
            let ticket_discount = if discounted {
                Cents(before * i64::from(pct) / 100)
            } else {
                Cents::ZERO
            };
            let total = before - ticket_discount.0;
            let mut left = total;
            let mut payments = Vec::new();
            for (m, pct) in splits {
                let amount = left * i64::from(pct) / 100;
                if amount > 0 {
                    payments.push(Payment {
                        method: m,
                        amount: Cents(amount),
                    });
                    left -= amount;
                }
            }
            // Cash pays the rest and may get change; any method can pay an exact rest.
            let cash = left + extra_cash;
            if cash > 0 {
                payments.push(Payment {
                    method: PaymentMethod::Cash,
                    amount: Cents(cash),
                });
            }
            SaleInput {
                operator: "op".into(),
                lines,
                ticket_discount,
                payments,
            }
        })
}

fn sum(items: impl IntoIterator<Item = Cents>) -> i64 {
    items.into_iter().map(|c| c.0).sum()
}

fn assert_breakdown(vat: &[VatTotal], amounts: &[(VatRate, Cents)], total: Cents) {
    // One entry per rate used, highest first.
    let mut by_rate: BTreeMap<VatRate, i64> = BTreeMap::new();
    for (r, a) in amounts {
        *by_rate.entry(*r).or_default() += a.0;
    }
    let rates: Vec<VatRate> = vat.iter().map(|v| v.rate).collect();
    let expected: Vec<VatRate> = by_rate.keys().rev().copied().collect();
    assert_eq!(rates, expected);
    for v in vat {
        assert_eq!(v.gross.0, by_rate[&v.rate]);
        assert_eq!(v.net.0 + v.vat.0, v.gross.0, "net + vat = gross");
        assert_eq!(
            i128::from(v.vat.0),
            div_round(
                i128::from(v.gross.0) * i128::from(v.rate.0),
                10_000 + i128::from(v.rate.0)
            )
        );
        assert!(v.vat.0.abs() <= v.gross.0.abs());
    }
    assert_eq!(
        sum(vat.iter().map(|v| v.gross)),
        total.0,
        "breakdown sums to total"
    );
}

fn assert_sale_rules(input: &SaleInput, sale: &SaleBody) {
    assert_eq!(sale.lines.len(), input.lines.len());
    let weights: Vec<i64> = sale
        .lines
        .iter()
        .map(|l| l.gross.0 - l.line_discount.0)
        .collect();
    let before: i64 = weights.iter().sum();
    for ((l, inp), w) in sale.lines.iter().zip(&input.lines).zip(&weights) {
        assert_eq!(l.gross, extend(inp.quantity, inp.unit_price).unwrap());
        assert_eq!(l.line_discount, inp.discount);
        assert_eq!(
            l.total.0,
            l.gross.0 - l.line_discount.0 - l.ticket_discount.0
        );
        assert!(l.total.0 >= 0);
        // Each share is the exact pro rata share rounded down, or one cent more.
        if before > 0 {
            let exact = i128::from(input.ticket_discount.0) * i128::from(*w);
            let floor = exact / i128::from(before);
            let share = i128::from(l.ticket_discount.0);
            assert!(
                share == floor || share == floor + 1,
                "share {share} of {exact}/{before}"
            );
        } else {
            assert_eq!(l.ticket_discount, Cents::ZERO);
        }
    }
    assert_eq!(
        sum(sale.lines.iter().map(|l| l.ticket_discount)),
        input.ticket_discount.0,
        "ticket discount shares sum exactly"
    );
    assert_eq!(sale.total.0, before - input.ticket_discount.0);
    assert_eq!(sum(sale.lines.iter().map(|l| l.total)), sale.total.0);
    let amounts: Vec<(VatRate, Cents)> = sale.lines.iter().map(|l| (l.vat_rate, l.total)).collect();
    assert_breakdown(&sale.vat, &amounts, sale.total);

    let paid = sum(sale.payments.iter().map(|p| p.amount));
    let cash = sum(sale
        .payments
        .iter()
        .filter(|p| p.method == PaymentMethod::Cash)
        .map(|p| p.amount));
    assert_eq!(sale.payments, input.payments);
    assert!(sale.change.0 >= 0);
    assert_eq!(sale.change.0, paid - sale.total.0);
    assert!(sale.change.0 <= cash, "change only on cash");
}

/// Refunds `lines` of `sale` given what remains; pays the exact amount with `method`.
fn refund(
    sale: &SaleBody,
    remaining: &Remaining,
    lines: Vec<RefundLineInput>,
    method: PaymentMethod,
) -> RefundBody {
    let mut input = RefundInput {
        operator: "op".into(),
        reason: "returned".into(),
        lines,
        payments: vec![],
        void: false,
    };
    let amount = match compute_refund(ORIGINAL, sale, remaining, &input) {
        Ok(body) => return body,
        Err(TicketError::RefundPaymentsMismatch { total, paid: 0 }) => total,
        Err(e) => panic!("refund refused: {e}"),
    };
    input.payments = vec![Payment {
        method,
        amount: Cents(amount),
    }];
    compute_refund(ORIGINAL, sale, remaining, &input).unwrap()
}

fn full_refund_lines(remaining: &Remaining) -> Vec<RefundLineInput> {
    remaining
        .lines
        .iter()
        .enumerate()
        .filter(|(_, (q, _))| q.0 > 0)
        .map(|(i, (q, _))| RefundLineInput {
            original_line: i as u32,
            quantity: *q,
        })
        .collect()
}

/// Integers that reach the edges: i64 extremes, the JSON limit and its neighbours, small ones.
fn edgy_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MIN + 1),
        Just(i64::MAX),
        Just(MAX_JSON_INT),
        Just(MAX_JSON_INT + 1),
        Just(-MAX_JSON_INT),
        Just(-MAX_JSON_INT - 1),
        Just(0),
        Just(-1),
        Just(1),
        -3_000i64..3_000,
        any::<i64>(),
    ]
}

fn edgy_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("op".to_string()),
        Just(String::new()),
        Just("   ".to_string()),
        Just("a\u{7}b".to_string()),
        Just("é".repeat(200)),
        ".{0,8}",
    ]
}

fn any_line_input() -> impl Strategy<Value = LineInput> {
    (
        edgy_text(),
        edgy_text(),
        edgy_i64(),
        edgy_i64(),
        prop_oneof![rate(), any::<u32>().prop_map(VatRate)],
        edgy_i64(),
        any::<bool>(),
    )
        .prop_map(|(sku, label, q, price, vat_rate, discount, kg)| LineInput {
            sku,
            label,
            quantity: Qty(q),
            unit: if kg { Unit::Kg } else { Unit::Piece },
            unit_price: Cents(price),
            vat_rate,
            discount: Cents(discount),
        })
}

fn any_payment() -> impl Strategy<Value = Payment> {
    (method(), edgy_i64()).prop_map(|(method, a)| Payment {
        method,
        amount: Cents(a),
    })
}

fn any_sale_input() -> impl Strategy<Value = SaleInput> {
    (
        edgy_text(),
        prop::collection::vec(any_line_input(), 0..6),
        edgy_i64(),
        prop::collection::vec(any_payment(), 0..5),
    )
        .prop_map(|(operator, lines, d, payments)| SaleInput {
            operator,
            lines,
            ticket_discount: Cents(d),
            payments,
        })
}

/// A stored sale body with arbitrary content (as a forged or damaged journal could hold).
fn any_sale_body() -> impl Strategy<Value = SaleBody> {
    let line = (edgy_i64(), edgy_i64(), rate()).prop_map(|(q, total, vat_rate)| TicketLine {
        sku: "S".into(),
        label: "L".into(),
        quantity: Qty(q),
        unit: Unit::Piece,
        unit_price: Cents(1),
        vat_rate,
        gross: Cents(total),
        line_discount: Cents::ZERO,
        ticket_discount: Cents::ZERO,
        total: Cents(total),
    });
    prop::collection::vec(line, 0..4).prop_map(|lines| SaleBody {
        operator: "op".into(),
        lines,
        ticket_discount: Cents::ZERO,
        vat: vec![],
        total: Cents::ZERO,
        payments: vec![],
        change: Cents::ZERO,
    })
}

// 256 cases each by default; `PROPTEST_CASES=N` runs more.
proptest! {
    #[test]
    fn valid_sales_follow_the_rules(input in sale_input()) {
        let sale = compute_sale(&input, &FRENCH_VAT_RATES).unwrap();
        assert_sale_rules(&input, &sale);
        check_sale(&sale, &FRENCH_VAT_RATES).unwrap();
        let bytes = to_canonical(&sale).unwrap();
        check_canonical(&bytes).unwrap();
        let back: SaleBody = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(back, sale);
    }

    #[test]
    fn a_full_refund_is_the_exact_negation(input in sale_input(), m in method()) {
        let sale = compute_sale(&input, &FRENCH_VAT_RATES).unwrap();
        let remaining = Remaining::of_sale(&sale);
        let lines: Vec<RefundLineInput> = (0..sale.lines.len())
            .map(|i| RefundLineInput {
                original_line: i as u32,
                quantity: sale.lines[i].quantity,
            })
            .collect();
        let r = refund(&sale, &remaining, lines, m);
        check_refund(&r, &sale, &remaining).unwrap();
        prop_assert_eq!(r.total, -sale.total);
        let negated: Vec<VatTotal> = sale
            .vat
            .iter()
            .map(|v| VatTotal { rate: v.rate, net: -v.net, vat: -v.vat, gross: -v.gross })
            .collect();
        prop_assert_eq!(&r.vat, &negated);
        for (rl, sl) in r.lines.iter().zip(&sale.lines) {
            prop_assert_eq!(rl.total, -sl.total);
            prop_assert_eq!(rl.quantity, Qty(-sl.quantity.0));
            prop_assert_eq!(rl.vat_rate, sl.vat_rate);
            prop_assert_eq!(rl.unit_price, sl.unit_price);
        }
        prop_assert_eq!(sum(r.payments.iter().map(|p| p.amount)), r.total.0);
        let mut after = remaining.clone();
        after.apply(&r).unwrap();
        prop_assert!(after.is_exhausted());
        prop_assert!(after.lines.iter().all(|(q, a)| q.0 == 0 && a.0 == 0));
    }

    #[test]
    fn partial_refunds_never_exceed_the_sale_and_all_refunds_sum_to_zero(
        input in sale_input(),
        steps in prop::collection::vec((any::<prop::sample::Index>(), 1u16..=1000, method()), 0..8),
        m in method(),
    ) {
        let sale = compute_sale(&input, &FRENCH_VAT_RATES).unwrap();
        let mut remaining = Remaining::of_sale(&sale);
        let mut refunds: Vec<RefundBody> = Vec::new();
        for (idx, per_mille, method) in steps {
            let line = idx.index(sale.lines.len());
            let left = remaining.lines[line].0 .0;
            if left == 0 {
                // Nothing left: any further quantity is refused with a typed error.
                let req = RefundInput {
                    operator: "op".into(),
                    reason: "again".into(),
                    lines: vec![RefundLineInput { original_line: line as u32, quantity: Qty(1) }],
                    payments: vec![],
                    void: false,
                };
                let refused = matches!(
                    compute_refund(ORIGINAL, &sale, &remaining, &req),
                    Err(TicketError::RefundExceedsRemaining { .. })
                );
                prop_assert!(refused);
                continue;
            }
            let q = (left * i64::from(per_mille) / 1000).max(1);
            let r = refund(
                &sale,
                &remaining,
                vec![RefundLineInput { original_line: line as u32, quantity: Qty(q) }],
                method,
            );
            check_refund(&r, &sale, &remaining).unwrap();
            prop_assert!(r.total.0 <= 0);
            prop_assert!(-r.total.0 <= remaining.lines[line].1 .0, "no more than remains");
            let amounts: Vec<(VatRate, Cents)> = r.lines.iter().map(|l| (l.vat_rate, l.total)).collect();
            assert_breakdown(&r.vat, &amounts, r.total);
            remaining.apply(&r).unwrap();
            for (i, (q, a)) in remaining.lines.iter().enumerate() {
                prop_assert!(q.0 >= 0 && a.0 >= 0, "line {} overdrawn: {:?} {:?}", i, q, a);
            }
            refunds.push(r);
        }
        let refunded_so_far = -sum(refunds.iter().map(|r| r.total));
        prop_assert!(refunded_so_far <= sale.total.0);
        // Return everything that remains: the sale and all its refunds cancel out exactly.
        let rest = full_refund_lines(&remaining);
        if !rest.is_empty() {
            let r = refund(&sale, &remaining, rest, m);
            check_refund(&r, &sale, &remaining).unwrap();
            remaining.apply(&r).unwrap();
            refunds.push(r);
        }
        prop_assert!(remaining.is_exhausted());
        prop_assert_eq!(sale.total.0 + sum(refunds.iter().map(|r| r.total)), 0);
        for (i, l) in sale.lines.iter().enumerate() {
            let back: i64 = refunds
                .iter()
                .flat_map(|r| &r.lines)
                .filter(|rl| rl.original_line as usize == i)
                .map(|rl: &RefundLine| rl.total.0)
                .sum();
            prop_assert_eq!(l.total.0 + back, 0, "line {}", i);
        }
        let by_rate_gross: i64 = sale.vat.iter().map(|v| v.gross.0).sum::<i64>()
            + refunds.iter().flat_map(|r| &r.vat).map(|v| v.gross.0).sum::<i64>();
        prop_assert_eq!(by_rate_gross, 0);
    }

    #[test]
    fn compute_sale_never_panics(input in any_sale_input(), extra_rate in any::<u32>()) {
        let mut rates = FRENCH_VAT_RATES.to_vec();
        rates.push(VatRate(extra_rate));
        if let Ok(sale) = compute_sale(&input, &rates) {
            // Whatever it accepts is a consistent, encodable ticket.
            prop_assert_eq!(sum(sale.vat.iter().map(|v| v.gross)), sale.total.0);
            prop_assert!(sale.total.0.abs() <= MAX_JSON_INT);
            prop_assert!(to_canonical(&sale).is_ok());
            check_sale(&sale, &rates).unwrap();
        }
    }

    #[test]
    fn compute_refund_never_panics(
        sale in any_sale_body(),
        remaining in prop::collection::vec((edgy_i64(), edgy_i64()), 0..5),
        lines in prop::collection::vec((0u32..6, edgy_i64()), 0..5),
        payments in prop::collection::vec(any_payment(), 0..3),
        operator in edgy_text(),
    ) {
        let remaining = Remaining {
            lines: remaining.into_iter().map(|(q, a)| (Qty(q), Cents(a))).collect(),
        };
        let input = RefundInput {
            operator,
            reason: "r".into(),
            lines: lines
                .into_iter()
                .map(|(original_line, q)| RefundLineInput { original_line, quantity: Qty(q) })
                .collect(),
            payments,
            void: false,
        };
        if let Ok(r) = compute_refund(ORIGINAL, &sale, &remaining, &input) {
            prop_assert!(r.total.0.abs() <= MAX_JSON_INT);
            prop_assert!(to_canonical(&r).is_ok());
            let _ = check_refund(&r, &sale, &remaining);
        }
        // The checks of stored refunds take arbitrary bodies too.
        let forged = RefundBody {
            original: ORIGINAL,
            operator: "op".into(),
            reason: "r".into(),
            lines: input
                .lines
                .iter()
                .map(|l| RefundLine {
                    original_line: l.original_line,
                    sku: "S".into(),
                    label: "L".into(),
                    quantity: l.quantity,
                    unit: Unit::Piece,
                    unit_price: Cents(1),
                    vat_rate: VatRate(2000),
                    total: Cents(l.quantity.0),
                })
                .collect(),
            vat: vec![],
            total: Cents::ZERO,
            payments: input.payments.clone(),
            void: false,
        };
        let _ = check_refund(&forged, &sale, &remaining);
        let mut rem = remaining.clone();
        let _ = rem.apply(&forged);
    }

    #[test]
    fn div_round_is_symmetric_and_nearest(
        n in prop_oneof![any::<i64>().prop_map(i128::from), -(1i128 << 126)..(1i128 << 126)],
        d in prop_oneof![1i128..=1000, 1i128..=i128::from(i64::MAX)],
    ) {
        let q = div_round(n, d);
        prop_assert_eq!(div_round(-n, d), -q, "symmetric");
        // Nearest: the error is at most half of d ...
        let err = n - q * d;
        prop_assert!(2 * err.abs() <= d);
        // ... and a half is rounded away from zero.
        if 2 * err.abs() == d {
            prop_assert!((q * d).abs() > n.abs());
        }
        // Between truncation and truncation + one step away from zero.
        let t = n / d;
        prop_assert!(q == t || q == t + n.signum());
        // Same as the closed form of the document for n >= 0: floor((2n + d) / 2d).
        if n >= 0 {
            prop_assert_eq!(q, (2 * n + d) / (2 * d));
        }
    }

    #[test]
    fn vat_included_is_symmetric_and_bounded(g in -MAX_JSON_INT..=MAX_JSON_INT, r in 0u32..=10_000) {
        let v = vat_included(Cents(g), VatRate(r));
        prop_assert_eq!(vat_included(Cents(-g), VatRate(r)), -v);
        prop_assert!(v.0.abs() <= g.abs() / 2 + 1);
        prop_assert!(v.0 == 0 || v.0.signum() == g.signum());
    }

    #[test]
    fn cents_arithmetic_is_checked(a in edgy_i64(), b in edgy_i64()) {
        let in_range = |x: i128| x.abs() <= i128::from(MAX_JSON_INT);
        let sum = i128::from(a) + i128::from(b);
        let diff = i128::from(a) - i128::from(b);
        prop_assert_eq!(Cents(a).checked_add(Cents(b)).ok().map(|c| i128::from(c.0)),
            in_range(sum).then_some(sum));
        prop_assert_eq!(Cents(a).checked_sub(Cents(b)).ok().map(|c| i128::from(c.0)),
            in_range(diff).then_some(diff));
        prop_assert_eq!(Cents(a).in_json_range().is_ok(), in_range(i128::from(a)));
    }
}

#[test]
fn a_forged_original_with_zero_quantity_is_an_error_not_a_panic() {
    let mut sale = SaleBody {
        operator: "op".into(),
        lines: vec![],
        ticket_discount: Cents::ZERO,
        vat: vec![],
        total: Cents::ZERO,
        payments: vec![],
        change: Cents::ZERO,
    };
    sale.lines.push(TicketLine {
        sku: "S".into(),
        label: "L".into(),
        quantity: Qty(0),
        unit: Unit::Piece,
        unit_price: Cents(100),
        vat_rate: VatRate(2000),
        gross: Cents(100),
        line_discount: Cents::ZERO,
        ticket_discount: Cents::ZERO,
        total: Cents(100),
    });
    // What an earlier forged refund with a positive quantity would leave.
    let remaining = Remaining {
        lines: vec![(Qty(5000), Cents(100))],
    };
    let input = RefundInput {
        operator: "op".into(),
        reason: "r".into(),
        lines: vec![RefundLineInput {
            original_line: 0,
            quantity: Qty(1000),
        }],
        payments: vec![],
        void: false,
    };
    assert!(compute_refund(ORIGINAL, &sale, &remaining, &input).is_err());
    // An out-of-range amount left on a line returned in full is an overflow error.
    sale.lines[0].quantity = Qty(1000);
    let all = Remaining {
        lines: vec![(Qty(1000), Cents(i64::MIN))],
    };
    assert!(compute_refund(ORIGINAL, &sale, &all, &input).is_err());
}

//! Shared pieces of the workspace's examples, end-to-end tests and benchmarks: a generator of
//! realistic French shop tickets and a settable clock for simulated days.

use pos_core::journal::Clock;
use pos_core::money::{Cents, Qty, VatRate};
use pos_core::ticket::{
    LineInput, Payment, PaymentMethod, RefundInput, RefundLineInput, SaleBody, SaleInput, Unit,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock the caller sets: simulated trading days, clocks going backwards.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock showing `ms`.
    pub fn new(ms: i64) -> ManualClock {
        ManualClock {
            now_ms: AtomicI64::new(ms),
        }
    }

    /// Sets the time.
    pub fn set(&self, ms: i64) {
        self.now_ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// A catalog item of the sample shop.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// SKU.
    pub sku: &'static str,
    /// Label.
    pub label: &'static str,
    /// Price incl. VAT in cents (per kg for weighed items).
    pub price: i64,
    /// VAT rate in hundredths of a percent.
    pub vat: u32,
    /// Sold by weight.
    pub by_weight: bool,
}

/// A French bakery and grocery.
pub const CATALOG: &[Item] = &[
    Item {
        sku: "BAG-TRAD",
        label: "Baguette tradition",
        price: 130,
        vat: 550,
        by_weight: false,
    },
    Item {
        sku: "CROISSANT",
        label: "Croissant pur beurre",
        price: 125,
        vat: 550,
        by_weight: false,
    },
    Item {
        sku: "PAIN-CHOC",
        label: "Pain au chocolat",
        price: 140,
        vat: 550,
        by_weight: false,
    },
    Item {
        sku: "ECLAIR",
        label: "Éclair au café",
        price: 320,
        vat: 550,
        by_weight: false,
    },
    Item {
        sku: "COMTE",
        label: "Comté 18 mois",
        price: 2890,
        vat: 550,
        by_weight: true,
    },
    Item {
        sku: "POMMES",
        label: "Pommes Golden",
        price: 349,
        vat: 550,
        by_weight: true,
    },
    Item {
        sku: "CAFE",
        label: "Café à emporter",
        price: 180,
        vat: 1000,
        by_weight: false,
    },
    Item {
        sku: "SANDWICH",
        label: "Sandwich jambon-beurre",
        price: 550,
        vat: 1000,
        by_weight: false,
    },
    Item {
        sku: "VIN-ROUGE",
        label: "Côtes-du-Rhône 75 cl",
        price: 895,
        vat: 2000,
        by_weight: false,
    },
    Item {
        sku: "SAC-CABAS",
        label: "Sac cabas réutilisable",
        price: 250,
        vat: 2000,
        by_weight: false,
    },
    Item {
        sku: "JOURNAL",
        label: "Le Monde",
        price: 350,
        vat: 210,
        by_weight: false,
    },
    Item {
        sku: "TIMBRE",
        label: "Timbre lettre verte",
        price: 152,
        vat: 0,
        by_weight: false,
    },
];

/// Makes random, valid, realistic tickets: 1 to 8 lines, weights, discounts, split payments.
#[derive(Debug)]
pub struct TicketGenerator {
    rng: StdRng,
}

impl TicketGenerator {
    /// A generator with a fixed seed (runs are reproducible).
    pub fn new(seed: u64) -> TicketGenerator {
        TicketGenerator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Access to the random source.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// A random sale.
    pub fn sale(&mut self) -> SaleInput {
        let rng = &mut self.rng;
        let n = rng.gen_range(1..=8);
        let mut lines = Vec::with_capacity(n);
        for _ in 0..n {
            let item = CATALOG[rng.gen_range(0..CATALOG.len())];
            let (quantity, unit) = if item.by_weight {
                (Qty(rng.gen_range(80..=1500)), Unit::Kg)
            } else {
                (Qty::pieces(rng.gen_range(1..=4)), Unit::Piece)
            };
            let gross = quantity.0 * item.price / 1000;
            let discount = if rng.gen_ratio(1, 20) { gross / 10 } else { 0 };
            lines.push(LineInput {
                sku: item.sku.into(),
                label: item.label.into(),
                quantity,
                unit,
                unit_price: Cents(item.price),
                vat_rate: VatRate(item.vat),
                discount: Cents(discount),
            });
        }
        let mut sale = SaleInput {
            operator: ["alice", "bruno", "chloe"][rng.gen_range(0..3)].into(),
            lines,
            ticket_discount: Cents(if rng.gen_ratio(1, 30) { 20 } else { 0 }),
            payments: Vec::new(),
        };
        // The exact total is only known after rounding: learn it, then pay it.
        let total = match pos_core::ticket::compute_sale(&sale, &pos_core::sample::FRENCH_VAT_RATES)
        {
            Err(pos_core::ticket::TicketError::PaymentsShort { total, .. }) => total,
            _ => 0,
        };
        let pay = |method, amount| Payment {
            method,
            amount: Cents(amount),
        };
        sale.payments = match (total, rng.gen_range(0..10)) {
            (0, _) => vec![],
            (_, 0..=4) => vec![pay(PaymentMethod::Cash, (total / 500 + 1) * 500)],
            (_, 5..=7) => vec![pay(PaymentMethod::Card, total)],
            (_, 8) => vec![
                pay(PaymentMethod::MealVoucher, total.min(900)),
                pay(PaymentMethod::Cash, (total - total.min(900)) + 200),
            ],
            _ => vec![
                pay(PaymentMethod::Cheque, total / 2),
                pay(PaymentMethod::Card, total - total / 2),
            ],
        };
        sale.payments.retain(|p| p.amount.0 > 0);
        sale
    }

    /// A refund of one whole line of `sale`, paid back in cash.
    pub fn refund_line(&mut self, sale: &SaleBody) -> RefundInput {
        let idx = self.rng.gen_range(0..sale.lines.len());
        let line = &sale.lines[idx];
        RefundInput {
            operator: "manager".into(),
            reason: "article défectueux".into(),
            lines: vec![RefundLineInput {
                original_line: idx as u32,
                quantity: line.quantity,
            }],
            payments: if line.total.0 > 0 {
                vec![Payment {
                    method: PaymentMethod::Cash,
                    amount: line.total,
                }]
            } else {
                vec![]
            },
            void: false,
        }
    }
}

//! The syncer honours what a shop's platform can do ([`Capabilities`]), against an in-memory
//! shop whose writes are absolute (as PrestaShop's `stock_availables`), idempotent by key (as
//! Shopify's `@idempotent`) or compared with the level they start from (as Shopify's
//! `changeFromQuantity`). No such platform runs here: this shop is built from their documented
//! behaviour, and so are its faults (an order landing between the syncer's read and its write,
//! an answer lost after the change was applied).

use shop_sync::clock::{Clock, SimClock};
use shop_sync::connector::{
    BoxFuture, Capabilities, ChangeOutcome, Connector, ConnectorError, OnlineOrder, OrderCursor,
    OrderLine, OrderPage, RemoteItem, StockChange, StockEffect,
};
use shop_sync::ledger::{units, Ledger, ZeroStockPolicy};
use shop_sync::sync::{webhook_hint, SyncConfig, Syncer, WebhookError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// 2025-01-06T08:00:00Z.
const START: i64 = 1_736_150_400_000;
const SHOP: &str = "mem";
const SKU: &str = "BAGUETTE";

/// The shop's state.
#[derive(Default)]
struct State {
    level: i64,
    orders: Vec<OnlineOrder>,
    /// Placed just before the next write lands (between the syncer's read and its write).
    order_before_next_write: Option<i64>,
    /// The next write is applied but its answer is lost.
    lose_next_answer: bool,
    /// Keys of the writes applied (idempotent shops apply each once).
    keys: HashSet<String>,
    /// Every write request received, with its key.
    writes_received: Vec<String>,
}

struct MemShop {
    caps: Capabilities,
    clock: Arc<SimClock>,
    state: Arc<Mutex<State>>,
}

impl MemShop {
    fn place_order(s: &mut State, qty: i64, now_ms: i64) {
        s.level -= qty;
        let id = (s.orders.len() + 1).to_string();
        s.orders.push(OnlineOrder {
            id: id.clone(),
            modified: format!("{now_ms}"),
            modified_ms: now_ms,
            status: "processing".into(),
            effect: StockEffect::Holds,
            pickup: false,
            lines: vec![OrderLine {
                line_id: format!("{id}-1"),
                sku: SKU.into(),
                quantity: qty,
                name: String::new(),
                paid_cents: None,
            }],
            total_cents: None,
        });
    }
}

impl Connector for MemShop {
    fn name(&self) -> &str {
        SHOP
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn lookup<'a>(
        &'a self,
        skus: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<RemoteItem>, ConnectorError>> {
        Box::pin(async move {
            let s = self.state.lock().expect("state");
            Ok(skus
                .iter()
                .filter(|k| k.as_str() == SKU)
                .map(|k| RemoteItem {
                    sku: k.clone(),
                    id: "1".into(),
                    parent_id: None,
                    managed: true,
                    level: Some(s.level),
                })
                .collect())
        })
    }

    fn apply<'a>(
        &'a self,
        changes: &'a [StockChange],
    ) -> BoxFuture<'a, Result<Vec<ChangeOutcome>, ConnectorError>> {
        Box::pin(async move {
            let mut s = self.state.lock().expect("state");
            let now = self.clock.now_ms();
            let mut out = Vec::new();
            for c in changes {
                s.writes_received.push(c.idempotency_key.clone());
                if let Some(qty) = s.order_before_next_write.take() {
                    MemShop::place_order(&mut s, qty, now);
                }
                if self.caps.compare_writes && s.level != c.before {
                    out.push(ChangeOutcome::Rejected {
                        retry: true,
                        reason: "the quantity changed since it was read".into(),
                    });
                    continue;
                }
                let already =
                    self.caps.idempotent_writes && !s.keys.insert(c.idempotency_key.clone());
                if !already {
                    if self.caps.relative_writes {
                        s.level += c.delta;
                    } else {
                        // An absolute write: the level the syncer computed, whatever it is now.
                        s.level = c.before + c.delta;
                    }
                }
                if std::mem::take(&mut s.lose_next_answer) {
                    out.push(ChangeOutcome::Unknown);
                } else {
                    out.push(ChangeOutcome::Applied {
                        after: Some(s.level),
                    });
                }
            }
            Ok(out)
        })
    }

    fn orders<'a>(
        &'a self,
        cursor: &'a OrderCursor,
    ) -> BoxFuture<'a, Result<OrderPage, ConnectorError>> {
        Box::pin(async move {
            let s = self.state.lock().expect("state");
            Ok(OrderPage {
                orders: s
                    .orders
                    .iter()
                    .filter(|o| o.modified_ms >= cursor.after_ms)
                    .cloned()
                    .collect(),
                more: false,
            })
        })
    }

    fn verify_webhook(&self, _signature: &str, _body: &[u8]) -> bool {
        true
    }
}

struct H {
    clock: Arc<SimClock>,
    state: Arc<Mutex<State>>,
    ledger: Arc<Mutex<Ledger>>,
    syncer: Syncer,
    _dir: tempfile::TempDir,
    seq: u64,
}

impl H {
    /// A till and a shop of these capabilities, both at 100.
    fn new(caps: Capabilities) -> H {
        let clock = Arc::new(SimClock::new(START));
        let state = Arc::new(Mutex::new(State {
            level: 100,
            ..State::default()
        }));
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Arc::new(Mutex::new(
            Ledger::open(&dir.path().join("stock.db"), ZeroStockPolicy::Warn).expect("ledger"),
        ));
        {
            let mut l = ledger.lock().expect("ledger");
            l.track(SKU, None).expect("track");
            l.receive("initial", &[(SKU.to_string(), 100_000)])
                .expect("receive");
            l.sync_with(SHOP, SKU).expect("sync");
        }
        let shop = MemShop {
            caps,
            clock: clock.clone(),
            state: state.clone(),
        };
        let c: Arc<dyn Clock> = clock.clone();
        let syncer = Syncer::new(ledger.clone(), Arc::new(shop), c, SyncConfig::default());
        H {
            clock,
            state,
            ledger,
            syncer,
            _dir: dir,
            seq: 0,
        }
    }

    fn sale(&mut self, qty: i64) {
        self.seq += 1;
        self.ledger
            .lock()
            .expect("ledger")
            .record_till(self.seq, &[(SKU.to_string(), -qty * 1000)])
            .expect("till");
    }

    fn till(&self) -> i64 {
        let l = self.ledger.lock().expect("ledger");
        units(
            l.level(SKU)
                .expect("level")
                .expect("tracked")
                .available_milli(),
        )
    }

    fn online(&self) -> i64 {
        self.state.lock().expect("state").level
    }

    async fn run(&mut self) -> shop_sync::sync::RunReport {
        self.clock.advance(std::time::Duration::from_secs(1));
        self.syncer.run_once().await.expect("run")
    }
}

const RELATIVE: Capabilities = Capabilities {
    relative_writes: true,
    idempotent_writes: false,
    compare_writes: false,
    webhooks: true,
    max_batch: 100,
};

#[tokio::test]
async fn an_absolute_write_that_overwrote_an_order_is_caught_and_corrected_at_once() {
    let mut h = H::new(Capabilities {
        relative_writes: false,
        webhooks: false,
        max_batch: 1,
        ..RELATIVE
    });
    h.run().await;
    // A plain sale: written as 97, read back as 97, nothing moved online: applied.
    h.sale(3);
    let r = h.run().await;
    assert_eq!((r.pushed, r.uncertain), (1, 0), "{r:?}");
    assert_eq!((h.till(), h.online()), (97, 97));

    // An order for 2 lands online between the syncer's read (97) and its write: the shop
    // then holds 95, and the absolute write of 97 - 1 = 96 overwrites the order's decrement.
    h.sale(1);
    h.state.lock().expect("state").order_before_next_write = Some(2);
    let r = h.run().await;
    assert_eq!(r.uncertain, 1, "the write is not taken as applied: {r:?}");
    assert_eq!(
        r.drift.len(),
        1,
        "reconciled in the same run, not an hour later: {r:?}"
    );
    assert_eq!(r.drift[0].correction, -2, "{r:?}");
    assert!(r.drift[0].after_uncertain_write);
    assert_eq!(h.till(), 94, "the till counts the sale and the order");
    h.run().await;
    assert_eq!(h.online(), 94, "the correction is pushed the next run");
    let r = h.run().await;
    assert!(r.drift.is_empty() && r.uncertain == 0, "{r:?}");
}

#[tokio::test]
async fn a_lost_answer_is_sent_again_with_its_key_on_a_shop_whose_writes_are_idempotent() {
    let mut h = H::new(Capabilities {
        idempotent_writes: true,
        ..RELATIVE
    });
    h.run().await;
    h.sale(3);
    h.state.lock().expect("state").lose_next_answer = true;
    let r = h.run().await;
    assert_eq!((r.resent, r.pushed, r.uncertain), (1, 1, 0), "{r:?}");
    let s = h.state.lock().expect("state");
    assert_eq!(s.writes_received.len(), 2);
    assert_eq!(
        s.writes_received[0], s.writes_received[1],
        "sent again under the same key"
    );
    assert_eq!(s.level, 97, "applied once");
}

#[tokio::test]
async fn a_lost_answer_on_a_shop_without_idempotency_is_never_sent_again_blindly() {
    let mut h = H::new(RELATIVE);
    h.run().await;
    h.sale(3);
    h.state.lock().expect("state").lose_next_answer = true;
    let r = h.run().await;
    assert_eq!(r.resent, 0, "{r:?}");
    assert_eq!(h.state.lock().expect("state").writes_received.len(), 1);
    assert_eq!(h.online(), 97, "applied once");
}

#[tokio::test]
async fn a_compared_write_refused_after_an_order_is_written_again_from_the_new_level() {
    let mut h = H::new(Capabilities {
        compare_writes: true,
        ..RELATIVE
    });
    h.run().await;
    h.sale(3);
    h.state.lock().expect("state").order_before_next_write = Some(2);
    let r = h.run().await;
    // The first write is refused (the level moved since it was read: nothing lost); the same
    // run polls the order, reads 98 and writes the change from there.
    assert_eq!((r.pushed, r.orders_seen), (1, 1), "{r:?}");
    assert_eq!(h.state.lock().expect("state").writes_received.len(), 2);
    assert_eq!((h.till(), h.online()), (95, 95));
}

#[tokio::test]
async fn a_webhook_is_refused_for_a_platform_that_sends_none() {
    let clock = Arc::new(SimClock::new(START));
    let shop = |webhooks| MemShop {
        caps: Capabilities {
            webhooks,
            ..RELATIVE
        },
        clock: clock.clone(),
        state: Arc::new(Mutex::new(State::default())),
    };
    assert_eq!(
        webhook_hint(&shop(false), Some("sig"), b"{}"),
        Err(WebhookError::NotSupported)
    );
    assert_eq!(webhook_hint(&shop(true), Some("sig"), b"{}"), Ok(()));
    assert_eq!(
        webhook_hint(&shop(true), None, b"{}"),
        Err(WebhookError::BadSignature)
    );
}

//! The stock ledger on its own: exactly-once keys, the projection, policies, and the outbox.

use shop_sync::connector::{OnlineOrder, OrderLine, StockEffect};
use shop_sync::ledger::{Drift, InFlight, Ledger, LedgerError, OrderItem, ZeroStockPolicy};

fn ledger(policy: ZeroStockPolicy) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut l = Ledger::open(&dir.path().join("stock.db"), policy).expect("open");
    for sku in ["A", "B"] {
        l.track(sku, Some(2_000)).expect("track");
        l.sync_with("woo", sku).expect("sync");
    }
    l.receive("r1", &[("A".into(), 10_000), ("B".into(), 3_000)])
        .expect("receive");
    (dir, l)
}

fn order(id: &str, modified: &str, status: &str, effect: StockEffect, pickup: bool) -> OnlineOrder {
    OnlineOrder {
        id: id.into(),
        modified: modified.into(),
        modified_ms: 0,
        status: status.into(),
        effect,
        pickup,
        lines: vec![OrderLine {
            line_id: "1".into(),
            sku: "A".into(),
            quantity: 2,
            name: "Article A".into(),
            paid_cents: Some(500),
        }],
        total_cents: Some(500),
    }
}

fn available(l: &Ledger, sku: &str) -> i64 {
    l.level(sku)
        .expect("level")
        .expect("tracked")
        .available_milli()
}

#[test]
fn till_movements_apply_once_and_queue_one_push() {
    let (_d, mut l) = ledger(ZeroStockPolicy::Warn);
    let lines = vec![("A".to_string(), -1_000), ("B".to_string(), -2_000)];
    assert_eq!(l.record_till(7, &lines).expect("sale"), 2);
    assert_eq!(
        l.record_till(7, &lines).expect("again"),
        0,
        "same seq: nothing"
    );
    assert_eq!(l.receive("r1", &[("A".into(), 10_000)]).expect("again"), 0);
    assert_eq!(available(&l, "A"), 9_000);
    assert_eq!(available(&l, "B"), 1_000);
    let b = l.backlog("woo").expect("backlog");
    assert_eq!(
        b.pending, 4,
        "the reception (two lines) and the sale (two lines): {b:?}"
    );
}

#[test]
fn levels_are_the_replay_of_the_movements() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stock.db");
    {
        let mut l = Ledger::open(&path, ZeroStockPolicy::Warn).expect("open");
        l.track("A", None).expect("track");
        l.receive("r", &[("A".into(), 5_000)]).expect("r");
        l.record_till(1, &[("A".into(), -1_500)]).expect("sale");
        l.adjust("x", "A", -500, "broken").expect("adjust");
        assert!(l.replay().expect("replay").is_empty());
    }
    // Damage the projection behind the ledger's back; replaying the movements restores it.
    let c = rusqlite::Connection::open(&path).expect("raw");
    c.execute("UPDATE items SET on_hand_milli = 99 WHERE sku = 'A'", [])
        .expect("damage");
    assert!(
        c.execute("DELETE FROM movements", []).is_err(),
        "movements are append-only"
    );
    drop(c);
    let mut l = Ledger::open(&path, ZeroStockPolicy::Warn).expect("reopen");
    assert_eq!(l.replay().expect("replay"), vec!["A".to_string()]);
    assert_eq!(available(&l, "A"), 3_000);
}

#[test]
fn zero_stock_policy_refuses_or_warns() {
    let (_d, l) = ledger(ZeroStockPolicy::Refuse);
    let big = vec![("B".to_string(), 4_000)];
    match l.check_sale(&big) {
        Err(LedgerError::Insufficient(s)) => assert_eq!(s[0].available_milli, 3_000),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(l
        .check_sale(&[("B".into(), 3_000), ("UNTRACKED".into(), 9_000)])
        .expect("ok")
        .is_empty());
    let (_d2, w) = ledger(ZeroStockPolicy::Warn);
    assert_eq!(w.check_sale(&big).expect("warns").len(), 1);
}

#[test]
fn receptions_counts_adjustments_and_low_stock() {
    let (_d, mut l) = ledger(ZeroStockPolicy::Warn);
    assert!(l.receive("bad", &[("A".into(), -1)]).is_err());
    assert!(
        l.adjust("a1", "A", -1_000, "  ").is_err(),
        "an adjustment needs a reason"
    );
    l.adjust("a1", "A", -1_000, "broken").expect("adjust");
    l.count("inv1", &[("A".into(), 4_000), ("B".into(), 1_000)])
        .expect("count");
    l.count("inv1", &[("A".into(), 7_000)])
        .expect("same count id: once");
    assert_eq!(available(&l, "A"), 4_000);
    let low: Vec<String> = l
        .low_stock()
        .expect("low")
        .into_iter()
        .map(|x| x.sku)
        .collect();
    assert_eq!(low, vec!["B".to_string()]);
}

#[test]
fn online_orders_take_once_per_transition_and_never_push_back_to_their_shop() {
    let (_d, mut l) = ledger(ZeroStockPolicy::Warn);
    let before = l.backlog("woo").expect("b").pending;
    let o = order(
        "9",
        "2025-01-01T10:00:00",
        "processing",
        StockEffect::Holds,
        false,
    );
    assert_eq!(l.apply_order("woo", &o).expect("take").movements, 1);
    assert!(l.apply_order("woo", &o).expect("dup").duplicate);
    assert_eq!(available(&l, "A"), 8_000);
    assert_eq!(
        l.backlog("woo").expect("b").pending,
        before,
        "the shop already took it"
    );
    let c = order(
        "9",
        "2025-01-01T10:05:00",
        "cancelled",
        StockEffect::Releases,
        false,
    );
    l.apply_order("woo", &c).expect("give");
    assert_eq!(available(&l, "A"), 10_000);
    let again = order(
        "9",
        "2025-01-01T10:06:00",
        "processing",
        StockEffect::Holds,
        false,
    );
    l.apply_order("woo", &again).expect("take again");
    assert_eq!(available(&l, "A"), 8_000);
    assert_eq!(l.movements_with_prefix("woo:order:9:").expect("count"), 3);
}

#[test]
fn click_and_collect_reserves_then_pickup_or_release() {
    let (_d, mut l) = ledger(ZeroStockPolicy::Warn);
    let o = order(
        "5",
        "2025-01-01T10:00:00",
        "processing",
        StockEffect::Holds,
        true,
    );
    l.apply_order("woo", &o).expect("reserve");
    let lvl = l.level("A").expect("l").expect("A");
    assert_eq!((lvl.on_hand_milli, lvl.reserved_milli), (10_000, 2_000));
    assert_eq!(l.pending_pickups().expect("p").len(), 1);
    assert_eq!(l.pickup_lines("woo", "5").expect("lines")[0].quantity, 2);
    l.record_pickup("woo", "5", 40).expect("pickup");
    assert_eq!(l.record_pickup("woo", "5", 40).expect("again"), 0);
    let lvl = l.level("A").expect("l").expect("A");
    assert_eq!((lvl.on_hand_milli, lvl.reserved_milli), (8_000, 0));
    assert!(l.pickup_lines("woo", "5").is_err(), "already picked up");
    // Another order cancelled before pickup releases its reservation.
    let o = order(
        "6",
        "2025-01-01T11:00:00",
        "on-hold",
        StockEffect::Holds,
        true,
    );
    l.apply_order("woo", &o).expect("reserve");
    let c = order(
        "6",
        "2025-01-01T11:30:00",
        "cancelled",
        StockEffect::Releases,
        true,
    );
    l.apply_order("woo", &c).expect("release");
    let lvl = l.level("A").expect("l").expect("A");
    assert_eq!((lvl.on_hand_milli, lvl.reserved_milli), (8_000, 0));
    assert!(l.replay().expect("replay").is_empty());
}

#[test]
fn a_pickup_lists_every_line_of_the_order_with_what_was_paid() {
    let (_d, mut l) = ledger(ZeroStockPolicy::Warn);
    let mut o = order(
        "7",
        "2025-01-01T10:00:00",
        "processing",
        StockEffect::Holds,
        true,
    );
    o.lines.push(OrderLine {
        line_id: "2".into(),
        sku: "BREAD".into(),
        quantity: 3,
        name: "Pain".into(),
        paid_cents: Some(420),
    });
    o.total_cents = Some(920);
    let applied = l.apply_order("woo", &o).expect("reserve");
    assert_eq!(applied.unknown_skus, vec!["BREAD".to_string()]);
    // Stock: only the tracked line is reserved and handed over.
    let lines = l.pickup_lines("woo", "7").expect("lines");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].sku, "A");
    // The ticket: every line, with names and amounts paid.
    let p = l.pickup_items("woo", "7").expect("items");
    assert_eq!(
        p.items,
        vec![
            OrderItem {
                line_id: "1".into(),
                sku: "A".into(),
                name: "Article A".into(),
                quantity: 2,
                paid_cents: Some(500),
            },
            OrderItem {
                line_id: "2".into(),
                sku: "BREAD".into(),
                name: "Pain".into(),
                quantity: 3,
                paid_cents: Some(420),
            },
        ]
    );
    assert_eq!(p.total_cents, Some(920));
    assert_eq!(l.pending_pickups().expect("pending")[0].items, p.items);
    // Each state seen refreshes the items (an order edited online).
    let mut edited = o.clone();
    edited.modified = "2025-01-01T10:05:00".into();
    edited.status = "on-hold".into();
    edited.lines[1].paid_cents = Some(280);
    edited.lines[1].quantity = 2;
    edited.total_cents = Some(780);
    l.apply_order("woo", &edited).expect("refresh");
    let p = l.pickup_items("woo", "7").expect("items");
    assert_eq!((p.items[1].quantity, p.items[1].paid_cents), (2, Some(280)));
    assert_eq!(p.total_cents, Some(780));
    assert_eq!(l.level("A").expect("l").expect("A").reserved_milli, 2_000);

    // Refused with the reason, like the stock-taking lines.
    let e = l.pickup_items("woo", "404").expect_err("unseen");
    assert!(
        matches!(&e, LedgerError::Invalid(m) if m.contains("not been seen")),
        "{e}"
    );
    l.apply_order(
        "woo",
        &order(
            "8",
            "2025-01-01T10:00:00",
            "processing",
            StockEffect::Holds,
            false,
        ),
    )
    .expect("take");
    let e = l.pickup_items("woo", "8").expect_err("shipped");
    assert!(
        matches!(&e, LedgerError::Invalid(m) if m.contains("not a click & collect")),
        "{e}"
    );
    l.apply_order(
        "woo",
        &order(
            "9",
            "2025-01-01T10:00:00",
            "pending",
            StockEffect::Releases,
            true,
        ),
    )
    .expect("pending");
    let e = l.pickup_items("woo", "9").expect_err("pending");
    assert!(
        matches!(&e, LedgerError::Invalid(m) if m.contains("holds no stock")),
        "{e}"
    );
    l.record_pickup("woo", "7", 41).expect("pickup");
    let e = l.pickup_items("woo", "7").expect_err("picked up");
    assert!(
        matches!(&e, LedgerError::Invalid(m) if m.contains("already picked up")),
        "{e}"
    );
    // 10 on hand, less order 8 shipped and order 7 picked up; nothing reserved any more.
    let lvl = l.level("A").expect("l").expect("A");
    assert_eq!((lvl.on_hand_milli, lvl.reserved_milli), (6_000, 0));
    assert!(l.replay().expect("replay").is_empty());
}

/// The `orders` table of a `stock.db` written before order items were kept.
const OLD_ORDERS: &str = "
CREATE TABLE orders(shop TEXT NOT NULL, order_id TEXT NOT NULL,
  modified TEXT NOT NULL, status TEXT NOT NULL, held INTEGER NOT NULL, holds INTEGER NOT NULL,
  pickup INTEGER NOT NULL, picked_up INTEGER NOT NULL DEFAULT 0, lines TEXT NOT NULL,
  PRIMARY KEY(shop, order_id));
INSERT INTO orders(shop, order_id, modified, status, held, holds, pickup, lines)
  VALUES ('woo', '5', '2025-01-01T10:00:00', 'processing', 1, 1, 1,
          '[{\"line_id\":\"1\",\"sku\":\"A\",\"quantity\":2}]');
";

/// A `stock.db` made by an older version: `sql` run on a new file (in a directory kept alive
/// with the returned guard).
fn old_stock_db(sql: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stock.db");
    let c = rusqlite::Connection::open(&path).expect("old db");
    c.execute_batch(sql).expect("old schema");
    (dir, path)
}

#[test]
fn an_older_stock_db_gets_the_items_column_and_keeps_its_orders() {
    let (_dir, path) = old_stock_db(OLD_ORDERS);
    for _ in 0..2 {
        // Opened twice: the migration runs once and leaves the data alone.
        let l = Ledger::open(&path, ZeroStockPolicy::Warn).expect("open");
        let p = l.pickup_items("woo", "5").expect("items");
        // An order stored before items were kept shows its stock-taking lines.
        assert_eq!(
            p.items,
            vec![OrderItem {
                line_id: "1".into(),
                sku: "A".into(),
                name: String::new(),
                quantity: 2,
                paid_cents: None,
            }]
        );
        assert_eq!(p.total_cents, None);
        assert_eq!(l.pickup_lines("woo", "5").expect("lines")[0].quantity, 2);
    }
    let c = rusqlite::Connection::open(&path).expect("db");
    let columns: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('orders')")
        .expect("pragma")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("columns");
    assert!(columns.contains(&"items".to_string()), "{columns:?}");
    let items: String = c
        .query_row("SELECT items FROM orders WHERE order_id = '5'", [], |r| {
            r.get(0)
        })
        .expect("items");
    assert_eq!(items, "[]");
    // The next state seen stores the items.
    drop(c);
    let mut l = Ledger::open(&path, ZeroStockPolicy::Warn).expect("open");
    l.track("A", None).expect("track");
    l.apply_order(
        "woo",
        &order(
            "5",
            "2025-01-01T10:05:00",
            "on-hold",
            StockEffect::Holds,
            true,
        ),
    )
    .expect("refresh");
    let p = l.pickup_items("woo", "5").expect("items");
    assert_eq!(
        (
            p.items[0].name.as_str(),
            p.items[0].paid_cents,
            p.total_cents
        ),
        ("Article A", Some(500), Some(500))
    );
}

/// The `inflight` table of a `stock.db` written before writes kept their sending time, with
/// a write left in flight by a crash.
const OLD_INFLIGHT: &str = "
CREATE TABLE inflight(shop TEXT NOT NULL, sku TEXT NOT NULL,
  delta INTEGER NOT NULL, before INTEGER NOT NULL, mark INTEGER NOT NULL, upto INTEGER NOT NULL,
  PRIMARY KEY(shop, sku));
INSERT INTO inflight VALUES ('woo', 'A', -3, 20, 0, 1);
";

#[test]
fn an_older_stock_db_keeps_its_writes_in_flight_with_no_sending_time() {
    let (_dir, path) = old_stock_db(OLD_INFLIGHT);
    for _ in 0..2 {
        let mut l = Ledger::open(&path, ZeroStockPolicy::Warn).expect("open");
        let w = l.inflight("woo").expect("inflight");
        // Sent at time 0: long past any deadline, so decided at the next re-read as before.
        assert_eq!(
            w.iter()
                .map(|w| (w.sku.as_str(), w.delta, w.sent_ms))
                .collect::<Vec<_>>(),
            vec![("A", -3, 0)]
        );
        // New writes keep their sending time.
        l.track("B", None).expect("track");
        l.begin_writes(
            "woo",
            &[InFlight {
                sku: "B".into(),
                delta: 2,
                before: 5,
                mark: 0,
                upto: 0,
                sent_ms: 1_736_150_400_000,
            }],
        )
        .expect("begin");
        let w = l.inflight("woo").expect("inflight");
        assert_eq!(w[1].sent_ms, 1_736_150_400_000);
        l.end_write("woo", "B", Some(true)).expect("end");
    }
}

/// The `drift` table of a `stock.db` written before findings said whether they followed an
/// uncertain write, with one finding.
const OLD_DRIFT: &str = "
CREATE TABLE drift(id INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER NOT NULL,
  shop TEXT NOT NULL, sku TEXT NOT NULL, online INTEGER NOT NULL, expected INTEGER NOT NULL,
  correction INTEGER NOT NULL, at_ms INTEGER NOT NULL);
INSERT INTO drift(run, shop, sku, online, expected, correction, at_ms)
  VALUES (3, 'woo', 'A', 12, 10, -2, 1736150400000);
";

#[test]
fn an_older_stock_db_keeps_its_drift_findings_as_unexplained() {
    let (_dir, path) = old_stock_db(OLD_DRIFT);
    for _ in 0..2 {
        let mut l = Ledger::open(&path, ZeroStockPolicy::Warn).expect("open");
        let found = l.drift("woo").expect("drift");
        let oldest = found.last().expect("the old finding");
        assert_eq!(
            (oldest.correction, oldest.after_uncertain_write),
            (-2, false)
        );
        let d = Drift {
            run: 4,
            sku: "B".into(),
            online: 5,
            expected: 4,
            correction: -1,
            at_ms: 1_736_150_500_000,
            after_uncertain_write: true,
        };
        l.record_drift("woo", &d).expect("record");
        assert_eq!(l.drift("woo").expect("drift")[0], d);
    }
}

/// A pickup of goods whose stock the till does not track moves nothing; replaying its ticket
/// is recognised as a replay, and another ticket for the same order is refused.
#[test]
fn a_pickup_of_untracked_goods_replays_as_a_replay() {
    let (_d, mut l) = ledger(ZeroStockPolicy::Warn);
    let mut o = order(
        "8",
        "2025-01-01T10:00:00",
        "processing",
        StockEffect::Holds,
        true,
    );
    o.lines[0].sku = "BREAD".into();
    l.apply_order("woo", &o).expect("seen");
    assert!(l.pickup_lines("woo", "8").expect("lines").is_empty());
    assert_eq!(l.pickup_items("woo", "8").expect("items").items.len(), 1);
    assert_eq!(l.record_pickup("woo", "8", 50).expect("pickup"), 0);
    assert_eq!(l.record_pickup("woo", "8", 50).expect("replay"), 0);
    match l.record_pickup("woo", "8", 51) {
        Err(LedgerError::Invalid(m)) => assert!(m.contains("already picked up"), "{m}"),
        other => panic!("a second ticket for a picked-up order: {other:?}"),
    }
}

//! The stock ledger on its own: exactly-once keys, the projection, policies, and the outbox.

use shop_sync::connector::{OnlineOrder, OrderLine, StockEffect};
use shop_sync::ledger::{Ledger, LedgerError, ZeroStockPolicy};

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

//! posd with real device peers: the emupos printer emulator over TCP (with its cash drawer)
//! and its emulated serial scanner on a pseudo-terminal.

mod common;

use common::emupos::Emupos;
use common::{pos_journal_verify, sale, start, Posd};
use serde_json::json;
use std::time::{Duration, Instant};

fn printer_config(emupos: &Emupos, scanner: bool) -> String {
    let mut extra = format!(
        "\n[printer]\naddress = \"{}\"\npaper_mm = 80\n\n[drawer]\npin = 2\n",
        emupos.tcp_address()
    );
    if scanner {
        extra.push_str(&format!(
            "\n[[scanners]]\npath = \"{}\"\n",
            emupos.scanner_link.display()
        ));
    }
    extra
}

fn wait_scan(posd: &Posd, code: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = posd.ok("GET", "/v1/scans", None);
        if let Some(s) = v["scans"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["code"] == code))
        {
            return s.clone();
        }
        assert!(Instant::now() < deadline, "scan {code} not seen: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn scan_sale_receipt_drawer_z_and_verify() {
    let emupos = Emupos::start();
    let mut posd = start(&printer_config(&emupos, true));
    posd.sign_in("alice", common::CASHIER_PIN);
    // The scanner connects on its own; scan until the daemon has seen it (a scan sent before
    // the port is open is flushed as stale input, by design).
    let deadline = Instant::now() + Duration::from_secs(15);
    let scan = loop {
        emupos.scan("2123450012503");
        std::thread::sleep(Duration::from_millis(300));
        let v = posd.ok("GET", "/v1/scans", None);
        if let Some(s) = v["scans"].as_array().and_then(|a| a.first()) {
            break s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no scan reached posd:\n{}",
            posd.log()
        );
    };
    assert_eq!(scan["found"], true, "{scan}");
    assert_eq!(scan["product"]["sku"], "COMTE");
    assert_eq!(scan["weight_grams"], 1250);
    emupos.scan("96385074");
    assert_eq!(wait_scan(&posd, "96385074")["product"]["sku"], "VIN");

    let v = posd.ok(
        "POST",
        "/v1/sales",
        Some(json!({
            "operator": "alice",
            "lines": [{"barcode": "2123450012503"}, {"barcode": "96385074", "quantity": 2},
                      {"sku": "BAGUETTE", "quantity": 3, "discount_cents": 10}],
            "payments": [{"method": "card", "amount_cents": 2000}, {"method": "cash", "amount_cents": 5000}]
        })),
    );
    assert_eq!(v["ticket_number"], 1);
    // 31.13 + 19.00 + 3.90 - 0.10
    assert_eq!(v["total_cents"], 5393);
    assert_eq!(v["change_cents"], 7000 - 5393);
    assert!(v["receipt_code"]
        .as_str()
        .unwrap_or("")
        .starts_with("POSR1*CAISSE-07*"));
    let receipts = emupos.wait_receipts(1);
    let r = &receipts[0];
    for needle in [
        "Épicerie Les Œillets",
        "12 rue de la Paix",
        "75002 Paris",
        "SIRET 73282932000074",
        "FR44732829320",
        "Ticket n° 1",
        "CAISSE-07",
        "Comté AOP 18 mois",
        "1,250 kg x 24,90 €/kg",
        "Vin rouge « Côtes-du-Rhône »",
        "Baguette tradition",
        "TOTAL TTC",
        "53,93 €",
        "Taux TVA",
        "Espèces",
        "Carte bancaire",
        "Rendu monnaie",
        "posd",
        "Merci de votre visite !",
    ] {
        assert!(r.contains(needle), "missing {needle:?} in receipt:\n{r}");
    }
    // Cash was paid: the drawer opened with the receipt.
    let deadline = Instant::now() + Duration::from_secs(10);
    while emupos.drawer_state() != "open" {
        assert!(Instant::now() < deadline, "drawer did not open");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The API reports the drawer as the printer sees it.
    let drawer_is = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let d = posd.ok("GET", "/v1/devices", None);
            if d["drawer"]["state"] == want {
                return;
            }
            assert!(Instant::now() < deadline, "drawer not {want}: {d}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    drawer_is("open");
    emupos.close_drawer();
    drawer_is("closed");

    // A card-only sale does not kick the drawer.
    posd.ok("POST", "/v1/sales", Some(json!({"operator":"alice","lines":[{"sku":"BAGUETTE"}],"payments":[{"method":"card","amount_cents":130}]})));
    emupos.wait_receipts(2);
    assert_eq!(emupos.drawer_state(), "closed");

    // Z closure by a manager: printed with the chain head, anchored.
    let z = posd.ok(
        "POST",
        "/v1/closures",
        Some(json!({"period": "day", "operator": "marie", "pin": common::MANAGER_PIN})),
    );
    let z_seq = z["closures"][0]["seq"].as_u64().expect("closure seq");
    let receipts = emupos.wait_receipts(3);
    let zt = &receipts[2];
    assert!(
        zt.contains("53,93") || zt.contains("55,23"),
        "Z text:\n{zt}"
    );
    let anchors = std::fs::read_to_string(posd.data().join("anchors.jsonl")).expect("anchor file");
    // The anchor is the chain head after the closure (the closure or the event after it).
    let anchor: serde_json::Value =
        serde_json::from_str(anchors.lines().last().unwrap_or("")).expect("anchor line");
    assert!(anchor["seq"].as_u64().unwrap_or(0) >= z_seq, "{anchors}");

    // Reprint: a journaled duplicate, printed marked DUPLICATA.
    let seq1 = v["seq"].as_u64().expect("seq");
    let d = posd.ok(
        "POST",
        &format!("/v1/tickets/{seq1}/reprint"),
        Some(json!({"operator":"alice"})),
    );
    assert_eq!(d["copy"], 1);
    let receipts = emupos.wait_receipts(4);
    assert!(receipts[3].contains("DUPLICATA"), "{}", receipts[3]);

    let status = posd.terminate();
    assert!(status.success(), "posd exit: {status:?}\n{}", posd.log());
    let (code, out) = pos_journal_verify(&posd.journal_path());
    assert_eq!(code, 0, "{out}");
    let kinds: Vec<String> = posd.records().into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "sale").count(), 2);
    assert_eq!(kinds.iter().filter(|k| *k == "closure").count(), 1);
    assert_eq!(kinds.iter().filter(|k| *k == "duplicate").count(), 1);
}

/// The printer as `GET /v1/devices` shows it, once `pred` holds (or the deadline passes).
fn wait_printer(
    posd: &common::Posd,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = posd.ok("GET", "/v1/devices", None);
        if pred(&d["printer"]) {
            return d["printer"].clone();
        }
        assert!(Instant::now() < deadline, "{what}: {d}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_fault_of_an_idle_printer_shows_without_a_receipt() {
    let emupos = Emupos::start();
    let posd = start(&printer_config(&emupos, false));
    wait_printer(&posd, "the idle printer is asked", |p| p["state"] == "idle");
    let events = posd.count_kind("event");
    // Paper out with nothing to print: seen within a few seconds, journaled once.
    emupos.set_fault("paper-out", true);
    let p = wait_printer(&posd, "paper out not seen", |p| p["state"] == "fault");
    assert!(p["faults"].to_string().contains("paper"), "{p}");
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        posd.count_kind("event"),
        events + 1,
        "one printer_failure, not one per poll"
    );
    emupos.set_fault("paper-out", false);
    wait_printer(&posd, "the fault clears", |p| p["state"] == "idle");
}

#[test]
fn paper_out_holds_the_receipt_until_cleared_then_prints_it_once() {
    let emupos = Emupos::start();
    let posd = start(&printer_config(&emupos, false));
    posd.sign_in("alice", common::CASHIER_PIN);
    emupos.set_fault("paper-out", true);
    let v = posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku":"BAGUETTE","quantity":2}), 260)),
    );
    let seq = v["seq"].as_u64().expect("seq");
    // Acknowledged and journaled while the printer is out of paper.
    assert!(posd.records().iter().any(|(s, k)| *s == seq && k == "sale"));
    // The fault shows on the API; the job waits at the head of the queue.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = posd.ok("GET", "/v1/devices", None);
        if d["printer"]["state"] == "fault" {
            assert!(d["printer"]["faults"].to_string().contains("paper"), "{d}");
            break;
        }
        assert!(Instant::now() < deadline, "fault not reported: {d}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = posd.ok("GET", &format!("/v1/tickets/{seq}"), None);
    assert_eq!(t["print_job"]["state"], "pending", "{t}");
    assert!(emupos.receipts().is_empty());
    // A printer_failure event was journaled.
    assert!(posd.count_kind("event") >= 1);

    emupos.set_fault("paper-out", false);
    let receipts = emupos.wait_receipts(1);
    assert!(receipts[0].contains("Ticket n° 1"));
    posd.wait_queue_drained();
    let t = posd.ok("GET", &format!("/v1/tickets/{seq}"), None);
    assert_eq!(t["print_job"]["state"], "printed", "{t}");
    // Another sale after it prints normally, and the first receipt was printed once only.
    posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku":"BAGUETTE"}), 130)),
    );
    let receipts = emupos.wait_receipts(2);
    posd.wait_queue_drained();
    let all = emupos.receipts();
    assert_eq!(all.len(), 2, "{receipts:?}");
    assert_eq!(
        all.iter()
            .filter(|r| r.contains("Ticket n° 1\n") || r.contains("Ticket n° 1 "))
            .count(),
        1
    );
}

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_sale_and_prints_each_once() {
    let emupos = Emupos::start();
    let mut posd = start(&printer_config(&emupos, false));
    posd.sign_in("alice", common::CASHIER_PIN);
    let port = posd.port;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u64, u64)>::new()));
    let mut threads = Vec::new();
    for _ in 0..4 {
        let acked = acked.clone();
        let probe = common::Probe { port };
        threads.push(std::thread::spawn(move || {
            for _ in 0..200 {
                match probe.sale() {
                    Some(v) => acked.lock().expect("lock").push(v),
                    None => return,
                }
            }
        }));
    }
    // Kill once some sales are acknowledged, while the burst is running.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().expect("lock").len() < 40 {
        assert!(Instant::now() < deadline, "burst did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    posd.kill9();
    for t in threads {
        let _ = t.join();
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(!acked.is_empty());

    posd.spawn();
    posd.wait_queue_drained();
    // Every acknowledged sale is in the journal.
    let records = posd.records();
    for (seq, _) in &acked {
        assert!(
            records.iter().any(|(s, k)| s == seq && k == "sale"),
            "seq {seq} lost"
        );
    }
    let sales: Vec<u64> = records
        .iter()
        .filter(|(_, k)| k == "sale")
        .map(|(s, _)| *s)
        .collect();
    // Each journaled sale printed exactly once; a job caught mid-send is `unknown` (at most
    // once on paper, never resent).
    let receipts = emupos.wait_receipts(sales.len().saturating_sub(1).max(1));
    std::thread::sleep(Duration::from_millis(800));
    let receipts_now = emupos.receipts();
    assert!(receipts_now.len() >= receipts.len());
    let mut unknown = 0;
    for (i, seq) in sales.iter().enumerate() {
        let t = posd.ok("GET", &format!("/v1/tickets/{seq}"), None);
        let number = t["number"].as_u64().expect("number");
        let needle = format!("Ticket n° {number} ");
        let printed = receipts_now.iter().filter(|r| r.contains(&needle)).count();
        match t["print_job"]["state"].as_str() {
            Some("printed") => assert_eq!(printed, 1, "sale {i} seq {seq} printed {printed} times"),
            Some("unknown") => {
                unknown += 1;
                assert!(printed <= 1, "unknown job printed {printed} times");
            }
            other => panic!("seq {seq}: job state {other:?}"),
        }
    }
    assert!(unknown <= 1, "{unknown} jobs of unknown fate");
    let (code, out) = pos_journal_verify(&posd.journal_path());
    assert_eq!(code, 0, "{out}");
}

//! Backups with the real posd: snapshots to another file system while sales go on, after a
//! day closure and on demand; a snapshot cut short by `kill -9`; a byte flipped on the medium;
//! and the restore drill: fill, back up, lose the data directory, restore on a new one, sell
//! on, and the journal verifies.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The backup medium: a directory on another file system than the data directory (`/dev/shm`,
/// a tmpfs, where there is one), as a USB stick would be.
fn medium() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("posd-medium")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("medium")
}

fn backup_table(medium: &Path, more: &str) -> String {
    format!("\n[backup]\ndir = \"{}\"\n{more}\n", medium.display())
}

fn posd_cmd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_posd"))
        .args(args)
        .output()
        .expect("run posd")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The snapshots listed, waiting until `until` holds (at most 30 s).
fn wait_snapshots(posd: &Posd, until: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = posd.ok("GET", "/v1/backups", None);
        let list = v["snapshots"].as_array().cloned().unwrap_or_default();
        if until(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "snapshots: {v}\n{}", posd.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sell(posd: &Posd, n: usize) {
    for _ in 0..n {
        posd.ok(
            "POST",
            "/v1/sales",
            Some(sale(json!({"sku": "BAGUETTE"}), 130)),
        );
    }
}

fn close_day(posd: &Posd) -> Value {
    posd.ok(
        "POST",
        "/v1/closures",
        Some(json!({"period": "day", "operator": "marie", "pin": MANAGER_PIN})),
    )
}

/// The last event of `code` in a journal, if any.
fn last_event(journal: &Path, code: &str) -> Option<pos_core::body::EventBody> {
    pos_core::reader::JournalReader::open(journal)
        .expect("reader")
        .last_event(code)
        .expect("read")
}

/// Fill, back up (after the Z and on demand, with sales going on), lose the data directory,
/// restore on a new one, sell on: every sale acknowledged before the snapshot is there, the
/// restore is journaled, and the whole journal verifies.
#[test]
fn the_restore_drill() {
    let medium = medium();
    let mut posd = start(&backup_table(medium.path(), ""));
    posd.sign_in("alice", CASHIER_PIN);
    sell(&posd, 20);

    // A day closure makes a snapshot due: the worker takes it.
    close_day(&posd);
    // Listed once renamed whole (`unchecked`), then checked.
    let list = wait_snapshots(&posd, |l| {
        l.iter()
            .any(|s| s["reason"] == "closure" && s["state"] != "unchecked")
    });
    let after_z = list
        .iter()
        .find(|s| s["reason"] == "closure")
        .expect("closure snapshot");
    assert_eq!(after_z["state"], "good", "{after_z}");

    // On demand, with sales going on from another client: none is refused.
    let probe = Probe { port: posd.port };
    let seller = std::thread::spawn(move || {
        let mut acknowledged = 0;
        for _ in 0..40 {
            if probe.sale().is_some() {
                acknowledged += 1;
            }
        }
        acknowledged
    });
    let taken = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    assert_eq!(
        seller.join().expect("seller"),
        40,
        "every sale acknowledged"
    );
    assert_eq!(taken["snapshot"]["state"], "good", "{taken}");
    // And once more, after every sale: the snapshot to restore.
    sell(&posd, 5);
    let last = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    let name = last["snapshot"]["name"].as_str().expect("name").to_string();
    let head = last["snapshot"]["journal_head_seq"].as_u64().expect("head");
    let sales_before = posd.count_kind("sale");
    assert_eq!(sales_before, 65);
    let event = last_event(&posd.journal_path(), "backup_written").expect("journaled");
    assert!(
        event.details.contains_key("snapshot"),
        "{:?}",
        event.details
    );
    let health = posd.ok("GET", "/v1/health", None);
    assert_eq!(health["backup"]["stale"], false, "{health}");
    if medium.path().starts_with("/dev/shm") {
        let listed = posd.ok("GET", "/v1/backups", None);
        assert_eq!(listed["on_data_disk"], false, "{listed}");
    }

    // The till's disk is lost.
    posd.kill9();
    let data = posd.data();
    std::fs::remove_dir_all(&data).expect("lose the data directory");

    let snapshot = medium.path().join(&name);
    let out = posd_cmd(&[
        "restore",
        snapshot.to_str().expect("path"),
        "--data",
        data.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    posd.spawn();
    posd.sign_in("alice", CASHIER_PIN);
    let after = posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku": "BAGUETTE"}), 130)),
    );
    assert!(after["seq"].as_u64().expect("seq") > head);
    assert_eq!(posd.count_kind("sale"), sales_before + 1);
    let restored = last_event(&posd.journal_path(), "restored").expect("restore journaled");
    assert_eq!(
        restored.details.get("snapshot").map(String::as_str),
        Some(name.as_str())
    );
    assert_eq!(
        restored.details.get("head_seq"),
        Some(&head.to_string()),
        "{restored:?}"
    );
    // The restore is the first record after the snapshot's head.
    let records = posd.records();
    let next = records
        .iter()
        .find(|(seq, _)| *seq == head + 1)
        .expect("next");
    assert_eq!(next.1, "event");
    let verified = posd.ok("POST", "/v1/journal/verify", None);
    assert_eq!(verified["intact"], true, "{verified}");
    posd.kill9();
    let (code, said) = pos_journal_verify(&posd.journal_path());
    assert_eq!(code, 0, "{said}");
}

/// A snapshot older than the last anchor kept elsewhere: the restore says which records are
/// lost and refuses; told to go on, it journals the loss.
#[test]
fn a_snapshot_behind_an_anchor_says_which_records_are_lost() {
    let medium = medium();
    let mut posd = start(&backup_table(medium.path(), "after_closure = false"));
    posd.sign_in("alice", CASHIER_PIN);
    sell(&posd, 3);
    let taken = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    let name = taken["snapshot"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let head = taken["snapshot"]["journal_head_seq"]
        .as_u64()
        .expect("head");
    sell(&posd, 3);
    close_day(&posd);
    // The anchors, as kept on another medium.
    let kept = medium.path().join("anchors-kept.jsonl");
    std::fs::copy(posd.data().join("anchors.jsonl"), &kept).expect("anchors");
    let last_anchor = pos_core::anchor::read_anchors(&kept)
        .expect("anchors")
        .iter()
        .map(|a| a.seq)
        .max()
        .expect("an anchor");
    assert!(last_anchor > head);
    posd.kill9();
    let data = posd.data();
    std::fs::remove_dir_all(&data).expect("lose the data directory");

    let snapshot = medium.path().join(&name);
    let args = [
        "restore",
        snapshot.to_str().expect("path"),
        "--data",
        data.to_str().expect("path"),
        "--anchors",
        kept.to_str().expect("path"),
    ];
    let out = posd_cmd(&args);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(&format!("records {} to {last_anchor}", head + 1)),
        "{said}"
    );
    assert!(!data.join("journal.db").exists(), "nothing restored");

    let mut go_on = args.to_vec();
    go_on.push("--accept-loss");
    let out = posd_cmd(&go_on);
    assert!(out.status.success(), "{}", text(&out));
    posd.spawn();
    let restored = last_event(&posd.journal_path(), "restored").expect("journaled");
    assert_eq!(
        restored.details.get("lost_from_seq"),
        Some(&(head + 1).to_string())
    );
    assert_eq!(
        restored.details.get("lost_to_seq"),
        Some(&last_anchor.to_string())
    );
    assert_eq!(posd.count_kind("sale"), 3);
}

/// A restore never writes over a data directory's stores unless told to; told to, it moves
/// them aside, never merges.
#[test]
fn a_restore_never_writes_over_a_journal_unless_told_to() {
    let medium = medium();
    let mut posd = start(&backup_table(medium.path(), ""));
    posd.sign_in("alice", CASHIER_PIN);
    let taken = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    let name = taken["snapshot"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    sell(&posd, 2);
    posd.kill9();
    let data = posd.data();
    let journal = std::fs::read(data.join("journal.db")).expect("journal");
    let snapshot = medium.path().join(&name);
    let args = [
        "restore",
        snapshot.to_str().expect("path"),
        "--data",
        data.to_str().expect("path"),
    ];
    let out = posd_cmd(&args);
    assert!(!out.status.success());
    assert!(text(&out).contains("--replace"), "{}", text(&out));
    assert_eq!(
        std::fs::read(data.join("journal.db")).expect("journal"),
        journal,
        "untouched"
    );
    let mut replace = args.to_vec();
    replace.push("--replace");
    let out = posd_cmd(&replace);
    assert!(out.status.success(), "{}", text(&out));
    let aside: Vec<PathBuf> = std::fs::read_dir(&data)
        .expect("data")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("replaced-"))
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(aside[0].join("journal.db")).expect("moved aside"),
        journal
    );
}

/// A byte flipped on the medium after the snapshot was written is caught when the medium is
/// checked again, and such a snapshot is never restored.
#[test]
fn a_flipped_byte_on_the_medium_is_caught() {
    let medium = medium();
    let posd = start(&backup_table(medium.path(), ""));
    posd.sign_in("alice", CASHIER_PIN);
    sell(&posd, 5);
    let taken = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    let name = taken["snapshot"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let config = posd.config.to_str().expect("path").to_string();
    let out = posd_cmd(&["backup", "--config", &config, "--check"]);
    assert!(out.status.success(), "{}", text(&out));

    let file = medium.path().join(&name).join("journal.db");
    let mut bytes = std::fs::read(&file).expect("copy");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&file, bytes).expect("flip");
    let out = posd_cmd(&["backup", "--config", &config, "--check"]);
    assert!(!out.status.success(), "{}", text(&out));
    let listed = posd.ok("GET", "/v1/backups", None);
    let s = &listed["snapshots"][0];
    assert_eq!(s["state"], "bad", "{listed}");
    assert!(
        s["problems"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("journal.db"),
        "{listed}"
    );
    let target = tempfile::tempdir().expect("dir");
    let out = posd_cmd(&[
        "restore",
        medium.path().join(&name).to_str().expect("path"),
        "--data",
        target.path().join("data").to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not pass its check"),
        "{}",
        text(&out)
    );
}

/// `kill -9` of a backup in the middle (`posd backup`, then posd itself): the snapshot cut
/// short is never listed, and the next backup succeeds (and removes it).
#[test]
fn a_backup_killed_midway_is_never_listed() {
    let medium = medium();
    let mut posd = start(&backup_table(medium.path(), ""));
    posd.sign_in("alice", CASHIER_PIN);
    sell(&posd, 50);
    let config = posd.config.to_str().expect("path").to_string();
    let partial = || {
        std::fs::read_dir(medium.path())
            .expect("medium")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".partial"))
    };
    let mut cut_short = false;
    for _ in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_posd"))
            .args(["backup", "--config", &config])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("posd backup");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !partial() && Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        if partial() {
            cut_short = true;
            break;
        }
    }
    assert!(cut_short, "no backup was caught midway in 20 tries");
    // The daemon itself killed while it takes one: the same.
    let mut cut_short = false;
    for _ in 0..20 {
        let port = posd.port;
        let asking = std::thread::spawn(move || {
            let body = json!({"operator": "alice"}).to_string();
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            std::io::Write::write_all(
                &mut s,
                format!(
                    "POST /v1/backups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .ok()?;
            let mut answer = String::new();
            std::io::Read::read_to_string(&mut s, &mut answer).ok()?;
            Some(answer)
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !partial() && !asking.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        posd.kill9();
        let _ = asking.join();
        let was_cut = partial();
        posd.spawn();
        posd.sign_in("alice", CASHIER_PIN);
        if was_cut {
            cut_short = true;
            break;
        }
    }
    assert!(cut_short, "posd was not caught midway in 20 tries");
    let listed = posd.ok("GET", "/v1/backups", None);
    assert!(
        listed["snapshots"]
            .as_array()
            .expect("list")
            .iter()
            .all(|s| s["state"] == "good"),
        "{listed}"
    );
    let taken = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    assert_eq!(taken["snapshot"]["state"], "good");
    assert!(!partial(), "the snapshot cut short is removed");
}

/// One writer on the medium, across processes: while another holds it (`posd backup` running),
/// posd answers 409 backup_in_progress and writes nothing; once free, it takes its snapshot.
#[test]
fn one_backup_at_a_time_on_a_medium() {
    use std::os::fd::AsRawFd;
    let medium = medium();
    let posd = start(&backup_table(medium.path(), ""));
    posd.sign_in("alice", CASHIER_PIN);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(medium.path().join(".posd-backup.lock"))
        .expect("lock file");
    // SAFETY: flock on a file descriptor this test owns, open for the call's duration.
    let held = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(held, 0, "the test holds the medium");
    let (status, v) = posd.call("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("backup_in_progress")),
        "{v}"
    );
    let listed = posd.ok("GET", "/v1/backups", None);
    assert_eq!(
        listed["snapshots"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
    drop(lock);
    let taken = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    assert_eq!(taken["snapshot"]["state"], "good", "{taken}");
}

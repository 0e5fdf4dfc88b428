//! Backups in process, on the test clock: the health's warnings when the newest snapshot or
//! the last off-site copy is more than a day old, and the snapshot a day closure makes due.

use super::*;
use pos_core::journal::Clock;

/// The `[backup]` table: snapshots in the test's directory; off-site copies through a restic
/// that always fails (`/bin/false`: this test reads the state, the real copies are
/// `tests/offsite.rs`'s).
const BACKUP: &str = r#"
[backup]
dir = "medium"

[backup.offsite]
repository = "sftp:nobody@127.0.0.1:/nowhere"
password_file = "restic-password"
restic = "/bin/false"
retry_secs = 3600
"#;

#[tokio::test]
async fn health_warns_when_the_backups_are_more_than_a_day_old() {
    let d = daemon(BACKUP).await;
    // Not there: the medium is absent.
    let (status, v) = d
        .call("POST", "/v1/backups", Some(json!({"operator": "alice"})))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("backup_medium_absent")),
        "{v}"
    );
    assert!(!d.dir.path().join("medium").exists(), "never made by posd");
    std::fs::create_dir(d.dir.path().join("medium")).expect("the medium");
    let h = d.ok("GET", "/v1/health", None).await;
    assert_eq!(h["backup"]["stale"], true, "no snapshot yet: {h}");
    assert_eq!(h["backup"]["offsite_stale"], true, "{h}");

    let taken = d
        .ok("POST", "/v1/backups", Some(json!({"operator": "alice"})))
        .await;
    assert_eq!(taken["snapshot"]["state"], "good", "{taken}");
    // An off-site copy made now (the real copy is tests/offsite.rs's).
    d.app
        .ops
        .set_meta(
            pos_daemon::backup::OFFSITE_OK_MS,
            &d.clock.now_ms().to_string(),
        )
        .expect("meta");
    let h = d.ok("GET", "/v1/health", None).await;
    assert_eq!(h["backup"]["stale"], false, "{h}");
    assert_eq!(h["backup"]["offsite_stale"], false, "{h}");

    d.clock.advance(25 * 3600 * 1000);
    let h = d.ok("GET", "/v1/health", None).await;
    assert_eq!(h["backup"]["stale"], true, "{h}");
    assert_eq!(h["backup"]["offsite_stale"], true, "{h}");
    let listed = d.ok("GET", "/v1/backups", None).await;
    assert_eq!(listed["offsite"]["stale"], true, "{listed}");
    // The medium here is a directory beside the data: said.
    assert_eq!(listed["on_data_disk"], true, "{listed}");
}

/// A day closed makes a snapshot due; the worker takes it and clears the mark.
#[tokio::test]
async fn a_day_closure_makes_a_snapshot() {
    let d = daemon(BACKUP).await;
    std::fs::create_dir(d.dir.path().join("medium")).expect("the medium");
    d.sale(2).await;
    d.ok(
        "POST",
        "/v1/closures",
        Some(json!({"period": "day", "operator": "marie", "pin": MANAGER_PIN})),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = d.ok("GET", "/v1/backups", None).await;
        let done = listed["snapshots"].as_array().is_some_and(|l| {
            l.iter()
                .any(|s| s["reason"] == "closure" && s["state"] == "good")
        });
        let due = d
            .app
            .ops
            .meta(pos_daemon::project::backup::DUE)
            .expect("meta");
        if done && due.as_deref() == Some("") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{listed} due={due:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! The projector runs a list of projections, each on its own cursor: one added later catches
//! up from the start of the journal, and nothing is printed again for it.

use crate::{daemon, Daemon};
use pos_daemon::project::{Projected, Projection, ProjectionError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A projection that notes every seq it is handed and keeps its cursor in memory (an empty
/// store: cursor 0). It can be made to fail, to check that its cursor then stays put.
struct Noting {
    seen: Arc<Mutex<Vec<u64>>>,
    cursor: Arc<Mutex<u64>>,
    fail: Arc<Mutex<bool>>,
    /// Fails its next apply only.
    fail_once: Arc<Mutex<bool>>,
}

impl Projection for Noting {
    fn name(&self) -> &'static str {
        "noting"
    }

    fn cursor(&mut self) -> Result<u64, ProjectionError> {
        Ok(*self.cursor.lock().expect("lock"))
    }

    fn apply(&mut self, records: &[Projected], upto: u64) -> Result<(), ProjectionError> {
        let once = std::mem::take(&mut *self.fail_once.lock().expect("lock"));
        if once || *self.fail.lock().expect("lock") {
            return Err(ProjectionError::new("noting", "its store is down"));
        }
        self.seen
            .lock()
            .expect("lock")
            .extend(records.iter().map(|p| p.record.seq));
        *self.cursor.lock().expect("lock") = upto;
        Ok(())
    }
}

/// The print jobs in `ops.db`, whatever their state.
fn print_jobs(d: &Daemon) -> usize {
    let conn = rusqlite::Connection::open(d.app.config.ops_path()).expect("ops.db");
    conn.query_row("SELECT COUNT(*) FROM print_jobs", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("count") as usize
}

/// Waits until the projection's cursor reaches `head`.
async fn caught_up(cursor: &Arc<Mutex<u64>>, head: u64) {
    for _ in 0..200 {
        if *cursor.lock().expect("lock") >= head {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the projection never reached seq {head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_added_later_catches_up_from_the_start_and_nothing_prints_twice() {
    let d = daemon("").await;
    for n in 1..=3 {
        d.sale(n).await;
    }
    let head = d.records().len() as u64;
    let jobs = print_jobs(&d);
    assert_eq!(jobs, 3, "one receipt per sale");

    let (seen, cursor, fail) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(0)),
        Arc::new(Mutex::new(false)),
    );
    d.app.add_projection(Box::new(Noting {
        seen: seen.clone(),
        cursor: cursor.clone(),
        fail: fail.clone(),
        fail_once: Arc::default(),
    }));
    caught_up(&cursor, head).await;
    assert_eq!(
        *seen.lock().expect("lock"),
        (1..=head).collect::<Vec<_>>(),
        "every record from the opening on, once, in order"
    );
    assert_eq!(print_jobs(&d), jobs, "nothing printed again");

    // It follows the sales from then on, with the others.
    d.sale(1).await;
    let head = d.records().len() as u64;
    caught_up(&cursor, head).await;
    assert_eq!(print_jobs(&d), jobs + 1);

    // A failing projection keeps its cursor and gets the records again once it works; the
    // others go on meanwhile.
    *fail.lock().expect("lock") = true;
    d.sale(2).await;
    assert_eq!(print_jobs(&d), jobs + 2, "the receipt does not wait for it");
    assert_eq!(*cursor.lock().expect("lock"), head);
    *fail.lock().expect("lock") = false;
    let head = d.records().len() as u64;
    caught_up(&cursor, head).await;
    let seen = seen.lock().expect("lock").clone();
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen, unique, "no record handed twice");
    assert_eq!(seen.last(), Some(&head));
}

/// A projection that fails on one chunk of a long catch-up gets nothing more in that round
/// (the chunk's records would be missing from the later ones) and everything, once and in
/// order, in the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_failing_mid_catch_up_skips_no_record() {
    use pos_daemon::project::{PrintProjection, Projector, ProjectorError};
    let d = daemon("").await;
    for n in 1..=3 {
        d.sale(n).await;
    }
    let head = d.records().len() as u64;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let noting = Noting {
        seen: seen.clone(),
        cursor: Arc::new(Mutex::new(0)),
        fail: Arc::default(),
        fail_once: Arc::new(Mutex::new(true)),
    };
    let app = &d.app;
    let print = PrintProjection::new(
        app.ops.clone(),
        app.printing.clone(),
        app.till.clone(),
        app.bus.clone(),
    );
    // Two records a chunk: the catch-up from the opening takes several.
    let mut p = Projector::new(
        app.config.journal_path(),
        print,
        vec![Box::new(noting)],
        Default::default(),
    )
    .with_chunk(2);
    assert!(head > 4, "{head} records");
    let first = p.project_to(head);
    assert!(
        matches!(first, Err(ProjectorError::Projection(_))),
        "{first:?}"
    );
    assert!(
        seen.lock().expect("lock").is_empty(),
        "nothing after the failed chunk"
    );
    p.project_to(head).expect("the next round");
    assert_eq!(*seen.lock().expect("lock"), (1..=head).collect::<Vec<_>>());
}

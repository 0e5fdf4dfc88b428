//! Crash safety: a child process appending in a loop (`fill_journal --print-acks`) is killed
//! with SIGKILL at random moments, many times, on the same journal file. After each kill the
//! journal must open for writing, verify intact, and hold every record whose append had
//! returned (the child prints a record's seq only after its append returned).
//!
//! `POS_CRASH_SEED=N` replays a run's kill delays.

mod common;

use common::*;
use pos_core::prelude::*;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KILLS: usize = 50;

fn seed() -> u64 {
    let seed = std::env::var("POS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    // Printed so that a failing run can be replayed.
    println!("POS_CRASH_SEED={seed}");
    seed
}

/// A running `fill_journal` whose acks are read as they come.
struct Filler {
    child: Child,
    acks: mpsc::Receiver<u64>,
    reader: std::thread::JoinHandle<()>,
}

fn spawn_filler(db: &Path, tickets: u64) -> Filler {
    let mut child = Command::new(fill_journal_bin())
        .arg("--db")
        .arg(db)
        .args(["--tickets", &tickets.to_string(), "--print-acks"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fill_journal");
    let stdout = child.stdout.take().unwrap();
    let (tx, acks) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        // Only complete lines count: the child prints a seq after its append returned, and a
        // line cut by the kill has no newline.
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            if !line.ends_with('\n') {
                break;
            }
            let seq = line.trim().parse().expect("an ack line is a seq");
            if tx.send(seq).is_err() {
                break;
            }
            line.clear();
        }
    });
    Filler {
        child,
        acks,
        reader,
    }
}

impl Filler {
    /// Waits for the first acknowledged record (the child has reopened the journal and is
    /// appending); `None` if the child ended first.
    fn first_ack(&self) -> Option<u64> {
        self.acks.recv_timeout(Duration::from_secs(60)).ok()
    }

    /// Kills the child with SIGKILL (unless it already ended) and returns every seq it
    /// acknowledged, `first` included. Panics if it had ended on its own.
    fn kill(mut self, first: Option<u64>) -> Vec<u64> {
        let ended_alone = self.child.try_wait().unwrap();
        if ended_alone.is_none() {
            // Child::kill sends SIGKILL on Unix: no destructor, no flush, no WAL checkpoint.
            self.child.kill().unwrap();
        }
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(
            ended_alone.is_none(),
            "fill_journal ended on its own ({status}): {err}"
        );
        self.reader.join().unwrap();
        first.into_iter().chain(self.acks.try_iter()).collect()
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_record() {
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let key_path = key_path_of(&db);
    // The journal and its key exist before the first child: kills during creation are the
    // subject of another test.
    let key = KeyPair::generate();
    key.save(&key_path).unwrap();
    Journal::create(&db, key, sample_opening(), JournalOptions::default())
        .unwrap()
        .close();

    let mut last_seq = 1u64;
    let mut kills_after_acks = 0;
    let mut total_acks = 0usize;
    let mut fully_verified = 0u64;
    for round in 0..KILLS {
        let child = spawn_filler(&db, 100_000);
        // Most kills land while the child appends (20-300 ms after its first append); one in
        // five lands anywhere in its first 300 ms, opening and tail check included. In debug
        // builds the child needs about a second to reopen, so delays counted from the start
        // alone would rarely hit an append.
        let first = if rng.gen_ratio(1, 5) {
            None
        } else {
            let first = child.first_ack();
            assert!(first.is_some(), "round {round}: the child never appended");
            first
        };
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..=300)));
        let acks = child.kill(first);

        // The child acknowledges its records in order, after the chain it reopened. Acks need
        // not be contiguous: the journal writes records of its own between them (the
        // `journal_opened` event, closures and their events).
        let mut previous = last_seq;
        for seq in &acks {
            assert!(
                *seq > previous,
                "round {round}: acks {acks:?} do not continue seq {last_seq} in order"
            );
            previous = *seq;
        }

        let reader = JournalReader::open(&db).unwrap();
        let now_last = reader.last_seq().unwrap();
        let added = now_last - last_seq;

        // The journal opens for writing after the crash. Its tail check covers what this
        // round may have written (the next child's own open checks the default tail again).
        let key = KeyPair::load(&key_path).unwrap();
        let options = JournalOptions {
            tail_check_records: added + 1,
            ..JournalOptions::default()
        };
        let journal = Journal::open(&db, key, options)
            .unwrap_or_else(|e| panic!("round {round}: reopening after SIGKILL failed: {e}"));
        journal.close();

        // It verifies intact: the whole chain every round (hashes, links, seqs, timestamps:
        // any change to an older record breaks these), and in full (signatures, bodies) what
        // this round added since the previous round's last record. Over the rounds every
        // record is fully verified once; in debug builds a full verification every round
        // would dominate the test's time.
        let mut sink = CollectFindings::default();
        let chain = VerifyOptions {
            signatures: false,
            bodies: false,
            ..VerifyOptions::default()
        };
        let summary = verify_journal(&reader, &chain, &mut sink).unwrap();
        assert!(
            sink.findings.is_empty(),
            "round {round}: {:#?}",
            sink.findings
        );
        assert_eq!(
            summary.records, now_last,
            "round {round}: seqs from 1, no gap"
        );
        let tail = VerifyOptions {
            tail: Some(added + 1),
            ..VerifyOptions::default()
        };
        let summary = verify_journal(&reader, &tail, &mut sink).unwrap();
        assert!(
            sink.findings.is_empty(),
            "round {round}: {:#?}",
            sink.findings
        );
        assert_eq!(summary.signatures_checked, added + 1);
        fully_verified += added;

        // ... and holds every acknowledged record.
        if let Some(&max) = acks.last() {
            assert!(
                max <= now_last,
                "round {round}: seq {max} was acknowledged but the journal ends at {now_last}"
            );
            for &seq in &acks {
                assert!(
                    matches!(reader.record(seq), Ok(Some(Ok(_)))),
                    "round {round}: acknowledged seq {seq} is missing"
                );
            }
            kills_after_acks += 1;
        }
        total_acks += acks.len();
        last_seq = now_last;
    }

    assert_eq!(
        fully_verified + 1,
        last_seq,
        "every record was fully verified once"
    );
    // The kills must have hit a child that was appending, or the test proved nothing.
    assert!(
        kills_after_acks >= KILLS / 2,
        "only {kills_after_acks} of {KILLS} kills happened after the child's first append"
    );
    println!(
        "{KILLS} kills, {kills_after_acks} while appending, {total_acks} acks, {last_seq} \
         records, {:.1?}",
        started.elapsed()
    );
}

#[test]
fn sigkill_while_the_journal_is_created() {
    // A kill during creation must leave either no journal (the next run creates it) or a
    // journal that opens: never a file that is neither.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let mut created = 0;
    for round in 0..12u64 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("journal.db");
        let child = spawn_filler(&db, 100_000);
        // Spread the kills over the child's first moments, where creation happens.
        std::thread::sleep(Duration::from_millis(round * 8 + rng.gen_range(0..8)));
        let acks = child.kill(None);

        let key_path = key_path_of(&db);
        if db.exists() {
            created += 1;
            let key = KeyPair::load(&key_path).unwrap_or_else(|e| {
                panic!("round {round}: the journal exists but its key does not load: {e}")
            });
            Journal::open(&db, key, JournalOptions::default())
                .unwrap_or_else(|e| {
                    panic!("round {round}: a journal killed while created does not open: {e}")
                })
                .close();
            let (summary, findings) = verify_full(&db);
            assert!(findings.is_empty(), "round {round}: {findings:#?}");
            assert!(acks.last().is_none_or(|&s| s <= summary.records));
        } else {
            assert!(acks.is_empty());
        }
        // Whatever the kill left, the next run works.
        let status = Command::new(fill_journal_bin())
            .arg("--db")
            .arg(&db)
            .args(["--tickets", "2"])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "round {round}: the run after the kill failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        assert!(verify_full(&db).1.is_empty());
    }
    println!("{created} of 12 kills left a journal file");
}

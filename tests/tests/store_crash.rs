//! Crash safety of the SQLite store: a writer process is killed with SIGKILL at random
//! moments, again and again, on one file. After each kill the store reopens with every batch
//! the writer reported as committed, no batch torn in half, and positions without gaps.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::StoredEvent;
use tidings_tests::{Scratch, Tick};
use uuid::Uuid;

const KILLS: u32 = 60;

/// A batch the writer reported after its commit.
struct Reported {
    run: u32,
    batch: u32,
    first: u64,
    ids: Vec<Uuid>,
}

fn parse(line: &str) -> Option<Reported> {
    let mut words = line.split_whitespace();
    Some(Reported {
        run: words.next()?.parse().ok()?,
        batch: words.next()?.parse().ok()?,
        first: words.next()?.parse().ok()?,
        ids: words.map(|w| w.parse().ok()).collect::<Option<_>>()?,
    })
}

/// Runs the writer for a random moment, kills it, and returns the lines it completed.
fn run_and_kill(path: &std::path::Path, run: u32, rng: &mut fastrand::Rng) -> Vec<Reported> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store_writer"))
        .arg(path)
        .arg(run.to_string())
        .arg(rng.u64(..).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the writer starts");
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // A line cut short by the kill has no newline: it was not reported.
        while reader.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
            lines.push(parse(&line).expect("the writer prints whole lines"));
            line.clear();
        }
        lines
    });
    // The kill comes at a random moment: that is the fault, not a wait for something.
    std::thread::sleep(Duration::from_micros(rng.u64(0..60_000)));
    child.kill().expect("SIGKILL");
    child.wait().expect("the writer is reaped");
    reader.join().expect("the reader thread ends")
}

#[test]
fn killed_writers_lose_no_committed_event_and_leave_no_gap() {
    let dir = Scratch::new("crash");
    let path = dir.join("events.db");
    let mut rng = fastrand::Rng::with_seed(tidings_tests::seed());
    let mut reported = Vec::new();
    let mut before: Vec<StoredEvent> = Vec::new();
    for run in 0..KILLS {
        reported.extend(run_and_kill(&path, run, &mut rng));
        let store = SqliteStore::open(&path).expect("the store reopens after a kill");
        let events = store.read_all_sync(0, usize::MAX).expect("every row reads");
        check(&events, &before, &reported, run);
        before = events;
    }
    eprintln!(
        "{KILLS} kills: {} batches reported, {} events stored",
        reported.len(),
        before.len()
    );
    assert!(
        reported.len() > KILLS as usize,
        "the writer committed only {} batches in {KILLS} runs: the test killed it too early",
        reported.len()
    );
}

fn check(events: &[StoredEvent], before: &[StoredEvent], reported: &[Reported], run: u32) {
    let positions: Vec<u64> = events.iter().map(StoredEvent::position).collect();
    assert_eq!(
        positions,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "gap after run {run}"
    );
    assert!(
        events.len() >= before.len() && events[..before.len()] == *before,
        "run {run} changed or lost events committed before it"
    );
    for batch in reported {
        for (offset, id) in batch.ids.iter().enumerate() {
            let position = batch.first + offset as u64;
            let stored = events.get(position as usize - 1).unwrap_or_else(|| {
                panic!(
                    "reported batch {}/{} lost at {position}",
                    batch.run, batch.batch
                )
            });
            assert_eq!(
                stored.metadata().id(),
                *id,
                "reported event at {position} differs"
            );
        }
    }
    // Every stored batch is whole: its events in order at consecutive positions.
    let mut batches: BTreeMap<(u32, u32), Vec<(u64, Tick)>> = BTreeMap::new();
    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    for event in events {
        let tick = event
            .decode_as::<Tick>()
            .expect("every event decodes")
            .into_payload();
        batches
            .entry((tick.run, tick.batch))
            .or_default()
            .push((event.position(), tick));
        let version = versions.entry(event.stream()).or_default();
        *version += 1;
        assert_eq!(
            event.stream_version(),
            *version,
            "stream version gap at {}",
            event.position()
        );
    }
    for ((run, batch), ticks) in batches {
        let size = ticks[0].1.size as usize;
        assert_eq!(
            ticks.len(),
            size,
            "batch {run}/{batch} is torn: {} of {size}",
            ticks.len()
        );
        for (index, (position, tick)) in ticks.iter().enumerate() {
            assert_eq!(
                tick.index as usize, index,
                "batch {run}/{batch} out of order"
            );
            assert_eq!(
                *position,
                ticks[0].0 + index as u64,
                "batch {run}/{batch} interleaved"
            );
        }
    }
}

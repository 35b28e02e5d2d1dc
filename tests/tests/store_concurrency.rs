//! Concurrent writers on one SQLite file, each with its own connection, and readers that
//! must never skip a committed event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{Appended, ExpectedVersion, NewEvent, StoreError};
use tidings::{DomainEvent, Envelope};
use tidings_tests::Scratch;

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "race.lap_done")]
struct LapDone {
    writer: u32,
    lap: u32,
}

fn laps(writer: u32, laps: std::ops::Range<u32>) -> Vec<NewEvent> {
    laps.map(|lap| NewEvent::from_envelope(&Envelope::new(LapDone { writer, lap })).unwrap())
        .collect()
}

const WRITERS: u32 = 4;
const BATCHES: u32 = 60;

#[test]
fn a_reader_never_skips_an_event_that_concurrent_writers_committed() {
    let dir = Scratch::new("concurrency");
    let path = dir.join("events.db");
    drop(SqliteStore::open(&path).unwrap());
    let writing = Arc::new(AtomicBool::new(true));

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = SqliteStore::open(path).unwrap();
                let mut appended: Vec<(Appended, Vec<NewEvent>)> = Vec::new();
                let mut version = 0;
                for batch in 0..BATCHES {
                    let size = 1 + batch % 5;
                    let events = laps(writer, batch * 10..batch * 10 + size);
                    // Half the batches go to the writer's own stream at the exact version,
                    // half to a stream every writer shares.
                    let (stream, expected) = if batch % 2 == 0 {
                        (format!("writer-{writer}"), ExpectedVersion::Exact(version))
                    } else {
                        ("shared".to_owned(), ExpectedVersion::Any)
                    };
                    let done = store.append_sync(&stream, expected, &events).unwrap();
                    if batch % 2 == 0 {
                        version = done.stream_version;
                    }
                    appended.push((done, events));
                }
                appended
            })
        })
        .collect();

    let readers: Vec<_> = (0..2)
        .map(|limit_seed| {
            let (path, writing) = (path.clone(), writing.clone());
            std::thread::spawn(move || {
                let store = SqliteStore::open(path).unwrap();
                let mut seen = Vec::new();
                loop {
                    let still_writing = writing.load(Ordering::SeqCst);
                    let after = seen.len() as u64;
                    let limit = 1 + (limit_seed * 7 + seen.len()) % 13;
                    let page = store.read_all_sync(after, limit).unwrap();
                    for (offset, event) in page.iter().enumerate() {
                        assert_eq!(
                            event.position(),
                            after + offset as u64 + 1,
                            "the reader skipped from {after} to {}",
                            event.position()
                        );
                    }
                    if page.is_empty() && !still_writing {
                        return seen;
                    }
                    seen.extend(page);
                }
            })
        })
        .collect();

    let appended: Vec<_> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    writing.store(false, Ordering::SeqCst);
    let total: usize = appended.iter().map(|(_, events)| events.len()).sum();
    for reader in readers {
        let seen = reader.join().unwrap();
        assert_eq!(seen.len(), total, "the reader saw every committed event");
        for (done, events) in &appended {
            for (position, event) in done.positions.clone().zip(events) {
                let read = &seen[position as usize - 1];
                assert_eq!(
                    read.metadata().id(),
                    event.metadata().id(),
                    "position {position} holds its event"
                );
            }
        }
    }
}

#[test]
fn writers_racing_for_one_version_on_separate_connections_one_wins() {
    let dir = Scratch::new("race");
    let path = dir.join("events.db");
    drop(SqliteStore::open(&path).unwrap());
    let start = Arc::new(Barrier::new(6));
    let racers: Vec<_> = (0..6)
        .map(|writer| {
            let (path, start) = (path.clone(), start.clone());
            std::thread::spawn(move || {
                let store = SqliteStore::open(path).unwrap();
                let events = laps(writer, 0..3);
                start.wait();
                store.append_sync("podium", ExpectedVersion::NoStream, &events)
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    for result in &results {
        if let Err(error) = result {
            assert!(
                matches!(error, StoreError::Conflict { actual: 3, .. }),
                "a loser gets a conflict: {error:?}"
            );
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.read_all_sync(0, 100).unwrap().len(), 3);
}

//! Eight concurrent writers on one PostgreSQL store, each on its own connections, some
//! appending inside transactions of their own that stay open a while, and readers that must
//! never skip a committed event: at least 10,000 events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tidings::persistence::postgres::{self, PostgresStore};
use tidings::persistence::{Appended, EventStore, ExpectedVersion, NewEvent, StoreError};
use tidings::{DomainEvent, Envelope};
use tidings_tests::postgres::PgSchema;

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

const WRITERS: u32 = 8;
const BATCHES: u32 = 260;
const READERS: usize = 2;

/// One writer's batches: a third to its own stream at the exact version, a third to a
/// stream all writers share at the exact version they last read (retrying on conflicts),
/// a third inside a transaction of its own that sleeps before it commits.
async fn write(store: PostgresStore, writer: u32) -> (Vec<(Appended, Vec<NewEvent>)>, u32) {
    let mut appended = Vec::new();
    let (mut own_version, mut shared_version, mut conflicts) = (0, 0, 0);
    for batch in 0..BATCHES {
        let size = 1 + batch % 9;
        let events = laps(writer, batch * 10..batch * 10 + size);
        let done = match batch % 3 {
            0 => {
                let expected = ExpectedVersion::Exact(own_version);
                let done = store
                    .append(&format!("writer-{writer}"), expected, &events)
                    .await;
                own_version = done.as_ref().unwrap().stream_version;
                done.unwrap()
            }
            1 => loop {
                // Catch up with the other writers' events, then append after them.
                let newer = store.read_stream("shared", shared_version, usize::MAX);
                shared_version += newer.await.unwrap().len() as u64;
                let expected = ExpectedVersion::Exact(shared_version);
                match store.append("shared", expected, &events).await {
                    Err(StoreError::Conflict { .. }) => conflicts += 1,
                    done => {
                        let done = done.unwrap();
                        shared_version = done.stream_version;
                        break done;
                    }
                }
            },
            _ => {
                let mut tx = store.pool().begin().await.unwrap();
                let stream = format!("tx-{writer}-{batch}");
                let done = postgres::append(&mut tx, &stream, ExpectedVersion::NoStream, &events)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_micros(200)).await;
                tx.commit().await.unwrap();
                done
            }
        };
        appended.push((done, events));
    }
    (appended, conflicts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_skip_an_event_that_concurrent_writers_committed() {
    let schema = PgSchema::new();
    drop(PostgresStore::open(schema.pool(1).await).await.unwrap());
    let writing = Arc::new(AtomicBool::new(true));

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = PostgresStore::open(schema.pool(2).await).await.unwrap();
        writers.push(tokio::spawn(write(store, writer)));
    }
    let mut readers = Vec::new();
    for reader in 0..READERS {
        let store = PostgresStore::open(schema.pool(1).await).await.unwrap();
        let writing = writing.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let still_writing = writing.load(Ordering::SeqCst);
                let after = seen.len() as u64;
                let limit = 1 + (reader * 37 + seen.len()) % 200;
                let page = store.read_all(after, limit).await.unwrap();
                for (offset, event) in page.iter().enumerate() {
                    assert_eq!(
                        event.position(),
                        after + offset as u64 + 1,
                        "reader {reader} skipped from {after} to {}",
                        event.position()
                    );
                }
                if page.is_empty() && !still_writing {
                    return seen;
                }
                seen.extend(page);
            }
        }));
    }

    let mut appended = Vec::new();
    let mut conflicts = 0;
    for writer in writers {
        let (batches, lost) = writer.await.unwrap();
        appended.extend(batches);
        conflicts += lost;
    }
    writing.store(false, Ordering::SeqCst);
    let total: usize = appended.iter().map(|(_, events)| events.len()).sum();
    assert!(total >= 10_000, "only {total} events");
    assert!(
        conflicts > 0,
        "the shared stream never saw a conflict: the writers did not race"
    );
    for reader in readers {
        let seen = reader.await.unwrap();
        assert_eq!(seen.len(), total, "a reader saw every committed event");
        for (done, events) in &appended {
            for (position, event) in done.positions.clone().zip(events) {
                let read = &seen[position as usize - 1];
                assert_eq!(read.id(), event.id(), "position {position} holds its event");
            }
        }
    }
    eprintln!("{total} events from {WRITERS} writers, {conflicts} conflicts retried");
}

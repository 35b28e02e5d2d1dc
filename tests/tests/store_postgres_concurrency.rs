//! Concurrent writers on one PostgreSQL store (8, and 32), each on its own connection, some
//! appending inside transactions of their own that stay open a while (or roll back), and
//! readers that must never skip a committed event: at least 10,000 events a race. Set
//! `TIDINGS_TEST_SEED` to replay a race's choices.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tidings::persistence::postgres::{self, PostgresStore};
use tidings::persistence::{
    Appended, EventStore, ExpectedVersion, NewEvent, StoreError, StoredEvent,
};
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

/// How the writers of a race append.
#[derive(Clone, Copy)]
struct Race {
    writers: u32,
    batches: u32,
    /// How long a writer's own transactions stay open after appending, at most.
    long: Duration,
    /// Seeds the writers' choices.
    seed: u64,
}

const READERS: usize = 2;

/// One writer's batches: a third to its own stream at the exact version, a third to a
/// stream all writers share at the exact version they last read (retrying on conflicts),
/// a third inside a transaction of its own (to one or two streams) that sleeps up to
/// `race.long` before it commits, sometimes rolling back instead.
async fn write(
    store: PostgresStore,
    writer: u32,
    race: Race,
) -> (Vec<(Appended, Vec<NewEvent>)>, u32) {
    let mut rng = fastrand::Rng::with_seed(race.seed ^ u64::from(writer));
    let mut appended = Vec::new();
    let (mut own_version, mut shared_version, mut conflicts) = (0, 0, 0);
    for batch in 0..race.batches {
        let size = 1 + batch % 9;
        let events = laps(writer, batch * 10..batch * 10 + size);
        match batch % 3 {
            0 => {
                let expected = ExpectedVersion::Exact(own_version);
                let done = store
                    .append(&format!("writer-{writer}"), expected, &events)
                    .await
                    .unwrap();
                own_version = done.stream_version;
                appended.push((done, events));
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
                        appended.push((done, events));
                        break;
                    }
                }
            },
            _ => {
                let mut tx = store.pool().begin().await.unwrap();
                let stream = format!("tx-{writer}-{batch}");
                let done = postgres::append(&mut tx, &stream, ExpectedVersion::NoStream, &events)
                    .await
                    .unwrap();
                let mut in_tx = vec![(done, events)];
                if rng.bool() {
                    let more = laps(writer, batch * 10 + 9..batch * 10 + 10);
                    let stream = format!("tx-{writer}-{batch}-more");
                    let done = postgres::append(&mut tx, &stream, ExpectedVersion::NoStream, &more)
                        .await
                        .unwrap();
                    assert_eq!(
                        done.positions.start, in_tx[0].0.positions.end,
                        "one transaction's appends take consecutive positions"
                    );
                    in_tx.push((done, more));
                }
                let long = race.long.as_micros() as u64;
                tokio::time::sleep(Duration::from_micros(rng.u64(0..=long))).await;
                if rng.u8(0..10) == 0 {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    appended.extend(in_tx);
                }
            }
        }
    }
    (appended, conflicts)
}

/// Writers race while readers page through the global log, each page after the last
/// position it read: every reader must see every committed event once, in rising
/// positions, and no rolled-back one.
async fn race(race: Race) {
    eprintln!(
        "seed {} ({} writers, transactions open up to {:?})",
        race.seed, race.writers, race.long
    );
    let schema = PgSchema::new();
    drop(PostgresStore::open(schema.pool(1).await).await.unwrap());
    let writing = Arc::new(AtomicBool::new(true));

    let mut writers = Vec::new();
    for writer in 0..race.writers {
        let store = PostgresStore::open(schema.pool(1).await).await.unwrap();
        writers.push(tokio::spawn(write(store, writer, race)));
    }
    let mut readers = Vec::new();
    for reader in 0..READERS {
        let store = PostgresStore::open(schema.pool(1).await).await.unwrap();
        let writing = writing.clone();
        readers.push(tokio::spawn(async move {
            let mut seen: Vec<StoredEvent> = Vec::new();
            loop {
                let still_writing = writing.load(Ordering::SeqCst);
                let after = seen.last().map_or(0, StoredEvent::position);
                let limit = 1 + (reader * 37 + seen.len()) % 200;
                let page = store.read_all(after, limit).await.unwrap();
                let mut last = after;
                for event in &page {
                    assert!(
                        event.position() > last,
                        "reader {reader}: position {} after {last}",
                        event.position()
                    );
                    last = event.position();
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
    let mut committed: Vec<(u64, uuid::Uuid)> = appended
        .iter()
        .flat_map(|(done, events)| {
            done.positions
                .clone()
                .zip(events.iter().map(|e| e.metadata().id()))
        })
        .collect();
    committed.sort_unstable();
    let total = committed.len();
    assert!(total >= 10_000, "only {total} events (seed {})", race.seed);
    assert!(
        conflicts > 0,
        "the shared stream never saw a conflict: the writers did not race"
    );
    for reader in readers {
        let seen: Vec<_> = reader
            .await
            .unwrap()
            .iter()
            .map(|e| (e.position(), e.metadata().id()))
            .collect();
        assert_eq!(seen.len(), total, "a reader saw every committed event once");
        assert!(
            seen == committed,
            "a reader saw each committed event at the position its append reported (seed {})",
            race.seed
        );
    }
    eprintln!(
        "{total} events from {} writers, {conflicts} conflicts retried",
        race.writers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_skip_an_event_that_concurrent_writers_committed() {
    race(Race {
        writers: 8,
        batches: 260,
        long: Duration::from_micros(200),
        seed: tidings_tests::seed(),
    })
    .await;
}

/// 32 writers, a third of whose transactions stay open up to 20 ms while the others append
/// and commit around them: readers wait below them and still miss nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_skip_an_event_with_32_writers_and_long_transactions() {
    race(Race {
        writers: 32,
        batches: 80,
        long: Duration::from_millis(20),
        seed: tidings_tests::seed(),
    })
    .await;
}

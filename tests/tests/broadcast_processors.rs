//! Catch-up processors over the SQLite store: a read model whose checkpoint commits with its
//! writes, rebuilt from scratch; the generic processor; leases; integration events in the
//! routes. `broadcast_postgres.rs` runs the same over PostgreSQL.

use std::sync::Arc;
use tidings::broadcast::sqlite::Projection;
use tidings::persistence::sqlite::rusqlite::{self, Connection, Transaction};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::StoreError;
use tidings::persistence::{ExpectedVersion, NewEvent, StoredEvent};
use tidings::{Bus, DomainEvent};
use tidings_tests::processors::{self, numbered};
use tidings_tests::{Internal, Numbered};

fn append(store: &SqliteStore, stream: &str, events: impl IntoIterator<Item = NewEvent>) {
    let events: Vec<_> = events.into_iter().collect();
    store
        .append_sync(stream, ExpectedVersion::Any, &events)
        .unwrap();
}

/// The read model: per stream, how many events and the sum of their numbers.
fn apply(tx: &Transaction<'_>, event: &StoredEvent) -> rusqlite::Result<()> {
    let n = event
        .decode_as::<Numbered>()
        .map(|e| e.payload().n)
        .unwrap_or(0);
    tx.execute(
        "INSERT INTO totals (stream, events, sum) VALUES (?1, 1, ?2)
         ON CONFLICT (stream) DO UPDATE SET events = events + 1, sum = sum + ?2",
        rusqlite::params![event.stream(), n as i64],
    )
    .map(drop)
}

fn totals(conn: &Connection) -> Vec<(String, i64, i64)> {
    let mut statement = conn
        .prepare("SELECT stream, events, sum FROM totals ORDER BY stream")
        .unwrap();
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

#[test]
fn a_read_model_is_built_by_catching_up_and_rebuilt_from_scratch() {
    let store = SqliteStore::open_in_memory().unwrap();
    append(&store, "a", (1..=5).map(numbered));
    append(&store, "b", (1..=3).map(numbered));
    let projection = Projection::new("totals").batch(3);
    store
        .with_connection(|conn| {
            conn.execute_batch(
                "CREATE TABLE totals (stream TEXT PRIMARY KEY, events INTEGER, sum INTEGER)",
            )
            .unwrap();
            assert_eq!(projection.run(conn, apply).unwrap(), 8);
            assert_eq!(totals(conn), [("a".into(), 5, 15), ("b".into(), 3, 6)]);
            // Caught up: running again applies nothing twice.
            assert_eq!(projection.run(conn, apply).unwrap(), 8);
            assert_eq!(totals(conn), [("a".into(), 5, 15), ("b".into(), 3, 6)]);
            Ok::<_, StoreError>(())
        })
        .unwrap();
    append(&store, "a", [numbered(10)]);
    store
        .with_connection(|conn| {
            assert_eq!(projection.run(conn, apply).unwrap(), 9);
            assert_eq!(totals(conn)[0], ("a".into(), 6, 25));
            // Damage the model, then rebuild it from scratch.
            conn.execute("UPDATE totals SET sum = -1", []).unwrap();
            let rebuilt = projection
                .rebuild(
                    conn,
                    |tx| tx.execute("DELETE FROM totals", []).map(drop),
                    apply,
                )
                .unwrap();
            assert_eq!(rebuilt, 9);
            assert_eq!(totals(conn), [("a".into(), 6, 25), ("b".into(), 3, 6)]);
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[derive(Debug, thiserror::Error)]
#[error("refused at position {0}")]
struct Refused(u64);

#[test]
fn a_failed_batch_rolls_back_its_writes_and_its_checkpoint() {
    let store = SqliteStore::open_in_memory().unwrap();
    append(&store, "a", (1..=4).map(numbered));
    let projection = Projection::new("totals").batch(10);
    store
        .with_connection(|conn| {
            conn.execute_batch(
                "CREATE TABLE totals (stream TEXT PRIMARY KEY, events INTEGER, sum INTEGER)",
            )
            .unwrap();
            let failed = projection.run(conn, |tx, event| {
                apply(tx, event).unwrap();
                if event.position() == 3 {
                    return Err(Refused(3));
                }
                Ok(())
            });
            let error = failed.unwrap_err().to_string();
            assert!(error.contains("position 3"), "{error}");
            assert_eq!(totals(conn), []);
            assert_eq!(
                tidings::persistence::sqlite::checkpoint(conn, "totals").unwrap(),
                0
            );
            projection
                .run(conn, |tx, e| {
                    apply(tx, e).map_err(|_| Refused(e.position()))
                })
                .unwrap();
            assert_eq!(totals(conn), [("a".into(), 4, 10)]);
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[tokio::test]
async fn the_generic_processor_hands_over_batches_advances_and_replays() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    processors::catch_up_hands_over_batches_advances_and_replays(store).await;
}

#[tokio::test]
async fn a_lease_has_one_holder_and_is_taken_over_when_it_expires() {
    let store = SqliteStore::open_in_memory().unwrap();
    processors::a_lease_has_one_holder_and_is_taken_over_when_it_expires(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_instances_never_hold_a_lease_together() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    processors::racing_instances_never_hold_a_lease_together(store, 16).await;
}

#[test]
fn integration_events_are_marked_in_the_routes() {
    const { assert!(<Numbered as DomainEvent>::INTEGRATION) };
    const { assert!(!<Internal as DomainEvent>::INTEGRATION) };
    let bus = Bus::builder().build().unwrap();
    let routes = bus.routes();
    assert!(
        routes
            .message("tidings_tests.numbered")
            .unwrap()
            .integration
    );
    assert!(
        !routes
            .message("tidings_tests.internal")
            .unwrap()
            .integration
    );
    assert!(routes.to_string().contains("event (integration)"));
    assert!(routes.mermaid().contains(":::integration"));
}

//! Catch-up processors over the PostgreSQL store (`TIDINGS_TEST_POSTGRES`): the generic
//! processor and leases as on every backend, and a read model whose checkpoint commits with
//! its writes: built, rebuilt from scratch, rolled back on failure, and run by several
//! instances at once with each event applied once.

use std::sync::Arc;
use tidings::broadcast::postgres::Projection;
use tidings::broadcast::ProjectionError;
use tidings::persistence::postgres::sqlx::{self, PgConnection, PgPool};
use tidings::persistence::postgres::{self, PostgresStore};
use tidings::persistence::{EventStore, StoredEvent};
use tidings_tests::postgres::PgSchema;
use tidings_tests::processors::{self, append, numbered};
use tidings_tests::Numbered;

async fn store(schema: &PgSchema, connections: u32) -> PostgresStore {
    PostgresStore::open(schema.pool(connections).await)
        .await
        .unwrap()
}

/// A store with the read model's table.
async fn store_with_totals(schema: &PgSchema, connections: u32) -> PostgresStore {
    let store = store(schema, connections).await;
    sqlx::raw_sql("CREATE TABLE totals (stream text PRIMARY KEY, events bigint, sum bigint)")
        .execute(store.pool())
        .await
        .unwrap();
    store
}

/// The read model: per stream, how many events and the sum of their numbers.
async fn apply(tx: &mut PgConnection, event: &StoredEvent) -> Result<(), sqlx::Error> {
    let n = event
        .decode_as::<Numbered>()
        .map(|e| e.payload().n)
        .unwrap_or(0);
    sqlx::query(
        "INSERT INTO totals (stream, events, sum) VALUES ($1, 1, $2)
         ON CONFLICT (stream) DO UPDATE SET events = totals.events + 1, sum = totals.sum + $2",
    )
    .bind(event.stream())
    .bind(n as i64)
    .execute(tx)
    .await
    .map(drop)
}

async fn totals(pool: &PgPool) -> Vec<(String, i64, i64)> {
    sqlx::query_as("SELECT stream, events, sum FROM totals ORDER BY stream")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The stored events' positions, in order (they rise, with holes).
async fn positions(store: &PostgresStore) -> Vec<u64> {
    store
        .read_all(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(StoredEvent::position)
        .collect()
}

#[tokio::test]
async fn the_generic_processor_hands_over_batches_advances_and_replays() {
    let schema = PgSchema::new();
    let store = Arc::new(store(&schema, 2).await);
    processors::catch_up_hands_over_batches_advances_and_replays(store).await;
}

#[tokio::test]
async fn a_lease_has_one_holder_and_is_taken_over_when_it_expires() {
    let schema = PgSchema::new();
    let store = store(&schema, 2).await;
    processors::a_lease_has_one_holder_and_is_taken_over_when_it_expires(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_instances_never_hold_a_lease_together() {
    let schema = PgSchema::new();
    // Each instance with a connection of its own, as on separate machines.
    let store = Arc::new(store(&schema, 16).await);
    processors::racing_instances_never_hold_a_lease_together(store, 16).await;
}

#[tokio::test]
async fn a_read_model_is_built_by_catching_up_and_rebuilt_from_scratch() {
    let schema = PgSchema::new();
    let store = store_with_totals(&schema, 2).await;
    append(&store, "a", (1..=5).map(numbered)).await;
    append(&store, "b", (1..=3).map(numbered)).await;
    let projection = Projection::new("totals").batch(3);
    let pool = store.pool();
    let at = positions(&store).await;
    assert_eq!(projection.run(pool, apply).await.unwrap(), at[7]);
    assert_eq!(
        totals(pool).await,
        [("a".into(), 5, 15), ("b".into(), 3, 6)]
    );
    // Caught up: running again applies nothing twice.
    assert_eq!(projection.run(pool, apply).await.unwrap(), at[7]);
    assert_eq!(
        totals(pool).await,
        [("a".into(), 5, 15), ("b".into(), 3, 6)]
    );

    append(&store, "a", [numbered(10)]).await;
    let at = positions(&store).await;
    assert_eq!(projection.run(pool, apply).await.unwrap(), at[8]);
    assert_eq!(totals(pool).await[0], ("a".into(), 6, 25));
    // Damage the model, then rebuild it from scratch.
    sqlx::query("UPDATE totals SET sum = -1")
        .execute(pool)
        .await
        .unwrap();
    let clear = async |tx: &mut PgConnection| {
        sqlx::query("DELETE FROM totals")
            .execute(tx)
            .await
            .map(drop)
    };
    assert_eq!(projection.rebuild(pool, clear, apply).await.unwrap(), at[8]);
    assert_eq!(
        totals(pool).await,
        [("a".into(), 6, 25), ("b".into(), 3, 6)]
    );
}

#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("refused at position {0}")]
    At(u64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[tokio::test]
async fn a_failed_batch_rolls_back_its_writes_and_its_checkpoint() {
    let schema = PgSchema::new();
    let store = store_with_totals(&schema, 2).await;
    append(&store, "a", (1..=4).map(numbered)).await;
    let projection = Projection::new("totals").batch(10);
    let pool = store.pool();
    let at = positions(&store).await;
    let third = at[2];
    let failed = projection
        .run(pool, async |tx, event| {
            apply(tx, event).await?;
            if event.position() == third {
                return Err(Refused::At(third));
            }
            Ok(())
        })
        .await;
    let error = failed.unwrap_err();
    assert!(
        matches!(error, ProjectionError::Apply { position, .. } if position == third),
        "{error}"
    );
    assert!(
        error.to_string().contains(&format!("position {third}")),
        "{error}"
    );
    assert_eq!(totals(pool).await, []);
    assert_eq!(postgres::checkpoint(pool, "totals").await.unwrap(), 0);
    let ok = async |tx: &mut PgConnection, event: &StoredEvent| {
        apply(tx, event).await.map_err(Refused::from)
    };
    assert_eq!(projection.run(pool, ok).await.unwrap(), at[3]);
    assert_eq!(totals(pool).await, [("a".into(), 4, 10)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_running_one_projection_at_once_apply_each_event_once() {
    const EVENTS: u64 = 400;
    let schema = PgSchema::new();
    let store = Arc::new(store_with_totals(&schema, 8).await);
    // The last position, once the writer is done.
    let last = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let writer = {
        let (store, last) = (store.clone(), last.clone());
        tokio::spawn(async move {
            for n in 1..=EVENTS {
                append(&*store, &format!("s{}", n % 3), [numbered(n)]).await;
            }
            let at = positions(&store).await;
            last.store(at[at.len() - 1], std::sync::atomic::Ordering::SeqCst);
        })
    };
    let instances: Vec<_> = (0..4)
        .map(|_| {
            let (store, last) = (store.clone(), last.clone());
            tokio::spawn(async move {
                let projection = Projection::new("totals").batch(7);
                let mut reached = 0;
                while reached < last.load(std::sync::atomic::Ordering::SeqCst) {
                    reached = projection.run(store.pool(), apply).await.unwrap();
                }
            })
        })
        .collect();
    writer.await.unwrap();
    for instance in instances {
        instance.await.unwrap();
    }
    let totals = totals(store.pool()).await;
    let events: i64 = totals.iter().map(|t| t.1).sum();
    let sum: i64 = totals.iter().map(|t| t.2).sum();
    assert_eq!(events, EVENTS as i64, "{totals:?}");
    assert_eq!(sum, (EVENTS * (EVENTS + 1) / 2) as i64, "{totals:?}");
}

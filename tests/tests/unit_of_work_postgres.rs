//! The unit of work on PostgreSQL (`TIDINGS_TEST_POSTGRES`): the scenarios every backend runs
//! (`support/unit_of_work.rs`), with an async `before_commit` handler writing through the
//! unit's sqlx transaction; and what is PostgreSQL's own: a panic in the work, a guard held
//! too long.

#[path = "support/unit_of_work.rs"]
#[macro_use]
mod scenarios;

use futures_util::FutureExt;
use scenarios::{before_commit, Backend, Fixture, Journal, OrderPlaced, Refused};
use std::time::Duration;
use tidings::persistence::postgres::sqlx::{self, AssertSqlSafe};
use tidings::persistence::postgres::{PostgresStore, PostgresTransaction};
use tidings::persistence::{Committed, EventStore, StoreError, UnitOfWorkError};
use tidings::{handler, Bus, Context};
use tidings_tests::postgres::PgSchema;

fn backend(error: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

#[handler(phase = before_commit)]
async fn reserve_stock(
    event: &OrderPlaced,
    journal: &Journal,
    ctx: &Context,
    tx: &PostgresTransaction,
) -> Result<(), Refused> {
    if event.check.starts_with("record") {
        tx.record(
            &scenarios::accepted_stream(event.order),
            scenarios::OrderAccepted { order: event.order },
        );
    }
    before_commit(event, journal, ctx)?;
    sqlx::query("INSERT INTO reservations (order_id) VALUES ($1)")
        .bind(event.order as i64)
        .execute(&mut *tx.lock()?)
        .await
        .map_err(backend)?;
    Ok(())
}

async fn insert_order(unit_tx: &PostgresTransaction, order: u64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO orders (id) VALUES ($1)")
        .bind(order as i64)
        .execute(&mut *unit_tx.lock()?)
        .await
        .map_err(backend)
        .map(drop)
}

/// The store, and the schema it lives in (dropped with the fixture).
struct Store(PostgresStore, #[allow(dead_code)] PgSchema);

impl Backend for Store {
    async fn run(
        &self,
        bus: &Bus,
        order: u64,
        check: &str,
        stream: &str,
        fail: bool,
    ) -> Result<Committed<u64>, UnitOfWorkError<StoreError>> {
        self.0
            .unit_of_work(bus, async |unit| {
                insert_order(unit.transaction(), order).await?;
                scenarios::record(unit, order, check, stream, fail)
            })
            .await
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(self.0.pool())
            .await
            .unwrap()
    }

    async fn stored(&self) -> usize {
        self.0.read_all(0, 100).await.unwrap().len()
    }
}

async fn fixture() -> Fixture<Store> {
    let schema = PgSchema::new();
    let store = PostgresStore::open(schema.pool(4).await).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE orders (id bigint PRIMARY KEY);
         CREATE TABLE reservations (order_id bigint PRIMARY KEY);",
    )
    .execute(store.pool())
    .await
    .unwrap();
    Fixture::new(Store(store, schema))
}

scenarios!(fixture().await);

#[tokio::test]
async fn a_panic_in_the_work_rolls_back_and_leaves_the_store_usable() {
    let f = fixture().await;
    let work = f.store.0.unit_of_work(&f.bus, async |unit| {
        insert_order(unit.transaction(), 7).await?;
        if unit.is_empty() {
            panic!("a bug in the work");
        }
        Ok::<_, StoreError>(())
    });
    let panicked = std::panic::AssertUnwindSafe(work).catch_unwind().await;
    assert!(panicked.is_err());
    assert_eq!(f.count("orders").await, 0, "rolled back");
    // Order 7 again: had the transaction stayed open, this insert would wait for it.
    let again = tokio::time::timeout(Duration::from_secs(10), f.place(7, "ok")).await;
    again
        .expect("nothing holds the row")
        .expect("the next unit of work runs");
    assert_eq!(f.count("orders").await, 1);
    assert_eq!(f.store.stored().await, 1);
}

#[tokio::test]
async fn a_guard_kept_while_the_transaction_is_used_again_is_refused_not_waited_for() {
    let f = fixture().await;
    let error = f
        .store
        .0
        .unit_of_work(&f.bus, async |unit| {
            let _held = unit.transaction().lock()?;
            insert_order(unit.transaction(), 11).await
        })
        .await
        .unwrap_err();
    let inner = error.work_error().expect("the second lock failed");
    assert!(matches!(inner, StoreError::TransactionInUse), "{inner}");
    assert_eq!(f.count("orders").await, 0);
}

//! Scheduled messages and processes on PostgreSQL (`TIDINGS_TEST_POSTGRES`): the scenarios
//! every store runs (`support/processes.rs`), with an async handler writing through the
//! delivery's `PostgresTransaction`; and what is PostgreSQL's own: a delivery in flight holds
//! its message, which other deliveries and cancels skip instead of waiting for.

#[path = "support/processes.rs"]
#[macro_use]
mod scenarios;

use chrono::{DateTime, Utc};
use scenarios::{
    at, Backend, Deliverer, Fixture, GraceEnded, OrderCancelled, OrderCharged, OrderPlaced, Rang,
    Ship,
};
use std::future::Future;
use tidings::broadcast::postgres::PostgresInbox;
use tidings::broadcast::{Delivered, Inbox};
use tidings::persistence::postgres::{sqlx, PostgresStore, PostgresTransaction};
use tidings::persistence::schedule::DueDelivery;
use tidings::persistence::{EventStore, StoreError, StoredEvent};
use tidings::{handler, AnyEnvelope, Bus, Command, DomainEvent, ScheduleId};
use tidings_tests::postgres::PgSchema;

fulfilment!(postgres);

/// Writes each `Rang` through the delivery's transaction: a duplicate fails on the key.
#[handler]
async fn ring(event: &Rang, tx: &PostgresTransaction) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO rung (n) VALUES ($1)")
        .bind(event.n as i64)
        .execute(&mut *tx.lock()?)
        .await?;
    Ok(())
}

/// The store and the inbox on one schema, dropped with the fixture.
struct Db {
    store: PostgresStore,
    inbox: PostgresInbox,
    schema: PgSchema,
}

impl Deliverer for PostgresInbox {
    async fn deliver_due(&self, bus: &Bus, now: DateTime<Utc>) -> DueDelivery {
        PostgresInbox::deliver_due(self, bus, now).await.unwrap()
    }

    fn run_due_until(
        &self,
        bus: &Bus,
        poll: std::time::Duration,
        stop: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = ()> + Send {
        PostgresInbox::run_due_until(self, bus, poll, stop)
    }
}

impl Db {
    async fn scalar<T>(&self, sql: &'static str) -> T
    where
        T: Send + Unpin,
        (T,): for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let (value,): (T,) = sqlx::query_as(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap();
        value
    }
}

impl Backend for Db {
    type Other = PostgresInbox;

    fn inbox(&self) -> &PostgresInbox {
        &self.inbox
    }

    async fn schedule<E: DomainEvent>(&self, bus: &Bus, at: DateTime<Utc>, event: E) -> ScheduleId {
        self.store
            .unit_of_work(bus, async |unit| {
                unit.transaction().schedule_at(at, event).await
            })
            .await
            .unwrap()
            .into_value()
    }

    async fn schedule_then_fail<E: DomainEvent>(
        &self,
        bus: &Bus,
        at: DateTime<Utc>,
        event: E,
    ) -> bool {
        self.store
            .unit_of_work(bus, async |unit| {
                unit.transaction().schedule_at(at, event).await?;
                Err::<(), _>(StoreError::TransactionEnded)
            })
            .await
            .is_err()
    }

    async fn send_at<C: Command>(&self, bus: &Bus, at: DateTime<Utc>, command: C) -> ScheduleId {
        self.store
            .unit_of_work(bus, async |unit| {
                unit.transaction().send_at(at, command).await
            })
            .await
            .unwrap()
            .into_value()
    }

    async fn cancel(&self, bus: &Bus, id: ScheduleId) -> bool {
        self.store
            .unit_of_work(bus, async |unit| {
                unit.transaction().cancel_scheduled(id).await
            })
            .await
            .unwrap()
            .into_value()
    }

    async fn deliver(&self, bus: &Bus, envelope: AnyEnvelope) -> Delivered {
        self.inbox.deliver("ordering", envelope, bus).await.unwrap()
    }

    async fn rung(&self) -> Vec<i64> {
        sqlx::query_scalar("SELECT n FROM rung ORDER BY n")
            .fetch_all(self.store.pool())
            .await
            .unwrap()
    }

    async fn waiting(&self) -> i64 {
        self.scalar("SELECT count(*) FROM tidings_scheduled").await
    }

    async fn failure(&self) -> (i64, String) {
        let (attempts, error): (i32, String) =
            sqlx::query_as("SELECT attempts, last_error FROM tidings_scheduled")
                .fetch_one(self.store.pool())
                .await
                .unwrap();
        (attempts.into(), error)
    }

    async fn instance(&self, key: &str) -> Option<(String, bool, i64)> {
        sqlx::query_as(
            "SELECT state, ended, version FROM tidings_processes
             WHERE process = 'tidings_tests.fulfilment' AND key = $1",
        )
        .bind(key)
        .fetch_optional(self.store.pool())
        .await
        .unwrap()
    }

    async fn stream(&self, stream: &str) -> Vec<StoredEvent> {
        self.store.read_stream(stream, 0, 100).await.unwrap()
    }

    fn other(&self) -> impl Future<Output = PostgresInbox> + Send + 'static {
        let pool = self.schema.pool(2);
        async move { PostgresInbox::open(pool.await).await.unwrap() }
    }
}

async fn fixture() -> Fixture<Db> {
    let schema = PgSchema::new();
    let pool = schema.pool(4).await;
    let store = PostgresStore::open(pool.clone()).await.unwrap();
    sqlx::raw_sql("CREATE TABLE rung (n bigint PRIMARY KEY)")
        .execute(store.pool())
        .await
        .unwrap();
    let inbox = PostgresInbox::open(pool).await.unwrap();
    Fixture::new(Db {
        store,
        inbox,
        schema,
    })
}

scenarios!(fixture().await);

/// Holds the first due message as a delivery does: its row deleted in a transaction still
/// open.
async fn hold_first(db: &Db) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holder = db.store.pool().begin().await.unwrap();
    let held = sqlx::query(
        "DELETE FROM tidings_scheduled WHERE id = (SELECT id FROM tidings_scheduled
         ORDER BY due_on LIMIT 1 FOR UPDATE SKIP LOCKED)",
    )
    .execute(&mut *holder)
    .await
    .unwrap();
    assert_eq!(held.rows_affected(), 1);
    holder
}

/// Were a held row waited for instead of skipped, `work` would never end.
async fn unblocked<T>(work: impl Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(30), work)
        .await
        .expect("nothing waits for the held row")
}

/// A delivery in flight holds its message's row: another deliverer skips it and delivers the
/// next; a cancel does not wait for it and answers that it cancelled nothing; once the
/// delivery rolls back, the message is due again.
#[tokio::test]
async fn a_message_in_delivery_is_skipped_by_other_deliverers_and_by_a_cancel() {
    let f = fixture().await;
    let first = f.db.schedule(&f.bus, at(1), Rang { n: 1 }).await;
    f.db.schedule(&f.bus, at(2), Rang { n: 2 }).await;
    let holder = hold_first(&f.db).await;
    let other = unblocked(f.db.inbox.deliver_due(&f.bus, at(10)))
        .await
        .unwrap();
    assert_eq!(
        (other.delivered, other.failed),
        (1, 0),
        "the held row is skipped"
    );
    assert_eq!(f.db.rung().await, [2]);
    assert!(
        !unblocked(f.db.cancel(&f.bus, first)).await,
        "a message in delivery is not cancelled"
    );
    holder.rollback().await.unwrap();
    assert_eq!(
        f.db.inbox
            .deliver_due(&f.bus, at(10))
            .await
            .unwrap()
            .delivered,
        1
    );
    assert_eq!(f.db.rung().await, [1, 2]);
}

/// An event that cancels a process's timeout while that timeout is in delivery: the step
/// commits without waiting for the delivery, and the timeout, delivered after all, meets an
/// ended process and is ignored.
#[tokio::test]
async fn a_step_cancelling_a_timeout_in_delivery_ends_the_process_and_the_timeout_is_ignored() {
    let f = fixture().await;
    f.db.deliver(
        &f.bus,
        AnyEnvelope::from(tidings::Envelope::new(OrderPlaced { order: "5".into() })),
    )
    .await;
    let holder = hold_first(&f.db).await;
    let cancelled = AnyEnvelope::from(tidings::Envelope::new(OrderCancelled { order: "5".into() }));
    assert_eq!(
        unblocked(f.db.deliver(&f.bus, cancelled)).await,
        Delivered::Handled
    );
    let (_, ended, version) = f.db.instance("5").await.unwrap();
    assert!(ended);
    assert_eq!(version, 2);
    holder.rollback().await.unwrap();
    let later = Utc::now() + chrono::Duration::seconds(61);
    assert_eq!(
        f.db.inbox
            .deliver_due(&f.bus, later)
            .await
            .unwrap()
            .delivered,
        1
    );
    assert_eq!(
        f.db.instance("5").await.unwrap().2,
        2,
        "the ended process did not move"
    );
    assert!(f.shipped().is_empty());
}

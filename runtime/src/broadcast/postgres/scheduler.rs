//! The delivery of due scheduled messages from a PostgreSQL schema, on the inbox's pool.

use super::{backend, PostgresInbox};
use crate::broadcast::due::{self, Claimed, DueMessages};
use crate::broadcast::inbox::InboxError;
use crate::messaging::bus::Bus;
use crate::persistence::postgres::{self, PostgresTransaction};
use crate::persistence::schedule::DueDelivery;
use crate::persistence::StoreError;
use chrono::{DateTime, Utc};

impl PostgresInbox {
    /// Delivers every scheduled message due at `now`, oldest first, each in a transaction of
    /// its own that removes its row, runs its handlers (lent the transaction as a
    /// [`PostgresTransaction`], as for an event the inbox delivers) and commits their
    /// effects, and the events they record, with the removal. See
    /// [`persistence::schedule`](crate::persistence::schedule).
    ///
    /// Any number of instances, on any number of machines, may deliver from one schema at
    /// once: a delivery holds its row's lock until its transaction ends, and the others skip
    /// that row (`FOR UPDATE SKIP LOCKED`) and deliver the next, so each message is delivered
    /// by one of them; one killed half way (its connection gone) rolls back, and the row is
    /// due again for the next call. A message whose handlers fail (or that no longer decodes)
    /// stays, due again after a backoff, with its error logged at WARN and kept in its row.
    ///
    /// ```no_run
    /// use tidings::broadcast::postgres::PostgresInbox;
    /// use tidings::persistence::postgres::{sqlx, PostgresStore};
    /// use tidings::{Bus, DomainEvent};
    /// use std::time::Duration;
    /// # #[derive(DomainEvent, Debug)] #[event(name = "docs.pg_reminder_due")] struct ReminderDue { user: u64 }
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@db/app").await?;
    /// let store = PostgresStore::open(pool.clone()).await?;
    /// let inbox = PostgresInbox::open(pool).await?; // the same schema
    /// let bus = Bus::builder().build()?;
    ///
    /// store
    ///     .unit_of_work(&bus, async |unit| {
    ///         unit.transaction()
    ///             .schedule_after(Duration::from_secs(3600), ReminderDue { user: 7 })
    ///             .await
    ///     })
    ///     .await?;
    ///
    /// let later = chrono::Utc::now() + chrono::Duration::hours(2);
    /// assert_eq!(inbox.deliver_due(&bus, later).await?.delivered, 1);
    /// # Ok(()) }
    /// ```
    pub async fn deliver_due(
        &self,
        bus: &Bus,
        now: DateTime<Utc>,
    ) -> Result<DueDelivery, InboxError> {
        due::deliver_due(self, bus, now).await
    }

    /// The scheduler: delivers messages as they fall due ([`PostgresInbox::deliver_due`] at
    /// the current time) until `stop` completes, looking again every `poll` while nothing is
    /// due. Several may run on one database, in one process or several: each message is
    /// delivered by one of them. A pass that fails is logged at WARN and tried again; a
    /// delivery under way when `stop` completes finishes first.
    ///
    /// ```no_run
    /// use tidings::broadcast::postgres::PostgresInbox;
    /// use tidings::persistence::postgres::sqlx;
    /// use tidings::Bus;
    /// use std::time::Duration;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let inbox = PostgresInbox::open(sqlx::PgPool::connect("postgres://app@db/app").await?).await?;
    /// let bus = Bus::builder().build()?;
    /// // Until the process ends; any future that completes stops it.
    /// inbox.run_due_until(&bus, Duration::from_millis(100), std::future::pending()).await;
    /// # Ok(()) }
    /// ```
    pub async fn run_due_until(
        &self,
        bus: &Bus,
        poll: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        due::run_until(self, bus, poll, stop).await;
    }
}

impl DueMessages for PostgresInbox {
    type Tx = PostgresTransaction;

    fn command_lease(&self) -> std::time::Duration {
        PostgresInbox::command_lease(self)
    }

    /// Deliveries run side by side, each on a connection of its own.
    type Turn = ();

    async fn claim(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<Claimed<PostgresTransaction, ()>>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        match postgres::claim_due(&mut tx, now).await {
            Ok(Some(row)) => Ok(Some(Claimed {
                row,
                tx: PostgresTransaction::new(tx),
                turn: (),
            })),
            outcome => {
                tx.rollback().await.map_err(backend)?;
                outcome.map(|_| None)
            }
        }
    }

    async fn retry(
        &self,
        id: &str,
        attempts: u32,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        postgres::retry_due(self.pool(), id, attempts, now, error).await
    }

    async fn hold(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        postgres::hold_due(self.pool(), id, now, until).await
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        postgres::remove_due(self.pool(), id).await
    }
}

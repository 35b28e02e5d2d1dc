//! The inbox in a PostgreSQL schema: the record of each event commits in the transaction of
//! the handlers' effects, which they reach from their context.

use super::backend;
use crate::broadcast::inbox::{handle_in, refuse_unhandled, Delivered, Inbox, InboxError};
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::Bus;
use crate::persistence::postgres::sqlx::PgPool;
use crate::persistence::postgres::{self, PostgresTransaction};
use crate::persistence::StoreError;

/// An [`Inbox`] in a PostgreSQL schema (the connection's current schema, as for the store).
///
/// Each delivery opens a transaction on the pool, records the event id in it, and lends it to
/// the event's handlers as a [`PostgresTransaction`] parameter: they (async, as sqlx is) write
/// their effects through it, and the effects and the record commit together, or roll back
/// together when a handler fails. Events a handler [records](PostgresTransaction::record) on
/// it are appended to the schema's event log in the same transaction (for a relay or a
/// projection to read; no phase handler runs for them). Deliveries run in
/// parallel, each on a connection of its own; two deliveries of one event at once are
/// serialised by the record's key, and the second finds the event handled.
///
/// ```no_run
/// use tidings::broadcast::postgres::PostgresInbox;
/// use tidings::persistence::postgres::{sqlx, PostgresTransaction};
/// use tidings::persistence::StoreError;
/// use tidings::{handler, DomainEvent};
/// # #[derive(DomainEvent, Debug)] #[event(name = "docs.order_paid")] struct OrderPaid { order: i64 }
///
/// #[handler]
/// async fn ship(event: &OrderPaid, tx: &PostgresTransaction) -> Result<(), StoreError> {
///     sqlx::query("INSERT INTO shipments (order_id) VALUES ($1)")
///         .bind(event.order)
///         .execute(&mut *tx.lock()?)
///         .await?;
///     Ok(())
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let inbox = PostgresInbox::open(sqlx::PgPool::connect("postgres://app@db/shipping").await?).await?;
/// // consumer.run_until(&inbox, &bus, stop).await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresInbox {
    pool: PgPool,
    /// How long a scheduled command is held for the delivery that sends it.
    command_lease: std::time::Duration,
}

impl PostgresInbox {
    /// An inbox on `pool`: the schema is created or migrated (the store's schema, so a store
    /// and an inbox may share one).
    pub async fn open(pool: PgPool) -> Result<PostgresInbox, StoreError> {
        let mut conn = pool.acquire().await.map_err(backend)?;
        postgres::migrate(&mut conn).await?;
        drop(conn);
        Ok(PostgresInbox {
            pool,
            command_lease: crate::broadcast::due::COMMAND_LEASE,
        })
    }

    /// Holds a scheduled command for `lease` while a delivery sends it (a minute unless set):
    /// a scheduler killed after the command's handler committed but before the command's row
    /// was removed leaves it held, and another sends it again once `lease` is over. Make it
    /// longer than the command's handler may take, or a slow handler's command is sent
    /// again while it still runs. See
    /// [`persistence::schedule`](crate::persistence::schedule).
    pub fn with_command_lease(mut self, lease: std::time::Duration) -> PostgresInbox {
        self.command_lease = lease;
        self
    }

    /// How long a scheduled command is held while a delivery sends it.
    pub(crate) fn command_lease(&self) -> std::time::Duration {
        self.command_lease
    }

    /// The pool, for reading what the handlers wrote.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens the delivery's transaction and records the id: `None` when it was recorded
    /// before (the transaction is then rolled back).
    async fn begin(
        &self,
        consumer: &str,
        envelope: &AnyEnvelope,
    ) -> Result<Option<PostgresTransaction>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let meta = envelope.metadata();
        if postgres::receive(&mut *tx, consumer, meta.source(), &meta.wire_id()).await? {
            Ok(Some(PostgresTransaction::new(tx)))
        } else {
            tx.rollback().await.map_err(backend)?;
            Ok(None)
        }
    }
}

impl Inbox for PostgresInbox {
    async fn deliver(
        &self,
        consumer: &str,
        envelope: AnyEnvelope,
        bus: &Bus,
    ) -> Result<Delivered, InboxError> {
        refuse_unhandled(&envelope, bus)?;
        let id = envelope.metadata().wire_id().into_owned();
        let store = |source| InboxError::Store {
            id: id.clone(),
            source,
        };
        let Some(tx) = self.begin(consumer, &envelope).await.map_err(store)? else {
            return Ok(Delivered::AlreadyHandled);
        };
        handle_in(tx, envelope, bus).await
    }
}

//! The server event store: PostgreSQL through sqlx (feature `postgres`), for several
//! processes and machines sharing one store. It needs a tokio runtime.
//!
//! ```no_run
//! use tidings::persistence::postgres::{self, PostgresStore};
//! use tidings::persistence::{EventStore, ExpectedVersion, NewEvent};
//! use tidings::{DomainEvent, Envelope};
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.account_opened")]
//! struct AccountOpened { owner: String }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Creates or migrates the schema (the first of the connection's `search_path`).
//! let store = PostgresStore::connect("postgres://app@db.internal/app").await?;
//! let opened = NewEvent::from_envelope(&Envelope::new(AccountOpened { owner: "ada".into() }))?;
//! store.append("account-1", ExpectedVersion::NoStream, &[opened]).await?;
//!
//! // In a transaction of yours, with your own writes:
//! let more = NewEvent::from_envelope(&Envelope::new(AccountOpened { owner: "bob".into() }))?;
//! let mut tx = store.pool().begin().await?;
//! sqlx::query("INSERT INTO accounts (id, owner) VALUES (2, 'bob')").execute(&mut *tx).await?;
//! postgres::append(&mut tx, "account-2", ExpectedVersion::NoStream, &[more]).await?;
//! tx.commit().await?;
//!
//! for event in store.read_all(0, 100).await? {
//!     println!("{} {} {}", event.position(), event.stream(), event.decode()?.name());
//! }
//! # Ok(()) }
//! # use tidings::persistence::postgres::sqlx;
//! ```
//!
//! - [`PostgresStore`] wraps a [`PgPool`] and implements [`EventStore`]. Each append is one
//!   statement, a call of the schema's `tidings_append` function: one round trip.
//! - To store events in the same transaction as your own tables, use the free functions:
//!   [`migrate`] once, then [`append`] inside your `sqlx::Transaction<'_, Postgres>`, and
//!   [`read_all`] / [`read_stream`] on any connection. The transaction is passed explicitly.
//! - The tables (`tidings_events`, `tidings_head`, `tidings_schema`) and the function live in
//!   the connection's current schema: give each application or tenant its own with
//!   `PgConnectOptions::options([("search_path", "billing")])`. A schema written by a newer
//!   release is refused with [`StoreError::SchemaTooNew`] and left as it is.
//! - [`PostgresStore::unit_of_work`] commits async work's writes and the events it recorded in
//!   one transaction, its `before_commit` handlers writing through the same
//!   [`PostgresTransaction`] (see [`UnitOfWork`](crate::persistence::UnitOfWork)).
//! - Beside the events, the schema keeps what processors need (`tidings_checkpoints`,
//!   `tidings_leases`, `tidings_inbox`): the free functions [`checkpoint`],
//!   [`lock_checkpoint`], [`set_checkpoint`], [`advance_checkpoint`], [`acquire_lease`],
//!   [`release_lease`] and [`receive`] take any executor, your transaction included; the
//!   `tidings::broadcast::postgres` module builds the processors' ports on them.
//! - Event data is stored as `jsonb` (queryable; read back with equivalent JSON, not the same
//!   text), occurred-on as `timestamptz` (to the microsecond), ids as `uuid`.
//!
//! # Why positions have no gaps
//!
//! A reader that has seen position `n` must be able to ask for everything after `n` and miss
//! nothing. With concurrent writers drawing positions from a sequence, that fails: a writer
//! takes 7, another takes 8 and commits first, a reader sees 8 and moves on, then 7 commits
//! behind it. Some stores paper over it by waiting a few seconds for a gap to fill and then
//! skipping it, which loses events that commit later.
//!
//! This store serialises appends instead. `tidings_head` holds one row, the last position
//! taken. An append first moves the head past its events (an `UPDATE`, which locks the row
//! until the transaction ends), then checks the stream's version and inserts its events at
//! the positions it took; a refused append moves the head back. So appends commit one at a time, in
//! position order, and a transaction that rolls back takes its positions back with it:
//! positions are `1, 2, 3, …` with no holes, and every snapshot a reader gets holds an
//! unbroken run of them. No gap timeout, no skipping.
//!
//! The trade-off: appends do not run in parallel. Each holds the lock for its own work plus
//! the commit, and an append inside a longer transaction of yours holds it until that
//! transaction ends, so append last, just before committing. One writer at a time on
//! loopback sustains thousands of appends a second, and batches of a thousand events
//! (`BENCHMARKS.md`); readers never wait for writers. The alternative, concurrent writers
//! with readers held back to the oldest transaction still in flight
//! (`pg_snapshot_xmin(pg_current_snapshot())`), scales writes further but makes every reader
//! wait for the slowest writer, and positions then have holes that readers must tolerate.

mod append;
mod processing;
mod read;
mod schema;
mod snapshot;
mod transaction;
mod types;
mod unit_of_work;

pub use append::append;
pub use processing::{
    acquire_lease, advance_checkpoint, checkpoint, lock_checkpoint, receive, release_lease,
    set_checkpoint,
};
pub use read::{read_all, read_stream};
pub use schema::{migrate, SCHEMA_VERSION};
pub use sqlx;
pub use transaction::{PostgresTransaction, TransactionGuard};

use crate::persistence::event::{NewEvent, StoredEvent};
use crate::persistence::store::{Appended, EventStore, ExpectedVersion, StoreError};
use sqlx::PgPool;

/// An event store in a PostgreSQL schema; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects a pool with sqlx's defaults to the database at `url` and opens the store.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(PgPool::connect(url).await.map_err(backend)?).await
    }

    /// Opens the store on a pool you configured: creates or migrates the schema.
    pub async fn open(pool: PgPool) -> Result<PostgresStore, StoreError> {
        let mut conn = pool.acquire().await.map_err(backend)?;
        migrate(&mut conn).await?;
        drop(conn);
        Ok(PostgresStore { pool })
    }

    /// The pool, for your own statements and transactions (with [`append`] inside them).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        append::call(&mut conn, stream, expected, events).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        read_all(&self.pool, after, limit).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_stream(&self.pool, stream, after, limit).await
    }
}

/// sqlx's errors, as the store reports them: `?` on a sqlx call in code that returns a
/// [`StoreError`].
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        backend(error)
    }
}

fn backend(error: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

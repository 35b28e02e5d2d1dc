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
//! - The tables (`tidings_events`, `tidings_schema`) and the function live in
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
//! # Why a reader never skips an event
//!
//! A reader that has seen position `n` must be able to ask for everything after `n` and miss
//! nothing. With concurrent writers drawing positions from a sequence, that fails: a writer
//! takes 7, another takes 8 and commits first, a reader sees 8 and moves on, then 7 commits
//! behind it. Some stores wait a few seconds for such a gap to fill and then skip it, which
//! loses events that commit later; serialising appends on one locked row (this store's
//! schema up to version 4) avoids it, but then appends from all writers run one at a time.
//!
//! This store orders events by the transaction that appended them. An event's position is
//! its transaction's id (`pg_current_xact_id()`, 64 bits, never reused) times 2^20, plus its
//! rank among the events that transaction appended. A reader's query takes the lowest
//! transaction id still in flight in its snapshot, the reader's own aside (or the next id
//! to be given, when none is), and returns only the events below that id times 2^20. Every
//! transaction with a lower id has ended, so every event below that point that will ever
//! commit is already visible, and any transaction still to commit appends above it. So:
//!
//! - positions rise in the order readers see them, and **a reader that has seen position
//!   `n` and asks for what follows never misses an event**, whichever order transactions
//!   commit in; no gap timeout, no lock shared by all writers;
//! - positions have **holes**: they are not `1, 2, 3, …` but large numbers, consecutive
//!   within one append;
//! - a transaction that writes anything holds readers back until it ends (any transaction
//!   of the server that has a transaction id, not only appends), so the global log is read
//!   as far as the oldest open transaction: keep transactions that append short.
//!   [`PostgresStore`]'s `read_all` waits for such transactions (at most
//!   [`HELD_FOR_AT_MOST`]), so it returns every event whose append committed before the
//!   call; the free function [`read_all`] never waits and may return a shorter page.
//!
//! Appends to one stream take turns on a transaction-level advisory lock of the stream's
//! name (the expected-version check needs the stream's last version), held until the
//! transaction ends; appends to different streams run in parallel. `read_stream` is not
//! held back: a stream's versions are `1, 2, 3, …` and commit in order.
//!
//! A transaction appends at most 2^20 events, and positions hold transaction ids below 2^43
//! (at 10,000 writing transactions a second, 27 years); an append past either limit is
//! refused with [`StoreError::Unstorable`]. A store created before schema version 5 keeps
//! its positions `1` to `n`; the upgrade checks that they lie below the new ones.

mod append;
mod processing;
mod read;
mod schedule;
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
pub(crate) use read::read_page;
pub use read::{read_all, read_stream};
pub(crate) use schedule::{
    claim as claim_due, hold as hold_due, remove as remove_due, retry as retry_due,
};
pub use schema::{migrate, migrate_to, SCHEMA_VERSION};
pub use sqlx;
pub use transaction::{PostgresTransaction, TransactionGuard};

use crate::persistence::event::{NewEvent, StoredEvent};
use crate::persistence::store::{Appended, EventStore, ExpectedVersion, StoreError};
use sqlx::PgPool;

/// How long [`PostgresStore`]'s `read_all` waits, at most, for transactions in flight that
/// hold back events committed after them; then it returns the events below them.
pub const HELD_FOR_AT_MOST: std::time::Duration = std::time::Duration::from_secs(5);

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
        if append::carry_extensions(events) {
            // Two statements (the append, then the values beside it): one transaction.
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let appended = append::call(&mut tx, stream, expected, events, false).await?;
            tx.commit().await.map_err(backend)?;
            return Ok(appended);
        }
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        append::call(&mut conn, stream, expected, events, true).await
    }

    /// The events after `after` that every transaction older than theirs has let through:
    /// when events committed before the call lie beyond a transaction still in flight, it
    /// waits for that transaction to end (polling, for at most [`HELD_FOR_AT_MOST`]), so an
    /// event whose append committed before the call is on this page or a later one. Never
    /// skips one, whatever the wait (see the [module docs](self)).
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let deadline = std::time::Instant::now() + HELD_FOR_AT_MOST;
        let mut pause = std::time::Duration::from_micros(200);
        loop {
            let page = read::read_page(&self.pool, after, limit).await?;
            if !page.held || std::time::Instant::now() >= deadline {
                return Ok(page.events);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        }
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

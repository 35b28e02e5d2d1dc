//! The embedded event store: one SQLite file, through rusqlite with the bundled library
//! (feature `sqlite`). No server and no async runtime.
//!
//! ```
//! use tidings::persistence::sqlite::SqliteStore;
//! use tidings::persistence::{ExpectedVersion, NewEvent};
//! use tidings::{DomainEvent, Envelope};
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.account_opened")]
//! struct AccountOpened { owner: String }
//!
//! # let dir = std::env::temp_dir().join(format!("tidings-doc-sqlite-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let store = SqliteStore::open(dir.join("events.db"))?; // creates or migrates the schema
//! let opened = NewEvent::from_envelope(&Envelope::new(AccountOpened { owner: "ada".into() }))?;
//! store.append_sync("account-1", ExpectedVersion::NoStream, &[opened])?;
//!
//! for event in store.read_all_sync(0, 100)? {
//!     let any = event.decode()?; // through the registry, by name and version
//!     println!("{} {} {}", event.position(), event.stream(), any.name());
//! }
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`SqliteStore`] owns one connection. It implements [`EventStore`] and offers the same
//!   calls synchronously (`append_sync`, `read_all_sync`, `read_stream_sync`), for programs
//!   with no async runtime. Its async calls (the event store's, the checkpoints and leases,
//!   `unit_of_work_async` and `execute_async`) run on a thread of the store's own, started by
//!   the first of them: SQLite's work and its waits on a busy database never hold an async
//!   executor's thread, whatever the runtime.
//! - To store events in the same transaction as your own tables, use the free functions on
//!   your own connection: [`migrate`] once, then [`append`] inside your transaction, and
//!   [`read_all`] / [`read_stream`] on any connection. The transaction is passed explicitly.
//! - Several stores (threads, processes) can open one file: SQLite serialises their writes.
//! - Processors that read the store keep their state beside it, in the same database:
//!   [`checkpoint`] / [`advance_checkpoint`] / [`set_checkpoint`] (the last position a
//!   processor is done with), [`acquire_lease`] / [`release_lease`] (one instance of a
//!   processor at a time) and [`receive`] (the inbox of event ids a consumer had its effect
//!   for). Each takes a connection, so it joins your transaction when given one.
//!
//! # Why positions have no gaps
//!
//! A reader that has seen position `n` must be able to ask for everything after `n` and miss
//! nothing. SQLite allows one writer at a time: an append takes the write lock (`BEGIN
//! IMMEDIATE`), reads the stream's version, inserts its events (each takes the largest
//! position plus one) and commits before the next writer may start. A transaction that rolls
//! back leaves no position behind, and the store never deletes. Readers see committed
//! transactions only (WAL snapshots), so the positions they see are always `1..=n` with
//! nothing missing, unlike a database whose concurrent writers draw from a sequence and may
//! commit out of order.
//!
//! # The file
//!
//! [`SqliteStore::open`] sets the journal to WAL (readers never block the writer), `synchronous
//! = FULL` (a committed append survives a power cut, not only a crash of the program) and a
//! busy timeout of 5 seconds (a writer waits for another instead of failing). The tables are
//! `tidings_events`, `tidings_checkpoints`, `tidings_leases`, `tidings_inbox` and
//! `tidings_schema` (the schema version and when each migration ran); a
//! file written by a newer schema is refused with [`StoreError::SchemaTooNew`] and left as it
//! is.

mod append;
mod processing;
mod read;
pub(crate) mod schedule;
mod schema;
mod snapshot;
mod unit_of_work;
pub(crate) mod worker;

pub use append::append;
pub use processing::{
    acquire_lease, advance_checkpoint, checkpoint, receive, release_lease, set_checkpoint,
};
pub use read::{read_all, read_stream};
pub use rusqlite;
pub use schema::{migrate, SCHEMA_VERSION};
pub use unit_of_work::SqliteTransaction;

use crate::persistence::event::{NewEvent, StoredEvent};
use crate::persistence::store::{Appended, EventStore, ExpectedVersion, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;
use worker::Worker;

/// An event store in a SQLite file; see the [module docs](self).
#[derive(Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    /// The thread the async calls run on, started by the first of them.
    worker: OnceLock<Worker>,
}

#[derive(Debug)]
struct Inner {
    conn: Arc<Mutex<Connection>>,
    /// Taken by every use of the connection, and held for the whole of a unit of work: the
    /// connection's transaction is then the unit of work's alone.
    gate: Mutex<()>,
    /// The thread inside a unit of work, told to use its transaction instead of waiting for
    /// itself.
    working: Mutex<Option<ThreadId>>,
}

/// The store's connection, and the gate that keeps units of work apart.
struct Connected<'s> {
    _gate: MutexGuard<'s, ()>,
    conn: MutexGuard<'s, Connection>,
}

impl std::ops::Deref for Connected<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Connected<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl SqliteStore {
    /// Opens (or creates) the store in the file at `path`: WAL, `synchronous = FULL`, a busy
    /// timeout of 5 s, and the schema created or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::from_connection(open_file(path)?)
    }

    /// A store in memory, gone when dropped: for tests of code that takes a `SqliteStore`.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::from_connection(Connection::open_in_memory().map_err(backend)?)
    }

    /// A store on a connection you configured yourself (its pragmas are left as they are);
    /// the schema is created or migrated.
    pub fn from_connection(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        migrate(&mut conn)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                conn: Arc::new(Mutex::new(conn)),
                gate: Mutex::new(()),
                working: Mutex::new(None),
            }),
            worker: OnceLock::new(),
        })
    }

    /// Runs `job` with this store on the store's own thread, and awaits its answer: how the
    /// async calls keep SQLite off the executor's threads.
    pub(crate) async fn offload<T: Send + 'static>(
        &self,
        job: impl FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run_on_thread(job).await?
    }

    /// Runs `job` on the store's thread: its output, or why the thread could not run it.
    pub(crate) async fn run_on_thread<T: Send + 'static>(
        &self,
        job: impl FnOnce(&SqliteStore) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let worker = match self.worker.get() {
            Some(worker) => worker,
            None => {
                let started = Worker::start().map_err(|e| StoreError::Backend(Box::new(e)))?;
                self.worker.get_or_init(|| started)
            }
        };
        let store = SqliteStore {
            inner: self.inner.clone(),
            worker: OnceLock::new(),
        };
        match worker.run(move || job(&store)).await {
            Some(outcome) => Ok(outcome),
            None => Err(StoreError::Backend(
                "the store's thread stopped before it answered (a call on it panicked)".into(),
            )),
        }
    }

    /// Runs `f` on the store's connection, for your own statements and transactions (with
    /// [`append`] inside them). Its error type is yours, as long as a [`StoreError`] converts
    /// into it (`StoreError` itself, with `?` on rusqlite's errors, or your application's
    /// error). Inside a [unit of work](SqliteStore::unit_of_work), use its transaction instead:
    /// on that thread this fails with [`StoreError::InsideUnitOfWork`].
    ///
    /// ```
    /// # use tidings::persistence::{sqlite::SqliteStore, StoreError};
    /// let store = SqliteStore::open_in_memory()?;
    /// store.with_connection(|conn| {
    ///     conn.execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY)")?;
    ///     Ok::<_, StoreError>(())
    /// })?;
    /// # Ok::<(), StoreError>(())
    /// ```
    pub fn with_connection<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        f(&mut *self.connection()?)
    }

    /// Runs `sql` (one or more statements, no parameters) on the store's connection: a schema
    /// of your own, say.
    pub fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.connection()?.execute_batch(sql)?)
    }

    /// Gives the connection back, once the calls still running on the store's thread (those
    /// of async calls dropped before they answered) are done.
    pub fn into_connection(self) -> Connection {
        if let Some(worker) = self.worker.into_inner() {
            worker.finish();
        }
        // Only a unit of work shares the connection, with its transaction, which it drops
        // before it returns: nothing outside it can keep the transaction (handlers are lent it
        // by reference), and it borrows the store, which `self` here is not. The store's
        // thread held it only while running a call, and has finished them all.
        let inner = Arc::into_inner(self.inner)
            .expect("nothing but the store keeps its connection once its calls are done");
        let conn = Arc::into_inner(inner.conn)
            .expect("a unit of work's transaction never outlives the unit of work");
        conn.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    fn connection(&self) -> Result<Connected<'_>, StoreError> {
        let gate = self.enter()?;
        Ok(Connected {
            _gate: gate,
            conn: lock(&self.inner.conn),
        })
    }

    /// Takes the gate, refusing the thread that already holds it in a unit of work.
    fn enter(&self) -> Result<MutexGuard<'_, ()>, StoreError> {
        if *lock(&self.inner.working) == Some(std::thread::current().id()) {
            return Err(StoreError::InsideUnitOfWork);
        }
        Ok(lock(&self.inner.gate))
    }

    /// [`EventStore::append`], synchronously, in a transaction of its own.
    pub fn append_sync(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        let mut conn = self.connection()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        match append::write(&tx, stream, expected, events) {
            Ok(appended) => {
                tx.commit().map_err(backend)?;
                Ok(appended)
            }
            Err(refused) => {
                tx.rollback().map_err(backend)?;
                refused.resolve(&conn, stream, events)
            }
        }
    }

    /// [`EventStore::read_all`], synchronously.
    pub fn read_all_sync(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        read_all(&*self.connection()?, after, limit)
    }

    /// [`EventStore::read_stream`], synchronously.
    pub fn read_stream_sync(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_stream(&*self.connection()?, stream, after, limit)
    }
}

/// The async calls run on the store's own thread, never on the caller's: an async program
/// (the relay, the feed, a web handler) is never held up by SQLite, nor by a busy database.
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        let (stream, events) = (stream.to_owned(), events.to_vec());
        self.offload(move |store| store.append_sync(&stream, expected, &events))
            .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.offload(move |store| store.read_all_sync(after, limit))
            .await
    }

    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let stream = stream.to_owned();
        self.offload(move |store| store.read_stream_sync(&stream, after, limit))
            .await
    }
}

/// Locks `mutex`; a panic while it was held dropped its transaction, which rolled back.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection to the database file at `path` as the store and the inbox use one: WAL,
/// `synchronous = FULL`, a busy timeout of 5 s (the schema is left to the caller).
pub(crate) fn open_file(path: impl AsRef<Path>) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(backend)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(backend)?;
    Ok(conn)
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

impl crate::persistence::aggregate::sealed::Sealed for SqliteStore {}
impl crate::persistence::Embedded for SqliteStore {
    fn read_stream_now(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_stream_sync(stream, after, limit)
    }

    fn append_now(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        self.append_sync(stream, expected, events)
    }
}

/// SQLite's own errors, as the store reports them: `?` on a rusqlite call in code that
/// returns a [`StoreError`].
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        backend(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DomainEvent, Envelope};
    use rusqlite::StatementStatus;

    #[derive(DomainEvent, Debug)]
    #[event(name = "tidings.test.sqlite_noted")]
    struct Noted {
        n: u32,
    }

    #[test]
    fn statements_are_prepared_once_whatever_the_values_bound() {
        let store = SqliteStore::open_in_memory().unwrap();
        for n in 0..20 {
            let event = NewEvent::from_envelope(&Envelope::new(Noted { n })).unwrap();
            let stream = format!("stream-{}", n % 3);
            let appended = store
                .append_sync(&stream, ExpectedVersion::Any, std::slice::from_ref(&event))
                .unwrap();
            // Retried with a stale expected version: the retry statements run too.
            let retried = store
                .append_sync(&stream, ExpectedVersion::Exact(99), &[event])
                .unwrap();
            assert_eq!(retried.positions, appended.positions);
            store.read_all_sync(u64::from(n), 1 + n as usize).unwrap();
            store
                .read_stream_sync(&stream, u64::from(n % 4), 2 + n as usize)
                .unwrap();
        }
        let statements = [
            append::INSERT,
            append::STREAM_VERSION,
            append::BATCH_AT,
            append::LOCATE,
            read::READ_ALL,
            read::READ_STREAM,
        ];
        store
            .with_connection(|conn| {
                for sql in statements {
                    let statement = conn.prepare_cached(sql)?;
                    assert!(statement.get_status(StatementStatus::Run) >= 20, "{sql}");
                    assert_eq!(statement.get_status(StatementStatus::RePrepare), 0, "{sql}");
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
}

//! The SQLite store's unit of work: one `BEGIN IMMEDIATE` transaction on the store's
//! connection, shared by the user's writes, the `before_commit` handlers and the appends.

use super::append::append_in;
use super::read::replay;
use super::{lock, snapshot, SqliteStore};
use crate::messaging::aggregate::Aggregate;
use crate::messaging::bus::dispatch::phase::Phases;
use crate::messaging::bus::scoped::ScopedType;
use crate::persistence::aggregate::{now, LoadError, Loaded};
use crate::persistence::event::{NewEvent, Replayed};
use crate::persistence::execute::{CommandError, Execute};
use crate::persistence::snapshot::SnapshotRow;
use crate::persistence::store::{Appended, ExpectedVersion, StoreError};
use crate::persistence::unit_of_work::{
    load_in, settle, Committed, Recorded, Transaction, UnitOfWork, UnitOfWorkError,
};
use crate::persistence::StoredEvent;
use crate::{AnyEnvelope, DomainEvent, Envelope, Metadata, Origin};
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The transaction of a SQLite unit of work or inbox delivery. The user's code writes through
/// it ([`UnitOfWork::transaction`]); a `before_commit` handler, or a handler of an event an
/// inbox delivers, takes it as a parameter:
///
/// ```
/// # use tidings::{handler, DomainEvent};
/// # use tidings::persistence::StoreError;
/// use tidings::persistence::sqlite::SqliteTransaction;
/// # #[derive(DomainEvent, Debug)] #[event(name = "docs.stock_reserved")] struct StockReserved { sku: String }
///
/// #[handler(phase = before_commit)]
/// fn log_reservation(event: &StockReserved, tx: &SqliteTransaction) -> Result<(), StoreError> {
///     tx.execute("INSERT INTO reservations (sku) VALUES (?1)", [&event.sku])?;
///     Ok(())
/// }
/// ```
///
/// It is lent for the call only: it cannot be cloned, and no handler can keep it. `build()`
/// refuses an `after_commit` or `after_rollback` handler that asks for it (the transaction has
/// ended by then: those handlers use the store). Events a handler
/// [records](SqliteTransaction::record) on it are appended in the same transaction.
pub struct SqliteTransaction {
    conn: Arc<Mutex<Connection>>,
    open: AtomicBool,
    recorded: Recorded,
}

inventory::submit! {
    ScopedType::of::<SqliteTransaction>(
        "tidings::persistence::sqlite::SqliteTransaction",
        "a SQLite unit of work or inbox delivery")
}

impl SqliteTransaction {
    /// A transaction that `BEGIN` already opened on `conn`.
    pub(crate) fn begun(conn: Arc<Mutex<Connection>>) -> SqliteTransaction {
        SqliteTransaction {
            conn,
            open: AtomicBool::new(true),
            recorded: Recorded::default(),
        }
    }

    /// Runs `f` on the connection, inside the transaction.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        if !self.open.load(Ordering::Acquire) {
            return Err(StoreError::TransactionEnded);
        }
        Ok(f(&lock(&self.conn))?)
    }

    /// Runs one statement inside the transaction; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        self.with(|conn| conn.execute(sql, params))
    }

    /// Records `event` for `stream`: it is appended when the unit of work commits, in this
    /// transaction (so an integration event reaches the relay with the writes that caused it),
    /// and its `before_commit` and `after_commit` handlers run as the unit of work's own do.
    /// Returns its metadata.
    pub fn record<E: DomainEvent>(&self, stream: &str, event: E) -> Metadata {
        self.recorded.record(stream, Envelope::new(event))
    }

    /// [`record`](SqliteTransaction::record) for an event already in its envelope (one
    /// caused by the handler's message: `Envelope::caused_by(event, ctx.metadata())`).
    pub fn record_envelope<E: DomainEvent>(&self, stream: &str, envelope: Envelope<E>) -> Metadata {
        self.recorded.record(stream, envelope)
    }

    /// Records an event already erased, as a process's step does.
    pub(crate) fn recorded_any(&self, stream: &str, envelope: AnyEnvelope) {
        self.recorded.push(stream, envelope);
    }

    /// Runs `f` on the connection while the transaction is open.
    pub(super) fn with_open<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if !self.open.load(Ordering::Acquire) {
            return Err(StoreError::TransactionEnded);
        }
        f(&lock(&self.conn))
    }

    /// Ends the transaction with `statement`, once.
    pub(crate) fn end(&self, statement: &str) -> Result<(), StoreError> {
        if self.open.swap(false, Ordering::AcqRel) {
            lock(&self.conn).execute_batch(statement)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for SqliteTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTransaction")
            .field("open", &self.open.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Transaction for SqliteTransaction {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        self.with_open(|conn| append_in(conn, stream, expected, events))
    }

    async fn replay(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        each: &mut (dyn FnMut(Option<Replayed<'_>>) -> Result<(), LoadError> + Send),
    ) -> Result<usize, LoadError> {
        self.with_open(|conn| Ok(replay(conn, stream, after, limit, each)))?
    }

    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.with_open(|conn| super::read::read_stream(conn, stream, after, limit))
    }

    async fn read_snapshot(&self, stream: &str) -> Result<Option<(u64, u32, String)>, StoreError> {
        self.with_open(|conn| snapshot::read(conn, stream))
    }

    async fn write_snapshot(&self, row: &SnapshotRow) -> Result<(), StoreError> {
        self.with_open(|conn| snapshot::write(conn, row))
    }

    async fn commit(&self) -> Result<(), StoreError> {
        self.end("COMMIT")
    }

    async fn rollback(&self) -> Result<(), StoreError> {
        self.end("ROLLBACK")
    }

    fn recorded(&self) -> &Recorded {
        &self.recorded
    }
}

/// Rolls back a transaction its unit of work left open (the work panicked), and lets the
/// thread use the store again.
struct Guard<'s> {
    store: &'s SqliteStore,
    tx: Arc<SqliteTransaction>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.tx.end("ROLLBACK");
        *lock(&self.store.inner.working) = None;
    }
}

impl SqliteStore {
    /// Runs `work` in a transaction of its own and commits what it wrote together with the
    /// events it recorded, running the phases' handlers of `bus` around the commit (see
    /// [`UnitOfWork`]). Other users of the store wait until the transaction ends; on this
    /// thread, read and write through the unit of work until then. The `after_commit` and
    /// `after_rollback` handlers run once it has ended, and may use the store.
    ///
    /// ```
    /// use tidings::persistence::sqlite::SqliteStore;
    /// use tidings::persistence::ExpectedVersion;
    /// use tidings::{Bus, DomainEvent, Pending};
    ///
    /// #[derive(DomainEvent, Debug)]
    /// #[event(name = "docs.order_placed")]
    /// struct OrderPlaced { order: u64 }
    ///
    /// let store = SqliteStore::open_in_memory()?;
    /// store.execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY)")?;
    /// let bus = Bus::builder().build()?;
    ///
    /// let committed = store.unit_of_work(&bus, |unit| {
    ///     unit.transaction().execute("INSERT INTO orders (id) VALUES (?1)", [7])?;
    ///     let mut pending = Pending::new();
    ///     pending.record(OrderPlaced { order: 7 });
    ///     unit.record("order-7", ExpectedVersion::NoStream, &mut pending);
    ///     Ok::<_, tidings::persistence::StoreError>(7)
    /// })?;
    /// assert_eq!(*committed.value(), 7);
    /// assert_eq!(store.read_all_sync(0, 10)?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unit_of_work<'o, T, E>(
        &self,
        on: impl Into<Origin<'o>>,
        work: impl FnOnce(&mut UnitOfWork<SqliteTransaction>) -> Result<T, E>,
    ) -> Result<Committed<T>, UnitOfWorkError<E>> {
        let origin = on.into();
        let settled = {
            let _gate = self.enter().map_err(UnitOfWorkError::store)?;
            lock(&self.inner.conn)
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| UnitOfWorkError::store(e.into()))?;
            *lock(&self.inner.working) = Some(std::thread::current().id());
            let mut unit = UnitOfWork::new(SqliteTransaction::begun(self.inner.conn.clone()));
            let _guard = Guard {
                store: self,
                tx: unit.shared(),
            };
            let outcome = work(&mut unit);
            Phases::drive_sync(settle(origin, unit, outcome, Phases::Sync))
        };
        Phases::drive_sync(settled.announce(origin, Phases::Sync))
    }
}

impl UnitOfWork<SqliteTransaction> {
    /// Loads an aggregate inside the unit of work's transaction: from its latest snapshot
    /// (when it keeps them) and the events after it; a stream that does not exist loads as a
    /// new aggregate. Record on it, then [`save`](UnitOfWork::save) it.
    pub fn load<A: Aggregate>(&self, stream: &str) -> Result<Loaded<A>, LoadError> {
        now(load_in(self.transaction(), stream))
            .unwrap_or(Err(LoadError::Store(StoreError::NeedsRuntime)))
    }
}

impl SqliteStore {
    /// The everyday command in one call: loads the aggregate of `stream` inside a unit of work
    /// (a new one if the stream does not exist), lets `decide` return its events (or refuse,
    /// with its own error), records them, and commits with the loaded version as the expected
    /// one, running the phases' handlers of `bus` around the commit. On a conflict with
    /// another writer it loads again and decides again, up to [`Execute`]'s attempts (3 here;
    /// see [`execute_with`](SqliteStore::execute_with)).
    ///
    /// ```
    /// # use tidings::{Aggregate, AggregateEvent, Bus, DomainEvent};
    /// use tidings::persistence::sqlite::SqliteStore;
    /// # #[derive(DomainEvent, Debug, Clone)] #[event(name = "docs.exec_deposited")] pub struct Deposited { pub cents: u64 }
    /// # #[derive(AggregateEvent, Debug, Clone)] pub enum AccountEvent { Deposited(Deposited) }
    /// # #[derive(Default)] pub struct Account { balance: u64 }
    /// # impl Aggregate for Account {
    /// #     type Event = AccountEvent;
    /// #     fn apply(&mut self, event: &AccountEvent) {
    /// #         let AccountEvent::Deposited(d) = event;
    /// #         self.balance += d.cents;
    /// #     }
    /// # }
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("a deposit is at most 10,000 cents")]
    /// pub struct TooLarge;
    ///
    /// impl Account {
    ///     pub fn deposit(&self, cents: u64) -> Result<Vec<AccountEvent>, TooLarge> {
    ///         if cents > 10_000 {
    ///             return Err(TooLarge);
    ///         }
    ///         Ok(vec![Deposited { cents }.into()])
    ///     }
    /// }
    ///
    /// let store = SqliteStore::open_in_memory()?;
    /// let bus = Bus::builder().build()?;
    /// let done = store.execute(&bus, "account-7", |account: &Account| account.deposit(500))?;
    /// assert_eq!((done.value().state().balance, done.value().version()), (500, 1));
    ///
    /// let refused = store.execute(&bus, "account-7", |account: &Account| account.deposit(50_000));
    /// assert!(refused.unwrap_err().rejected().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute<'o, A: Aggregate, E>(
        &self,
        on: impl Into<Origin<'o>>,
        stream: &str,
        decide: impl FnMut(&A) -> Result<Vec<A::Event>, E>,
    ) -> Result<Committed<Loaded<A>>, UnitOfWorkError<CommandError<E>>> {
        self.execute_with(on, stream, &Execute::default(), decide)
    }

    /// [`unit_of_work`](SqliteStore::unit_of_work) for async code: the whole unit of work (the
    /// work, the phases' handlers, SQLite's waits on a busy database) runs on the store's own
    /// thread, never on the executor's, which goes on with other tasks meanwhile. The phases'
    /// handlers run synchronously there, as in the synchronous call.
    pub async fn unit_of_work_async<'o, T, E>(
        &self,
        on: impl Into<Origin<'o>>,
        work: impl FnOnce(&mut UnitOfWork<SqliteTransaction>) -> Result<T, E> + Send + 'static,
    ) -> Result<Committed<T>, UnitOfWorkError<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let origin = on.into().detach();
        self.run_on_thread(move |store| store.unit_of_work(origin.origin(), work))
            .await
            .unwrap_or_else(|error| Err(UnitOfWorkError::store(error)))
    }

    /// [`execute`](SqliteStore::execute) for async code: the whole command runs on the store's
    /// own thread (see [`unit_of_work_async`](SqliteStore::unit_of_work_async)).
    pub async fn execute_async<'o, A: Aggregate, E: Send + 'static>(
        &self,
        on: impl Into<Origin<'o>>,
        stream: &str,
        options: Execute,
        decide: impl FnMut(&A) -> Result<Vec<A::Event>, E> + Send + 'static,
    ) -> Result<Committed<Loaded<A>>, UnitOfWorkError<CommandError<E>>> {
        let origin = on.into().detach();
        let stream = stream.to_owned();
        self.run_on_thread(move |store| {
            store.execute_with(origin.origin(), &stream, &options, decide)
        })
        .await
        .unwrap_or_else(|error| Err(UnitOfWorkError::store(error)))
    }

    /// [`execute`](SqliteStore::execute) with its options: the attempts, and the message that
    /// caused the command.
    pub fn execute_with<'o, A: Aggregate, E>(
        &self,
        on: impl Into<Origin<'o>>,
        stream: &str,
        options: &Execute,
        mut decide: impl FnMut(&A) -> Result<Vec<A::Event>, E>,
    ) -> Result<Committed<Loaded<A>>, UnitOfWorkError<CommandError<E>>> {
        let origin = on.into();
        let mut attempt = 1;
        loop {
            let outcome = self.unit_of_work(origin, |unit| {
                let mut loaded = unit.load::<A>(stream)?;
                options.decide(&mut loaded, origin, &mut decide)?;
                unit.save(&mut loaded);
                Ok(loaded)
            });
            if !options.retry(attempt, &outcome) {
                return outcome;
            }
            attempt += 1;
        }
    }
}

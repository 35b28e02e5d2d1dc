//! The SQLite store's unit of work: one `BEGIN IMMEDIATE` transaction on the store's
//! connection, shared by the user's writes, the `before_commit` handlers and the appends.

use super::append::append_in;
use super::{backend, lock, SqliteStore};
use crate::persistence::event::NewEvent;
use crate::persistence::store::{Appended, ExpectedVersion, StoreError};
use crate::persistence::unit_of_work::{
    finish_sync, Committed, Transaction, UnitOfWork, UnitOfWorkError,
};
use crate::{Bus, ContextValue};
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The transaction of a SQLite unit of work: the user's code writes through it
/// ([`UnitOfWork::transaction`]), and `before_commit` handlers get it from their context:
///
/// ```
/// # use tidings::{handler, Context, DomainEvent};
/// # use tidings::persistence::StoreError;
/// use tidings::persistence::sqlite::SqliteTransaction;
/// # #[derive(DomainEvent, Debug)] #[event(name = "docs.stock_reserved")] struct StockReserved { sku: String }
///
/// #[handler(phase = before_commit)]
/// fn log_reservation(event: &StockReserved, ctx: &Context) -> Result<(), StoreError> {
///     let tx = ctx.get::<SqliteTransaction>().expect("run by a SQLite unit of work");
///     tx.execute("INSERT INTO reservations (sku) VALUES (?1)", [&event.sku])?;
///     Ok(())
/// }
/// ```
///
/// Once the unit of work has committed or rolled back, the handle refuses to run statements.
#[derive(Clone)]
pub struct SqliteTransaction {
    conn: Arc<Mutex<Connection>>,
    open: Arc<AtomicBool>,
}

impl ContextValue for SqliteTransaction {}

impl SqliteTransaction {
    /// Runs `f` on the connection, inside the transaction.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        if !self.open.load(Ordering::Acquire) {
            return Err(StoreError::Backend(
                "the unit of work of this transaction has ended: it committed or rolled back"
                    .into(),
            ));
        }
        f(&lock(&self.conn)).map_err(backend)
    }

    /// Runs one statement inside the transaction; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        self.with(|conn| conn.execute(sql, params))
    }

    fn end(&self, statement: &str) -> Result<(), StoreError> {
        if self.open.swap(false, Ordering::AcqRel) {
            lock(&self.conn).execute_batch(statement).map_err(backend)?;
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
        if !self.open.load(Ordering::Acquire) {
            return Err(StoreError::Backend("the unit of work has ended".into()));
        }
        append_in(&lock(&self.conn), stream, expected, events)
    }

    async fn commit(&self) -> Result<(), StoreError> {
        self.end("COMMIT")
    }

    async fn rollback(&self) -> Result<(), StoreError> {
        self.end("ROLLBACK")
    }
}

/// Rolls back a transaction its unit of work left open (the work panicked), and lets the
/// thread use the store again.
struct Guard<'s> {
    store: &'s SqliteStore,
    tx: SqliteTransaction,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.tx.end("ROLLBACK");
        *lock(&self.store.working) = None;
    }
}

impl SqliteStore {
    /// Runs `work` in a transaction of its own and commits what it wrote together with the
    /// events it recorded, running the phases' handlers of `bus` around the commit (see
    /// [`UnitOfWork`]). Other users of the store wait until
    /// it ends; on this thread, write through its transaction.
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
    /// store.with_connection(|c| c.execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY)"))??;
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
    pub fn unit_of_work<T, E>(
        &self,
        bus: &Bus,
        work: impl FnOnce(&mut UnitOfWork<SqliteTransaction>) -> Result<T, E>,
    ) -> Result<Committed<T>, UnitOfWorkError<E>> {
        let _gate = self.enter().map_err(UnitOfWorkError::store)?;
        lock(&self.conn)
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| UnitOfWorkError::store(backend(e)))?;
        *lock(&self.working) = Some(std::thread::current().id());
        let tx = SqliteTransaction {
            conn: self.conn.clone(),
            open: Arc::new(AtomicBool::new(true)),
        };
        let _guard = Guard {
            store: self,
            tx: tx.clone(),
        };
        let mut unit = UnitOfWork::new(tx);
        let outcome = work(&mut unit);
        finish_sync(bus, unit, outcome)
    }
}

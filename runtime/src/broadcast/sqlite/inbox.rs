//! The inbox in a SQLite database, shared with the handlers that write their effects there.

use crate::broadcast::inbox::{handle_in, refuse_unhandled, Delivered, Inbox, InboxError};
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::Bus;
use crate::persistence::sqlite::worker::Worker;
use crate::persistence::sqlite::SqliteTransaction;
use crate::persistence::sqlite::{self, rusqlite};
use crate::persistence::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// An [`Inbox`] in a SQLite database, whose transaction its handlers write through.
///
/// Each delivery opens a transaction on the inbox's connection, records the event id in it,
/// and lends it to the event's handlers as a [`SqliteTransaction`] parameter: they write their
/// effects through it, and the effects and the record commit together, or roll back together
/// when a handler fails. Events a handler [records](SqliteTransaction::record) on it are
/// appended to the inbox database's event log in the same transaction (for a relay or a
/// projection to read; no phase handler runs for them).
///
/// ```
/// use tidings::broadcast::sqlite::SqliteInbox;
/// use tidings::persistence::{sqlite::SqliteTransaction, StoreError};
/// use tidings::{handler, DomainEvent};
/// # #[derive(DomainEvent, Debug)] #[event(name = "docs.inbox_order_paid")] struct OrderPaid { order: i64 }
///
/// #[handler]
/// fn ship(event: &OrderPaid, tx: &SqliteTransaction) -> Result<(), StoreError> {
///     tx.execute("INSERT INTO shipments (order_id) VALUES (?1)", [event.order])?;
///     Ok(())
/// }
///
/// let inbox = SqliteInbox::open_in_memory()?;
/// inbox.with_connection(|conn| conn.execute_batch("CREATE TABLE shipments (order_id INTEGER)"))?;
/// // consumer.run_until(&inbox, &bus, stop).await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Deliveries through one inbox (and its clones)
/// take turns, since they share its connection and so its transaction: consumers that share
/// an inbox, competing for one queue, are correct but handle one message at a time; give each
/// its own `SqliteInbox` on the same file to let SQLite decide the turns instead.
#[derive(Debug, Clone)]
pub struct SqliteInbox {
    pub(super) conn: Arc<Mutex<Connection>>,
    /// Held for a whole delivery: one transaction on the connection at a time.
    pub(super) turn: Arc<futures_util::lock::Mutex<()>>,
    /// The thread a delivery opens its transaction on: `BEGIN IMMEDIATE` may wait for another
    /// writer, and never on the executor's thread.
    worker: Arc<OnceLock<Worker>>,
    /// How long a scheduled command is held for the delivery that sends it.
    pub(super) command_lease: std::time::Duration,
}

impl SqliteInbox {
    /// Opens (or creates) the database at `path`, as the SQLite store does (WAL, `synchronous
    /// = FULL`, a busy timeout of 5 s, the schema migrated).
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteInbox, StoreError> {
        SqliteInbox::from_connection(sqlite::open_file(path)?)
    }

    /// An inbox in memory, gone when dropped: for tests.
    pub fn open_in_memory() -> Result<SqliteInbox, StoreError> {
        SqliteInbox::from_connection(Connection::open_in_memory()?)
    }

    /// An inbox on a connection you configured; the schema is created or migrated.
    pub fn from_connection(mut conn: Connection) -> Result<SqliteInbox, StoreError> {
        sqlite::migrate(&mut conn)?;
        Ok(SqliteInbox {
            conn: Arc::new(Mutex::new(conn)),
            turn: Arc::default(),
            worker: Arc::default(),
            command_lease: crate::broadcast::due::COMMAND_LEASE,
        })
    }

    /// Holds a scheduled command for `lease` while a delivery sends it (a minute unless set):
    /// a scheduler killed after the command's handler committed but before the command's row
    /// was removed leaves it held, and another sends it again once `lease` is over. Make it
    /// longer than the command's handler may take, or a slow handler's command is sent
    /// again while it still runs. See
    /// [`persistence::schedule`](crate::persistence::schedule).
    ///
    /// ```
    /// # use tidings::broadcast::sqlite::SqliteInbox;
    /// use std::time::Duration;
    /// let inbox = SqliteInbox::open_in_memory()?.with_command_lease(Duration::from_secs(300));
    /// # let _ = inbox;
    /// # Ok::<(), tidings::persistence::StoreError>(())
    /// ```
    pub fn with_command_lease(mut self, lease: std::time::Duration) -> SqliteInbox {
        self.command_lease = lease;
        self
    }

    /// Runs `f` on the inbox's connection, between deliveries: to create the handlers' tables,
    /// or read what they wrote. A handler writes through the [`SqliteTransaction`] it is lent.
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.lock())
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held left at most an open transaction, which the next
        // delivery rolls back.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the inbox's connection on the inbox's own thread, where a statement that
    /// waits for another writer (`BEGIN IMMEDIATE`) never holds the executor's.
    pub(super) async fn on_own_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let worker = match self.worker.get() {
            Some(worker) => worker,
            None => {
                let started = Worker::start().map_err(|e| StoreError::Backend(Box::new(e)))?;
                self.worker.get_or_init(|| started)
            }
        };
        let conn = self.conn.clone();
        let answer = worker.run(move || f(&conn.lock().unwrap_or_else(PoisonError::into_inner)));
        answer.await.unwrap_or_else(|| {
            Err(StoreError::Backend(
                "the inbox's thread stopped before it answered".into(),
            ))
        })
    }

    /// Opens the delivery's transaction and records the id, on the inbox's own thread:
    /// `false` when it was recorded before (the transaction is then closed).
    async fn begin(&self, consumer: &str, envelope: &AnyEnvelope) -> Result<bool, StoreError> {
        let meta = envelope.metadata();
        let consumer = consumer.to_owned();
        let (source, id) = (meta.source().to_owned(), meta.wire_id().into_owned());
        self.on_own_thread(move |conn| begin_on(conn, &consumer, &source, &id))
            .await
    }
}

impl Inbox for SqliteInbox {
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
        // Until this delivery commits or rolls back, no other one may begin on the
        // connection (which would find this transaction open and roll it back).
        let _turn = self.turn.lock().await;
        if !self.begin(consumer, &envelope).await.map_err(store)? {
            return Ok(Delivered::AlreadyHandled);
        }
        handle_in(SqliteTransaction::begun(self.conn.clone()), envelope, bus).await
    }
}

/// Opens a delivery's transaction on `conn` and records the event: `false` when it was
/// recorded before (the transaction is then closed).
fn begin_on(conn: &Connection, consumer: &str, source: &str, id: &str) -> Result<bool, StoreError> {
    if !conn.is_autocommit() {
        // A delivery dropped half way left its transaction open.
        conn.execute_batch("ROLLBACK").map_err(backend)?;
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(backend)?;
    match sqlite::receive(conn, consumer, source, id) {
        Ok(true) => Ok(true),
        outcome => {
            conn.execute_batch("ROLLBACK").map_err(backend)?;
            outcome
        }
    }
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

//! The inbox in a SQLite database, shared with the handlers that write their effects there.

use crate::broadcast::inbox::{Delivered, Inbox, InboxError};
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::Bus;
use crate::persistence::sqlite::{self, rusqlite};
use crate::persistence::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// An [`Inbox`] in a SQLite database, and the connection its handlers write through.
///
/// Provide a clone to the bus (`Bus::builder().provide(inbox.clone())`) and write the
/// handlers' effects with [`SqliteInbox::with_connection`]: while a delivery runs, the
/// connection is inside the delivery's transaction, which also records the event id, so the
/// effects and the record commit together. Deliveries through one inbox (and its clones)
/// take turns, since they share its connection and so its transaction: consumers that share
/// an inbox, competing for one queue, are correct but handle one message at a time; give each
/// its own `SqliteInbox` on the same file to let SQLite decide the turns instead.
#[derive(Debug, Clone)]
pub struct SqliteInbox {
    conn: Arc<Mutex<Connection>>,
    /// Held for a whole delivery: one transaction on the connection at a time.
    turn: Arc<futures_util::lock::Mutex<()>>,
}

impl SqliteInbox {
    /// Opens (or creates) the database at `path`, as the SQLite store does (WAL, `synchronous
    /// = FULL`, a busy timeout of 5 s, the schema migrated).
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteInbox, StoreError> {
        SqliteInbox::from_connection(sqlite::open_file(path)?)
    }

    /// An inbox on a connection you configured; the schema is created or migrated.
    pub fn from_connection(mut conn: Connection) -> Result<SqliteInbox, StoreError> {
        sqlite::migrate(&mut conn)?;
        Ok(SqliteInbox {
            conn: Arc::new(Mutex::new(conn)),
            turn: Arc::default(),
        })
    }

    /// Runs `f` on the inbox's connection: inside the delivery's transaction when called from
    /// a handler of a delivered event, in a transaction of its own statement otherwise.
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held left at most an open transaction, which the next
        // delivery rolls back.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens the delivery's transaction and records the id: `false` when it was recorded
    /// before (the transaction is then closed).
    fn begin(&self, consumer: &str, envelope: &AnyEnvelope) -> Result<bool, StoreError> {
        let conn = self.lock();
        if !conn.is_autocommit() {
            // A delivery dropped half way left its transaction open.
            conn.execute_batch("ROLLBACK").map_err(backend)?;
        }
        conn.execute_batch("BEGIN IMMEDIATE").map_err(backend)?;
        let meta = envelope.metadata();
        match sqlite::receive(&conn, consumer, meta.source(), &meta.wire_id()) {
            Ok(true) => Ok(true),
            outcome => {
                conn.execute_batch("ROLLBACK").map_err(backend)?;
                outcome
            }
        }
    }

    fn finish(&self, commit: bool) -> Result<(), StoreError> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        self.lock().execute_batch(sql).map_err(backend)
    }
}

impl Inbox for SqliteInbox {
    async fn deliver(
        &self,
        consumer: &str,
        envelope: AnyEnvelope,
        bus: &Bus,
    ) -> Result<Delivered, InboxError> {
        let id = envelope.wire_id().into_owned();
        let store = |source| InboxError::Store {
            id: id.clone(),
            source,
        };
        // Until this delivery commits or rolls back, no other one may begin on the
        // connection (which would find this transaction open and roll it back).
        let _turn = self.turn.lock().await;
        if !self.begin(consumer, &envelope).map_err(store)? {
            return Ok(Delivered::AlreadyHandled);
        }
        match bus.publish_any(envelope).await {
            Ok(()) => {
                self.finish(true).map_err(store)?;
                Ok(Delivered::Handled)
            }
            Err(source) => {
                self.finish(false).map_err(store)?;
                Err(InboxError::Handlers { id, source })
            }
        }
    }
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

//! A read model kept in the store's database, its checkpoint saved with its writes.

use crate::broadcast::projection::ProjectionError;
use crate::persistence::sqlite::{self, rusqlite};
use crate::persistence::{StoreError, StoredEvent};
use rusqlite::{Connection, Transaction, TransactionBehavior};

/// A catch-up processor whose effects are writes to the store's own SQLite database: each
/// batch is applied in one transaction that also saves the checkpoint, so every event has
/// its effect exactly once, whatever crashes when.
///
/// ```
/// use tidings::broadcast::sqlite::Projection;
/// use tidings::persistence::sqlite::{rusqlite, SqliteStore};
///
/// let store = SqliteStore::open_in_memory()?;
/// store.with_connection(|conn| -> Result<(), Box<dyn std::error::Error>> {
///     conn.execute_batch("CREATE TABLE counts (name TEXT PRIMARY KEY, n INTEGER)")?;
///     let totals = Projection::new("counts");
///     totals.run(conn, |tx, event| {
///         tx.execute(
///             "INSERT INTO counts VALUES (?1, 1) ON CONFLICT (name) DO UPDATE SET n = n + 1",
///             [event.name()],
///         )
///         .map(drop)
///     })?;
///     // From scratch: emptied and reset in one transaction, then replayed.
///     totals.rebuild(conn, |tx| tx.execute("DELETE FROM counts", []).map(drop), |_, _| {
///         Ok::<_, rusqlite::Error>(())
///     })?;
///     Ok(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Projection {
    name: String,
    batch: usize,
}

impl Projection {
    /// The projection `name` (its checkpoint's name), in batches of 256 events.
    pub fn new(name: impl Into<String>) -> Projection {
        Projection {
            name: name.into(),
            batch: 256,
        }
    }

    /// At most `events` events per transaction (at least 1).
    pub fn batch(mut self, events: usize) -> Projection {
        self.batch = events.max(1);
        self
    }

    /// Applies every event after the checkpoint, a batch per transaction, and returns the
    /// checkpoint reached.
    pub fn run<E: std::error::Error + 'static>(
        &self,
        conn: &mut Connection,
        mut apply: impl FnMut(&Transaction<'_>, &StoredEvent) -> Result<(), E>,
    ) -> Result<u64, ProjectionError<E>> {
        loop {
            let tx = self.begin(conn)?;
            let after = sqlite::checkpoint(&tx, &self.name).map_err(|e| self.store(e))?;
            let events = sqlite::read_all(&tx, after, self.batch).map_err(|e| self.store(e))?;
            let Some(last) = events.last().map(StoredEvent::position) else {
                return Ok(after);
            };
            for event in &events {
                apply(&tx, event)
                    .map_err(|e| ProjectionError::apply(&self.name, event.position(), e))?;
            }
            sqlite::set_checkpoint(&tx, &self.name, last).map_err(|e| self.store(e))?;
            tx.commit().map_err(|e| self.store(backend(e)))?;
        }
    }

    /// Rebuilds from scratch: `clear` empties the read model in the transaction that moves
    /// the checkpoint back to 0, then every event is applied again.
    pub fn rebuild<E: std::error::Error + 'static>(
        &self,
        conn: &mut Connection,
        clear: impl FnOnce(&Transaction<'_>) -> Result<(), E>,
        apply: impl FnMut(&Transaction<'_>, &StoredEvent) -> Result<(), E>,
    ) -> Result<u64, ProjectionError<E>> {
        let tx = self.begin(conn)?;
        clear(&tx).map_err(|e| ProjectionError::apply(&self.name, 0, e))?;
        sqlite::set_checkpoint(&tx, &self.name, 0).map_err(|e| self.store(e))?;
        tx.commit().map_err(|e| self.store(backend(e)))?;
        self.run(conn, apply)
    }

    fn begin<'c, E: std::error::Error>(
        &self,
        conn: &'c mut Connection,
    ) -> Result<Transaction<'c>, ProjectionError<E>> {
        conn.transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.store(backend(e)))
    }

    fn store<E: std::error::Error>(&self, source: StoreError) -> ProjectionError<E> {
        ProjectionError::store(&self.name, source)
    }
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

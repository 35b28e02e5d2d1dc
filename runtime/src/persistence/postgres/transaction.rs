//! A sqlx transaction shared by the code that opened it and the handlers it runs: the handle
//! a unit of work and an inbox lend their handlers as a parameter.

use super::backend;
use crate::messaging::bus::scoped::ScopedType;
use crate::persistence::store::StoreError;
use crate::persistence::unit_of_work::Recorded;
use crate::{DomainEvent, Envelope, Metadata};
use futures_util::lock::{Mutex, MutexGuard};
use sqlx::{PgConnection, Postgres};
use std::ops::{Deref, DerefMut};

type Open = Option<sqlx::Transaction<'static, Postgres>>;

/// An open PostgreSQL transaction lent to handlers: the transaction of a unit of work
/// (`PostgresStore::unit_of_work`) or of an inbox's delivery (`PostgresInbox`). A
/// `before_commit` handler, or a handler of a delivered event, takes it as a parameter; what
/// it writes through it commits or rolls back with the rest.
///
/// ```no_run
/// # use tidings::{handler, DomainEvent};
/// # use tidings::persistence::StoreError;
/// use tidings::persistence::postgres::{sqlx, PostgresTransaction};
/// # #[derive(DomainEvent, Debug)] #[event(name = "docs.stock_reserved")] struct StockReserved { sku: String }
///
/// #[handler(phase = before_commit)]
/// async fn log_reservation(event: &StockReserved, tx: &PostgresTransaction) -> Result<(), StoreError> {
///     sqlx::query("INSERT INTO reservations (sku) VALUES ($1)")
///         .bind(&event.sku)
///         .execute(&mut *tx.lock()?)
///         .await?;
///     Ok(())
/// }
/// ```
///
/// It is lent for the call only: it cannot be cloned, and no handler can keep it. `build()`
/// refuses an `after_commit` or `after_rollback` handler that asks for it. One user at a
/// time: [`lock`](PostgresTransaction::lock) never waits, it refuses while another guard is
/// alive (a handler that keeps its guard while it sends a command whose handler locks too
/// would otherwise wait for itself). Drop the guard before sending. Once the transaction has
/// committed or rolled back, the handle refuses to lock. Events a handler
/// [records](PostgresTransaction::record) on it are appended in the same transaction.
pub struct PostgresTransaction {
    tx: Mutex<Open>,
    recorded: Recorded,
}

inventory::submit! {
    ScopedType::of::<PostgresTransaction>(
        "tidings::persistence::postgres::PostgresTransaction",
        "a PostgreSQL unit of work or inbox delivery")
}

/// The connection of a [`PostgresTransaction`], inside the transaction, while the guard
/// lives: pass `&mut *guard` to sqlx as the executor.
pub struct TransactionGuard<'t> {
    guard: MutexGuard<'t, Open>,
}

impl PostgresTransaction {
    pub(crate) fn new(tx: sqlx::Transaction<'static, Postgres>) -> PostgresTransaction {
        PostgresTransaction {
            tx: Mutex::new(Some(tx)),
            recorded: Recorded::default(),
        }
    }

    /// Records `event` for `stream`: it is appended when the unit of work commits, in this
    /// transaction (so an integration event reaches the relay with the writes that caused it),
    /// and its `before_commit` and `after_commit` handlers run as the unit of work's own do.
    /// Returns its metadata.
    pub fn record<E: DomainEvent>(&self, stream: &str, event: E) -> Metadata {
        self.recorded.record(stream, Envelope::new(event))
    }

    /// [`record`](PostgresTransaction::record) for an event already in its envelope (one
    /// caused by the handler's message: `Envelope::caused_by(event, ctx.metadata())`).
    pub fn record_envelope<E: DomainEvent>(&self, stream: &str, envelope: Envelope<E>) -> Metadata {
        self.recorded.record(stream, envelope)
    }

    pub(crate) fn recorded(&self) -> &Recorded {
        &self.recorded
    }

    /// The transaction's connection, for as long as the guard lives. Fails when the
    /// transaction has ended, or while another guard of it is alive.
    pub fn lock(&self) -> Result<TransactionGuard<'_>, StoreError> {
        let guard = self.tx.try_lock().ok_or(StoreError::TransactionInUse)?;
        if guard.is_none() {
            return Err(StoreError::TransactionEnded);
        }
        Ok(TransactionGuard { guard })
    }

    /// Whether the transaction is still open (it has neither committed nor rolled back).
    pub fn is_open(&self) -> bool {
        self.tx.try_lock().is_none_or(|guard| guard.is_some())
    }

    /// Takes the transaction out, to commit or roll it back: `None` when it has ended.
    fn take(&self) -> Result<Open, StoreError> {
        let mut guard = self.lock_to_end()?;
        Ok(guard.take())
    }

    fn lock_to_end(&self) -> Result<MutexGuard<'_, Open>, StoreError> {
        self.tx.try_lock().ok_or_else(|| {
            StoreError::Backend(
                "the transaction cannot end: a guard of it is still alive (it rolls back when \
                 that guard is dropped)"
                    .into(),
            )
        })
    }

    /// Commits, if still open.
    pub(crate) async fn commit(&self) -> Result<(), StoreError> {
        match self.take()? {
            Some(tx) => tx.commit().await.map_err(backend),
            None => Ok(()),
        }
    }

    /// Rolls back, if still open.
    pub(crate) async fn rollback(&self) -> Result<(), StoreError> {
        match self.take()? {
            Some(tx) => tx.rollback().await.map_err(backend),
            None => Ok(()),
        }
    }
}

impl Deref for TransactionGuard<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.guard
            .as_deref()
            .expect("a guard is only made while the transaction is open")
    }
}

impl DerefMut for TransactionGuard<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.guard
            .as_deref_mut()
            .expect("a guard is only made while the transaction is open")
    }
}

impl std::fmt::Debug for PostgresTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTransaction")
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TransactionGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionGuard").finish_non_exhaustive()
    }
}

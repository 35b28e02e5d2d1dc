//! A sqlx transaction shared by the code that opened it and the handlers it runs: the handle
//! a unit of work and an inbox give their handlers as a context value.

use super::backend;
use crate::persistence::store::StoreError;
use crate::ContextValue;
use futures_util::lock::{Mutex, MutexGuard};
use sqlx::{PgConnection, Postgres};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

type Open = Option<sqlx::Transaction<'static, Postgres>>;

/// An open PostgreSQL transaction that handlers reach from their context: the transaction of
/// a unit of work (`PostgresStore::unit_of_work`) or of an inbox's delivery
/// (`PostgresInbox`). What they write through it commits or rolls back with the rest.
///
/// ```no_run
/// # use tidings::{handler, Context, DomainEvent};
/// # use tidings::persistence::StoreError;
/// use tidings::persistence::postgres::{sqlx, PostgresTransaction};
/// # #[derive(DomainEvent, Debug)] #[event(name = "docs.stock_reserved")] struct StockReserved { sku: String }
///
/// #[handler(phase = before_commit)]
/// async fn log_reservation(event: &StockReserved, ctx: &Context) -> Result<(), StoreError> {
///     let tx = ctx.get::<PostgresTransaction>().expect("run inside a PostgreSQL transaction");
///     let mut conn = tx.lock()?;
///     sqlx::query("INSERT INTO reservations (sku) VALUES ($1)")
///         .bind(&event.sku)
///         .execute(&mut *conn)
///         .await
///         .map_err(|e| StoreError::Backend(Box::new(e)))?;
///     Ok(())
/// }
/// ```
///
/// One user at a time: [`lock`](PostgresTransaction::lock) never waits, it refuses while
/// another guard is alive (a handler that keeps its guard while it sends a command whose
/// handler locks too would otherwise wait for itself). Drop the guard before sending. Once
/// the transaction has committed or rolled back, the handle refuses to lock.
#[derive(Clone)]
pub struct PostgresTransaction {
    tx: Arc<Mutex<Open>>,
}

impl ContextValue for PostgresTransaction {}

/// The connection of a [`PostgresTransaction`], inside the transaction, while the guard
/// lives: pass `&mut *guard` to sqlx as the executor.
pub struct TransactionGuard<'t> {
    guard: MutexGuard<'t, Open>,
}

impl PostgresTransaction {
    pub(crate) fn new(tx: sqlx::Transaction<'static, Postgres>) -> PostgresTransaction {
        PostgresTransaction {
            tx: Arc::new(Mutex::new(Some(tx))),
        }
    }

    /// The transaction's connection, for as long as the guard lives. Fails when the
    /// transaction has ended, or while another guard of it is alive.
    pub fn lock(&self) -> Result<TransactionGuard<'_>, StoreError> {
        let guard = self.tx.try_lock().ok_or_else(|| {
            StoreError::Backend(
                "the transaction is in use: another guard of it is alive (drop a guard before \
                 sending a message whose handlers use the transaction)"
                    .into(),
            )
        })?;
        if guard.is_none() {
            return Err(ended());
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

fn ended() -> StoreError {
    StoreError::Backend(
        "the transaction has ended: it committed or rolled back, and takes no more statements"
            .into(),
    )
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

//! A read model kept in the store's PostgreSQL database, its checkpoint saved with its writes.

use super::backend;
use crate::broadcast::projection::ProjectionError;
use crate::persistence::postgres::sqlx::{PgConnection, PgPool, Postgres, Transaction};
use crate::persistence::postgres::{self, HELD_FOR_AT_MOST};
use crate::persistence::{StoreError, StoredEvent};

/// A catch-up processor whose effects are writes to the store's own PostgreSQL database:
/// each batch is applied in one transaction that also saves the checkpoint, so every event
/// has its effect exactly once, whatever crashes when. Several instances may run the same
/// projection: each batch first locks the projection's checkpoint row, so they take turns,
/// and each reads the position the one before it saved.
///
/// ```no_run
/// use tidings::broadcast::postgres::Projection;
/// use tidings::persistence::postgres::{sqlx, PostgresStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://app@db/app").await?;
/// let totals = Projection::new("counts");
/// totals
///     .run(store.pool(), async |tx, event| {
///         sqlx::query(
///             "INSERT INTO counts VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET n = counts.n + 1",
///         )
///         .bind(event.name())
///         .execute(tx)
///         .await
///         .map(drop)
///     })
///     .await?;
/// // From scratch: emptied and reset in one transaction, then replayed.
/// totals
///     .rebuild(
///         store.pool(),
///         async |tx| sqlx::query("DELETE FROM counts").execute(tx).await.map(drop),
///         async |_, _| Ok::<_, sqlx::Error>(()),
///     )
///     .await?;
/// # Ok(()) }
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
    #[must_use]
    pub fn batch(mut self, events: usize) -> Projection {
        self.batch = events.max(1);
        self
    }

    /// Applies every event after the checkpoint, a batch per transaction, and returns the
    /// checkpoint reached. `apply` writes through the connection it is given, which is inside
    /// the batch's transaction.
    pub async fn run<E: std::error::Error + 'static>(
        &self,
        pool: &PgPool,
        mut apply: impl AsyncFnMut(&mut PgConnection, &StoredEvent) -> Result<(), E>,
    ) -> Result<u64, ProjectionError<E>> {
        let mut held: Option<std::time::Instant> = None;
        loop {
            let mut tx = self.begin(pool).await?;
            let after = postgres::lock_checkpoint(&mut tx, &self.name)
                .await
                .map_err(|e| self.store(e))?;
            let page = postgres::read_page(&mut *tx, after, self.batch)
                .await
                .map_err(|e| self.store(e))?;
            let events = page.events;
            let Some(last) = events.last().map(StoredEvent::position) else {
                tx.commit().await.map_err(|e| self.store(backend(e)))?;
                if page.held && held.is_none_or(|since| since.elapsed() < HELD_FOR_AT_MOST) {
                    // Events committed behind a transaction still in flight: wait for it
                    // outside the batch's transaction (it may be another instance's, waiting
                    // for the checkpoint row), then read again.
                    held.get_or_insert_with(std::time::Instant::now);
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    continue;
                }
                return Ok(after);
            };
            held = None;
            for event in &events {
                if let Err(error) = apply(&mut tx, event).await {
                    return Err(self
                        .roll_back(
                            tx,
                            ProjectionError::apply(&self.name, event.position(), error),
                        )
                        .await);
                }
            }
            postgres::set_checkpoint(&mut *tx, &self.name, last)
                .await
                .map_err(|e| self.store(e))?;
            tx.commit().await.map_err(|e| self.store(backend(e)))?;
        }
    }

    /// Rebuilds from scratch: `clear` empties the read model in the transaction that moves
    /// the checkpoint back to 0, then every event is applied again.
    pub async fn rebuild<E: std::error::Error + 'static>(
        &self,
        pool: &PgPool,
        clear: impl AsyncFnOnce(&mut PgConnection) -> Result<(), E>,
        apply: impl AsyncFnMut(&mut PgConnection, &StoredEvent) -> Result<(), E>,
    ) -> Result<u64, ProjectionError<E>> {
        let mut tx = self.begin(pool).await?;
        postgres::lock_checkpoint(&mut tx, &self.name)
            .await
            .map_err(|e| self.store(e))?;
        if let Err(error) = clear(&mut tx).await {
            return Err(self
                .roll_back(tx, ProjectionError::apply(&self.name, 0, error))
                .await);
        }
        postgres::set_checkpoint(&mut *tx, &self.name, 0)
            .await
            .map_err(|e| self.store(e))?;
        tx.commit().await.map_err(|e| self.store(backend(e)))?;
        self.run(pool, apply).await
    }

    async fn begin<E: std::error::Error + 'static>(
        &self,
        pool: &PgPool,
    ) -> Result<Transaction<'static, Postgres>, ProjectionError<E>> {
        pool.begin().await.map_err(|e| self.store(backend(e)))
    }

    /// Rolls the batch back now (not when the connection is next used), and returns `error`.
    async fn roll_back<E: std::error::Error + 'static>(
        &self,
        tx: Transaction<'static, Postgres>,
        error: ProjectionError<E>,
    ) -> ProjectionError<E> {
        if let Err(failed) = tx.rollback().await {
            tracing::warn!(projection = %self.name, error = %failed, "a projection's batch could not roll back");
        }
        error
    }

    fn store<E: std::error::Error + 'static>(&self, source: StoreError) -> ProjectionError<E> {
        ProjectionError::store(&self.name, source)
    }
}

//! Catch-up processors: read the store after a checkpoint, hand the events to a handler,
//! advance the checkpoint.

use crate::messaging::bus::registry::Registry;
use crate::persistence::{EventStore, StoreError, StoredEvent};
use std::future::Future;
use std::sync::Arc;

/// Where processors keep their checkpoints: the last global position each one is done with,
/// by name. Kept in the store's own database, so a checkpoint and the events it counts are
/// never in two places that can disagree after a crash.
pub trait Checkpoints: Send + Sync {
    /// The checkpoint of `name`; 0 when it has none (it starts from the beginning).
    fn checkpoint(&self, name: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Moves the checkpoint of `name` forward to `position`; never backwards, so a late
    /// writer (an instance that lost its lease) cannot undo a newer one's progress.
    fn advance(
        &self,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the checkpoint of `name` to `position`, backwards too: `0` replays everything.
    fn reset(
        &self,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What a [`CatchUp`] hands each batch of events to.
pub trait Handle: Send {
    /// Why a batch could not be handled.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Handles `events` (in position order, none skipped). On `Ok` the checkpoint moves past
    /// them; on `Err` it stays, and the same events come again.
    fn handle(
        &mut self,
        events: &[StoredEvent],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Why a catch-up run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatchUpError<E: std::error::Error + 'static> {
    /// Reading events or the checkpoint failed; nothing was handled past the checkpoint.
    #[error("processor `{processor}` could not read or save its position: {source}")]
    Store {
        /// The processor's name.
        processor: String,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
    /// The handler failed on the batch after `after`; the checkpoint stays at `after`.
    #[error("processor `{processor}` failed on the events after position {after}: {source}")]
    Handler {
        /// The processor's name.
        processor: String,
        /// The checkpoint, which did not move.
        after: u64,
        /// The handler's error.
        #[source]
        source: E,
    },
}

/// A catch-up processor over a store: reads the events after its checkpoint, a batch at a
/// time, hands each batch to a [`Handle`], and advances the checkpoint once the handler is
/// done. At-least-once: a crash between the handler and the checkpoint hands the batch
/// again. For an effect exactly once, save the checkpoint in the transaction of the effect
/// (the SQLite [`Projection`](crate::broadcast::sqlite::Projection) does) or make the effect
/// idempotent (the relay's consumers keep an inbox).
#[derive(Debug)]
pub struct CatchUp<S> {
    store: Arc<S>,
    name: String,
    batch: usize,
    integration_only: bool,
}

impl<S: EventStore + Checkpoints> CatchUp<S> {
    /// The processor `name` (its checkpoint's name) over `store`, in batches of 256 events.
    pub fn new(store: Arc<S>, name: impl Into<String>) -> CatchUp<S> {
        CatchUp {
            store,
            name: name.into(),
            batch: 256,
            integration_only: false,
        }
    }

    /// At most `events` events per batch (at least 1).
    pub fn batch(mut self, events: usize) -> CatchUp<S> {
        self.batch = events.max(1);
        self
    }

    /// Hands over only integration events (`#[event(integration)]`); the others are passed
    /// over, and the checkpoint moves past them all the same.
    pub fn integration_only(mut self) -> CatchUp<S> {
        self.integration_only = true;
        self
    }

    /// The processor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store read.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The next batch after the checkpoint: the checkpoint, the events to hand over, and the
    /// position to advance to once they are handled (`None`: caught up).
    pub async fn next_batch(&self) -> Result<Batch, StoreError> {
        let after = self.store.checkpoint(&self.name).await?;
        let mut events = self.store.read_all(after, self.batch).await?;
        let Some(last) = events.last().map(StoredEvent::position) else {
            return Ok(Batch {
                after,
                events,
                through: None,
            });
        };
        if self.integration_only {
            let registry = Registry::get();
            events.retain(|e| registry.is_integration(e.name()));
        }
        Ok(Batch {
            after,
            events,
            through: Some(last),
        })
    }

    /// Handles one batch and advances the checkpoint: the number of events read (0: caught
    /// up).
    pub async fn step<H: Handle>(&self, handler: &mut H) -> Result<usize, CatchUpError<H::Error>> {
        let batch = self.next_batch().await.map_err(|e| self.store_error(e))?;
        let Some(through) = batch.through else {
            return Ok(0);
        };
        if !batch.events.is_empty() {
            handler
                .handle(&batch.events)
                .await
                .map_err(|source| CatchUpError::Handler {
                    processor: self.name.clone(),
                    after: batch.after,
                    source,
                })?;
        }
        self.store
            .advance(&self.name, through)
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(usize::try_from(through - batch.after).unwrap_or(usize::MAX))
    }

    /// Handles batches until none is left: the checkpoint reached.
    pub async fn run<H: Handle>(&self, handler: &mut H) -> Result<u64, CatchUpError<H::Error>> {
        while self.step(handler).await? > 0 {}
        self.store
            .checkpoint(&self.name)
            .await
            .map_err(|e| self.store_error(e))
    }

    /// Moves the checkpoint back to 0: the next run hands over every event again.
    pub async fn replay(&self) -> Result<(), StoreError> {
        self.store.reset(&self.name, 0).await
    }

    fn store_error<E: std::error::Error>(&self, source: StoreError) -> CatchUpError<E> {
        CatchUpError::Store {
            processor: self.name.clone(),
            source,
        }
    }
}

/// One batch of a [`CatchUp`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Batch {
    /// The checkpoint it was read after.
    pub after: u64,
    /// The events to hand over, in position order.
    pub events: Vec<StoredEvent>,
    /// The last position read, to advance to once `events` are handled; `None` when there
    /// was nothing after the checkpoint.
    pub through: Option<u64>,
}

//! Event-sourced aggregates: state rebuilt by applying the aggregate's own events, loaded from
//! its stream and saved with the loaded version as the expected version.

use crate::persistence::event::NewEvent;
use crate::persistence::pending::Pending;
use crate::persistence::store::{Appended, EventStore, ExpectedVersion, StoreError};
use crate::persistence::StoredDecodeError;
use crate::{AnyEnvelope, BoxError, DomainEvent, Envelope};
use std::future::Future;
use std::pin::pin;
use std::task::{Poll, Waker};

/// An aggregate whose state is the sum of its events.
///
/// ```
/// use tidings::persistence::{EventSourced, InMemoryStore, Loaded};
/// use tidings::{AnyEnvelope, BoxError, DomainEvent};
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "docs.account_opened")]
/// struct Opened { owner: String }
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "docs.deposited")]
/// struct Deposited { cents: u64 }
///
/// #[derive(Default)]
/// struct Account { owner: String, balance: u64 }
///
/// impl EventSourced for Account {
///     fn apply(&mut self, event: &AnyEnvelope) -> Result<(), BoxError> {
///         if let Some(opened) = event.downcast_ref::<Opened>() {
///             self.owner = opened.owner.clone();
///         } else if let Some(deposit) = event.downcast_ref::<Deposited>() {
///             self.balance += deposit.cents;
///         } else {
///             return Err(format!("an account has no `{}` event", event.name()).into());
///         }
///         Ok(())
///     }
/// }
///
/// let store = InMemoryStore::new();
/// let mut account = Loaded::<Account>::load_sync(&store, "account-1")?;
/// account.record(Opened { owner: "ada".into() })?;
/// account.record(Deposited { cents: 500 })?;
/// account.save_sync(&store)?;
///
/// let account = Loaded::<Account>::load_sync(&store, "account-1")?;
/// assert_eq!((account.state().balance, account.version()), (500, 2));
/// # Ok::<(), BoxError>(())
/// ```
pub trait EventSourced: Default + Send {
    /// Applies one of the aggregate's events to its state. An event it does not expect is
    /// an error (a stream holds one aggregate's events), reported by [`Loaded::load`].
    fn apply(&mut self, event: &AnyEnvelope) -> Result<(), BoxError>;
}

/// An event-sourced aggregate loaded from its stream: its state, the version it was loaded
/// at, and the events recorded since, which [`save`](Loaded::save) appends.
#[derive(Debug)]
pub struct Loaded<A> {
    stream: String,
    version: u64,
    state: A,
    pending: Pending,
}

/// Why an aggregate could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event could not be decoded.
    #[error(transparent)]
    Decode(#[from] StoredDecodeError),
    /// The aggregate refused one of its stream's events.
    #[error(
        "stream `{stream}` at version {version}: the aggregate could not apply `{name}`: {source}"
    )]
    Apply {
        /// The stream.
        stream: String,
        /// The event's version in the stream.
        version: u64,
        /// The event's wire name.
        name: &'static str,
        /// The aggregate's error.
        #[source]
        source: BoxError,
    },
}

/// How many events one read of a stream asks for while loading.
const PAGE: usize = 1_000;

impl<A: EventSourced> Loaded<A> {
    /// A new aggregate with no events: its stream must not exist when it is saved.
    pub fn new(stream: impl Into<String>) -> Loaded<A> {
        Loaded {
            stream: stream.into(),
            version: 0,
            state: A::default(),
            pending: Pending::new(),
        }
    }

    /// Loads the aggregate by applying every event of `stream` (none: a new aggregate).
    pub async fn load<S: EventStore>(store: &S, stream: &str) -> Result<Loaded<A>, LoadError> {
        let mut loaded = Loaded::<A>::new(stream);
        loop {
            let page = store.read_stream(stream, loaded.version, PAGE).await?;
            for stored in &page {
                let event = stored.decode()?;
                loaded
                    .state
                    .apply(&event)
                    .map_err(|source| LoadError::Apply {
                        stream: stream.to_owned(),
                        version: stored.stream_version(),
                        name: event.name(),
                        source,
                    })?;
                loaded.version = stored.stream_version();
            }
            if page.len() < PAGE {
                return Ok(loaded);
            }
        }
    }

    /// [`load`](Loaded::load) for a store that answers without waiting (SQLite, in-memory),
    /// from code without an async runtime.
    pub fn load_sync<S: EventStore>(store: &S, stream: &str) -> Result<Loaded<A>, LoadError> {
        now(Loaded::load(store, stream)).unwrap_or_else(|| Err(needs_runtime().into()))
    }

    /// Records an event: applies it to the state at once, and keeps it for `save`.
    pub fn record<E: DomainEvent>(&mut self, event: E) -> Result<(), BoxError> {
        let envelope = AnyEnvelope::from(Envelope::new(event));
        self.state.apply(&envelope)?;
        self.pending.record_any(envelope);
        Ok(())
    }

    /// Appends the recorded events, expecting the stream at the version it was loaded at. A
    /// [`StoreError::Conflict`] means another writer saved first: load again and retry.
    pub async fn save<S: EventStore>(&mut self, store: &S) -> Result<Appended, StoreError> {
        let events = self
            .pending
            .iter()
            .map(NewEvent::from_any)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| StoreError::Backend(error.into()))?;
        let expected = match self.version {
            0 => ExpectedVersion::NoStream,
            version => ExpectedVersion::Exact(version),
        };
        let appended = store.append(&self.stream, expected, &events).await?;
        self.pending.take();
        self.version = appended.stream_version;
        Ok(appended)
    }

    /// [`save`](Loaded::save) for a store that answers without waiting.
    pub fn save_sync<S: EventStore>(&mut self, store: &S) -> Result<Appended, StoreError> {
        now(self.save(store)).unwrap_or_else(|| Err(needs_runtime()))
    }

    /// The aggregate's state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// The stream's version the state reflects, recorded events not counted.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The aggregate's stream.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The events recorded since the aggregate was loaded or saved.
    pub fn pending(&self) -> &Pending {
        &self.pending
    }
}

/// Polls `future` once: its output if it finished without waiting.
fn now<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut std::task::Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fn needs_runtime() -> StoreError {
    StoreError::Backend(
        "this store waits for its server: call `load(..).await` / `save(..).await` on an async runtime"
            .into(),
    )
}

//! An [`Aggregate`] loaded from its stream: [`Loaded`], its state and the version it was loaded
//! at, and the events decided since. A unit of work loads and saves it inside its transaction
//! (with the aggregate's snapshots); a store's `execute` does the whole command in one call.

use crate::messaging::aggregate::{Aggregate, AggregateEvent};
use crate::persistence::event::{NewEvent, Replayed, StoredEvent};
use crate::persistence::snapshot::SnapshotRow;
use crate::persistence::store::{Appended, EventStore, ExpectedVersion, StoreError};
use crate::persistence::StoredDecodeError;
use crate::{AnyEnvelope, Metadata};
use std::future::Future;
use std::pin::pin;
use std::task::{Poll, Waker};

/// An aggregate loaded from its stream: its state, the version it was loaded at, and the
/// events decided since, which saving appends expecting that version.
///
/// ```
/// # use tidings::{Aggregate, AggregateEvent, DomainEvent};
/// use tidings::persistence::{InMemoryStore, Loaded};
/// # #[derive(DomainEvent, Debug, Clone)] #[event(name = "docs.loaded_opened")] pub struct Opened { pub owner: String }
/// # #[derive(DomainEvent, Debug, Clone)] #[event(name = "docs.loaded_deposited")] pub struct Deposited { pub cents: u64 }
/// # #[derive(AggregateEvent, Debug, Clone)] pub enum AccountEvent { Opened(Opened), Deposited(Deposited) }
/// # #[derive(Default)] pub struct Account { balance: u64 }
/// # impl Aggregate for Account {
/// #     type Event = AccountEvent;
/// #     fn apply(&mut self, event: &AccountEvent) {
/// #         if let AccountEvent::Deposited(d) = event { self.balance += d.cents }
/// #     }
/// # }
///
/// let store = InMemoryStore::new();
/// let mut account = Loaded::<Account>::load_sync(&store, "account-1")?;
/// account.record(Opened { owner: "ada".into() });
/// account.record(Deposited { cents: 500 });
/// account.save_sync(&store)?;
///
/// let account = Loaded::<Account>::load_sync(&store, "account-1")?;
/// assert_eq!((account.state().balance, account.version()), (500, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Loaded<A> {
    stream: String,
    version: u64,
    state: A,
    decided: Vec<AnyEnvelope>,
    cause: Option<Metadata>,
}

/// Its stream, version and recorded events; the state is the aggregate's to show.
impl<A> std::fmt::Debug for Loaded<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("aggregate", &std::any::type_name::<A>())
            .field("stream", &self.stream)
            .field("version", &self.version)
            .field(
                "recorded",
                &self
                    .decided
                    .iter()
                    .map(AnyEnvelope::name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
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
    /// The stream holds an event that is none of the aggregate's (the stream belongs to
    /// another aggregate, or the enum lost a variant).
    #[error(
        "stream `{stream}` at version {version} holds `{name}`, which is none of `{aggregate}`'s \
         events ({expected}): a stream holds one aggregate's events"
    )]
    Foreign {
        /// The stream.
        stream: String,
        /// The event's version in the stream.
        version: u64,
        /// The event's wire name.
        name: &'static str,
        /// The aggregate's Rust type.
        aggregate: &'static str,
        /// The names its event enum accepts.
        expected: String,
    },
}

/// How many events one read of a stream asks for while loading.
const PAGE: usize = 1_000;

impl<A: Aggregate> Loaded<A> {
    /// A new aggregate with no events: its stream must not exist when it is saved.
    pub fn new(stream: impl Into<String>) -> Loaded<A> {
        Loaded::at(stream.into(), 0, A::default())
    }

    fn at(stream: String, version: u64, state: A) -> Loaded<A> {
        Loaded {
            stream,
            version,
            state,
            decided: Vec::new(),
            cause: None,
        }
    }

    /// Loads the aggregate by applying every event of `stream` (none: a new aggregate). This
    /// reads no snapshot: a unit of work's `load` does.
    pub async fn load<S: EventStore>(store: &S, stream: &str) -> Result<Loaded<A>, LoadError> {
        let mut loaded = Loaded::<A>::new(stream);
        loop {
            let page = store.read_stream(stream, loaded.version, PAGE).await?;
            let full = page.len() == PAGE;
            loaded.apply_stored(page)?;
            if !full {
                return Ok(loaded);
            }
        }
    }

    /// [`load`](Loaded::load) for a store that answers without waiting (SQLite, in memory),
    /// from code without an async runtime.
    pub fn load_sync<S: Embedded>(store: &S, stream: &str) -> Result<Loaded<A>, LoadError> {
        let mut loaded = Loaded::<A>::new(stream);
        loop {
            let page = store.read_stream_now(stream, loaded.version, PAGE)?;
            let read = page.len();
            loaded.apply_stored(page)?;
            if read < PAGE {
                return Ok(loaded);
            }
        }
    }

    /// Makes every event recorded from now on caused by `cause` (the command being handled):
    /// it inherits its correlation id and names it as its causation.
    pub fn caused_by(&mut self, cause: &Metadata) -> &mut Loaded<A> {
        self.cause = Some(cause.clone());
        self
    }

    /// Records an event: applies it to the state at once, and keeps it to be saved. Returns
    /// its metadata (its id, say).
    pub fn record(&mut self, event: impl Into<A::Event>) -> &Metadata {
        let event = event.into();
        self.state.apply(&event);
        self.decided.push(event.into_envelope(self.cause.as_ref()));
        self.decided
            .last()
            .map(AnyEnvelope::metadata)
            .expect("an event was just recorded")
    }

    /// Makes a decision on the state: records each event it returns, in order, or records
    /// nothing and returns its error.
    pub fn decide<E>(
        &mut self,
        decide: impl FnOnce(&A) -> Result<Vec<A::Event>, E>,
    ) -> Result<(), E> {
        for event in decide(&self.state)? {
            self.record(event);
        }
        Ok(())
    }

    /// Appends the recorded events, expecting the stream at the version it was loaded at. A
    /// [`StoreError::Conflict`] means another writer saved first: load again and retry (a
    /// store's `execute` does this for you).
    pub async fn save<S: EventStore>(&mut self, store: &S) -> Result<Appended, StoreError> {
        let events = self.rows()?;
        let appended = store.append(&self.stream, self.expected(), &events).await?;
        self.decided.clear();
        self.version = appended.stream_version;
        Ok(appended)
    }

    /// [`save`](Loaded::save) for a store that answers without waiting.
    pub fn save_sync<S: Embedded>(&mut self, store: &S) -> Result<Appended, StoreError> {
        let events = self.rows()?;
        let appended = store.append_now(&self.stream, self.expected(), &events)?;
        self.decided.clear();
        self.version = appended.stream_version;
        Ok(appended)
    }

    fn rows(&self) -> Result<Vec<NewEvent>, StoreError> {
        self.decided
            .iter()
            .map(NewEvent::from_any)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| StoreError::Backend(error.into()))
    }

    /// The aggregate's state, the recorded events applied.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// The stream's version as loaded (or saved), recorded events not counted.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The aggregate's stream.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The events recorded since the aggregate was loaded or saved, in order.
    pub fn recorded(&self) -> &[AnyEnvelope] {
        &self.decided
    }

    /// What saving expects of the stream: that it does not exist, or is at the loaded version.
    fn expected(&self) -> ExpectedVersion {
        match self.version {
            0 => ExpectedVersion::NoStream,
            version => ExpectedVersion::Exact(version),
        }
    }

    /// Applies a page of the stream's stored events.
    pub(crate) fn apply_stored(&mut self, page: Vec<StoredEvent>) -> Result<(), LoadError> {
        for stored in page {
            let version = stored.stream_version();
            let event = stored.into_decoded()?;
            self.apply_decoded(event, version)?;
        }
        Ok(())
    }

    /// Applies one of the stream's events as a unit of work reads it to load the aggregate:
    /// straight from its text into the aggregate's event type when a variant's type has its
    /// name and version, through the registry (upcasting) otherwise.
    ///
    /// `false` when the row must go through the registry (an older version to upcast, or a
    /// type of another aggregate), or does not decode: it is not applied, and the caller
    /// reads it whole, with its metadata, which upcasters may read and an error names it by.
    pub(crate) fn apply_replayed(&mut self, row: Replayed<'_>) -> bool {
        match A::Event::decode_stored(row.name, row.version, row.data) {
            Some(Ok(event)) => {
                self.state.apply(&event);
                self.version = row.stream_version;
                true
            }
            Some(Err(_)) | None => false,
        }
    }

    fn apply_decoded(&mut self, event: AnyEnvelope, version: u64) -> Result<(), LoadError> {
        let event = A::Event::from_envelope(event).map_err(|event| LoadError::Foreign {
            stream: self.stream.clone(),
            version,
            name: event.name(),
            aggregate: std::any::type_name::<A>(),
            expected: <A::Event as AggregateEvent>::NAMES.join(", "),
        })?;
        self.state.apply(&event);
        self.version = version;
        Ok(())
    }

    /// Starts from a snapshot row `(version, revision, data)`: the aggregate at that version,
    /// or `None` when the row is of another revision or no longer decodes (the aggregate is
    /// then replayed from its first event).
    pub(crate) fn from_snapshot(stream: &str, row: (u64, u32, String)) -> Option<Loaded<A>> {
        let snapshots = A::snapshots();
        let (version, revision, data) = row;
        if revision != snapshots.current_revision() {
            tracing::debug!(
                stream,
                revision,
                "a snapshot of another revision is ignored"
            );
            return None;
        }
        match snapshots.decode(&data)? {
            Ok(state) => Some(Loaded::at(stream.to_owned(), version, state)),
            Err(error) => {
                tracing::warn!(
                    stream,
                    version,
                    error = %error,
                    "a snapshot no longer decodes: the aggregate is replayed from its first event"
                );
                None
            }
        }
    }

    /// Takes the recorded events to save them in a unit of work: the expected version, the
    /// events, and the snapshot due at the new version, if any. The version moves to the one
    /// the stream has once they commit.
    pub(crate) fn take_for_save(
        &mut self,
    ) -> (ExpectedVersion, Vec<AnyEnvelope>, Option<SnapshotRow>) {
        let expected = self.expected();
        let events = std::mem::take(&mut self.decided);
        let from = self.version;
        self.version += events.len() as u64;
        let snapshots = A::snapshots();
        let snapshot = if snapshots.due(from, self.version) {
            match snapshots.encode(&self.state) {
                None => None,
                Some(Ok(data)) => Some(SnapshotRow {
                    stream: self.stream.clone(),
                    version: self.version,
                    revision: snapshots.current_revision(),
                    aggregate: std::any::type_name::<A>(),
                    data,
                }),
                Some(Err(error)) => {
                    tracing::warn!(stream = %self.stream, error = %error, "a snapshot could not be encoded: none is written");
                    None
                }
            }
        } else {
            None
        };
        (expected, events, snapshot)
    }
}

/// A store that answers without an async runtime (the in-memory and SQLite stores): the
/// synchronous `load_sync` and `save_sync` take one of these, so calling them on a store that
/// talks to a server is a compile error, not a run-time one.
pub trait Embedded: EventStore + sealed::Sealed {
    /// [`EventStore::read_stream`], on the calling thread.
    #[doc(hidden)]
    fn read_stream_now(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// [`EventStore::append`], on the calling thread.
    #[doc(hidden)]
    fn append_now(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError>;
}

pub(crate) mod sealed {
    /// Only this crate's stores are [`Embedded`](super::Embedded).
    pub trait Sealed {}
    impl Sealed for crate::persistence::InMemoryStore {}
}

impl Embedded for crate::persistence::InMemoryStore {
    fn read_stream_now(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_stream_sync(stream, after, limit)
    }

    fn append_now(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        self.append_sync(stream, expected, events)
    }
}

/// Polls `future` once: its output if it finished without waiting.
#[cfg_attr(
    not(feature = "sqlite"),
    allow(dead_code, reason = "used only by SQLite's synchronous unit of work")
)]
pub(crate) fn now<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut std::task::Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

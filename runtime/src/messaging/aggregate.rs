//! Aggregates whose state is the sum of their events: the [`Aggregate`] trait, the enum of its
//! events ([`AggregateEvent`], derived), and its opt-in [`Snapshots`]. Storage lives in the
//! persistence layer (`Loaded`, the units of work); this is the domain's side, which the test
//! fixture (`tidings::testing::given`) also drives.

use crate::messaging::any::AnyEnvelope;
use crate::messaging::cloudevents::DecodeError;
use crate::messaging::envelope::Metadata;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The events of one aggregate, as one enum: derive it on an enum whose every variant wraps
/// one event type.
///
/// ```
/// use tidings::{AggregateEvent, DomainEvent};
///
/// #[derive(DomainEvent, Debug, Clone, PartialEq)]
/// #[event(name = "docs.book_lent")]
/// pub struct BookLent { pub reader: String }
///
/// #[derive(DomainEvent, Debug, Clone, PartialEq)]
/// #[event(name = "docs.book_returned")]
/// pub struct BookReturned;
///
/// #[derive(AggregateEvent, Debug, Clone, PartialEq)]
/// pub enum LoanEvent {
///     Lent(BookLent),
///     Returned(BookReturned),
/// }
///
/// assert_eq!(<LoanEvent as AggregateEvent>::NAMES, ["docs.book_lent", "docs.book_returned"]);
/// let event: LoanEvent = BookReturned.into(); // a `From` per event type
/// assert_eq!(event.name(), "docs.book_returned");
/// ```
///
/// Decoding a stored event into the enum is one generated step per variant; an event of
/// another type is handed back, and loading reports it (a stream holds one aggregate's
/// events).
pub trait AggregateEvent: Sized + Send + 'static {
    /// The wire names of its events, in variant order.
    const NAMES: &'static [&'static str];

    /// The wire name of the event it holds.
    fn name(&self) -> &'static str;

    /// The event in its envelope, stamped now: its id and occurred-on, and the causation and
    /// correlation of `cause` when given.
    fn into_envelope(self, cause: Option<&Metadata>) -> AnyEnvelope;

    /// The variant that holds `event`'s payload, or `event` back if it is none of them.
    fn from_envelope(event: AnyEnvelope) -> Result<Self, AnyEnvelope>;

    /// A stored event's JSON `text` decoded straight into the variant whose event type has
    /// this `name` and `version`, in one pass (what loading an aggregate does first); `None`
    /// when no variant's type has them (an older version to upcast, or a foreign event), and
    /// loading then decodes through the registry. The derive implements it.
    #[doc(hidden)]
    fn decode_stored(_name: &str, _version: u32, _text: &str) -> Option<Result<Self, DecodeError>> {
        None
    }
}

/// An aggregate whose state is rebuilt by applying its events, in order.
///
/// `apply` takes the aggregate's own event enum, so a `match` on it is exhaustive: an event
/// the aggregate forgets is a compile error. It cannot fail: events are facts; decisions,
/// which can, return their own typed error. A unit of work loads it ([`UnitOfWork`]'s `load`,
/// or a store's `execute` in one call), and `tidings::testing::given` tests it.
///
/// [`UnitOfWork`]: crate::persistence::UnitOfWork
///
/// ```
/// use tidings::{Aggregate, AggregateEvent, DomainEvent};
///
/// #[derive(DomainEvent, Debug, Clone, PartialEq)]
/// #[event(name = "docs.account_opened")]
/// pub struct Opened { pub owner: String }
///
/// #[derive(DomainEvent, Debug, Clone, PartialEq)]
/// #[event(name = "docs.deposited")]
/// pub struct Deposited { pub cents: u64 }
///
/// #[derive(AggregateEvent, Debug, Clone, PartialEq)]
/// pub enum AccountEvent {
///     Opened(Opened),
///     Deposited(Deposited),
/// }
///
/// #[derive(Default)]
/// pub struct Account { owner: Option<String>, balance: u64 }
///
/// impl Aggregate for Account {
///     type Event = AccountEvent;
///
///     fn apply(&mut self, event: &AccountEvent) {
///         match event {
///             AccountEvent::Opened(opened) => self.owner = Some(opened.owner.clone()),
///             AccountEvent::Deposited(deposit) => self.balance += deposit.cents,
///         }
///     }
/// }
///
/// #[derive(Debug, PartialEq, thiserror::Error)]
/// pub enum AccountError {
///     #[error("the account is not open")]
///     NotOpen,
/// }
///
/// impl Account {
///     /// A decision: the events it leads to, or why not.
///     pub fn deposit(&self, cents: u64) -> Result<Vec<AccountEvent>, AccountError> {
///         if self.owner.is_none() {
///             return Err(AccountError::NotOpen);
///         }
///         Ok(vec![Deposited { cents }.into()])
///     }
/// }
/// ```
pub trait Aggregate: Default + Send + 'static {
    /// Its events: an enum deriving [`AggregateEvent`].
    type Event: AggregateEvent;

    /// Applies one of its events to the state.
    fn apply(&mut self, event: &Self::Event);

    /// Whether and how often its state is snapshotted: [`Snapshots::never`] unless
    /// overridden (`Snapshots::every(100)`).
    fn snapshots() -> Snapshots<Self> {
        Snapshots::never()
    }
}

/// How an aggregate's state is snapshotted: every `n` events, its state is written beside its
/// stream in the same transaction, and loading starts from the latest snapshot and applies
/// only the events after it. A snapshot that no longer decodes (the state's shape changed),
/// or was taken at another [`revision`](Snapshots::revision), is ignored and the aggregate is
/// replayed from its first event: snapshots are a cache, never an error.
///
/// ```
/// # use tidings::{Aggregate, AggregateEvent, DomainEvent, Snapshots};
/// # #[derive(DomainEvent, Debug, Clone)] #[event(name = "docs.snap_ticked")] pub struct Ticked;
/// # #[derive(AggregateEvent, Debug, Clone)] pub enum CounterEvent { Ticked(Ticked) }
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// pub struct Counter { ticks: u64 }
///
/// impl Aggregate for Counter {
///     type Event = CounterEvent;
///     fn apply(&mut self, _: &CounterEvent) {
///         self.ticks += 1;
///     }
///     fn snapshots() -> Snapshots<Self> {
///         Snapshots::every(100).revision(1)
///     }
/// }
/// ```
pub struct Snapshots<A> {
    every: u64,
    revision: u32,
    encode: Option<fn(&A) -> serde_json::Result<String>>,
    decode: Option<fn(&str) -> serde_json::Result<A>>,
}

impl<A> Snapshots<A> {
    /// No snapshots: the aggregate is always loaded from its first event.
    pub const fn never() -> Snapshots<A> {
        Snapshots {
            every: 0,
            revision: 0,
            encode: None,
            decode: None,
        }
    }

    /// A snapshot each time the stream's version crosses a multiple of `events` (0: never).
    /// The state is stored as JSON, so it must serialize and deserialize.
    pub fn every(events: u64) -> Snapshots<A>
    where
        A: Serialize + DeserializeOwned,
    {
        Snapshots {
            every: events,
            revision: 0,
            encode: Some(|state| serde_json::to_string(state)),
            decode: Some(|text| serde_json::from_str(text)),
        }
    }

    /// The revision of the state's shape (default 0): bump it when the state changes in a way
    /// its JSON would still decode into wrongly, and older snapshots are ignored.
    pub fn revision(mut self, revision: u32) -> Snapshots<A> {
        self.revision = revision;
        self
    }

    /// Whether snapshots are taken at all.
    pub fn enabled(&self) -> bool {
        self.every > 0 && self.encode.is_some()
    }

    /// The snapshot interval, in events (0: never).
    pub fn interval(&self) -> u64 {
        self.every
    }

    /// The revision snapshots are written at and read back from.
    pub fn current_revision(&self) -> u32 {
        self.revision
    }

    /// Whether moving from version `from` to `to` crosses a multiple of the interval.
    pub(crate) fn due(&self, from: u64, to: u64) -> bool {
        self.enabled() && to / self.every > from / self.every
    }

    pub(crate) fn encode(&self, state: &A) -> Option<serde_json::Result<String>> {
        self.encode.map(|encode| encode(state))
    }

    pub(crate) fn decode(&self, text: &str) -> Option<serde_json::Result<A>> {
        self.decode.map(|decode| decode(text))
    }
}

impl<A> std::fmt::Debug for Snapshots<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("every", &self.every)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

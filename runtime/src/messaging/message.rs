//! The message traits the derives implement.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a message is for: an event has zero or many handlers, a command or query exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// Something that happened: `#[derive(DomainEvent)]`.
    Event,
    /// An intent to change state: `#[derive(Command)]`.
    Command,
    /// A question about state: `#[derive(Query)]`.
    Query,
}

impl MessageKind {
    /// The lower-case word for this kind, as used in messages and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Event => "event",
            MessageKind::Command => "command",
            MessageKind::Query => "query",
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message type with a stable wire name and version; implemented by the derives.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tidings message",
    label = "not an event, command or query",
    note = "derive it: `#[derive(tidings::DomainEvent)]`, `#[derive(tidings::Command)]` or `#[derive(tidings::Query)]`"
)]
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable wire name (`#[event(name = "..")]`), unique in the linked program.
    const NAME: &'static str;
    /// The schema version of this type (`#[event(version = N)]`), 1 by default.
    const VERSION: u32;
    /// Event, command or query.
    const KIND: MessageKind;
    /// The CloudEvents `source` of envelopes made here: `/` and the defining package's name.
    #[doc(hidden)]
    const SOURCE: &'static str;
    /// Reads the payload's own time (events with an `#[event(occurred_on)]` field).
    #[doc(hidden)]
    const OCCURRED_ON: fn(&Self) -> Option<DateTime<Utc>> = no_time::<Self>;
    /// Whether the type is an integration event (`#[event(integration)]`): one that leaves
    /// its context, published to other contexts by the relay. Read it through
    /// [`DomainEvent::INTEGRATION`] or in [`Bus::routes`](crate::Bus::routes).
    #[doc(hidden)]
    const INTEGRATION: bool = false;
    /// How the event travels in its own context (`#[event(travels = ..)]`). Read it through
    /// [`DomainEvent::TRAVELS`] or in [`Bus::routes`](crate::Bus::routes).
    #[doc(hidden)]
    const TRAVELS: Travels = Travels::Any;
    /// The type's fields as the derive read them (serde attributes, names and Rust types as
    /// written), one a line: what a schema snapshot compares.
    #[doc(hidden)]
    const SCHEMA: &'static str = "";
    /// The type's JSON Schema (`schemars::JsonSchema::json_schema`), which the derives
    /// implement with the `catalog` feature; `None` for a type that has none.
    #[cfg(feature = "catalog")]
    #[doc(hidden)]
    const JSON_SCHEMA: Option<SchemaFn> = None;
    /// The type's slot in every routing table, so a route is found without hashing.
    #[doc(hidden)]
    fn slot() -> &'static Slot;
}

/// A message type's JSON Schema: the whole document (`root`), or a reference to it among the
/// generator's definitions.
#[cfg(feature = "catalog")]
#[doc(hidden)]
pub type SchemaFn = fn(&mut schemars::SchemaGenerator, bool) -> schemars::Schema;

/// The [`SchemaFn`] of a type with a schema.
#[cfg(feature = "catalog")]
#[doc(hidden)]
pub fn schema_of<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
    root: bool,
) -> schemars::Schema {
    if root {
        generator.root_schema_for::<T>()
    } else {
        generator.subschema_for::<T>()
    }
}

/// The default `Message::OCCURRED_ON`: no time of its own.
fn no_time<M>(_: &M) -> Option<DateTime<Utc>> {
    None
}

/// A message type's index in routing tables: assigned once per process, on first use, so
/// every table of the process agrees on it. The derives give each type its own.
#[doc(hidden)]
#[derive(Debug)]
pub struct Slot(AtomicUsize);

const UNASSIGNED: usize = usize::MAX;

impl Slot {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Slot {
        Slot(AtomicUsize::new(UNASSIGNED))
    }

    /// The index, assigning the next free one the first time.
    #[inline]
    pub(crate) fn index(&self) -> usize {
        match self.0.load(Ordering::Relaxed) {
            UNASSIGNED => self.assign(),
            index => index,
        }
    }

    #[cold]
    fn assign(&self) -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
        match self
            .0
            .compare_exchange(UNASSIGNED, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            // Another thread assigned it first; `fresh` stays unused.
            Err(index) => index,
        }
    }
}

/// How an event travels in the context that makes it, as `#[event(travels = ..)]` declares:
/// which phases of handlers it reaches there. [`Bus::build`](crate::BusBuilder::build)
/// refuses a handler in a phase its event never reaches, naming the handler's file and line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Travels {
    /// Not declared: published, recorded in units of work, or both; every phase may run.
    #[default]
    Any,
    /// Only published (`bus.publish`, `ctx.publish`): its handlers run at once
    /// (`immediate`); no unit of work records it, so its `before_commit`, `after_commit` and
    /// `after_rollback` handlers would never run.
    Published,
    /// Only recorded in units of work (`tx.record`, an aggregate's decision): its
    /// `before_commit`, `after_commit` and `after_rollback` handlers run; an `immediate`
    /// handler would never run, except for an integration event, which an inbox delivers to
    /// the `immediate` handlers of the context that consumes it.
    Committed,
}

impl Travels {
    /// Whether an event that travels this way reaches handlers of `phase` (`integration`:
    /// whether it is an integration event, delivered by inboxes to `immediate` handlers).
    pub fn reaches(self, phase: crate::Phase, integration: bool) -> bool {
        match (self, phase) {
            (Travels::Any, _) => true,
            (Travels::Published, phase) => phase == crate::Phase::Immediate,
            (Travels::Committed, crate::Phase::Immediate) => integration,
            (Travels::Committed, _) => true,
        }
    }
}

impl std::fmt::Display for Travels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Travels::Any => "any",
            Travels::Published => "published",
            Travels::Committed => "committed",
        })
    }
}

/// Something that happened in the domain, named in the past tense.
///
/// Implemented by `#[derive(DomainEvent)]`; see the [crate docs](crate) for the attributes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a domain event",
    label = "an event handler takes `&E` or `&Envelope<E>` where `E` derives `DomainEvent`",
    note = "derive it with `#[derive(tidings::DomainEvent)]`; commands and queries are taken by value"
)]
pub trait DomainEvent: Message {
    /// Whether this event leaves its context (`#[event(integration)]`): the relay publishes
    /// the stored events of integration types to other contexts, and only those.
    const INTEGRATION: bool = <Self as Message>::INTEGRATION;

    /// How this event travels in its own context (`#[event(travels = published)]` or
    /// `#[event(travels = committed)]`): [`Bus::build`](crate::BusBuilder::build) refuses a
    /// handler in a phase that such an event never reaches.
    const TRAVELS: Travels = <Self as Message>::TRAVELS;

    /// The time carried by the payload itself (`#[event(occurred_on)]`), if any; otherwise
    /// the envelope is stamped when the event is published.
    fn occurred_on(&self) -> Option<DateTime<Utc>> {
        (Self::OCCURRED_ON)(self)
    }
}

/// What commands and queries have in common: one handler, a typed output and error.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command or a query",
    label = "a handler taking its message by value handles a command or a query",
    note = "derive `tidings::Command` or `tidings::Query` on it; an event handler takes `&{Self}` or `&Envelope<{Self}>`"
)]
pub trait Request: Message {
    /// What the handler returns on success (`output = T`, default `()`).
    type Output: Send + 'static;
    /// What the handler returns on failure (`error = E`); `Infallible` when none is declared.
    type Error: std::error::Error + Send + Sync + 'static;
    /// What the handler function returns: `Result<Output, Error>`, or `Output` when infallible.
    #[doc(hidden)]
    type Reply;
    #[doc(hidden)]
    fn into_result(reply: Self::Reply) -> Result<Self::Output, Self::Error>;
}

/// An intent to change state, handled by exactly one handler: `#[derive(Command)]`.
pub trait Command: Request {}

/// A question about state, answered by exactly one handler: `#[derive(Query)]`.
pub trait Query: Request {}

//! Domain events for Rust, wired at link time.
//!
//! A domain crate derives its messages and annotates plain functions as handlers; the program
//! that links those crates gets a complete, validated routing table with no registration code.
//!
//! ```
//! use tidings::{handler, Bus, Command, Context, DomainEvent};
//! use std::sync::Mutex;
//!
//! #[derive(DomainEvent, Debug, Clone, PartialEq)]
//! #[event(name = "ordering.order_started", version = 2)]
//! pub struct OrderStarted {
//!     pub order_id: u64,
//!     pub buyer: String,
//!     #[serde(default)]
//!     pub coupon: Option<String>,
//! }
//!
//! #[derive(Command, Debug)]
//! #[command(name = "ordering.start_order", output = u64)]
//! pub struct StartOrder { pub buyer: String }
//!
//! #[derive(Default)]
//! pub struct Ledger(Mutex<Vec<String>>);
//!
//! #[handler]
//! fn start_order(cmd: StartOrder, ctx: &Context) -> u64 {
//!     ctx.publish(OrderStarted { order_id: 7, buyer: cmd.buyer, coupon: None });
//!     7
//! }
//!
//! #[handler]
//! fn note_order(event: &OrderStarted, ledger: &Ledger) {
//!     ledger.0.lock().unwrap().push(format!("order {} for {}", event.order_id, event.buyer));
//! }
//!
//! let ledger = std::sync::Arc::new(Ledger::default());
//! let bus = Bus::builder().provide_arc(ledger.clone()).build()?;
//! let id = bus.send_sync(StartOrder { buyer: "ada".into() })?;
//! assert_eq!(id, 7);
//! assert_eq!(*ledger.0.lock().unwrap(), ["order 7 for ada"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`DomainEvent`], [`Command`] and [`Query`] are derived; the derive adds the wire name,
//!   version and serde impls, and registers the type so JSON decodes into it by name.
//! - [`handler`] registers a function; its first parameter is the message, the others are
//!   dependencies (`&T`, given with [`BusBuilder::provide`]) and the [`Context`].
//! - [`Bus::builder`]`().build()` validates the whole table at once: duplicate names,
//!   commands without exactly one handler, dependencies nobody provided.
//! - [`Envelope`] carries id (UUID v7), time, correlation and causation; its JSON form is a
//!   CloudEvents 1.0 structured event. [`AnyEnvelope`] is the type-erased form.
//! - [`upcaster`] turns an event's older version into the next; every read path decodes old
//!   data into the current type, and `build()` checks that each chain is complete.
//! - [`testing`] records what was published, replaces handlers in tests, and keeps a
//!   snapshot of the events' fields.
//!
//! Handlers in another crate are registered only if the program links that crate: name the
//! crates you rely on with [`linked!`] (see the README for the traps of link-time
//! registration).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

// Lets the crate's own tests use the derives, whose expansions name `::tidings`.
#[allow(unused_extern_crates)]
extern crate self as tidings;

pub mod broadcast;
mod diagnostics;
mod messaging;
pub mod persistence;
pub mod testing;

// The README's examples compile and run as doctests (its event store example needs SQLite).
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../../README.md")]
mod readme {}

pub use messaging::aggregate::{Aggregate, AggregateEvent, Snapshots};
pub use messaging::any::AnyEnvelope;
pub use messaging::bus::builder::{BusBuilder, LinkedCrate};
pub use messaging::bus::context::Context;
pub use messaging::bus::dispatch::any::PublishAnyError;
pub use messaging::bus::dispatch::subscribe::IntoHandlerResult;
pub use messaging::bus::live::Subscription;
pub use messaging::bus::location::Location;
pub use messaging::bus::origin::Origin;
pub use messaging::bus::ports::{EnvelopeRef, Observer};
pub use messaging::bus::problems::{BuildError, Problem, UpcastEnd};
pub use messaging::bus::registry::Phase;
pub use messaging::bus::routes::{HandlerRoute, MessageRoute, Routes};
pub use messaging::bus::{Bus, DEFAULT_MAX_DEPTH};
#[cfg(feature = "catalog")]
pub use messaging::catalog;
pub use messaging::cloudevents::DecodeError;
pub use messaging::envelope::{Envelope, Metadata};
pub use messaging::error::{BoxError, FailureReason, HandlerFailure, PublishError, SendError};
pub use messaging::message::{Command, DomainEvent, Message, MessageKind, Query, Request, Travels};
pub use messaging::process::{On, Process, Role, ScheduleId, Step, Unknown};
pub use messaging::trace::{TraceContextError, TraceParent, TraceState};
pub use messaging::values::ContextValue;
pub use persistence::pending::Pending;

/// Derives [`AggregateEvent`](trait@AggregateEvent) on an enum of an aggregate's events, one
/// variant per event type: decoding a stored event into the enum, the envelope of each, and
/// a `From` per event type.
///
/// ```
/// use tidings::{AggregateEvent, DomainEvent};
///
/// #[derive(DomainEvent, Debug, Clone)]
/// #[event(name = "docs.derive_book_lent")]
/// pub struct BookLent { pub reader: String }
///
/// #[derive(DomainEvent, Debug, Clone)]
/// #[event(name = "docs.derive_book_returned")]
/// pub struct BookReturned;
///
/// #[derive(AggregateEvent, Debug, Clone)]
/// pub enum LoanEvent {
///     Lent(BookLent),
///     Returned(BookReturned),
/// }
/// ```
///
/// - `#[aggregate_event(crate = path)]`: where to find `tidings` if the dependency is renamed.
///
/// A variant that wraps no event, or several, is rejected:
///
/// ```compile_fail
/// #[derive(tidings::AggregateEvent)]
/// enum LoanEvent { Lent, Returned }
/// ```
pub use tidings_macros::AggregateEvent;

/// Derives [`DomainEvent`](trait@DomainEvent): a wire name and version, `Serialize` and
/// `Deserialize`, and the registration that lets JSON decode into the type by name.
///
/// ```
/// use tidings::DomainEvent;
/// use chrono::{DateTime, Utc};
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "billing.invoice_sent", version = 3)]
/// #[serde(rename_all = "camelCase")]
/// pub struct InvoiceSent {
///     pub invoice_id: u64,
///     #[event(occurred_on)]
///     pub sent_at: DateTime<Utc>,
/// }
/// ```
///
/// - `name = ".."`: the stable wire name, unique in the program; default: the type's name.
/// - `version = N`: a positive integer, default 1.
/// - `integration`: the event leaves its context; the relay publishes it to other contexts.
/// - `travels = committed` (only recorded in units of work) or `travels = published` (only
///   published): [`Bus::build`](BusBuilder::build) refuses a handler in a phase the event
///   never reaches ([`Travels`]).
/// - `crate = path`: where to find `tidings` if the dependency is renamed (without it, the
///   derive reads the rename from Cargo.toml and says what to write).
/// - `#[event(occurred_on)]` on a `DateTime<Utc>` (or `Option<DateTime<Utc>>`) field: the
///   payload carries its own time, and its envelope uses it.
/// - `#[serde(..)]` attributes on the type and its fields are honoured; do not derive serde
///   yourself.
///
/// Generic types and unions are rejected:
///
/// ```compile_fail
/// #[derive(tidings::DomainEvent)]
/// struct Wrapped<T> { inner: T }
/// ```
pub use tidings_macros::DomainEvent;

/// Derives [`Command`](trait@Command): like [`DomainEvent`](derive@DomainEvent), plus the
/// handler's `output = T` (default `()`) and `error = E` (default: infallible, the handler
/// returns the output itself).
///
/// ```
/// #[derive(tidings::Command, Debug)]
/// #[command(name = "ordering.place_order", output = u64, error = std::io::Error)]
/// pub struct PlaceOrder { pub buyer: String }
/// ```
pub use tidings_macros::Command;

/// Derives [`Query`](trait@Query), with the same keys as [`Command`](derive@Command).
///
/// ```
/// #[derive(tidings::Query, Debug)]
/// #[query(name = "ordering.get_order", output = Option<String>)]
/// pub struct GetOrder { pub id: u64 }
/// ```
pub use tidings_macros::Query;

/// Derives [`Process`](trait@Process) on a process's state type, and registers its steps at
/// link time: one per event it lists, each a handler lent the delivery's transaction.
///
/// ```
/// use tidings::{BoxError, DomainEvent, Envelope, On, Process, Step};
/// use std::time::Duration;
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "docs.process_parcel_sent")]
/// pub struct ParcelSent { pub parcel: u64 }
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "docs.process_parcel_delivered")]
/// pub struct ParcelDelivered { pub parcel: u64 }
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "docs.process_parcel_late")]
/// pub struct ParcelLate { pub parcel: u64 }
///
/// #[derive(Process, Default, serde::Serialize, serde::Deserialize)]
/// #[process(name = "docs.delivery", store = sqlite,
///           start(ParcelSent), on(ParcelDelivered), timeouts(ParcelLate))]
/// pub struct Delivery { late: Option<tidings::ScheduleId> }
///
/// impl On<ParcelSent> for Delivery {
///     fn key(event: &ParcelSent) -> String { event.parcel.to_string() }
///     fn on(&mut self, event: &Envelope<ParcelSent>, step: &mut Step<'_>) -> Result<(), BoxError> {
///         let parcel = event.parcel;
///         self.late = Some(step.timeout_after(Duration::from_secs(3 * 86_400), ParcelLate { parcel }));
///         Ok(())
///     }
/// }
///
/// impl On<ParcelDelivered> for Delivery {
///     fn key(event: &ParcelDelivered) -> String { event.parcel.to_string() }
///     fn on(&mut self, _: &Envelope<ParcelDelivered>, step: &mut Step<'_>) -> Result<(), BoxError> {
///         if let Some(late) = self.late.take() {
///             step.cancel(late);
///         }
///         step.end();
///         Ok(())
///     }
/// }
///
/// impl On<ParcelLate> for Delivery {
///     fn key(event: &ParcelLate) -> String { event.parcel.to_string() }
///     fn on(&mut self, _: &Envelope<ParcelLate>, step: &mut Step<'_>) -> Result<(), BoxError> {
///         step.end();
///         Ok(())
///     }
/// }
/// ```
///
/// - `name = ".."`: the process's stable name, which its rows keep.
/// - `store = sqlite | postgres`: the store whose transaction delivers its events (an
///   inbox's delivery, or the delivery of due scheduled messages), with tidings' feature of
///   the same name (without it, the derive fails and names the feature).
/// - `start(..)`: the events that start an instance when none exists for their key;
///   `on(..)`: those that move an existing one on; `timeouts(..)`: those it schedules for
///   itself (`routes()` shows each step with its role, and the timeouts it emits).
/// - `unknown = ignore | start`: what an event for an instance that does not exist does when
///   it is not in `start(..)`: logged at WARN and ignored (the default), or a new instance.
///   An event for an instance that ended is logged at WARN and ignored.
/// - `crate = path`, as for [`handler`](macro@handler).
///
/// Each event listed needs an [`On`] impl, which gives its correlation key, and the state
/// must be `Default` and serialisable; either missing is a compile error at its token:
///
/// ```compile_fail
/// # use tidings::{DomainEvent, Process};
/// # #[derive(DomainEvent, Debug)] #[event(name = "docs.process_cf_sent")] pub struct ParcelSent { pub parcel: u64 }
/// #[derive(Process, Default, serde::Serialize, serde::Deserialize)]
/// #[process(name = "docs.delivery_cf", store = sqlite, start(ParcelSent))]
/// pub struct Delivery; // no `impl On<ParcelSent> for Delivery`
/// ```
pub use tidings_macros::Process;

/// Registers a function as a handler, at link time.
///
/// ```
/// # use tidings::{handler, Context, DomainEvent, Envelope};
/// # #[derive(DomainEvent)] struct OrderPaid { order_id: u64 }
/// # pub struct Mailer;
/// # impl Mailer { fn send(&self, _: &str) -> std::io::Result<()> { Ok(()) } }
/// #[handler(name = "billing.email_receipt")]
/// fn email_receipt(event: &Envelope<OrderPaid>, mailer: &Mailer) -> std::io::Result<()> {
///     mailer.send(&format!("order {} paid at {}", event.order_id, event.metadata().occurred_on()))
/// }
/// ```
///
/// - The first parameter is the message: `&E` or `&Envelope<E>` for an event, by value for
///   a command or query.
/// - Further parameters are `&T` dependencies (given to the builder with `provide`, and
///   `provide_arc` for trait objects: `&dyn Mailer`) and `&Context`.
/// - Return `()` or `Result<(), E>` for events; for a command or query, its declared output
///   (`Result<Output, Error>` when it declares an error). `async fn` works the same way.
/// - `name = ".."` (default: module path and function name), `phase = immediate |
///   before_commit | after_commit | after_rollback` (events only), `emits(A, B)` (the messages
///   it publishes, for the routing graph), `crate = path`.
/// - The function stays callable as written.
///
/// Mistakes are compile errors at the offending token:
///
/// ```compile_fail
/// # use tidings::{handler, DomainEvent};
/// # #[derive(DomainEvent)] struct OrderPaid { order_id: u64 }
/// # struct Stock;
/// #[handler]
/// fn reserve(event: &OrderPaid, stock: &mut Stock) {} // dependencies are shared: `&Stock`
/// ```
pub use tidings_macros::handler;

/// Registers an upcaster: a function that turns an event's older version into the next one,
/// so that every read path (stored events, [`AnyEnvelope::from_json`], ...) decodes old data
/// into the current type.
///
/// ```
/// use tidings::{upcaster, AnyEnvelope, DomainEvent, Envelope};
///
/// #[derive(DomainEvent, Debug)]
/// #[event(name = "docs.order_started", version = 1)]
/// pub struct OrderStartedV1 { pub order_id: u64 }
///
/// #[derive(DomainEvent, Debug, PartialEq)]
/// #[event(name = "docs.order_started", version = 2)]
/// pub struct OrderStarted { pub order_id: u64, pub currency: String }
///
/// #[upcaster]
/// fn order_started_v1(old: OrderStartedV1) -> OrderStarted {
///     OrderStarted { order_id: old.order_id, currency: "EUR".into() }
/// }
///
/// let old = Envelope::new(OrderStartedV1 { order_id: 7 }).to_json()?.to_string();
/// let new: Envelope<OrderStarted> = AnyEnvelope::from_json(&old)?.downcast().unwrap();
/// assert_eq!(new.payload(), &OrderStarted { order_id: 7, currency: "EUR".into() });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// - The typed form takes the old event by value and returns the new one (or
///   `Result<New, E>`); both derive [`DomainEvent`](trait@DomainEvent) with the same `name`,
///   and the new one has a higher `version`.
/// - The JSON form is for an old version with no Rust type left: `#[upcaster(name = "..",
///   from = 1, to = 2)]` on `fn(data: serde_json::Value) -> Value` (or `Result<Value, E>`).
/// - Either form may take the envelope's [`Metadata`] as a second parameter
///   (`meta: &Metadata`), for what the old payload lacks but its envelope holds: the event's
///   id, or its occurred-on time for a field the new version adds.
/// - Old data goes through one upcaster per step (v1 → v2 → v3), typed and JSON steps mixed;
///   the event with the highest version declared is the current one, and data of that version
///   decodes directly.
/// - `build()` checks the chains: every older version the program can meet (a type declared
///   with it, or one an upcaster reads) needs an upcaster from it, and only one. An upcaster
///   that fails gives [`DecodeError::UpcasterFailed`]; a version with no upcaster,
///   [`DecodeError::MissingUpcaster`].
/// - `crate = path` as for [`handler`](macro@handler).
///
/// Mistakes are compile errors at the offending token:
///
/// ```compile_fail
/// # use tidings::{upcaster, DomainEvent};
/// # #[derive(DomainEvent)] #[event(name = "docs.a", version = 1)] struct AV1 { id: u64 }
/// # #[derive(DomainEvent)] #[event(name = "docs.a", version = 2)] struct A { id: u64 }
/// #[upcaster]
/// fn a_v1(old: &AV1) -> A { A { id: old.id } } // by value: `old: AV1`
/// ```
pub use tidings_macros::upcaster;

/// Names a crate whose handlers the program relies on. It makes the linker keep that crate,
/// and [`BusBuilder::require`] checks at `build()` that its handlers are registered;
/// [`BusBuilder::only`] scopes a bus to the handlers of the crates it names.
///
/// ```ignore
/// let bus = tidings::Bus::builder()
///     .require(tidings::linked!(inventory_context))
///     // a dependency renamed in Cargo.toml: its crate name, then the name the program uses
///     .require(tidings::linked!(billing as billing_v2))
///     .build()?;
/// ```
///
/// Handlers record the crate they are defined in under its own name, which a program that
/// renamed the dependency does not see: give both names then.
/// `linked!(crate)` names the crate it is written in (a test binary, a doctest).
#[macro_export]
macro_rules! linked {
    (crate) => {
        $crate::LinkedCrate::here(::core::module_path!())
    };
    ($krate:ident) => {{
        extern crate $krate as _;
        $crate::LinkedCrate::new(::core::stringify!($krate))
    }};
    ($krate:ident as $renamed:ident) => {{
        extern crate $renamed as _;
        $crate::LinkedCrate::new(::core::stringify!($krate))
    }};
}

/// Expands to the items given when the `catalog` feature is on (the derives' `JsonSchema`
/// impls), and to nothing otherwise.
#[cfg(feature = "catalog")]
#[doc(hidden)]
#[macro_export]
macro_rules! __json_schema {
    ($($item:tt)*) => { $($item)* };
}

/// Expands to the items given when the `catalog` feature is on (the derives' `JsonSchema`
/// impls), and to nothing otherwise.
#[cfg(not(feature = "catalog"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __json_schema {
    ($($item:tt)*) => {};
}

/// In a derived `impl Message`: the type's JSON Schema, with the `catalog` feature.
#[cfg(feature = "catalog")]
#[doc(hidden)]
#[macro_export]
macro_rules! __json_schema_item {
    () => {
        const JSON_SCHEMA: ::core::option::Option<$crate::__private::SchemaFn> =
            ::core::option::Option::Some($crate::__private::schema_of::<Self>);
    };
}

/// In a derived `impl Message`: nothing without the `catalog` feature.
#[cfg(not(feature = "catalog"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __json_schema_item {
    () => {};
}

/// What the macros expand to. Not a public API: it changes without notice.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

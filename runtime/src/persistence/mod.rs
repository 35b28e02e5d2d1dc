//! The persistence layer: events an aggregate recorded ([`Pending`](crate::Pending)), and the
//! event store they are appended to.
//!
//! It builds on the core (envelopes, the registry) and the core knows nothing of it.
//!
//! ```
//! use tidings::persistence::{EventStore, ExpectedVersion, InMemoryStore, NewEvent, StoreError};
//! use tidings::{DomainEvent, Pending};
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.ticket_sold")]
//! struct TicketSold { seat: u32 }
//!
//! # futures_executor(async {
//! let store = InMemoryStore::new();
//! let mut pending = Pending::new();
//! pending.record(TicketSold { seat: 12 });
//! pending.record(TicketSold { seat: 13 });
//! let events: Vec<NewEvent> =
//!     pending.take().iter().map(NewEvent::from_any).collect::<Result<_, _>>()?;
//!
//! store.append("show-1", ExpectedVersion::NoStream, &events).await?;
//! // A writer that loaded the stream before that append loses:
//! let late = store.append("show-1", ExpectedVersion::NoStream, &events[..0]).await;
//! assert!(matches!(late, Err(StoreError::Conflict { actual: 2, .. })));
//!
//! let sold = store.read_all(0, 100).await?;
//! assert_eq!(sold.len(), 2);
//! assert_eq!(sold[1].decode_as::<TicketSold>()?.seat, 13);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # fn futures_executor<T>(f: impl std::future::Future<Output = T>) -> T {
//! #     let mut f = std::pin::pin!(f);
//! #     match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
//! #         std::task::Poll::Ready(out) => out,
//! #         std::task::Poll::Pending => unreachable!("the in-memory store never waits"),
//! #     }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`EventStore`]: append to a stream with an [`ExpectedVersion`], read everything after a
//!   global position, read one stream. Its methods are async (return-position `impl Future +
//!   Send`), one shape for embedded and server backends alike.
//! - [`InMemoryStore`] for tests; `sqlite::SqliteStore` (feature `sqlite`) for an embedded
//!   store in one file, whose free functions also append inside a transaction of yours;
//!   `postgres::PostgresStore` (feature `postgres`) for a store that several processes and
//!   machines share, with the same free functions for a `sqlx` transaction.
//! - [`NewEvent`] is an event serialized for appending; [`StoredEvent`] is one read back,
//!   decoded through the registry with [`StoredEvent::decode`] or
//!   [`StoredEvent::decode_as`].
//! - [`Aggregate`](crate::Aggregate)s rebuild their state from their stream. The everyday
//!   command is one call, `store.execute(&bus, stream, decide)`: load the aggregate inside a
//!   unit of work (from its snapshot and the events after it), decide, append with the loaded
//!   version as the expected one, commit with the phases' handlers, and on a conflict load
//!   again and retry. [`UnitOfWork`]'s `load` and [`UnitOfWork::save`] do the same for
//!   several aggregates in one transaction; [`Loaded`] outside any.
//! - `conformance` (feature `conformance`): the tests every backend passes, for your own.
//!
//! # Why three ways to append
//!
//! - The [`EventStore`] trait is async because server backends (PostgreSQL) are; its methods
//!   return `impl Future + Send` (no boxing, usable from multi-threaded runtimes). Code that
//!   works with any backend is generic over `S: EventStore`.
//! - The embedded stores also have synchronous methods (`append_sync`, …): SQLite is
//!   synchronous, and a program without an async runtime must not need one to store events.
//! - A unit of work must store events in the same transaction as the user's own writes. The
//!   SQLite backend's free functions (`sqlite::append` and the readers) take the user's
//!   `rusqlite::Transaction` as an argument: the transaction is always passed explicitly,
//!   never found in thread-local state.

pub(crate) mod aggregate;
#[cfg(feature = "conformance")]
pub mod conformance;
mod event;
mod execute;
mod memory;
pub(crate) mod pending;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod process;
pub mod schedule;
pub(crate) mod snapshot;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store;
pub(crate) mod unit_of_work;

pub use aggregate::{Embedded, LoadError, Loaded};
pub use event::{NewEvent, StoredDecodeError, StoredEvent};
pub use execute::{CommandError, Execute, DEFAULT_ATTEMPTS};
pub use memory::InMemoryStore;
pub use store::{Appended, EventStore, ExpectedVersion, StoreError};
pub use unit_of_work::{Committed, UnitOfWork, UnitOfWorkError};

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
//! - [`EventSourced`] aggregates rebuild their state from their stream: [`Loaded::load`] applies
//!   the stream's events, [`Loaded::record`] applies and keeps new ones, [`Loaded::save`]
//!   appends them expecting the version that was loaded (a conflict is a typed error to retry).
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

mod aggregate;
#[cfg(feature = "conformance")]
pub mod conformance;
mod event;
mod memory;
pub(crate) mod pending;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store;
pub(crate) mod unit_of_work;

pub use aggregate::{EventSourced, LoadError, Loaded};
pub use event::{NewEvent, StoredDecodeError, StoredEvent};
pub use memory::InMemoryStore;
pub use store::{Appended, EventStore, ExpectedVersion, StoreError};
pub use unit_of_work::{Committed, UnitOfWork, UnitOfWorkError};

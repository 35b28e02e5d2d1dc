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
//! - `conformance` (feature `conformance`): the tests every backend passes, for your own.

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

pub use event::{NewEvent, StoredDecodeError, StoredEvent};
pub use memory::InMemoryStore;
pub use store::{Appended, EventStore, ExpectedVersion, StoreError};

//! The broadcasting layer: integration events leave the context, and other contexts' events
//! come in.
//!
//! The event store is the outbox: the events a unit of work appends commit with the user's
//! writes, in one global order that a reader never skips through, so every event that should leave is already durable
//! there. What reads it is a **catch-up processor** ([`CatchUp`]): it reads the events after
//! its checkpoint, hands them to a handler, and advances the checkpoint, kept by name in the
//! store's database ([`Checkpoints`]). A read-model projection is one; the relay to a broker
//! is another; either replays from zero on demand.
//!
//! - [`CatchUp`], [`Checkpoints`], [`Handle`]: the processor and its ports.
//! - [`Leases`]: one instance at a time runs a processor (the relay of a destination).
//! - [`Inbox`]: a consumer's record of the events it had its effect for.
//! - `sqlite` (feature `sqlite`): checkpoints and leases in the SQLite store, a
//!   [`Projection`](sqlite::Projection) that saves its checkpoint in the transaction of its
//!   writes (exactly once in effect), and [`SqliteInbox`](sqlite::SqliteInbox).
//! - `postgres` (feature `postgres`): the same in the PostgreSQL store, async: leases on the
//!   database's clock, a `Projection` several instances may run, and a `PostgresInbox` whose
//!   handlers write through the delivery's transaction, a
//!   `PostgresTransaction` context value.
//! - `amqp` (features `amqp` and `tokio`): the relay to RabbitMQ and the consumer, with the
//!   delivery guarantees spelled out.
//! - `http` (feature `http`): the HTTP feed of the store's events, pages of CloudEvents JSON
//!   and a live tail ([`Feed`](http::Feed)), over any [`EventStore`](crate::persistence::EventStore).
//!
//! Which events leave is declared on the type: `#[event(name = "..", integration)]`, shown in
//! [`Bus::routes`](crate::Bus::routes).
//!
//! A read model kept by a catch-up processor over the SQLite store:
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tidings::broadcast::{CatchUp, Handle};
//! use tidings::persistence::sqlite::SqliteStore;
//! use tidings::persistence::{EventStore, ExpectedVersion, NewEvent, StoredEvent};
//! use tidings::{DomainEvent, Envelope};
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.broadcast_parcel_sent")]
//! struct ParcelSent { parcel: u64 }
//!
//! /// How many parcels left.
//! struct Sent(usize);
//!
//! impl Handle for Sent {
//!     type Error = std::convert::Infallible;
//!     async fn handle(&mut self, events: &[StoredEvent]) -> Result<(), Self::Error> {
//!         self.0 += events.len();
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let store = Arc::new(SqliteStore::open_in_memory()?);
//! let sent = NewEvent::from_envelope(&Envelope::new(ParcelSent { parcel: 1 }))?;
//! store.append("parcel-1", ExpectedVersion::NoStream, &[sent]).await?;
//!
//! let processor = CatchUp::new(store.clone(), "parcels-sent");
//! let mut read_model = Sent(0);
//! processor.run(&mut read_model).await?;
//! processor.run(&mut read_model).await?; // nothing after its checkpoint now
//! assert_eq!(read_model.0, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```

#[cfg(feature = "amqp")]
pub mod amqp;
#[cfg(feature = "broker")]
mod backoff;
#[cfg(feature = "broker")]
mod bounded;
#[cfg(feature = "broker")]
pub mod broker;
mod catch_up;
#[cfg(feature = "broker")]
mod consumer;
mod due;
#[cfg(feature = "http")]
pub mod http;
mod inbox;
mod lease;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
mod projection;
#[cfg(feature = "broker")]
mod relay;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "broker")]
mod status;

pub use catch_up::{Batch, CatchUp, CatchUpError, Checkpoints, Handle};
pub use inbox::{Delivered, Inbox, InboxError};
pub use lease::Leases;
pub use projection::ProjectionError;
#[cfg(feature = "broker")]
pub use {
    bounded::Unanswered,
    consumer::Consumer,
    relay::Relay,
    status::{Activity, ConsumerStatus, RelayStatus},
};

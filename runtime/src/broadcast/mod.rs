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

#[cfg(feature = "amqp")]
pub mod amqp;
mod catch_up;
mod due;
#[cfg(feature = "http")]
pub mod http;
mod inbox;
mod lease;
#[cfg(feature = "postgres")]
pub mod postgres;
mod projection;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use catch_up::{Batch, CatchUp, CatchUpError, Checkpoints, Handle};
pub use inbox::{Delivered, Inbox, InboxError};
pub use lease::Leases;
pub use projection::ProjectionError;

//! Broadcasting over RabbitMQ (AMQP 0-9-1, through lapin; features `amqp` and `tokio`).
//!
//! - [`Relay`]: a catch-up processor over the event store that publishes integration events
//!   (`#[event(integration)]`) to a topic exchange, routed by event name, with publisher
//!   confirms, in batches; its checkpoint (`relay:<exchange>`) advances only once the whole
//!   batch is confirmed.
//! - [`Consumer`]: reads a queue, decodes each message through the registry, and hands it to
//!   an [`Inbox`](crate::broadcast::Inbox), which runs the bus's handlers and records the
//!   event id with their effects; acknowledges after the commit.
//! - [`Topology`]: the exchange, the durable quorum queue and its dead-letter queue.
//! - [`binding`]: the CloudEvents AMQP binding (binary mode) both use.
//!
//! # Guarantees
//!
//! - **At least once, in order, per destination.** The relay publishes the events after its
//!   checkpoint in store order on one channel and advances the checkpoint only when the
//!   broker confirmed all of them. A relay killed at any moment, a connection that drops
//!   with confirms pending (they count as not confirmed: lapin's recovery is not used, see
//!   lapin #450), a nack or a broker restart all lead to the same thing: the unconfirmed
//!   events are published again, from the checkpoint. So a consumer may see an event twice,
//!   and a repeat may come after later events; the first time each event arrives is in store
//!   order.
//! - **One publisher per destination.** Several relay instances may run; a lease in the
//!   store's database lets one publish each exchange, and another takes over when it dies
//!   (after at most one lease time). See [`Leases`](crate::broadcast::Leases) for why.
//! - **Exactly once in effect**, for effects written in the inbox's transaction: the consumer
//!   records each event id with the handlers' writes and acknowledges after the commit, so a
//!   redelivery (after a crash, a lost ack, or a relay's republishing) finds the id and runs
//!   nothing. Effects outside that transaction (an e-mail, a call to another service) are
//!   at least once.
//! - **Order for a consumer** holds with one consumer on the queue, or with
//!   [`Topology::single_active_consumer`]; competing consumers share the load without order.
//! - **Poison messages do not block.** A message that cannot be decoded goes to the
//!   dead-letter queue with the reason in the `tidings-dead-letter-reason` header; one whose
//!   handlers keep failing is dead-lettered by the broker after the queue's delivery limit.
//!   The rest of the queue goes on.
//! - **Broker down.** Both back off (100 ms, doubling, up to 5 s) and resume from where they
//!   were: the relay from its checkpoint, the consumer from the queue. A broker that stops
//!   answering without closing the connection gets 30 s for each call (the connection's
//!   setup, a publish, an acknowledgement; a confirm gets the relay's confirm timeout), and a
//!   waiting consumer checks its connection every second; then the attempt starts again on a
//!   fresh connection ([`Unanswered`],
//!   [`ConsumeError::Disconnected`]).
//!
//! The relay's process must link the crates that declare the integration events: it reads
//! `#[event(integration)]` from the link-time registry, by event name.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tidings::broadcast::amqp::{Consumer, Relay, Topology};
//! # #[cfg(feature = "sqlite")]
//! use tidings::broadcast::sqlite::SqliteInbox;
//! # #[cfg(feature = "sqlite")]
//! use tidings::persistence::sqlite::SqliteStore;
//! use tidings::Bus;
//!
//! # #[cfg(feature = "sqlite")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let uri = "amqp://guest:guest@127.0.0.1:5672/%2f";
//! // The producing context: its store is the outbox, and the relay publishes its
//! // integration events to the exchange `ordering`.
//! let relay = Relay::new(Arc::new(SqliteStore::open("ordering.db")?), uri, "ordering");
//! // The consuming context: its queue, bound to that exchange, read through its inbox.
//! let inbox = SqliteInbox::open("shipping.db")?;
//! let bus = Bus::builder().build()?;
//! let consumer = Consumer::new(uri, Topology::new("ordering", "shipping"));
//! let (relayed, consumed) = tokio::join!(
//!     relay.run_until(std::future::pending()),
//!     consumer.run_until(&inbox, &bus, std::future::pending()),
//! );
//! relayed?; // only what retrying cannot fix ends them: a refused password, say
//! consumed?;
//! # Ok(())
//! # }
//! ```

/// The AMQP client the relay, the consumer and [`Topology::declare`] speak through, at the
/// version they use: its types appear in their signatures.
pub use lapin;

pub mod binding;
mod consumer;
mod relay;
mod report;
mod topology;

pub use crate::broadcast::broker::DeadLetter;
pub use crate::broadcast::status::{Activity, ConsumerStatus, RelayStatus};
pub use crate::broadcast::Unanswered;
pub use consumer::{ConsumeError, Consumer, Queue, QueueDelivery, Session};
pub use relay::{Exchange, Relay, RelayError};
pub use report::{Refusal, Refused};
pub use topology::Topology;

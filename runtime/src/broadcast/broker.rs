//! The broker port: what the [`Relay`](super::Relay) and the [`Consumer`](super::Consumer)
//! need of a broker, and nothing of how one carries it.
//!
//! The relay and the consumer are written once, above this port: the checkpoint, the lease,
//! the batches and what is filtered out of them; the inbox, the decisions about a message
//! that cannot be decoded or whose handlers fail; the waits between attempts, the status and
//! the metrics. A broker gives:
//!
//! - to the relay, a [`Publisher`]: open a channel, publish a batch of stored events and await
//!   each acknowledgement, bounded in time;
//! - to the consumer, a [`Subscriber`]: open a session (declaring what it needs), receive
//!   [`Delivery`]s one at a time, and for each: decode it, acknowledge it, give it back for
//!   another try, or put it in the dead letters with the reason.
//!
//! tidings implements it for RabbitMQ ([`amqp`](super::amqp), feature `amqp`) and NATS
//! JetStream ([`nats`](super::nats), feature `nats`).
//!
//! A broker of one's own implements the port, and the relay runs over it as over RabbitMQ.
//! Here, a log in memory that takes every event at once:
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::{Arc, Mutex};
//! use std::time::Instant;
//! use tidings::broadcast::broker::{BrokerError, Publisher, Unanswered};
//! use tidings::broadcast::Relay;
//! use tidings::persistence::sqlite::SqliteStore;
//! use tidings::persistence::{EventStore, ExpectedVersion, NewEvent, StoreError, StoredEvent};
//! use tidings::{DomainEvent, Envelope};
//!
//! #[derive(DomainEvent, Debug)]
//! #[event(name = "docs.broker_parcel_sent", integration)]
//! struct ParcelSent { parcel: u64 }
//!
//! /// The names of the events it took, in order.
//! #[derive(Default)]
//! struct Log(Mutex<Vec<String>>);
//!
//! /// What the relay over it can fail with: the store, or a call that took too long.
//! #[derive(Debug)]
//! struct LogError(String);
//!
//! impl std::fmt::Display for LogError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str(&self.0)
//!     }
//! }
//! impl std::error::Error for LogError {}
//! impl From<StoreError> for LogError {
//!     fn from(error: StoreError) -> LogError { LogError(error.to_string()) }
//! }
//! impl From<Unanswered> for LogError {
//!     fn from(error: Unanswered) -> LogError { LogError(error.to_string()) }
//! }
//! impl BrokerError for LogError {
//!     fn is_permanent(&self) -> bool { false }
//! }
//!
//! impl Publisher for Log {
//!     type Channel = ();
//!     type Error = LogError;
//!
//!     fn destination(&self) -> &str { "parcels" }
//!
//!     async fn connect(&self, _relay: &str) -> Result<(), LogError> { Ok(()) }
//!
//!     async fn publish(
//!         &self,
//!         _channel: &mut (),
//!         events: &[StoredEvent],
//!         _deadline: Instant,
//!     ) -> Result<bool, LogError> {
//!         let mut log = self.0.lock().unwrap();
//!         log.extend(events.iter().map(|event| event.name().to_owned()));
//!         Ok(true) // every event acknowledged
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let store = Arc::new(SqliteStore::open_in_memory()?);
//! let sent = NewEvent::from_envelope(&Envelope::new(ParcelSent { parcel: 1 }))?;
//! store.append("parcel-1", ExpectedVersion::NoStream, &[sent]).await?;
//!
//! // The relay's checkpoint and lease are `relay:parcels`, in the store's database.
//! let relay = Relay::over(store, Log::default());
//! relay.publish_pending().await?;
//! assert_eq!(*relay.publisher().0.lock().unwrap(), ["docs.broker_parcel_sent"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```

use crate::broadcast::inbox::InboxError;
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::Bus;
use crate::messaging::cloudevents::DecodeError;
use crate::persistence::{StoreError, StoredEvent};
use std::future::Future;
use std::time::Instant;

pub use super::bounded::Unanswered;

/// An error of a broker's relay or consumer: whether retrying can fix it.
pub trait BrokerError: std::error::Error + From<Unanswered> + Send + Sync + 'static {
    /// Whether retrying cannot fix it (the broker refused the credentials, say): the relay
    /// or consumer then stops and returns it, instead of waiting and trying again.
    fn is_permanent(&self) -> bool;
}

/// What the relay needs of a broker: a channel to publish on, and batches published on it
/// with every acknowledgement awaited.
pub trait Publisher: Send + Sync + 'static {
    /// One connection's worth of publishing; dropped when an attempt ends.
    type Channel: Send;
    /// What the relay fails with: the broker's errors, and the store's.
    type Error: BrokerError + From<StoreError>;

    /// The destination's name: the relay's checkpoint and lease are `relay:<destination>`.
    fn destination(&self) -> &str;

    /// Connects, declares what publishing needs, and returns the channel; bounded in time.
    /// `relay` names the relay (as the broker's tools show its connection).
    fn connect(
        &self,
        relay: &str,
    ) -> impl Future<Output = Result<Self::Channel, Self::Error>> + Send;

    /// Publishes `events` in order and awaits the broker's acknowledgement of each, bounded
    /// in time: `Ok(true)` once all are acknowledged, `Ok(false)` when `deadline` (the
    /// relay's lease running short) passed before all were sent, and an error when any was
    /// refused or unanswered. The relay counts nothing as published unless it gets
    /// `Ok(true)`, and publishes them again from its checkpoint.
    fn publish(
        &self,
        channel: &mut Self::Channel,
        events: &[StoredEvent],
        deadline: Instant,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// What a consumer needs of a broker: a session that receives deliveries.
pub trait Subscriber: Send + Sync + 'static {
    /// One connection's worth of consuming.
    type Session: Send;
    /// A message received, not yet settled.
    type Delivery: Delivery<Error = Self::Error>;
    /// What the consumer fails with.
    type Error: BrokerError;

    /// The name of what is consumed (a queue, a durable consumer), for logs and metrics.
    fn source(&self) -> &str;

    /// Checks, before connecting, that this program can take what the source is bound to:
    /// an error here stops the consumer when permanent.
    fn check(&self, bus: &Bus) -> Result<(), Self::Error>;

    /// Connects, declares what consuming needs (and claims the source for this context when
    /// the broker supports it), and starts receiving; bounded in time.
    fn open(&self, bus: &Bus) -> impl Future<Output = Result<Self::Session, Self::Error>> + Send;

    /// The next delivery, or news while waiting for one. Fails when the connection is lost
    /// while waiting.
    fn next(
        &self,
        session: &mut Self::Session,
    ) -> impl Future<Output = Result<Next<Self::Delivery>, Self::Error>> + Send;

    /// Closes the session once the consumer is asked to stop, so that the broker gives what
    /// it sent ahead to the next consumer at once.
    fn close(&self, session: Self::Session)
        -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The error for an inbox that failed (its database, say): the message is given back,
    /// and the attempt starts again.
    fn inbox_failed(&self, error: InboxError) -> Self::Error;
}

/// A message received by a consumer, settled exactly one way.
pub trait Delivery: Send {
    /// What settling it fails with.
    type Error: BrokerError;

    /// The event it carries, decoded through the registry; the reason when it cannot be.
    fn decode(&self) -> Result<AnyEnvelope, DecodeError>;

    /// Whether the broker will not deliver it again after this try (its delivery limit is
    /// reached): handlers that fail now send it to the dead letters rather than back.
    fn last_try(&self) -> bool {
        false
    }

    /// Acknowledges it: done.
    fn ack(self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Gives it back for another try.
    fn retry(self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Puts a copy in the dead letters with `reason`, awaiting the broker's acknowledgement,
    /// then acknowledges it.
    fn dead_letter(self, reason: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What a [`Subscriber`] receives next.
#[derive(Debug)]
#[non_exhaustive]
pub enum Next<D> {
    /// A message.
    Delivery(D),
    /// No message yet; the messages waiting for the consumer, as the broker says.
    Waiting(u64),
    /// The broker ended the deliveries (the queue was deleted, say): the consumer starts
    /// again.
    Ended,
}

/// A message in a consumer's dead letters: [`amqp::Consumer::dead_letters`] and
/// [`nats::Consumer::dead_letters`].
///
/// [`amqp::Consumer::dead_letters`]: crate::broadcast::Consumer::dead_letters
/// [`nats::Consumer::dead_letters`]: crate::broadcast::Consumer::dead_letters
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The event's id, when the message carries one.
    pub id: Option<String>,
    /// The event's type (its wire name), when the message carries one.
    pub event: Option<String>,
    /// Why it is there: the consumer's reason (`tidings-dead-letter-reason`), or the
    /// broker's (RabbitMQ's `delivery_limit` for a message whose handlers kept failing).
    pub reason: String,
}

/// The integration events of this program that `binds` takes (by wire name) and no handler
/// of it takes: a consumer bound to them would only dead-letter their messages.
#[cfg_attr(not(any(feature = "amqp", feature = "nats")), allow(dead_code))]
pub(crate) fn unhandled(bus: &Bus, binds: impl Fn(&str) -> bool) -> Vec<String> {
    bus.routes()
        .messages
        .iter()
        .filter(|m| m.integration && binds(m.name))
        .filter(|m| m.handlers.iter().all(|h| h.phase != Phase::Immediate))
        .map(|m| m.name.to_owned())
        .collect()
}

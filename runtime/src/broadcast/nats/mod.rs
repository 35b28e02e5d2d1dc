//! Broadcasting over NATS JetStream (through async-nats; features `nats` and `tokio`).
//!
//! The relay and the consumer are the ones RabbitMQ's are ([`broadcast::Relay`] and
//! [`broadcast::Consumer`] over the [broker port](crate::broadcast::broker)); this module is
//! how JetStream carries what they send.
//!
//! - [`Relay`]: a catch-up processor over the event store that publishes integration events
//!   (`#[event(integration)]`) to a stream, each to the subject `<stream>.<event name>` with
//!   the event's id as its message id, awaiting every publish acknowledgement; its
//!   checkpoint (`relay:<stream>`) advances only once the whole batch is acknowledged.
//! - [`Consumer`]: a durable pull consumer of the stream; decodes each message through the
//!   registry and hands it to an [`Inbox`](crate::broadcast::Inbox), which runs the bus's
//!   handlers and records the event id with their effects; acknowledges after the commit.
//! - [`binding`]: the CloudEvents NATS binding (binary mode, `ce-` headers) both use.
//!
//! # Guarantees
//!
//! - **At least once, in order, per destination.** The relay publishes the events after its
//!   checkpoint in store order and advances the checkpoint only when the stream acknowledged
//!   all of them. A relay killed at any moment, an acknowledgement that does not come, or a
//!   server restart all lead to the same thing: the unacknowledged events are published
//!   again, from the checkpoint. JetStream drops those whose message id it stored within its
//!   de-duplication window ([`Relay::duplicate_window`]), so the stream mostly holds each
//!   event once; the consumer's inbox absorbs any repeat that gets through.
//! - **One publisher per destination**, by the lease in the store's database, as for
//!   RabbitMQ (see [`Leases`](crate::broadcast::Leases)).
//! - **Exactly once in effect**, for effects written in the inbox's transaction: the consumer
//!   acknowledges (and awaits the server's confirmation of the acknowledgement) after the
//!   commit, so a redelivery finds the id and runs nothing.
//! - **Order for a consumer.** With one message in flight (the default,
//!   [`Consumer::in_flight`]), the consumer sees the stream in order: a message whose
//!   handlers fail comes back before the next, and one held by a consumer that died comes
//!   back (after the acknowledgement wait, [`Consumer::ack_wait`]) before the next.
//!   Several consumers of one durable consumer, or more in flight, share the load without
//!   order.
//! - **Poison messages do not block.** A message that cannot be decoded, or has no handler,
//!   goes to the dead-letter subject `tidings.dead_letters.<stream>.<durable>` (its own
//!   stream, `<stream>-<durable>-dead-letters`) with the reason in the
//!   `tidings-dead-letter-reason` header; one whose handlers failed on its last delivery
//!   ([`Consumer::max_deliver`]) goes there too. [`Consumer::dead_letters`] lists them;
//!   [`Consumer::replay_dead_letters`] puts them back once their cause is fixed.
//! - **Server down.** Both back off (100 ms, doubling, up to 5 s) and resume on a fresh
//!   connection: the relay from its checkpoint, the consumer from the durable consumer's
//!   position. Every call is bounded in time, and a consumer waiting for messages checks its
//!   connection every second.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tidings::broadcast::nats::{Consumer, Relay};
//! # #[cfg(feature = "sqlite")]
//! use tidings::broadcast::sqlite::SqliteInbox;
//! # #[cfg(feature = "sqlite")]
//! use tidings::persistence::sqlite::SqliteStore;
//! use tidings::Bus;
//!
//! # #[cfg(feature = "sqlite")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "nats://127.0.0.1:4222";
//! // The producing context: its store is the outbox, and the relay publishes its
//! // integration events to the stream `ordering`.
//! let relay = Relay::new(Arc::new(SqliteStore::open("ordering.db")?), url, "ordering");
//! // The consuming context: its durable consumer of that stream, read through its inbox.
//! let inbox = SqliteInbox::open("shipping.db")?;
//! let bus = Bus::builder().build()?;
//! let consumer = Consumer::new(url, "ordering", "shipping");
//! let (relayed, consumed) = tokio::join!(
//!     relay.run_until(std::future::pending()),
//!     consumer.run_until(&inbox, &bus, std::future::pending()),
//! );
//! relayed?; // only what retrying cannot fix ends them: a refused password, say
//! consumed?;
//! # Ok(())
//! # }
//! ```
//!
//! [`broadcast::Relay`]: crate::broadcast::Relay
//! [`broadcast::Consumer`]: crate::broadcast::Consumer

/// The NATS client the relay and the consumer speak through, at the version they use: its
/// types appear in their signatures.
pub use async_nats;

pub mod binding;
mod consumer;
mod relay;

pub use consumer::{ConsumeError, Consumer, Durable, DurableDelivery, Session};
pub use relay::{Relay, RelayError, Stream};

use crate::broadcast::bounded;
use async_nats::{Client, ConnectErrorKind};

/// The server refused something that will be refused again however often it is retried: the
/// relay or consumer stops and returns it, naming the fix.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {fix}")]
pub struct Refused {
    what: String,
    fix: &'static str,
}

impl Refused {
    /// What was refused, as the server or client said it.
    pub fn what(&self) -> &str {
        &self.what
    }
}

/// A fresh connection named `name`, which does not reconnect by itself: an attempt that
/// loses it starts again on a fresh one. `Ok` in the error: what retrying cannot fix.
async fn connect(url: &str, name: &str) -> Result<Client, Result<Refused, async_nats::Error>> {
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(bounded::SETUP)
        .max_reconnects(1)
        .connect(url)
        .await
        .map_err(|error| match error.kind() {
            ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                Ok(Refused {
                    what: error.to_string(),
                    fix: "check the user, password or token in the URL and the user's \
                          permissions on the server",
                })
            }
            ConnectErrorKind::ServerParse => Ok(Refused {
                what: format!("`{url}`: {error}"),
                fix: "write the server's URL as `nats://host:port`",
            }),
            _ => Err(error.into()),
        })
}

/// What JetStream accepts as a stream's or a durable consumer's name.
mod names {
    use super::Refused;

    fn check(kind: &str, name: &str) -> Result<(), Refused> {
        let bad = name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'));
        if bad {
            return Err(Refused {
                what: format!("`{name}` cannot name a JetStream {kind}"),
                fix: "use letters, digits, `-` and `_` (no `.`, `*`, `>`, slashes or spaces)",
            });
        }
        Ok(())
    }

    pub(super) fn check_stream(name: &str) -> Result<(), Refused> {
        check("stream", name)
    }

    pub(super) fn check_durable(name: &str) -> Result<(), Refused> {
        check("durable consumer", name)
    }
}

//! The relay to NATS JetStream: the [`Publisher`] of a stream, each publish acknowledged.

use super::binding;
use super::{connect, names, Refused};
use crate::broadcast::bounded::{self, within, Unanswered};
use crate::broadcast::broker::{BrokerError, Publisher};
use crate::broadcast::catch_up::Checkpoints;
use crate::broadcast::lease::Leases;
use crate::persistence::{EventStore, StoreError, StoredEvent};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Publishes the store's integration events to a JetStream stream, in store order, each
/// acknowledged by the stream; see the [module docs](super) for what it guarantees. The
/// relay is written once for every broker ([`broadcast::Relay`](crate::broadcast::Relay));
/// this is it over NATS JetStream.
pub type Relay<S> = crate::broadcast::Relay<S, Stream>;

/// The relay's side of JetStream: a stream that takes the subjects `<stream>.>`, each event
/// published to `<stream>.<event name>` with its id as the message id ([`Publisher`]).
#[derive(Debug, Clone)]
pub struct Stream {
    url: String,
    stream: String,
    ack_timeout: Duration,
    duplicate_window: Duration,
}

/// What stopped a relay's attempt. [`Relay::run_until`](crate::broadcast::Relay::run_until)
/// returns a [`Refused`] (which retrying cannot fix); it logs the others, waits and tries
/// again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The server could not be reached, or the connection failed.
    #[error("the NATS server failed: {0}")]
    Broker(#[source] async_nats::Error),
    /// The server refused what retrying cannot fix (the credentials, a stream name).
    #[error("the relay cannot publish: {0}")]
    Refused(#[from] Refused),
    /// The stream refused a message, or its acknowledgement did not come: it and the rest
    /// of its batch are published again.
    #[error("the stream did not acknowledge the event at position {position}: {source}")]
    NotAcknowledged {
        /// The event's position.
        position: u64,
        /// What the client said.
        #[source]
        source: async_nats::Error,
    },
    /// The server did not answer in time (while connecting or publishing).
    #[error(transparent)]
    Unanswered(#[from] Unanswered),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    /// An event's metadata could not be written as headers.
    #[error("the event at position {position} cannot be encoded: {source}")]
    Encode {
        /// The event's position.
        position: u64,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}

impl RelayError {
    /// Whether retrying cannot fix it: [`RelayError::Refused`].
    pub fn is_permanent(&self) -> bool {
        matches!(self, RelayError::Refused(_))
    }
}

impl BrokerError for RelayError {
    fn is_permanent(&self) -> bool {
        RelayError::is_permanent(self)
    }
}

impl Stream {
    /// The JetStream stream `stream` of the server at `url` (`nats://host:port`); declared
    /// (file storage, subjects `<stream>.>`) when it does not exist.
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Stream {
        Stream {
            url: url.into(),
            stream: stream.into(),
            ack_timeout: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(120),
        }
    }

    /// The subject an event of this name is published to: `<stream>.<name>`.
    pub fn subject(&self, event: &str) -> String {
        format!("{}.{event}", self.stream)
    }
}

impl<S: EventStore + Checkpoints + Leases + 'static> Relay<S> {
    /// A relay of `store`'s integration events to the JetStream stream `stream` of the
    /// server at `url` (`nats://host:port`). Its checkpoint and lease are named
    /// `relay:<stream>`.
    pub fn new(store: Arc<S>, url: impl Into<String>, stream: impl Into<String>) -> Relay<S> {
        Relay::over(store, Stream::new(url, stream))
    }

    /// How long JetStream keeps each message id to drop a message published again with it
    /// (2 minutes by default), when the relay declares the stream: a second guard, after the
    /// consumer's inbox, against the repeats of a relay that resumes from its checkpoint.
    pub fn duplicate_window(mut self, window: Duration) -> Relay<S> {
        self.publisher_mut().duplicate_window = window;
        self
    }
}

impl Publisher for Stream {
    type Channel = jetstream::Context;
    type Error = RelayError;

    fn destination(&self) -> &str {
        &self.stream
    }

    /// A fresh connection, and the stream declared.
    async fn connect(&self, relay: &str) -> Result<jetstream::Context, RelayError> {
        names::check_stream(&self.stream).map_err(RelayError::Refused)?;
        within(
            "the relay's connection and stream setup",
            bounded::SETUP,
            async {
                let client = connect(&self.url, &format!("tidings {relay}"))
                    .await
                    .map_err(|error| match error {
                        Ok(refused) => RelayError::Refused(refused),
                        Err(error) => RelayError::Broker(error),
                    })?;
                let mut context = jetstream::new(client);
                context.set_timeout(self.ack_timeout);
                context
                    .get_or_create_stream(stream::Config {
                        name: self.stream.clone(),
                        subjects: vec![format!("{}.>", self.stream)],
                        storage: stream::StorageType::File,
                        duplicate_window: self.duplicate_window,
                        ..stream::Config::default()
                    })
                    .await
                    .map_err(|error| RelayError::Broker(error.into()))?;
                Ok(context)
            },
        )
        .await
    }

    /// Publishes `events` and waits for every acknowledgement; `false` when the lease ran
    /// short first (nothing is then counted as done). An acknowledgement that does not come
    /// (the connection dropped, the server restarted) fails the batch, which is published
    /// again; the repeats within the de-duplication window are dropped by the stream. At most
    /// 1,024 publishes await their acknowledgement at once, below the client's own
    /// limit, so a batch of any size goes through.
    async fn publish(
        &self,
        context: &mut jetstream::Context,
        events: &[StoredEvent],
        deadline: Instant,
    ) -> Result<bool, RelayError> {
        let mut acks: VecDeque<(u64, PublishAckFuture)> =
            VecDeque::with_capacity(events.len().min(IN_FLIGHT));
        let sent = within::<_, RelayError>("the publishes of a batch", bounded::CALL, async {
            for event in events {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                if acks.len() >= IN_FLIGHT {
                    if let Some((position, ack)) = acks.pop_front() {
                        acknowledged(position, ack).await?;
                    }
                }
                let position = event.position();
                let headers = binding::headers(event)
                    .map_err(|source| RelayError::Encode { position, source })?;
                let message = PublishMessage::build()
                    .payload(event.data().to_owned().into())
                    .headers(headers)
                    .message_id(event.metadata().wire_id());
                let ack = context
                    .send_publish(self.subject(event.name()), message)
                    .await
                    .map_err(|error| RelayError::NotAcknowledged {
                        position,
                        source: error.into(),
                    })?;
                acks.push_back((position, ack));
            }
            Ok(true)
        })
        .await?;
        if !sent {
            return Ok(false);
        }
        for (position, ack) in acks {
            acknowledged(position, ack).await?;
        }
        Ok(true)
    }
}

/// How many publishes may await their acknowledgement at once: below async-nats' limit
/// (5,000), which would otherwise hold the next publish until one of them is awaited.
const IN_FLIGHT: usize = 1_024;

/// Awaits one publish's acknowledgement, bounded by the context's timeout.
async fn acknowledged(position: u64, ack: PublishAckFuture) -> Result<(), RelayError> {
    ack.await
        .map(drop)
        .map_err(|error| RelayError::NotAcknowledged {
            position,
            source: error.into(),
        })
}

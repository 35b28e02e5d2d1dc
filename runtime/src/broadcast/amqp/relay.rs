//! The relay to RabbitMQ: the [`Publisher`] of an exchange, with publisher confirms.

use super::binding::{self, AttributePrefix};
use super::report::{refusal, Refused};
use super::topology::declare_exchange;
use crate::broadcast::bounded::{self, within, Unanswered};
use crate::broadcast::broker::{BrokerError, Publisher};
use crate::broadcast::catch_up::Checkpoints;
use crate::broadcast::lease::Leases;
use crate::persistence::{EventStore, StoreError, StoredEvent};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{Channel, Confirmation, Connection, ConnectionProperties};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Publishes the store's integration events to a topic exchange, in store order, with
/// publisher confirms; see the [module docs](super) for what it guarantees. The relay is
/// written once for every broker ([`broadcast::Relay`](crate::broadcast::Relay)); this is
/// it over RabbitMQ.
pub type Relay<S> = crate::broadcast::Relay<S, Exchange>;

/// The relay's side of RabbitMQ: a topic exchange, published to in confirm mode, each event
/// routed by its name ([`Publisher`]).
#[derive(Debug, Clone)]
pub struct Exchange {
    uri: String,
    exchange: String,
    confirm_timeout: Duration,
    prefix: AttributePrefix,
}

impl Exchange {
    /// The topic `exchange` of the broker at `uri` (`amqp://user:password@host:port/vhost`).
    pub fn new(uri: impl Into<String>, exchange: impl Into<String>) -> Exchange {
        Exchange {
            uri: uri.into(),
            exchange: exchange.into(),
            confirm_timeout: Duration::from_secs(30),
            prefix: AttributePrefix::default(),
        }
    }
}

impl<S: EventStore + Checkpoints + Leases + 'static> Relay<S> {
    /// A relay of `store`'s integration events to the topic `exchange` of the broker at
    /// `uri` (`amqp://user:password@host:port/vhost`). Its checkpoint and lease are named
    /// `relay:<exchange>`.
    pub fn new(store: Arc<S>, uri: impl Into<String>, exchange: impl Into<String>) -> Relay<S> {
        Relay::over(store, Exchange::new(uri, exchange))
    }

    /// The prefix of the headers that carry each event's CloudEvents attributes (see
    /// [`AttributePrefix`]): `cloudEvents:` by default, the AMQP binding's; `cloudEvents_`
    /// for JMS 2.0 clients; `ce-` for consumers built on the RabbitMQ binding (Knative
    /// eventing, the CloudEvents Python SDK's `rabbitmq` module). tidings' consumer reads
    /// all three.
    pub fn attribute_prefix(mut self, prefix: AttributePrefix) -> Relay<S> {
        self.publisher_mut().prefix = prefix;
        self
    }
}

/// What stopped a relay's attempt. [`Relay::run_until`] returns a [`Refused`] (which
/// retrying cannot fix); it logs the others, waits and tries again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The broker could not be reached, or the connection or channel failed.
    #[error("the broker failed: {0}")]
    Broker(lapin::Error),
    /// The broker refused the relay's credentials, virtual host or exchange: retrying cannot
    /// fix it, so [`Relay::run_until`] stops and returns it.
    #[error("the relay cannot publish: {0}")]
    Refused(#[from] Refused),
    /// The broker refused to take a message (nack): it and the rest of its batch are
    /// published again.
    #[error("the broker refused the event at position {position}")]
    Nacked {
        /// The event's position.
        position: u64,
    },
    /// No confirm came in time: the batch counts as not confirmed.
    #[error("no confirm for the event at position {position} within {timeout:?}")]
    ConfirmTimeout {
        /// The first unconfirmed event's position.
        position: u64,
        /// How long the relay waited.
        timeout: Duration,
    },
    /// The broker did not answer in time (while connecting or publishing).
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

impl From<lapin::Error> for RelayError {
    fn from(error: lapin::Error) -> RelayError {
        match refusal(error) {
            Ok(refused) => RelayError::Refused(refused),
            Err(error) => RelayError::Broker(error),
        }
    }
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

impl Publisher for Exchange {
    type Channel = (Connection, Channel);
    type Error = RelayError;

    fn destination(&self) -> &str {
        &self.exchange
    }

    /// A fresh connection and a channel in confirm mode. Each attempt starts afresh rather
    /// than through lapin's recovery, which can lose track of pending confirms (lapin #450).
    async fn connect(&self, relay: &str) -> Result<(Connection, Channel), RelayError> {
        within(
            "the relay's connection and channel setup",
            bounded::SETUP,
            async {
                let properties = ConnectionProperties::default()
                    .with_connection_name(format!("tidings {relay}").into());
                let connection = Connection::connect(&self.uri, properties).await?;
                let channel = connection.create_channel().await?;
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
                declare_exchange(&channel, &self.exchange).await?;
                Ok((connection, channel))
            },
        )
        .await
    }

    /// Publishes `events` and waits for all their confirms; `false` when the lease ran short
    /// first (nothing is then counted as done). A confirm still pending when the connection
    /// drops resolves to an error: the batch is not confirmed, and is published again.
    async fn publish(
        &self,
        channel: &mut Self::Channel,
        events: &[StoredEvent],
        deadline: Instant,
    ) -> Result<bool, RelayError> {
        let channel = &channel.1;
        let mut confirms = Vec::with_capacity(events.len());
        let sent = within::<_, RelayError>("the publishes of a batch", bounded::CALL, async {
            for event in events {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                let properties =
                    binding::properties_with(event, self.prefix).map_err(|source| {
                        RelayError::Encode {
                            position: event.position(),
                            source,
                        }
                    })?;
                let confirm = channel
                    .basic_publish(
                        self.exchange.as_str().into(),
                        event.name().into(),
                        BasicPublishOptions::default(),
                        event.data().as_bytes(),
                        properties,
                    )
                    .await?;
                confirms.push((event.position(), confirm));
            }
            Ok(true)
        })
        .await?;
        if !sent {
            return Ok(false);
        }
        for (position, confirm) in confirms {
            let timeout = self.confirm_timeout;
            match tokio::time::timeout(timeout, confirm).await {
                Ok(Ok(Confirmation::Ack(_) | Confirmation::NotRequested)) => {}
                Ok(Ok(Confirmation::Nack(_))) => return Err(RelayError::Nacked { position }),
                Ok(Err(error)) => return Err(error.into()),
                Err(_) => return Err(RelayError::ConfirmTimeout { position, timeout }),
            }
        }
        Ok(true)
    }
}

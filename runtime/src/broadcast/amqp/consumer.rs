//! The consumer of a RabbitMQ queue: the [`Subscriber`] of a queue, with the topology
//! declared, the queue claimed for its context and the dead-letter queue at hand.

use super::binding::{self, REASON_HEADER};
use super::report::{refusal, Refused};
use super::topology::Topology;
use crate::broadcast::bounded::{self, within, Unanswered};
use crate::broadcast::broker::{self, BrokerError, DeadLetter, Next, Subscriber};
use crate::broadcast::inbox::InboxError;
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::Bus;
use crate::messaging::cloudevents::DecodeError;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer as Deliveries};
use std::future::Future;
use tokio::time::Interval;

/// Consumes a queue of integration events; see the [module docs](super) for what it
/// guarantees. The consumer is written once for every broker
/// ([`broadcast::Consumer`](crate::broadcast::Consumer)); this is it over RabbitMQ.
pub type Consumer = crate::broadcast::Consumer<Queue>;

/// The consumer's side of RabbitMQ: a queue of its [`Topology`], claimed for the consuming
/// context, read with a prefetch window ([`Subscriber`]).
#[derive(Debug, Clone)]
pub struct Queue {
    uri: String,
    topology: Topology,
    prefetch: u16,
    owner: Option<String>,
}

/// What stopped a consumer's attempt. [`Consumer::run_until`](crate::broadcast::Consumer::run_until) returns those that retrying
/// cannot fix ([`ConsumeError::is_permanent`]); it logs the others, waits and tries again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The broker could not be reached, or the connection or channel failed.
    #[error("the broker failed: {0}")]
    Broker(lapin::Error),
    /// The broker refused the consumer's credentials, virtual host or queue settings.
    #[error("consumer of `{queue}` cannot start: {source}")]
    Refused {
        /// The queue.
        queue: String,
        /// What the broker refused.
        #[source]
        source: Refused,
    },
    /// Event types the queue is bound to have no handler in this program: their messages
    /// would only reach the dead-letter queue. Checked before the first message.
    #[error(
        "consumer of `{queue}` cannot start: the queue is bound to {} that no handler of this \
         program takes: {}. Link the crate that handles each \
         (`Bus::builder().require(tidings::linked!(that_crate))`), or bind the queue only to \
         the events this program handles (`Topology::binding`)",
        if events.len() == 1 { "an integration event" } else { "integration events" },
        events.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
    )]
    Unhandled {
        /// The queue.
        queue: String,
        /// The wire names of the events with no handler.
        events: Vec<String>,
    },
    /// The queue belongs to another context's consumer: two contexts reading one queue
    /// would each get only some of the events.
    #[error(
        "consumer `{consumer}` cannot read queue `{queue}`: it belongs to `{owner}`. Give this \
         context a queue of its own (`Topology::new(exchange, \"<context>.<events>\")`), or, \
         if `{owner}` is gone for good, delete the queue `{queue}.owner` to hand the queue over"
    )]
    QueueOwned {
        /// The queue.
        queue: String,
        /// The context that declared it first.
        owner: String,
        /// This consumer's context.
        consumer: String,
    },
    /// The broker did not answer in time (while connecting, acknowledging or
    /// dead-lettering).
    #[error(transparent)]
    Unanswered(#[from] Unanswered),
    /// The connection or the channel closed while the consumer waited for messages.
    #[error("the connection to the broker was lost while waiting for messages")]
    Disconnected,
    /// The inbox's database failed; the message was given back to the queue.
    #[error(transparent)]
    Inbox(InboxError),
    /// The dead-letter queue did not confirm a message put there; the message stays in its
    /// queue.
    #[error("the dead-letter queue `{queue}` did not take a message")]
    DeadLetter {
        /// The dead-letter queue.
        queue: String,
    },
}

impl ConsumeError {
    /// Whether retrying cannot fix it: the broker's refusal, events with no handler, a queue
    /// owned by another context. [`Consumer::run_until`](crate::broadcast::Consumer::run_until) returns these.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ConsumeError::Refused { .. }
                | ConsumeError::Unhandled { .. }
                | ConsumeError::QueueOwned { .. }
        )
    }
}

impl BrokerError for ConsumeError {
    fn is_permanent(&self) -> bool {
        ConsumeError::is_permanent(self)
    }
}

impl From<lapin::Error> for ConsumeError {
    fn from(error: lapin::Error) -> ConsumeError {
        match refusal(error) {
            Ok(source) => ConsumeError::Refused {
                queue: String::new(),
                source,
            },
            Err(error) => ConsumeError::Broker(error),
        }
    }
}

impl Consumer {
    /// A consumer of `topology`'s queue on the broker at `uri`; its inbox records ids under
    /// the queue's name.
    pub fn new(uri: impl Into<String>, topology: Topology) -> Consumer {
        Consumer::over(Queue {
            uri: uri.into(),
            topology,
            prefetch: 64,
            owner: None,
        })
    }

    /// The name of the context this consumer belongs to, which claims the queue: a consumer
    /// of another context that reuses the queue is refused ([`ConsumeError::QueueOwned`]).
    /// By default, the names of the crates whose handlers take the queue's events.
    pub fn owner(mut self, context: impl Into<String>) -> Consumer {
        self.subscriber_mut().owner = Some(context.into());
        self
    }

    /// How many unacknowledged messages the broker sends ahead (64 by default).
    pub fn prefetch(mut self, messages: u16) -> Consumer {
        self.subscriber_mut().prefetch = messages.max(1);
        self
    }

    /// Declares the topology (exchange, queue, dead-letter queue, binding) over the
    /// consumer's own connection settings, then closes the connection: so that a queue
    /// receives events published before the consumer first runs.
    pub async fn declare(&self) -> Result<(), ConsumeError> {
        let queue = self.subscriber();
        let declared = within("declaring the topology", bounded::SETUP, async {
            let connection = Connection::connect(&queue.uri, queue.connection_properties()).await?;
            let channel = connection.create_channel().await?;
            queue.topology.declare(&channel).await?;
            connection.close(200, "declared".into()).await?;
            Ok::<_, ConsumeError>(())
        });
        declared.await.map_err(|error| queue.naming(error))
    }

    /// The messages in the queue's dead-letter queue, oldest first, each with why it is
    /// there; they stay where they are.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ConsumeError> {
        let queue = self.subscriber();
        let listed = within("listing the dead letters", bounded::SETUP, async {
            let connection = Connection::connect(&queue.uri, queue.connection_properties()).await?;
            let channel = connection.create_channel().await?;
            let dead_letters = queue.topology.dead_letter_queue();
            let mut letters = Vec::new();
            // Each message got is held, unacknowledged, until the connection closes, so the
            // next get returns the next one; closing gives them all back, in order.
            while let Some(message) = channel
                .basic_get(dead_letters.as_str().into(), BasicGetOptions::default())
                .await?
            {
                letters.push(DeadLetter::of(&message.delivery.properties));
            }
            connection.close(200, "dead letters listed".into()).await?;
            Ok::<_, ConsumeError>(letters)
        });
        listed.await.map_err(|error| queue.naming(error))
    }

    /// Puts the messages of the dead-letter queue back on the queue, once their cause is
    /// fixed (a handler linked, a bug fixed): each is published to the queue with the
    /// broker's confirm, then removed from the dead-letter queue, and counted
    /// (`tidings_consumer_replayed_total`). Returns how many were put back; only those that
    /// were there when it started, so one that fails again is not put back twice.
    pub async fn replay_dead_letters(&self) -> Result<usize, ConsumeError> {
        let queue = self.subscriber();
        let replayed = within("putting back the dead letters", bounded::SETUP, async {
            let connection = Connection::connect(&queue.uri, queue.connection_properties()).await?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            let dead = queue.topology.dead_letter_queue();
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let waiting = channel
                .queue_declare(dead.as_str().into(), passive, FieldTable::default())
                .await?
                .message_count();
            let mut replayed = 0;
            for _ in 0..waiting {
                let Some(message) = channel
                    .basic_get(dead.as_str().into(), BasicGetOptions::default())
                    .await?
                else {
                    break;
                };
                let delivery = message.delivery;
                let mut headers = delivery.properties.headers().clone().unwrap_or_default();
                let inner = headers.inner().clone();
                let mut kept = FieldTable::default();
                for (key, value) in inner {
                    let key = key.as_str();
                    let broker = key == "x-death"
                        || key == "x-delivery-count"
                        || key.starts_with("x-first-death-")
                        || key.starts_with("x-last-death-");
                    if key != REASON_HEADER && !broker {
                        kept.insert(key.into(), value);
                    }
                }
                headers = kept;
                let properties = delivery.properties.clone().with_headers(headers);
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        queue.topology.queue().into(),
                        BasicPublishOptions::default(),
                        &delivery.data,
                        properties,
                    )
                    .await?
                    .await?;
                if !confirm.is_ack() {
                    return Err(ConsumeError::DeadLetter {
                        queue: queue.topology.queue().to_owned(),
                    });
                }
                delivery.acker.ack(BasicAckOptions::default()).await?;
                replayed += 1;
                self.count("tidings_consumer_replayed_total");
            }
            tracing::info!(
                queue = queue.topology.queue(),
                replayed,
                "dead letters put back"
            );
            connection
                .close(200, "dead letters put back".into())
                .await?;
            Ok::<_, ConsumeError>(replayed)
        });
        replayed.await.map_err(|error| queue.naming(error))
    }
}

impl Queue {
    /// The consumer's connections are named after its queue (as the broker's management
    /// tools list them).
    fn connection_properties(&self) -> ConnectionProperties {
        ConnectionProperties::default()
            .with_connection_name(format!("tidings consumer {}", self.topology.queue()).into())
    }

    /// A refusal names the queue it was about.
    fn naming(&self, error: ConsumeError) -> ConsumeError {
        match error {
            ConsumeError::Refused { source, .. } => ConsumeError::Refused {
                queue: self.topology.queue().to_owned(),
                source,
            },
            other => other,
        }
    }

    /// Every registered integration event that the queue's bindings match has a handler in
    /// this program.
    fn unhandled(&self, bus: &Bus) -> Result<(), ConsumeError> {
        let events = broker::unhandled(bus, |name| self.topology.binds(name));
        if events.is_empty() {
            return Ok(());
        }
        Err(ConsumeError::Unhandled {
            queue: self.topology.queue().to_owned(),
            events,
        })
    }

    /// The context that claims the queue: set, or the crates of the handlers of the
    /// queue's events.
    fn context(&self, bus: &Bus) -> String {
        if let Some(owner) = &self.owner {
            return owner.clone();
        }
        let routes = bus.routes();
        let mut crates: Vec<&str> = routes
            .messages
            .iter()
            .filter(|m| m.integration && self.topology.binds(m.name))
            .flat_map(|m| m.handlers.iter())
            .filter(|h| h.phase == Phase::Immediate)
            .map(|h| h.location.krate())
            .collect();
        crates.sort_unstable();
        crates.dedup();
        if crates.is_empty() {
            return self.topology.queue().to_owned();
        }
        crates.join("+")
    }

    /// Claims the queue for this consumer's context in `<queue>.owner`, a queue holding one
    /// message (the first claim; later ones are refused by the broker), and reads the owner
    /// back.
    async fn claim(&self, channel: &Channel, context: &str) -> Result<(), ConsumeError> {
        let claims = format!("{}.owner", self.topology.queue());
        let mut arguments = FieldTable::default();
        arguments.insert("x-max-length".into(), AMQPValue::LongInt(1));
        arguments.insert(
            "x-overflow".into(),
            AMQPValue::LongString("reject-publish".into()),
        );
        channel
            .queue_declare(
                claims.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await?;
        // Acknowledged when it is the first claim, refused (nack) when the queue holds one.
        let _first = channel
            .basic_publish(
                "".into(),
                claims.as_str().into(),
                BasicPublishOptions::default(),
                context.as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?
            .await?;
        let Some(claim) = channel
            .basic_get(claims.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            return Ok(());
        };
        let owner = String::from_utf8_lossy(&claim.delivery.data).into_owned();
        claim.delivery.acker.nack(requeue()).await?;
        if owner == context {
            return Ok(());
        }
        Err(ConsumeError::QueueOwned {
            queue: self.topology.queue().to_owned(),
            owner,
            consumer: context.to_owned(),
        })
    }

    /// The messages waiting in the queue, as the broker says (a passive declare).
    async fn measure_queue(&self, channel: &Channel) -> Option<u64> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declare =
            channel.queue_declare(self.topology.queue().into(), passive, FieldTable::default());
        match tokio::time::timeout(bounded::CALL, declare).await {
            Ok(Ok(queue)) => Some(u64::from(queue.message_count())),
            _ => None,
        }
    }

    /// A connection, a channel with the topology declared and the queue claimed, and its
    /// deliveries.
    async fn connect(
        &self,
        context: &str,
    ) -> Result<(Connection, Channel, Deliveries), ConsumeError> {
        let connection = Connection::connect(&self.uri, self.connection_properties()).await?;
        let channel = connection.create_channel().await?;
        self.topology.declare(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.claim(&channel, context).await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await?;
        let deliveries = channel
            .basic_consume(
                self.topology.queue().into(),
                format!("tidings-{}", uuid::Uuid::now_v7()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((connection, channel, deliveries))
    }
}

/// One connection's worth of consuming a queue.
#[derive(Debug)]
pub struct Session {
    connection: Connection,
    channel: Channel,
    deliveries: Deliveries,
    /// lapin ends the stream when the connection closes; the watch also catches a
    /// connection that went down without the stream hearing of it.
    watch: Interval,
}

impl Subscriber for Queue {
    type Session = Session;
    type Delivery = QueueDelivery;
    type Error = ConsumeError;

    fn source(&self) -> &str {
        self.topology.queue()
    }

    fn check(&self, bus: &Bus) -> Result<(), ConsumeError> {
        self.unhandled(bus)
    }

    async fn open(&self, bus: &Bus) -> Result<Session, ConsumeError> {
        let context = self.context(bus);
        let setup = within(
            "the consumer's connection and channel setup",
            bounded::SETUP,
            self.connect(&context),
        );
        let (connection, channel, deliveries) = setup.await.map_err(|error| self.naming(error))?;
        Ok(Session {
            connection,
            channel,
            deliveries,
            watch: tokio::time::interval(bounded::WATCH),
        })
    }

    async fn next(&self, session: &mut Session) -> Result<Next<QueueDelivery>, ConsumeError> {
        loop {
            tokio::select! {
                delivery = session.deliveries.next() => return match delivery {
                    Some(delivery) => Ok(Next::Delivery(QueueDelivery {
                        channel: session.channel.clone(),
                        delivery: delivery?,
                        dead_letters: self.topology.dead_letter_queue(),
                    })),
                    None => Ok(Next::Ended),
                },
                _ = session.watch.tick() => {
                    let (connection, channel) = (&session.connection, &session.channel);
                    if !(connection.status().connected() && channel.status().connected()) {
                        return Err(ConsumeError::Disconnected);
                    }
                    if let Some(waiting) = self.measure_queue(channel).await {
                        return Ok(Next::Waiting(waiting));
                    }
                }
            }
        }
    }

    async fn close(&self, session: Session) -> Result<(), ConsumeError> {
        Ok(session
            .connection
            .close(200, "consumer stopped".into())
            .await?)
    }

    fn inbox_failed(&self, error: InboxError) -> ConsumeError {
        ConsumeError::Inbox(error)
    }
}

/// A message of a queue, with the channel it came on.
#[derive(Debug)]
pub struct QueueDelivery {
    channel: Channel,
    delivery: Delivery,
    dead_letters: String,
}

impl broker::Delivery for QueueDelivery {
    type Error = ConsumeError;

    fn decode(&self) -> Result<AnyEnvelope, DecodeError> {
        binding::decode(&self.delivery.properties, &self.delivery.data)
    }

    async fn ack(self) -> Result<(), ConsumeError> {
        acknowledge(self.delivery.acker.ack(BasicAckOptions::default())).await
    }

    /// Given back to the queue; past the queue's delivery limit the broker dead-letters it.
    async fn retry(self) -> Result<(), ConsumeError> {
        acknowledge(self.delivery.acker.nack(requeue())).await
    }

    /// Puts a copy of the message in the dead-letter queue, with the reason in a header, and
    /// waits for the broker's confirm.
    async fn dead_letter(self, reason: &str) -> Result<(), ConsumeError> {
        let (channel, delivery) = (&self.channel, &self.delivery);
        let queue = self.dead_letters.clone();
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
        let properties = delivery.properties.clone().with_headers(headers);
        let publish = channel.basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        );
        let confirm =
            within::<_, ConsumeError>("a publish to the dead-letter queue", bounded::CALL, async {
                Ok(publish.await?.await?)
            })
            .await?;
        if !confirm.is_ack() {
            return Err(ConsumeError::DeadLetter { queue });
        }
        acknowledge(self.delivery.acker.ack(BasicAckOptions::default())).await
    }
}

impl DeadLetter {
    fn of(properties: &BasicProperties) -> DeadLetter {
        let headers = properties.headers().clone().unwrap_or_default();
        let text = |names: &[&str]| {
            names.iter().find_map(|name| {
                headers.inner().iter().find_map(|(key, value)| {
                    (key.as_str().eq_ignore_ascii_case(name)).then(|| match value {
                        AMQPValue::LongString(text) => text.to_string(),
                        AMQPValue::ShortString(text) => text.as_str().to_owned(),
                        other => format!("{other:?}"),
                    })
                })
            })
        };
        let id = text(&["cloudEvents:id", "cloudEvents_id", "ce-id"]).or_else(|| {
            properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str().to_owned())
        });
        DeadLetter {
            id,
            event: text(&["cloudEvents:type", "cloudEvents_type", "ce-type"]),
            reason: text(&[REASON_HEADER, "x-first-death-reason"])
                .unwrap_or_else(|| "unknown".to_owned()),
        }
    }
}

/// Sends an acknowledgement (or a rejection), bounded in time.
async fn acknowledge<T>(sent: impl Future<Output = lapin::Result<T>>) -> Result<(), ConsumeError> {
    within("an acknowledgement", bounded::CALL, async {
        sent.await?;
        Ok(())
    })
    .await
}

fn requeue() -> BasicNackOptions {
    BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    }
}

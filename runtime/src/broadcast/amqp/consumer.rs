//! The consumer: reads a queue, decodes each message through the registry, and delivers it
//! to the bus's handlers through an inbox.

use super::backoff::Backoff;
use super::binding::{self, REASON_HEADER};
use super::bounded::{self, within, Unanswered};
use super::report::{self, refusal, Activity, ConsumerStatus, Refused};
use super::topology::Topology;
use crate::broadcast::inbox::{Delivered, Inbox, InboxError};
use crate::messaging::bus::registry::Phase;
use crate::messaging::bus::Bus;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer as Deliveries};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Consumes a queue of integration events; see the [module docs](super) for what it
/// guarantees.
#[derive(Debug, Clone)]
pub struct Consumer {
    uri: String,
    topology: Topology,
    name: String,
    prefetch: u16,
    max_backoff: Duration,
    owner: Option<String>,
    status: Arc<watch::Sender<ConsumerStatus>>,
}

/// What stopped a consumer's attempt. [`Consumer::run_until`] returns those that retrying
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
    /// owned by another context. [`Consumer::run_until`] returns these.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ConsumeError::Refused { .. }
                | ConsumeError::Unhandled { .. }
                | ConsumeError::QueueOwned { .. }
        )
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
        Consumer {
            uri: uri.into(),
            name: topology.queue().to_owned(),
            topology,
            prefetch: 64,
            max_backoff: Duration::from_secs(5),
            owner: None,
            status: Arc::new(watch::Sender::new(ConsumerStatus::default())),
        }
    }

    /// The name of the context this consumer belongs to, which claims the queue: a consumer
    /// of another context that reuses the queue is refused ([`ConsumeError::QueueOwned`]).
    /// By default, the names of the crates whose handlers take the queue's events.
    pub fn owner(mut self, context: impl Into<String>) -> Consumer {
        self.owner = Some(context.into());
        self
    }

    /// The consumer's state while it runs: what it is doing, its attempts and last error,
    /// the events handled, repeated, failed and dead-lettered, the last one handled, and the
    /// messages waiting in the queue. The same figures go to `metrics`
    /// (`tidings_consumer_*`, labelled `queue`), and each change of activity and error to
    /// `tracing`. Clones of a consumer share it.
    pub fn status(&self) -> watch::Receiver<ConsumerStatus> {
        self.status.subscribe()
    }

    /// The consumer's connections are named after its queue (as the broker's management
    /// tools list them).
    fn connection_properties(&self) -> ConnectionProperties {
        ConnectionProperties::default()
            .with_connection_name(format!("tidings consumer {}", self.topology.queue()).into())
    }

    fn report(&self, change: impl FnOnce(&mut ConsumerStatus)) {
        self.status.send_modify(change);
    }

    fn count(&self, counter: &'static str) {
        metrics::counter!(counter, "queue" => self.topology.queue().to_owned()).increment(1);
    }

    /// The name the inbox records ids under (the queue's name by default). Consumers that
    /// share an inbox database and a queue share it; another context's consumer needs its
    /// own.
    pub fn name(mut self, name: impl Into<String>) -> Consumer {
        self.name = name.into();
        self
    }

    /// Declares the topology (exchange, queue, dead-letter queue, binding) over the
    /// consumer's own connection settings, then closes the connection: so that a queue
    /// receives events published before the consumer first runs.
    pub async fn declare(&self) -> Result<(), ConsumeError> {
        let declared = within("declaring the topology", bounded::SETUP, async {
            let connection = Connection::connect(&self.uri, self.connection_properties()).await?;
            let channel = connection.create_channel().await?;
            self.topology.declare(&channel).await?;
            connection.close(200, "declared".into()).await?;
            Ok::<_, ConsumeError>(())
        });
        declared.await.map_err(|error| self.naming_queue(error))
    }

    /// The messages in the queue's dead-letter queue, oldest first, each with why it is
    /// there; they stay where they are.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ConsumeError> {
        let listed = within("listing the dead letters", bounded::SETUP, async {
            let connection = Connection::connect(&self.uri, self.connection_properties()).await?;
            let channel = connection.create_channel().await?;
            let queue = self.topology.dead_letter_queue();
            let mut letters = Vec::new();
            // Each message got is held, unacknowledged, until the connection closes, so the
            // next get returns the next one; closing gives them all back, in order.
            while let Some(message) = channel
                .basic_get(queue.as_str().into(), BasicGetOptions::default())
                .await?
            {
                letters.push(DeadLetter::of(&message.delivery.properties));
            }
            connection.close(200, "dead letters listed".into()).await?;
            Ok::<_, ConsumeError>(letters)
        });
        listed.await.map_err(|error| self.naming_queue(error))
    }

    /// Puts the messages of the dead-letter queue back on the queue, once their cause is
    /// fixed (a handler linked, a bug fixed): each is published to the queue with the
    /// broker's confirm, then removed from the dead-letter queue, and counted
    /// (`tidings_consumer_replayed_total`). Returns how many were put back; only those that
    /// were there when it started, so one that fails again is not put back twice.
    pub async fn replay_dead_letters(&self) -> Result<usize, ConsumeError> {
        let replayed = within("putting back the dead letters", bounded::SETUP, async {
            let connection = Connection::connect(&self.uri, self.connection_properties()).await?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            let dead = self.topology.dead_letter_queue();
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
                        self.topology.queue().into(),
                        BasicPublishOptions::default(),
                        &delivery.data,
                        properties,
                    )
                    .await?
                    .await?;
                if !confirm.is_ack() {
                    return Err(ConsumeError::DeadLetter {
                        queue: self.topology.queue().to_owned(),
                    });
                }
                delivery.acker.ack(BasicAckOptions::default()).await?;
                replayed += 1;
                self.count("tidings_consumer_replayed_total");
            }
            tracing::info!(
                queue = self.topology.queue(),
                replayed,
                "dead letters put back"
            );
            connection
                .close(200, "dead letters put back".into())
                .await?;
            Ok::<_, ConsumeError>(replayed)
        });
        replayed.await.map_err(|error| self.naming_queue(error))
    }

    /// How many unacknowledged messages the broker sends ahead (64 by default).
    pub fn prefetch(mut self, messages: u16) -> Consumer {
        self.prefetch = messages.max(1);
        self
    }

    /// The longest wait between attempts to reach the broker (5 s by default).
    pub fn max_backoff(mut self, wait: Duration) -> Consumer {
        self.max_backoff = wait;
        self
    }

    /// Checks, declares the topology, then consumes until `stop` completes (`Ok`), or
    /// returns what retrying cannot fix ([`ConsumeError::is_permanent`]) before the first
    /// message: the broker's refusal (credentials, virtual host, a queue declared with other
    /// settings), events the queue is bound to that no handler of this program takes, a queue
    /// owned by another context. After any other failure of the broker or the inbox it
    /// waits (doubling, up to the ceiling) and starts again; each failure is a `tracing`
    /// event (WARN when retried, ERROR when it stops the consumer) and is kept in
    /// [`Consumer::status`]. Once `stop` completes, the message in hand is finished and
    /// acknowledged and the connection closed, so the messages the broker sent ahead go back
    /// to the queue, in order, before another consumer takes it over.
    pub async fn run_until<I: Inbox>(
        &self,
        inbox: &I,
        bus: &Bus,
        stop: impl Future<Output = ()>,
    ) -> Result<(), ConsumeError> {
        let mut stop = std::pin::pin!(stop);
        let mut backoff = Backoff::new(self.max_backoff);
        let outcome = loop {
            self.report(|status| {
                status.attempts += 1;
                status.activity = Activity::Connecting;
            });
            self.count("tidings_consumer_attempts_total");
            let served = match self.check(bus) {
                Ok(()) => self.serve(inbox, bus, &mut backoff, stop.as_mut()).await,
                Err(error) => Err(error),
            };
            match served {
                Ok(Served::Stopped) => break Ok(()),
                Ok(Served::Ended) => {}
                Err(error) if error.is_permanent() => {
                    let error = self.naming_queue(error);
                    tracing::error!(queue = self.topology.queue(), error = %error, "consumer stopped");
                    self.report(|status| {
                        status.activity = Activity::Failed;
                        status.last_error = Some(error.to_string());
                    });
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(queue = self.topology.queue(), error = %error, "consumer interrupted; retrying");
                    self.report(|status| {
                        status.activity = Activity::Waiting;
                        status.last_error = Some(error.to_string());
                    });
                }
            }
            tokio::select! {
                () = &mut stop => break Ok(()),
                () = tokio::time::sleep(backoff.next()) => {}
            }
        };
        self.report(|status| status.activity = Activity::Stopped);
        outcome
    }

    /// A refusal names the queue it was about.
    fn naming_queue(&self, error: ConsumeError) -> ConsumeError {
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
    fn check(&self, bus: &Bus) -> Result<(), ConsumeError> {
        let routes = bus.routes();
        let events: Vec<String> = routes
            .messages
            .iter()
            .filter(|m| m.integration && self.topology.binds(m.name))
            .filter(|m| m.handlers.iter().all(|h| h.phase != Phase::Immediate))
            .map(|m| m.name.to_owned())
            .collect();
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
            return self.name.clone();
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

    /// One connection's worth of consuming. When `stop` completes, the message being handled
    /// is finished and acknowledged, then the connection is closed: the broker takes back the
    /// messages it sent ahead before any other consumer gets the queue, so a single active
    /// consumer that takes over goes on in queue order.
    async fn serve<I: Inbox>(
        &self,
        inbox: &I,
        bus: &Bus,
        backoff: &mut Backoff,
        mut stop: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Served, ConsumeError> {
        let context = self.context(bus);
        let setup = within(
            "the consumer's connection and channel setup",
            bounded::SETUP,
            self.open(&context),
        );
        let (connection, channel, mut deliveries) = tokio::select! {
            () = stop.as_mut() => return Ok(Served::Stopped),
            opened = setup => opened?,
        };
        backoff.reset();
        self.report(|status| status.activity = Activity::Running);
        // lapin ends the stream when the connection closes; the watch also catches a
        // connection that went down without the stream hearing of it.
        let mut watch = tokio::time::interval(bounded::WATCH);
        loop {
            let delivery = tokio::select! {
                () = stop.as_mut() => {
                    // Stopped either way: a connection that cannot be closed is dropped, and
                    // the broker takes the messages back when it notices.
                    let close = async { Ok(connection.close(200, "consumer stopped".into()).await?) };
                    let closed =
                        within::<_, ConsumeError>("closing the connection", bounded::CALL, close);
                    if let Err(error) = closed.await {
                        tracing::warn!(queue = self.topology.queue(), error = %error, "consumer stopped without closing its connection");
                    }
                    return Ok(Served::Stopped);
                }
                delivery = deliveries.next() => delivery,
                _ = watch.tick() => {
                    if !(connection.status().connected() && channel.status().connected()) {
                        return Err(ConsumeError::Disconnected);
                    }
                    self.measure_queue(&channel).await;
                    continue;
                }
            };
            let Some(delivery) = delivery else {
                return Ok(Served::Ended);
            };
            self.handle(&channel, delivery?, inbox, bus).await?;
        }
    }

    /// The messages waiting in the queue, as the broker says (a passive declare).
    async fn measure_queue(&self, channel: &Channel) {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declare =
            channel.queue_declare(self.topology.queue().into(), passive, FieldTable::default());
        if let Ok(Ok(queue)) = tokio::time::timeout(bounded::CALL, declare).await {
            let waiting = u64::from(queue.message_count());
            self.report(|status| status.lag_events = waiting);
            metrics::gauge!("tidings_consumer_lag_events", "queue" => self.topology.queue().to_owned())
                .set(waiting as f64);
        }
    }

    /// A connection, a channel with the topology declared and the queue claimed, and its
    /// deliveries.
    async fn open(&self, context: &str) -> Result<(Connection, Channel, Deliveries), ConsumeError> {
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

    /// Delivers one message, then acknowledges it; acknowledges only after the inbox
    /// committed, so a crash in between redelivers it, and the inbox absorbs the repeat.
    async fn handle<I: Inbox>(
        &self,
        channel: &Channel,
        delivery: Delivery,
        inbox: &I,
        bus: &Bus,
    ) -> Result<(), ConsumeError> {
        let envelope = match binding::decode(&delivery.properties, &delivery.data) {
            Ok(envelope) => envelope,
            Err(reason) => {
                tracing::warn!(queue = self.topology.queue(), reason = %reason, "undecodable message dead-lettered");
                self.dead_letter(channel, &delivery, &reason.to_string())
                    .await?;
                acknowledge(delivery.acker.ack(BasicAckOptions::default())).await?;
                return Ok(());
            }
        };
        let id = envelope.metadata().wire_id().into_owned();
        let occurred = envelope.metadata().occurred_on();
        match inbox.deliver(&self.name, envelope, bus).await {
            Ok(delivered) => {
                acknowledge(delivery.acker.ack(BasicAckOptions::default())).await?;
                if delivered == Delivered::Handled {
                    self.count("tidings_consumer_handled_total");
                    self.report(|status| {
                        status.handled += 1;
                        status.last_handled = Some(id);
                        status.behind = report::since(occurred.into());
                    });
                } else {
                    self.count("tidings_consumer_repeats_total");
                    self.report(|status| status.repeats += 1);
                }
                Ok(())
            }
            Err(error @ InboxError::NoHandler { .. }) => {
                // Acknowledged as done, it would be lost: it waits in the dead-letter queue,
                // with the reason, to be put back once the program has its handler.
                tracing::warn!(queue = self.topology.queue(), error = %error, "event with no handler dead-lettered");
                self.dead_letter(channel, &delivery, &error.to_string())
                    .await?;
                acknowledge(delivery.acker.ack(BasicAckOptions::default())).await?;
                Ok(())
            }
            Err(error @ InboxError::Handlers { .. }) => {
                // Given back for another try; past the queue's delivery limit the broker
                // dead-letters it.
                tracing::warn!(queue = self.topology.queue(), error = %error, "handlers failed; message requeued");
                acknowledge(delivery.acker.nack(requeue())).await?;
                self.count("tidings_consumer_failed_total");
                self.report(|status| status.failed += 1);
                Ok(())
            }
            Err(error) => {
                acknowledge(delivery.acker.nack(requeue())).await?;
                Err(ConsumeError::Inbox(error))
            }
        }
    }

    /// Puts a copy of the message in the dead-letter queue, with the reason in a header, and
    /// waits for the broker's confirm.
    async fn dead_letter(
        &self,
        channel: &Channel,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), ConsumeError> {
        let queue = self.topology.dead_letter_queue();
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
        if confirm.is_ack() {
            self.count("tidings_consumer_dead_lettered_total");
            self.report(|status| status.dead_lettered += 1);
            Ok(())
        } else {
            Err(ConsumeError::DeadLetter { queue })
        }
    }
}

/// A message in a dead-letter queue: [`Consumer::dead_letters`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The event's id, when the message carries one.
    pub id: Option<String>,
    /// The event's type (its wire name), when the message carries one.
    pub event: Option<String>,
    /// Why it is there: the consumer's reason (`tidings-dead-letter-reason`), or the
    /// broker's (`delivery_limit` for a message whose handlers kept failing).
    pub reason: String,
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

/// How one connection's consuming ended.
enum Served {
    /// `stop` completed.
    Stopped,
    /// The broker ended the deliveries (the queue was deleted, say): start again.
    Ended,
}

fn requeue() -> BasicNackOptions {
    BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    }
}

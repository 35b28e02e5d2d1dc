//! The consumer: reads a queue, decodes each message through the registry, and delivers it
//! to the bus's handlers through an inbox.

use super::backoff::Backoff;
use super::binding::{self, REASON_HEADER};
use super::bounded::{self, within, Unanswered};
use super::topology::Topology;
use crate::broadcast::inbox::{Inbox, InboxError};
use crate::messaging::bus::Bus;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, Consumer as Deliveries};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Consumes a queue of integration events; see the [module docs](super) for what it
/// guarantees.
#[derive(Debug, Clone)]
pub struct Consumer {
    uri: String,
    topology: Topology,
    name: String,
    prefetch: u16,
    max_backoff: Duration,
}

/// What stopped a consumer's attempt; [`Consumer::run_until`] logs it, waits and tries
/// again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The broker could not be reached, or the connection or channel failed.
    #[error("the broker failed: {0}")]
    Broker(#[from] lapin::Error),
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
        }
    }

    /// The name the inbox records ids under (the queue's name by default). Consumers that
    /// share an inbox database and a queue share it; another context's consumer needs its
    /// own.
    pub fn name(mut self, name: impl Into<String>) -> Consumer {
        self.name = name.into();
        self
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

    /// Declares the topology, then consumes until `stop` completes; after a failure of the
    /// broker or the inbox it waits (doubling, up to the ceiling) and starts again. Once
    /// `stop` completes, the message in hand is finished and acknowledged and the connection
    /// closed, so the messages the broker sent ahead go back to the queue, in order, before
    /// another consumer takes it over.
    pub async fn run_until<I: Inbox>(&self, inbox: &I, bus: &Bus, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut backoff = Backoff::new(self.max_backoff);
        loop {
            match self.serve(inbox, bus, &mut backoff, stop.as_mut()).await {
                Ok(Served::Stopped) => return,
                Ok(Served::Ended) => {}
                Err(error) => {
                    tracing::warn!(queue = self.topology.queue(), error = %error, "consumer interrupted; retrying");
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(backoff.next()) => {}
            }
        }
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
        let setup = within(
            "the consumer's connection and channel setup",
            bounded::SETUP,
            self.open(),
        );
        let (connection, channel, mut deliveries) = tokio::select! {
            () = stop.as_mut() => return Ok(Served::Stopped),
            opened = setup => opened?,
        };
        backoff.reset();
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
                    if connection.status().connected() && channel.status().connected() {
                        continue;
                    }
                    return Err(ConsumeError::Disconnected);
                }
            };
            let Some(delivery) = delivery else {
                return Ok(Served::Ended);
            };
            self.handle(&channel, delivery?, inbox, bus).await?;
        }
    }

    /// A connection, a channel with the topology declared, and its deliveries.
    async fn open(&self) -> Result<(Connection, Channel, Deliveries), ConsumeError> {
        let connection = Connection::connect(&self.uri, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        self.topology.declare(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
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
        match inbox.deliver(&self.name, envelope, bus).await {
            Ok(_) => {
                acknowledge(delivery.acker.ack(BasicAckOptions::default())).await?;
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
            Ok(())
        } else {
            Err(ConsumeError::DeadLetter { queue })
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

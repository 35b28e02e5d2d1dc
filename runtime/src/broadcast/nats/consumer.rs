//! The consumer of a JetStream stream: the [`Subscriber`] of a durable pull consumer, with
//! the dead-letter subject at hand.

use super::binding::{self, REASON_HEADER};
use super::{connect, names, Refused};
use crate::broadcast::bounded::{self, within, Unanswered};
use crate::broadcast::broker::{self, BrokerError, DeadLetter, Next, Subscriber};
use crate::broadcast::inbox::InboxError;
use crate::messaging::any::AnyEnvelope;
use crate::messaging::bus::Bus;
use crate::messaging::cloudevents::DecodeError;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream, AckKind};
use async_nats::{Client, HeaderMap};
use futures_util::StreamExt;
use std::ops::RangeInclusive;
use std::time::Duration;
use tokio::time::Interval;

/// The header of a dead letter that names the subject it came from.
const SUBJECT_HEADER: &str = "tidings-dead-letter-subject";

/// Consumes a JetStream stream through a durable pull consumer; see the
/// [module docs](super) for what it guarantees. The consumer is written once for every
/// broker ([`broadcast::Consumer`](crate::broadcast::Consumer)); this is it over NATS
/// JetStream.
pub type Consumer = crate::broadcast::Consumer<Durable>;

/// The consumer's side of JetStream: a durable pull consumer of a stream, and the stream of
/// its dead letters ([`Subscriber`]).
#[derive(Debug, Clone)]
pub struct Durable {
    url: String,
    stream: String,
    durable: String,
    /// `<stream>.<durable>`, as logs and metrics name it.
    source: String,
    max_deliver: i64,
    ack_wait: Duration,
    in_flight: i64,
    /// The events it takes, as a pattern over their names (`None`: all of the stream's).
    filter: Option<String>,
}

/// What stopped a consumer's attempt.
/// [`Consumer::run_until`](crate::broadcast::Consumer::run_until) returns those that
/// retrying cannot fix ([`ConsumeError::is_permanent`]); it logs the others, waits and tries
/// again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The server could not be reached, the connection failed, or JetStream refused a call.
    #[error("the NATS server failed: {0}")]
    Broker(#[source] async_nats::Error),
    /// The server refused what retrying cannot fix (the credentials, a name).
    #[error("consumer `{durable}` of stream `{stream}` cannot start: {source}")]
    Refused {
        /// The stream.
        stream: String,
        /// The durable consumer.
        durable: String,
        /// What was refused.
        #[source]
        source: Refused,
    },
    /// Integration events of this program have no handler in it: their messages would only
    /// reach the dead letters. Checked before the first message.
    #[error(
        "consumer `{durable}` of stream `{stream}` cannot start: the stream carries {} that no \
         handler of this program takes: {}. Link the crate that handles each \
         (`Bus::builder().require(tidings::linked!(that_crate))`), or take only the events \
         this program handles (`Consumer::filter`)",
        if events.len() == 1 { "an integration event" } else { "integration events" },
        events.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
    )]
    Unhandled {
        /// The stream.
        stream: String,
        /// The durable consumer.
        durable: String,
        /// The wire names of the events with no handler.
        events: Vec<String>,
    },
    /// The server did not answer in time (while connecting, acknowledging or
    /// dead-lettering).
    #[error(transparent)]
    Unanswered(#[from] Unanswered),
    /// The connection was lost while the consumer waited for messages.
    #[error("the connection to the NATS server was lost while waiting for messages")]
    Disconnected,
    /// The inbox's database failed; the message was given back.
    #[error(transparent)]
    Inbox(InboxError),
    /// The dead-letter stream did not acknowledge a message put there; the message stays
    /// where it was.
    #[error("the dead-letter subject `{subject}` did not take a message: {source}")]
    DeadLetter {
        /// The dead-letter subject.
        subject: String,
        /// What the client said.
        #[source]
        source: async_nats::Error,
    },
}

impl ConsumeError {
    /// Whether retrying cannot fix it: the server's refusal, events with no handler.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ConsumeError::Refused { .. } | ConsumeError::Unhandled { .. }
        )
    }
}

impl BrokerError for ConsumeError {
    fn is_permanent(&self) -> bool {
        ConsumeError::is_permanent(self)
    }
}

/// The dead letter at `sequence`; `None` when it was removed (put back, or deleted by hand).
async fn dead_letter(
    stream: &jetstream::stream::Stream,
    sequence: u64,
) -> Result<Option<jetstream::message::StreamMessage>, ConsumeError> {
    use jetstream::stream::RawMessageErrorKind;
    match stream.get_raw_message(sequence).await {
        Ok(message) => Ok(Some(message)),
        Err(error) => match error.kind() {
            RawMessageErrorKind::NoMessageFound => Ok(None),
            RawMessageErrorKind::JetStream(error)
                if error.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND =>
            {
                Ok(None)
            }
            _ => Err(broker(error)),
        },
    }
}

/// Whether JetStream said the stream does not exist (no message was dead-lettered yet).
fn is_not_found(kind: &jetstream::context::GetStreamErrorKind) -> bool {
    matches!(
        kind,
        jetstream::context::GetStreamErrorKind::JetStream(error)
            if error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

fn broker(error: impl Into<async_nats::Error>) -> ConsumeError {
    ConsumeError::Broker(error.into())
}

impl Consumer {
    /// A consumer of the JetStream stream `stream` on the server at `url`
    /// (`nats://host:port`), through the durable pull consumer `durable` (created when it
    /// does not exist; its position survives the consumer's restarts). Its inbox records
    /// ids under the name `<stream>.<durable>`.
    pub fn new(
        url: impl Into<String>,
        stream: impl Into<String>,
        durable: impl Into<String>,
    ) -> Consumer {
        let (stream, durable) = (stream.into(), durable.into());
        Consumer::over(Durable {
            url: url.into(),
            source: format!("{stream}.{durable}"),
            stream,
            durable,
            max_deliver: 5,
            ack_wait: Duration::from_secs(30),
            in_flight: 1,
            filter: None,
        })
    }

    /// How many times a message is delivered before its failing handlers send it to the
    /// dead letters (5 by default), when the consumer creates the durable consumer.
    pub fn max_deliver(mut self, deliveries: u32) -> Consumer {
        self.subscriber_mut().max_deliver = i64::from(deliveries.max(1));
        self
    }

    /// How long a delivered message waits for its acknowledgement before JetStream delivers
    /// it again (30 s by default), when the consumer creates the durable consumer: longer
    /// than the handlers take, short enough that a consumer that died holding a message does
    /// not hold up the stream for long.
    pub fn ack_wait(mut self, wait: Duration) -> Consumer {
        self.subscriber_mut().ack_wait = wait;
        self
    }

    /// Takes only the events whose names match `pattern`, in NATS' wildcards over the
    /// dot-separated parts of a name (`shop.*` takes `shop.order_paid`; `shop.>` takes
    /// `shop.order.paid` too), when the consumer creates the durable consumer: its filter
    /// subject is `<stream>.<pattern>`. Every event of the stream by default. Events the
    /// pattern leaves out need no handler in this program.
    pub fn filter(mut self, pattern: impl Into<String>) -> Consumer {
        self.subscriber_mut().filter = Some(pattern.into());
        self
    }

    /// How many messages may be delivered and not yet acknowledged (1 by default, which
    /// keeps the stream's order), when the consumer creates the durable consumer. More
    /// share the load between consumers, without order.
    pub fn in_flight(mut self, messages: u16) -> Consumer {
        self.subscriber_mut().in_flight = i64::from(messages.max(1));
        self
    }

    /// The messages put in the dead letters, oldest first, each with why it is there; they
    /// stay where they are.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ConsumeError> {
        let durable = self.subscriber();
        within("listing the dead letters", bounded::SETUP, async {
            let mut letters = Vec::new();
            let Some((_, stream, sequences)) = durable.dead_letters_held().await? else {
                return Ok(letters);
            };
            for sequence in sequences {
                let Some(message) = dead_letter(&stream, sequence).await? else {
                    continue;
                };
                let headers = &message.headers;
                let text = |name: &str| binding::header(headers, name);
                letters.push(DeadLetter {
                    id: text("ce-id").or_else(|| text("Nats-Msg-Id")),
                    event: text("ce-type"),
                    reason: text(REASON_HEADER).unwrap_or_else(|| "unknown".to_owned()),
                });
            }
            Ok(letters)
        })
        .await
    }

    /// Puts the dead letters back on the stream once their cause is fixed (a handler linked,
    /// a bug fixed): each is published again to the subject it came from, with the stream's
    /// acknowledgement (and without its message id, which the stream's de-duplication window
    /// may still hold), then removed from the dead letters, and counted
    /// (`tidings_consumer_replayed_total`). Returns how many were put back: only those that
    /// were there when it started, so one that fails again is not put back twice. A message
    /// that does not say where it came from (put there by another program) stays.
    pub async fn replay_dead_letters(&self) -> Result<usize, ConsumeError> {
        let durable = self.subscriber();
        within("putting back the dead letters", bounded::SETUP, async {
            let mut replayed = 0;
            let Some((context, stream, sequences)) = durable.dead_letters_held().await? else {
                return Ok(replayed);
            };
            for sequence in sequences {
                let Some(message) = dead_letter(&stream, sequence).await? else {
                    continue;
                };
                let Some(subject) = binding::header(&message.headers, SUBJECT_HEADER) else {
                    continue;
                };
                let mut headers = HeaderMap::new();
                for (name, values) in message.headers.iter() {
                    let name: &str = name.as_ref();
                    let ours = [REASON_HEADER, SUBJECT_HEADER, "Nats-Msg-Id"]
                        .iter()
                        .any(|header| name.eq_ignore_ascii_case(header));
                    if !ours {
                        for value in values {
                            headers.append(name, value.as_str());
                        }
                    }
                }
                let again = PublishMessage::build()
                    .payload(message.payload.clone())
                    .headers(headers);
                let ack = context.send_publish(subject, again).await.map_err(broker)?;
                ack.await.map_err(broker)?;
                stream.delete_message(sequence).await.map_err(broker)?;
                replayed += 1;
                self.count("tidings_consumer_replayed_total");
            }
            tracing::info!(queue = durable.source(), replayed, "dead letters put back");
            Ok(replayed)
        })
        .await
    }
}

impl Durable {
    /// The subject its dead letters are published to:
    /// `tidings.dead_letters.<stream>.<durable>`.
    pub fn dead_letter_subject(&self) -> String {
        format!("tidings.dead_letters.{}.{}", self.stream, self.durable)
    }

    /// The stream that keeps its dead letters: `<stream>-<durable>-dead-letters`.
    pub fn dead_letter_stream(&self) -> String {
        format!("{}-{}-dead-letters", self.stream, self.durable)
    }

    /// On a fresh connection, the stream of its dead letters and the sequences they span;
    /// `None` when it holds none (or was never made: nothing was dead-lettered yet).
    async fn dead_letters_held(
        &self,
    ) -> Result<
        Option<(
            jetstream::Context,
            jetstream::stream::Stream,
            RangeInclusive<u64>,
        )>,
        ConsumeError,
    > {
        let context = jetstream::new(self.client().await?);
        let mut stream = match context.get_stream(self.dead_letter_stream()).await {
            Ok(stream) => stream,
            Err(error) if is_not_found(&error.kind()) => return Ok(None),
            Err(error) => return Err(broker(error)),
        };
        let state = stream.info().await.map_err(broker)?.state.clone();
        if state.messages == 0 {
            return Ok(None);
        }
        Ok(Some((
            context,
            stream,
            state.first_sequence..=state.last_sequence,
        )))
    }

    fn refused(&self, source: Refused) -> ConsumeError {
        ConsumeError::Refused {
            stream: self.stream.clone(),
            durable: self.durable.clone(),
            source,
        }
    }

    async fn client(&self) -> Result<Client, ConsumeError> {
        connect(&self.url, &format!("tidings consumer {}", self.source))
            .await
            .map_err(|error| match error {
                Ok(refused) => self.refused(refused),
                Err(error) => ConsumeError::Broker(error),
            })
    }

    /// A connection, the streams and the durable consumer declared, and its messages.
    async fn connect(&self) -> Result<Session, ConsumeError> {
        let client = self.client().await?;
        let context = jetstream::new(client.clone());
        let stream = context
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![format!("{}.>", self.stream)],
                storage: stream::StorageType::File,
                ..stream::Config::default()
            })
            .await
            .map_err(broker)?;
        context
            .get_or_create_stream(stream::Config {
                name: self.dead_letter_stream(),
                subjects: vec![self.dead_letter_subject()],
                storage: stream::StorageType::File,
                ..stream::Config::default()
            })
            .await
            .map_err(broker)?;
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                &self.durable,
                pull::Config {
                    durable_name: Some(self.durable.clone()),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_deliver: self.max_deliver,
                    max_ack_pending: self.in_flight,
                    filter_subject: self
                        .filter
                        .as_ref()
                        .map(|pattern| format!("{}.{pattern}", self.stream))
                        .unwrap_or_default(),
                    ..pull::Config::default()
                },
            )
            .await
            .map_err(broker)?;
        let mut watch = tokio::time::interval(bounded::WATCH);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Session {
            client,
            context,
            consumer,
            pull: None,
            watch,
        })
    }
}

/// How long one pull request waits for messages before the server ends it: how long a
/// consumer asked to stop may wait for the messages of its last request (which it gives
/// back at once, rather than leave them to the acknowledgement wait).
const PULL: Duration = Duration::from_millis(500);

/// One connection's worth of consuming a durable consumer.
pub struct Session {
    client: Client,
    context: jetstream::Context,
    consumer: PullConsumer,
    /// The pull request under way: it ends when its messages came, or at its expiry.
    pull: Option<pull::Batch>,
    watch: Interval,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("consumer", &self.consumer.cached_info().name)
            .finish_non_exhaustive()
    }
}

impl Subscriber for Durable {
    type Session = Session;
    type Delivery = DurableDelivery;
    type Error = ConsumeError;

    fn source(&self) -> &str {
        &self.source
    }

    fn check(&self, bus: &Bus) -> Result<(), ConsumeError> {
        names::check_stream(&self.stream).map_err(|refused| self.refused(refused))?;
        names::check_durable(&self.durable).map_err(|refused| self.refused(refused))?;
        let events = broker::unhandled(bus, |name| {
            self.filter
                .as_deref()
                .is_none_or(|pattern| matches(pattern, name))
        });
        if events.is_empty() {
            return Ok(());
        }
        Err(ConsumeError::Unhandled {
            stream: self.stream.clone(),
            durable: self.durable.clone(),
            events,
        })
    }

    async fn open(&self, _bus: &Bus) -> Result<Session, ConsumeError> {
        within(
            "the consumer's connection and durable consumer setup",
            bounded::SETUP,
            self.connect(),
        )
        .await
    }

    async fn next(&self, session: &mut Session) -> Result<Next<DurableDelivery>, ConsumeError> {
        loop {
            let Session {
                client,
                context,
                consumer,
                pull,
                watch,
            } = session;
            let requested = match pull {
                Some(requested) => requested,
                None => {
                    let request = consumer
                        .batch()
                        .max_messages(usize::try_from(self.in_flight).unwrap_or(1))
                        .expires(PULL)
                        .messages();
                    let requested = within("a pull request", bounded::CALL, async {
                        request.await.map_err(broker)
                    });
                    pull.insert(requested.await?)
                }
            };
            tokio::select! {
                message = requested.next() => match message {
                    Some(Ok(message)) => {
                        return Ok(Next::Delivery(DurableDelivery {
                            message,
                            context: context.clone(),
                            dead_letters: self.dead_letter_subject(),
                            max_deliver: self.max_deliver,
                        }))
                    }
                    Some(Err(error)) => return Err(ConsumeError::Broker(error)),
                    // The request ended: pull again.
                    None => *pull = None,
                },
                _ = watch.tick() => {
                    if client.connection_state() != async_nats::connection::State::Connected {
                        return Err(ConsumeError::Disconnected);
                    }
                    let info = tokio::time::timeout(bounded::CALL, consumer.info()).await;
                    if let Ok(Ok(info)) = info {
                        return Ok(Next::Waiting(info.num_pending));
                    }
                }
            }
        }
    }

    /// Lets the last pull request end (at its expiry at most), gives back at once the
    /// messages it brought, and closes the connection once what it sent is flushed.
    async fn close(&self, mut session: Session) -> Result<(), ConsumeError> {
        if let Some(mut requested) = session.pull.take() {
            while let Some(message) = requested.next().await {
                let message = message.map_err(ConsumeError::Broker)?;
                message
                    .double_ack_with(AckKind::Nak(None))
                    .await
                    .map_err(broker)?;
            }
        }
        session.client.drain().await.map_err(broker)
    }

    fn inbox_failed(&self, error: InboxError) -> ConsumeError {
        ConsumeError::Inbox(error)
    }
}

/// Whether the event name `name` matches `pattern` in NATS' wildcards: `*` stands for one
/// dot-separated part, a final `>` for one or more.
fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = name.split('.');
    for token in pattern.split('.') {
        match (token, parts.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (token, Some(part)) if token == part => {}
            _ => return false,
        }
    }
    parts.next().is_none()
}

/// A message of a durable consumer.
#[derive(Debug)]
pub struct DurableDelivery {
    message: jetstream::Message,
    context: jetstream::Context,
    dead_letters: String,
    max_deliver: i64,
}

impl DurableDelivery {
    /// Acknowledges it as `kind`, awaiting the server's confirmation, bounded in time.
    async fn settle(&self, kind: AckKind) -> Result<(), ConsumeError> {
        within("an acknowledgement", bounded::CALL, async {
            self.message.double_ack_with(kind).await.map_err(broker)
        })
        .await
    }
}

impl broker::Delivery for DurableDelivery {
    type Error = ConsumeError;

    fn decode(&self) -> Result<AnyEnvelope, DecodeError> {
        binding::decode(self.message.headers.as_ref(), &self.message.payload)
    }

    fn last_try(&self) -> bool {
        self.message
            .info()
            .is_ok_and(|info| info.delivered >= self.max_deliver)
    }

    async fn ack(self) -> Result<(), ConsumeError> {
        self.settle(AckKind::Ack).await
    }

    /// Given back at once for another try (a negative acknowledgement).
    async fn retry(self) -> Result<(), ConsumeError> {
        self.settle(AckKind::Nak(None)).await
    }

    /// Publishes a copy to the dead-letter subject, with the reason and the subject it came
    /// from in headers, awaits the stream's acknowledgement, then acknowledges the message.
    async fn dead_letter(self, reason: &str) -> Result<(), ConsumeError> {
        let mut headers = self.message.headers.clone().unwrap_or_default();
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        headers.insert(REASON_HEADER, reason.as_str());
        headers.insert(SUBJECT_HEADER, self.message.subject.as_str());
        let copy = PublishMessage::build()
            .payload(self.message.payload.clone())
            .headers(headers);
        let subject = self.dead_letters.clone();
        let published =
            within::<_, ConsumeError>("a publish to the dead letters", bounded::CALL, async {
                let ack = self
                    .context
                    .send_publish(subject.clone(), copy)
                    .await
                    .map_err(|error| ConsumeError::DeadLetter {
                        subject: subject.clone(),
                        source: error.into(),
                    })?;
                ack.await.map_err(|error| ConsumeError::DeadLetter {
                    subject: subject.clone(),
                    source: error.into(),
                })
            });
        published.await?;
        self.settle(AckKind::Ack).await
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn a_filter_matches_names_as_nats_matches_subjects() {
        assert!(matches("shop.*", "shop.order_paid"));
        assert!(!matches("shop.*", "shop.order.paid"));
        assert!(matches("shop.>", "shop.order.paid"));
        assert!(!matches("shop.>", "shop"));
        assert!(matches("shop.order_paid", "shop.order_paid"));
        assert!(!matches("shop.order_paid", "shop.order_placed"));
        assert!(!matches("shop.*.paid", "shop.order"));
        assert!(matches("*.*.paid", "a.b.paid"));
    }
}

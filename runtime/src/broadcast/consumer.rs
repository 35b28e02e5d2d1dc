//! The consumer: receives a broker's messages, decodes each through the registry, and
//! delivers it to the bus's handlers through an inbox; written once over the
//! [broker port](super::broker).

use super::backoff::Backoff;
use super::bounded::{self, within};
use super::broker::{BrokerError, Delivery, Next, Subscriber};
use super::status::{self, Activity, ConsumerStatus};
use crate::broadcast::inbox::{Delivered, Inbox, InboxError};
use crate::messaging::bus::Bus;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Consumes a broker's integration events through an inbox. `B` is the broker:
/// [`amqp::Consumer`](super::amqp::Consumer) for RabbitMQ,
/// [`nats::Consumer`](super::nats::Consumer) for NATS JetStream; each module's docs say what
/// it guarantees. Clones share their status.
#[derive(Debug, Clone)]
pub struct Consumer<B> {
    subscriber: B,
    name: String,
    max_backoff: Duration,
    status: Arc<watch::Sender<ConsumerStatus>>,
}

/// How one session's consuming ended.
enum Served {
    /// `stop` completed.
    Stopped,
    /// The broker ended the deliveries (the queue was deleted, say): start again.
    Ended,
}

impl<B: Subscriber> Consumer<B> {
    /// A consumer of what `subscriber` receives; its inbox records ids under the source's
    /// name.
    pub fn over(subscriber: B) -> Consumer<B> {
        Consumer {
            name: subscriber.source().to_owned(),
            subscriber,
            max_backoff: Duration::from_secs(5),
            status: Arc::new(watch::Sender::new(ConsumerStatus::default())),
        }
    }

    /// The broker's side of the consumer.
    pub fn subscriber(&self) -> &B {
        &self.subscriber
    }

    #[cfg_attr(not(any(feature = "amqp", feature = "nats")), allow(dead_code))]
    pub(crate) fn subscriber_mut(&mut self) -> &mut B {
        &mut self.subscriber
    }

    /// The consumer's state while it runs: what it is doing, its attempts and last error,
    /// the events handled, repeated, failed and dead-lettered, the last one handled, and the
    /// messages waiting for it. The same figures go to `metrics` (`tidings_consumer_*`,
    /// labelled `queue`, the source's name), and each change of activity and error to
    /// `tracing`. Clones of a consumer share it.
    pub fn status(&self) -> watch::Receiver<ConsumerStatus> {
        self.status.subscribe()
    }

    /// The name the inbox records ids under (the source's name by default). Consumers that
    /// share an inbox database and a source share it; another context's consumer needs its
    /// own.
    pub fn name(mut self, name: impl Into<String>) -> Consumer<B> {
        self.name = name.into();
        self
    }

    /// The longest wait between attempts to reach the broker (5 s by default).
    pub fn max_backoff(mut self, wait: Duration) -> Consumer<B> {
        self.max_backoff = wait;
        self
    }

    fn report(&self, change: impl FnOnce(&mut ConsumerStatus)) {
        self.status.send_modify(change);
    }

    pub(crate) fn count(&self, counter: &'static str) {
        metrics::counter!(counter, "queue" => self.subscriber.source().to_owned()).increment(1);
    }

    /// Checks, connects, then consumes until `stop` completes (`Ok`), or returns what
    /// retrying cannot fix ([`BrokerError::is_permanent`]) before the first message: the
    /// broker's refusal (credentials, a source declared with other settings), events the
    /// source is bound to that no handler of this program takes, a source owned by another
    /// context. After any other failure of the broker or the inbox it waits (doubling, up to
    /// the ceiling) and starts again; each failure is a `tracing` event (WARN when retried,
    /// ERROR when it stops the consumer) and is kept in [`Consumer::status`]. Once `stop`
    /// completes, the message in hand is finished and acknowledged and the session closed,
    /// so that what the broker sent ahead goes to the next consumer.
    pub async fn run_until<I: Inbox>(
        &self,
        inbox: &I,
        bus: &Bus,
        stop: impl Future<Output = ()>,
    ) -> Result<(), B::Error> {
        let mut stop = std::pin::pin!(stop);
        let mut backoff = Backoff::new(self.max_backoff);
        let source = self.subscriber.source();
        let outcome = loop {
            self.report(|status| {
                status.attempts += 1;
                status.activity = Activity::Connecting;
            });
            self.count("tidings_consumer_attempts_total");
            let served = match self.subscriber.check(bus) {
                Ok(()) => self.serve(inbox, bus, &mut backoff, stop.as_mut()).await,
                Err(error) => Err(error),
            };
            match served {
                Ok(Served::Stopped) => break Ok(()),
                Ok(Served::Ended) => {}
                Err(error) if error.is_permanent() => {
                    tracing::error!(queue = source, error = %error, "consumer stopped");
                    self.report(|status| {
                        status.activity = Activity::Failed;
                        status.last_error = Some(error.to_string());
                    });
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(queue = source, error = %error, "consumer interrupted; retrying");
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

    /// One session's worth of consuming. When `stop` completes, the message being handled
    /// is finished and acknowledged, then the session is closed.
    async fn serve<I: Inbox>(
        &self,
        inbox: &I,
        bus: &Bus,
        backoff: &mut Backoff,
        mut stop: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Served, B::Error> {
        let mut session = tokio::select! {
            () = stop.as_mut() => return Ok(Served::Stopped),
            opened = self.subscriber.open(bus) => opened?,
        };
        backoff.reset();
        self.report(|status| status.activity = Activity::Running);
        loop {
            let next = tokio::select! {
                () = stop.as_mut() => {
                    // Stopped either way: a session that cannot be closed is dropped, and
                    // the broker takes the messages back when it notices.
                    let close = async { self.subscriber.close(session).await };
                    let closed = within("closing the connection", bounded::CALL, close);
                    if let Err(error) = closed.await {
                        tracing::warn!(queue = self.subscriber.source(), error = %error, "consumer stopped without closing its connection");
                    }
                    return Ok(Served::Stopped);
                }
                next = self.subscriber.next(&mut session) => next?,
            };
            match next {
                Next::Delivery(delivery) => self.handle(delivery, inbox, bus).await?,
                Next::Waiting(waiting) => {
                    self.report(|status| status.lag_events = waiting);
                    metrics::gauge!("tidings_consumer_lag_events", "queue" => self.subscriber.source().to_owned())
                        .set(waiting as f64);
                }
                Next::Ended => return Ok(Served::Ended),
            }
        }
    }

    /// Delivers one message, then settles it; acknowledges only after the inbox committed,
    /// so a crash in between redelivers it, and the inbox absorbs the repeat.
    async fn handle<I: Inbox>(
        &self,
        delivery: B::Delivery,
        inbox: &I,
        bus: &Bus,
    ) -> Result<(), B::Error> {
        let source = self.subscriber.source();
        let envelope = match delivery.decode() {
            Ok(envelope) => envelope,
            Err(reason) => {
                tracing::warn!(queue = source, reason = %reason, "undecodable message dead-lettered");
                delivery.dead_letter(&reason.to_string()).await?;
                self.dead_lettered();
                return Ok(());
            }
        };
        let id = envelope.metadata().wire_id().into_owned();
        let occurred = envelope.metadata().occurred_on();
        match inbox.deliver(&self.name, envelope, bus).await {
            Ok(delivered) => {
                delivery.ack().await?;
                if delivered == Delivered::Handled {
                    self.count("tidings_consumer_handled_total");
                    self.report(|status| {
                        status.handled += 1;
                        status.last_handled = Some(id);
                        status.behind = status::since(occurred.into());
                    });
                } else {
                    self.count("tidings_consumer_repeats_total");
                    self.report(|status| status.repeats += 1);
                }
                Ok(())
            }
            Err(error @ InboxError::NoHandler { .. }) => {
                // Acknowledged as done, it would be lost: it waits in the dead letters, with
                // the reason, to be put back once the program has its handler.
                tracing::warn!(queue = source, error = %error, "event with no handler dead-lettered");
                delivery.dead_letter(&error.to_string()).await?;
                self.dead_lettered();
                Ok(())
            }
            Err(error @ InboxError::Handlers { .. }) => {
                self.count("tidings_consumer_failed_total");
                self.report(|status| status.failed += 1);
                if delivery.last_try() {
                    // The broker would not deliver it again: it waits in the dead letters.
                    tracing::warn!(queue = source, error = %error, "handlers failed on the last try; message dead-lettered");
                    let reason = format!("delivery limit reached: {error}");
                    delivery.dead_letter(&reason).await?;
                    self.dead_lettered();
                } else {
                    // Given back for another try.
                    tracing::warn!(queue = source, error = %error, "handlers failed; message given back");
                    delivery.retry().await?;
                }
                Ok(())
            }
            Err(error) => {
                delivery.retry().await?;
                Err(self.subscriber.inbox_failed(error))
            }
        }
    }

    fn dead_lettered(&self) {
        self.count("tidings_consumer_dead_lettered_total");
        self.report(|status| status.dead_lettered += 1);
    }
}

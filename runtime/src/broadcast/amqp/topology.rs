//! The exchange, queues and bindings the relay and consumers use.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

/// Where a context's integration events go (a durable topic exchange, routed by event name)
/// and the queue a consuming context reads them from.
///
/// Queues are durable quorum queues (replicated, and confirmed only once stored), each with a
/// dead-letter queue named after it (`<queue>.dead`): messages that cannot be decoded are put
/// there with the reason, and so is a message whose handlers failed on every one of its
/// deliveries (20 by default).
///
/// Order: competing consumers on one queue share its messages, so events of one stream may be
/// handled out of order. A context that needs order turns on
/// [`single_active_consumer`](Topology::single_active_consumer): the broker then delivers to
/// one consumer at a time, in queue order, and the next one takes over when it goes away.
/// To spread ordered work, give each partition (a routing key pattern) its own queue.
#[derive(Debug, Clone)]
pub struct Topology {
    exchange: String,
    queue: String,
    binding: String,
    single_active_consumer: bool,
    delivery_limit: u32,
}

impl Topology {
    /// The queue `queue`, bound to everything published to `exchange`.
    pub fn new(exchange: impl Into<String>, queue: impl Into<String>) -> Topology {
        Topology {
            exchange: exchange.into(),
            queue: queue.into(),
            binding: "#".into(),
            single_active_consumer: false,
            delivery_limit: 20,
        }
    }

    /// Binds the queue with this routing-key pattern instead of `#` (every event): the
    /// routing key is the event's wire name, so `ordering.*` takes one context's events.
    pub fn binding(mut self, pattern: impl Into<String>) -> Topology {
        self.binding = pattern.into();
        self
    }

    /// One consumer at a time receives the queue's messages, in order.
    pub fn single_active_consumer(mut self) -> Topology {
        self.single_active_consumer = true;
        self
    }

    /// How many times a message whose handlers fail is delivered before it is dead-lettered.
    pub fn delivery_limit(mut self, deliveries: u32) -> Topology {
        self.delivery_limit = deliveries.max(1);
        self
    }

    /// The exchange.
    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// The queue.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Whether the queue's binding takes the event `name` (its routing key): AMQP topic
    /// matching, `*` one word, `#` zero or more.
    pub fn binds(&self, name: &str) -> bool {
        let pattern: Vec<&str> = self.binding.split('.').collect();
        let words: Vec<&str> = name.split('.').collect();
        topic_match(&pattern, &words)
    }

    /// The dead-letter queue: `<queue>.dead`.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }

    /// Declares the exchange, the queue and its dead-letter queue, and the binding; each is
    /// left as it is when it exists with the same settings.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        declare_exchange(channel, &self.exchange).await?;
        let dead = self.dead_letter_queue();
        declare_queue(channel, &dead, quorum()).await?;
        let mut arguments = quorum();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(dead.as_str().into()),
        );
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(i32::try_from(self.delivery_limit).unwrap_or(i32::MAX)),
        );
        if self.single_active_consumer {
            arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        }
        declare_queue(channel, &self.queue, arguments).await?;
        channel
            .queue_bind(
                self.queue.as_str().into(),
                self.exchange.as_str().into(),
                self.binding.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }
}

fn topic_match(pattern: &[&str], words: &[&str]) -> bool {
    match (pattern.first(), words.first()) {
        (None, None) => true,
        (Some(&"#"), _) => {
            topic_match(&pattern[1..], words)
                || (!words.is_empty() && topic_match(pattern, &words[1..]))
        }
        (Some(&"*"), Some(_)) => topic_match(&pattern[1..], &words[1..]),
        (Some(p), Some(w)) if p == w => topic_match(&pattern[1..], &words[1..]),
        _ => false,
    }
}

/// Declares the durable topic exchange the relay publishes to.
pub(crate) async fn declare_exchange(channel: &Channel, exchange: &str) -> lapin::Result<()> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

async fn declare_queue(channel: &Channel, queue: &str, arguments: FieldTable) -> lapin::Result<()> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            arguments,
        )
        .await
        .map(drop)
}

fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments
}

//! A consuming context over any inbox, and the broadcasting scenarios every backend and every
//! broker runs ([`Wire`]: RabbitMQ and NATS JetStream). It declares no handler: each test
//! binary registers its backend's own (see `mod.rs` for SQLite's), so a binary includes this
//! file alone when its backend is another one.

#![allow(dead_code, unreachable_pub)]

use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tidings::broadcast::amqp::{self, binding, Topology};
use tidings::broadcast::broker::{Publisher, Subscriber};
use tidings::broadcast::nats;
use tidings::broadcast::{Activity, Consumer, ConsumerStatus, Relay};
use tidings::broadcast::{Checkpoints, Inbox, Leases};
use tidings::persistence::{EventStore, ExpectedVersion, NewEvent, StoredEvent};
use tidings::{Bus, Envelope};
use tidings_tests::{unique, Internal, Numbered};
use tokio::sync::{oneshot, watch};

/// How long a scenario waits for effects.
pub const WAIT: Duration = Duration::from_secs(30);

/// An inbox whose database also holds the `effects` table the consuming handler writes.
pub trait Effects: Inbox + Clone + 'static {
    /// The numbers whose effect happened, in the order they happened.
    fn recorded(&self) -> impl Future<Output = Vec<u64>> + Send;
}

/// The numbers whose first delivery fails after its handler wrote the effect (which then
/// rolls back with the inbox's record): provided to the consuming handler.
#[derive(Debug, Default)]
pub struct Flaky {
    next: Mutex<HashSet<u64>>,
    always: Mutex<HashSet<u64>>,
}

impl Flaky {
    /// Makes the next delivery of `n` fail.
    pub fn fail_next(&self, n: u64) {
        self.next.lock().unwrap().insert(n);
    }

    /// Makes every delivery of `n` fail.
    pub fn fail_always(&self, n: u64) {
        self.always.lock().unwrap().insert(n);
    }

    /// Makes the deliveries of `n` succeed again after `fail_always`.
    pub fn heal(&self, n: u64) {
        self.always.lock().unwrap().remove(&n);
    }

    /// Whether this delivery of `n` fails (the first after `fail_next`, or any after
    /// `fail_always`).
    pub fn fails(&self, n: u64) -> bool {
        self.next.lock().unwrap().remove(&n) || self.always.lock().unwrap().contains(&n)
    }
}

/// The handler's error when [`Flaky`] says so.
#[derive(Debug, thiserror::Error)]
#[error("the effect of {0} failed on purpose")]
pub struct Failed(pub u64);

/// A consuming context: its inbox (whose database holds the effects) and its bus.
pub struct Consuming<I> {
    pub inbox: I,
    pub bus: Bus,
    pub flaky: Arc<Flaky>,
    /// The state of each consumer [`Consuming::consume`] started.
    consumers: Mutex<Vec<watch::Receiver<ConsumerStatus>>>,
}

/// What the consumers of a context did with the messages they received, summed over them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deliveries {
    /// Handled, with their effect.
    pub handled: u64,
    /// Repeats the inbox absorbed.
    pub repeats: u64,
    /// Handler failures, given back to the queue.
    pub failed: u64,
    /// Put in the dead-letter queue.
    pub dead_lettered: u64,
}

impl Deliveries {
    /// Every delivery that was settled (acknowledged or given back).
    pub fn settled(&self) -> u64 {
        self.handled + self.repeats + self.failed + self.dead_lettered
    }
}

impl<I: Effects> Consuming<I> {
    /// A context over `inbox`, its bus providing `inbox` and a [`Flaky`].
    pub fn new(inbox: I) -> Consuming<I> {
        let flaky = Arc::new(Flaky::default());
        let bus = Bus::builder()
            .provide(inbox.clone())
            .provide_arc(flaky.clone())
            .build()
            .unwrap();
        Consuming {
            inbox,
            bus,
            flaky,
            consumers: Mutex::new(Vec::new()),
        }
    }

    /// What this context's consumers did so far.
    pub fn deliveries(&self) -> Deliveries {
        let consumers = self.consumers.lock().unwrap();
        consumers.iter().fold(Deliveries::default(), |sum, status| {
            let status = status.borrow();
            Deliveries {
                handled: sum.handled + status.handled,
                repeats: sum.repeats + status.repeats,
                failed: sum.failed + status.failed,
                dead_lettered: sum.dead_lettered + status.dead_lettered,
            }
        })
    }

    /// Waits until this context's consumers settled `count` deliveries, and returns what
    /// they did: nothing is still on its way when a test knows how many messages it sent.
    pub async fn until_settled(&self, count: u64) -> Deliveries {
        self.until(|deliveries| deliveries.settled() >= count).await
    }

    /// Waits until what this context's consumers did satisfies `done`, and returns it.
    pub async fn until(&self, done: impl Fn(&Deliveries) -> bool) -> Deliveries {
        let start = Instant::now();
        loop {
            let deliveries = self.deliveries();
            if done(&deliveries) {
                return deliveries;
            }
            assert!(
                start.elapsed() < WAIT,
                "{deliveries:?} after {WAIT:?}, and still not there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `count` effects happened (or `within` passed), and returns them.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<u64> {
        let start = Instant::now();
        loop {
            let effects = self.inbox.recorded().await;
            if effects.len() >= count || start.elapsed() > within {
                return effects;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `consumer` in the background until the returned sender is dropped or used;
    /// returns once it consumes (its queue declared and bound, its durable consumer created).
    pub async fn consume<B>(self: &Arc<Self>, consumer: Consumer<B>) -> oneshot::Sender<()>
    where
        B: Subscriber,
        B::Error: std::fmt::Debug,
    {
        let stop = self.start(consumer);
        let mut status = self.consumers.lock().unwrap().last().unwrap().clone();
        let running = status.wait_for(|status| {
            assert_ne!(
                status.activity,
                Activity::Failed,
                "the consumer failed: {:?}",
                status.last_error
            );
            status.activity == Activity::Running
        });
        tokio::time::timeout(WAIT, running)
            .await
            .expect("the consumer runs")
            .unwrap();
        stop
    }

    /// Runs `consumer` in the background until the returned sender is dropped or used,
    /// without waiting for it to connect.
    pub fn start<B>(self: &Arc<Self>, consumer: Consumer<B>) -> oneshot::Sender<()>
    where
        B: Subscriber,
        B::Error: std::fmt::Debug,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let consumer = consumer.max_backoff(Duration::from_millis(500));
        self.consumers.lock().unwrap().push(consumer.status());
        let context = self.clone();
        tokio::spawn(async move {
            consumer
                .run_until(&context.inbox, &context.bus, async {
                    let _ = stopped.await;
                })
                .await
                .expect("the consumer stopped on an error");
        });
        stop
    }
}

/// Event `n`, with an `Internal` event after each tenth (which the relay passes over).
pub fn numbered_batch(n: u64) -> Vec<NewEvent> {
    let mut events = vec![NewEvent::from_envelope(&Envelope::new(Numbered { n })).unwrap()];
    if n % 10 == 0 {
        events.push(NewEvent::from_envelope(&Envelope::new(Internal { n })).unwrap());
    }
    events
}

/// Appends `Numbered` events `range` to `stream`, one append each ([`numbered_batch`]).
pub async fn append_numbered_to<S: EventStore>(
    store: &S,
    stream: &str,
    range: std::ops::RangeInclusive<u64>,
) {
    for n in range {
        store
            .append(stream, ExpectedVersion::Any, &numbered_batch(n))
            .await
            .unwrap();
    }
}

/// Asserts each number in `1..=count` had its effect exactly once, in order.
pub fn assert_once_in_order(effects: &[u64], count: u64) {
    let expected: Vec<u64> = (1..=count).collect();
    if effects != expected {
        let mut sorted = effects.to_vec();
        sorted.sort_unstable();
        let duplicates = sorted.windows(2).filter(|w| w[0] == w[1]).count();
        let missing = expected
            .iter()
            .filter(|n| sorted.binary_search(n).is_err())
            .count();
        let out_of_order = effects.windows(2).filter(|w| w[0] > w[1]).count();
        let around = match effects.windows(2).position(|w| w[0] > w[1]) {
            Some(at) => format!(
                "; the first step back is inside {:?}",
                &effects[at.saturating_sub(4)..(at + 5).min(effects.len())]
            ),
            None => String::new(),
        };
        panic!(
            "{} effects for {count} events: {duplicates} duplicated, {missing} missing, \
             {out_of_order} out of order{around}",
            effects.len()
        );
    }
}

/// Store → relay → broker → consumer → handler: each effect once and in order, also when the
/// relay publishes everything again from the start.
pub async fn relayed_events_have_their_effect_once_in_order<W, S, I>(
    wire: &W,
    store: Arc<S>,
    shipping: Arc<Consuming<I>>,
) where
    W: Wire,
    S: EventStore + Checkpoints + Leases + 'static,
    I: Effects,
{
    let destination = wire.destination("ordering");
    let _stop = shipping
        .consume(wire.consumer(&destination, "shipping"))
        .await;

    append_numbered_to(&*store, "order-1", 1..=50).await;
    let relay = wire.relay(store.clone(), &destination).batch(16);
    let checkpoint = relay.publish_pending().await.unwrap();
    let stored = store.read_all(0, 1000).await.unwrap();
    assert_eq!(stored.len(), 55);
    assert_eq!(
        Some(checkpoint),
        stored.last().map(|e| e.position()),
        "the checkpoint passes the internal events too"
    );
    assert_once_in_order(&shipping.wait_for(50, WAIT).await, 50);

    // Published again from the start (a relay that lost its checkpoint): no effect twice.
    store.reset(relay.name(), 0).await.unwrap();
    relay.publish_pending().await.unwrap();
    append_numbered_to(&*store, "order-1", 51..=60).await;
    relay.publish_pending().await.unwrap();
    // 50 messages, the same 50 again (unless the broker drops them), then 10 new ones.
    let repeats = if wire.drops_repeated_ids() { 0 } else { 50 };
    let deliveries = shipping.until_settled(60 + repeats).await;
    assert_eq!((deliveries.handled, deliveries.repeats), (60, repeats));
    assert_once_in_order(&shipping.inbox.recorded().await, 60);
    assert_eq!(store.read_all(0, 1000).await.unwrap().len(), 66);
}

/// The same messages sent three times, and one whose handler fails the first time (its
/// effect and its inbox record roll back, and the redelivery has the effect): each effect
/// happens once.
pub async fn redelivered_and_failed_messages_have_their_effect_once<W, S, I>(
    wire: &W,
    store: &S,
    shipping: Arc<Consuming<I>>,
) where
    W: Wire,
    S: EventStore,
    I: Effects,
{
    append_numbered_to(store, "order-1", 1..=3).await;
    shipping.flaky.fail_next(2);
    let destination = wire.destination("ordering");
    let _stop = shipping
        .consume(wire.consumer(&destination, "shipping"))
        .await;
    let events = store.read_all(0, 10).await.unwrap();
    let thrice: Vec<StoredEvent> = (0..3).flat_map(|_| events.iter().cloned()).collect();
    wire.publish(&destination, &thrice).await;
    // Nine messages, and the failed one once more.
    let deliveries = shipping.until_settled(10).await;
    assert_eq!(deliveries.failed, 1, "{deliveries:?}");
    assert_eq!((deliveries.handled, deliveries.repeats), (3, 6));
    assert!(!shipping.flaky.fails(2), "the failure happened");
    let mut effects = shipping.inbox.recorded().await;
    effects.sort_unstable();
    assert_eq!(effects, [1, 2, 3], "nothing more came");
}

/// A broker the scenarios run against: how its relay and consumers are made, and what a
/// test asks of it directly.
pub trait Wire: Sync {
    /// The consumer's side of the broker.
    type Subscriber: Subscriber<Error: std::fmt::Debug>;
    /// The relay's side of the broker.
    type Publisher: Publisher;

    /// Whether the broker drops a message published again with an id it has (JetStream's
    /// de-duplication window).
    fn drops_repeated_ids(&self) -> bool;

    /// A fresh destination (an exchange, a stream) named after `label`.
    fn destination(&self, label: &str) -> String;

    /// A consumer of `destination` for the context `group` (a queue, a durable consumer),
    /// one of several that keep the destination's order.
    fn consumer(&self, destination: &str, group: &str) -> Consumer<Self::Subscriber>;

    /// A consumer as [`Wire::consumer`] makes it, one of several that share the messages
    /// without order.
    fn competing(&self, destination: &str, group: &str) -> Consumer<Self::Subscriber>;

    /// A relay of `store` to `destination`.
    fn relay<S: EventStore + Checkpoints + Leases + 'static>(
        &self,
        store: Arc<S>,
        destination: &str,
    ) -> Relay<S, Self::Publisher>;

    /// Publishes `events` to `destination` as the relay would, each message as it comes
    /// (the broker keeps them all, repeats included), with no checkpoint.
    fn publish(&self, destination: &str, events: &[StoredEvent]) -> impl Future<Output = ()>;

    /// Returns once `count` consumers of `group` are attached.
    fn until_consumers(
        &self,
        destination: &str,
        group: &str,
        count: u32,
    ) -> impl Future<Output = ()>;
}

/// RabbitMQ at this URI.
pub struct Amqp(pub String);

/// The queue of `group` on `destination`.
fn queue(destination: &str, group: &str) -> String {
    format!("{destination}.{group}")
}

impl Wire for Amqp {
    type Subscriber = amqp::Queue;
    type Publisher = amqp::Exchange;

    fn drops_repeated_ids(&self) -> bool {
        false
    }

    fn destination(&self, label: &str) -> String {
        unique(label)
    }

    fn consumer(&self, destination: &str, group: &str) -> Consumer<amqp::Queue> {
        let topology = Topology::new(destination, queue(destination, group));
        amqp::Consumer::new(&self.0, topology.single_active_consumer())
    }

    fn competing(&self, destination: &str, group: &str) -> Consumer<amqp::Queue> {
        amqp::Consumer::new(
            &self.0,
            Topology::new(destination, queue(destination, group)),
        )
    }

    fn relay<S: EventStore + Checkpoints + Leases + 'static>(
        &self,
        store: Arc<S>,
        destination: &str,
    ) -> Relay<S, amqp::Exchange> {
        amqp::Relay::new(store, &self.0, destination)
    }

    async fn publish(&self, destination: &str, events: &[StoredEvent]) {
        let connection = Connection::connect(&self.0, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        for event in events {
            channel
                .basic_publish(
                    destination.into(),
                    event.name().into(),
                    BasicPublishOptions::default(),
                    event.data().as_bytes(),
                    binding::properties(event).unwrap(),
                )
                .await
                .unwrap();
        }
    }

    async fn until_consumers(&self, destination: &str, group: &str, count: u32) {
        until_consumers(&self.0, &queue(destination, group), count).await;
    }
}

/// NATS JetStream at this URL.
pub struct Nats(pub String);

impl Wire for Nats {
    type Subscriber = nats::Durable;
    type Publisher = nats::Stream;

    fn drops_repeated_ids(&self) -> bool {
        true
    }

    /// A stream's name has no dots.
    fn destination(&self, label: &str) -> String {
        unique(label).replace('.', "-")
    }

    fn consumer(&self, destination: &str, group: &str) -> Consumer<nats::Durable> {
        nats::Consumer::new(&self.0, destination, group)
    }

    fn competing(&self, destination: &str, group: &str) -> Consumer<nats::Durable> {
        nats::Consumer::new(&self.0, destination, group).in_flight(16)
    }

    fn relay<S: EventStore + Checkpoints + Leases + 'static>(
        &self,
        store: Arc<S>,
        destination: &str,
    ) -> Relay<S, nats::Stream> {
        nats::Relay::new(store, &self.0, destination)
    }

    /// Published without a message id, so that JetStream keeps the repeats.
    async fn publish(&self, destination: &str, events: &[StoredEvent]) {
        let client = nats::async_nats::connect(&self.0).await.unwrap();
        let context = nats::async_nats::jetstream::new(client);
        let stream = nats::Stream::new(&self.0, destination);
        for event in events {
            let headers = nats::binding::headers(event).unwrap();
            context
                .publish_with_headers(
                    stream.subject(event.name()),
                    headers,
                    event.data().to_owned().into(),
                )
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }

    /// A pull consumer is attached by its first pull: nothing to wait for once
    /// [`Consuming::consume`] returned.
    async fn until_consumers(&self, _destination: &str, _group: &str, _count: u32) {}
}

/// How many consumers the broker has attached to `queue` now; `None` before the queue exists.
async fn consumers_on(uri: &str, queue: &str) -> Option<u32> {
    let connection = Connection::connect(uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    declared.ok().map(|queue| queue.consumer_count())
}

/// Waits until `count` consumers are attached to `queue`.
async fn until_consumers(uri: &str, queue: &str, count: u32) {
    let start = Instant::now();
    loop {
        let attached = consumers_on(uri, queue).await;
        if attached == Some(count) {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "{attached:?} consumers attached to `{queue}`, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Competing consumers: three instances on one queue (one inbox) share its messages, and
/// every event has its effect exactly once.
pub async fn competing_consumers_have_each_effect_once<W, S, I>(
    wire: &W,
    store: Arc<S>,
    shipping: Arc<Consuming<I>>,
) where
    W: Wire,
    S: EventStore + Checkpoints + Leases + 'static,
    I: Effects,
{
    let destination = wire.destination("ordering");
    let mut stops = Vec::new();
    for _ in 0..3 {
        stops.push(
            shipping
                .consume(wire.competing(&destination, "shipping"))
                .await,
        );
    }
    wire.until_consumers(&destination, "shipping", 3).await;

    append_numbered_to(&*store, "order-1", 1..=200).await;
    wire.relay(store.clone(), &destination)
        .batch(50)
        .publish_pending()
        .await
        .unwrap();
    let deliveries = shipping.until_settled(200).await;
    assert_eq!(deliveries.handled, 200, "{deliveries:?}");
    let mut effects = shipping.inbox.recorded().await;
    effects.sort_unstable();
    assert_once_in_order(&effects, 200);
}

/// Two consumers that keep the order (RabbitMQ's single active consumer; JetStream's one
/// message in flight): when the first stops halfway, the second goes on, and the effects
/// stay in store order, each once.
pub async fn a_second_ordered_consumer_takes_over_in_order<W, S, I>(
    wire: &W,
    store: Arc<S>,
    shipping: Arc<Consuming<I>>,
) where
    W: Wire,
    S: EventStore + Checkpoints + Leases + 'static,
    I: Effects,
{
    let destination = wire.destination("ordering");
    let first = shipping
        .consume(wire.consumer(&destination, "shipping"))
        .await;
    wire.until_consumers(&destination, "shipping", 1).await;
    // Attached as the one waiting (RabbitMQ counts only the active consumer of such a
    // queue).
    let _second = shipping
        .consume(wire.consumer(&destination, "shipping"))
        .await;

    append_numbered_to(&*store, "order-1", 1..=300).await;
    let relay = wire.relay(store.clone(), &destination).batch(50);
    relay.publish_pending().await.unwrap();
    let halfway = shipping.wait_for(100, WAIT).await;
    assert!(
        halfway.len() >= 100,
        "{} effects before the first stopped",
        halfway.len()
    );
    drop(first);
    wire.until_consumers(&destination, "shipping", 1).await;

    // The messages the first had been sent ahead went back to the queue, and the second
    // handled them in order (a message the first handled but whose acknowledgement the
    // broker had not taken comes again, and the inbox absorbs it).
    shipping.until(|deliveries| deliveries.handled >= 300).await;
    assert_once_in_order(&shipping.inbox.recorded().await, 300);
}

//! The relay and the consumer against a real NATS server with JetStream
//! (`TIDINGS_TEST_NATS`; `scripts/test` starts one): the scenarios RabbitMQ runs
//! (`support/consuming.rs`), then what JetStream does its own way: the dead letters, the
//! de-duplication window, messages from other producers, the checks before the first
//! message.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{append_numbered, Context, Nats, Wire, WAIT};
use tidings::broadcast::nats::async_nats::{self, jetstream, HeaderMap};
use tidings::broadcast::nats::{binding, ConsumeError, Consumer, Relay, RelayError};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::persistence::sqlite::SqliteStore;
use tidings::{Bus, Envelope};
use tidings_tests::nats::nats_url;
use tidings_tests::{Numbered, Scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_integration_events_reach_the_other_context_once_in_order() {
    let dir = Scratch::new("nats-e2e");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::relayed_events_have_their_effect_once_in_order(&Nats(nats_url()), store, shipping)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_or_failed_message_has_its_effect_once() {
    let dir = Scratch::new("nats-redelivery");
    let store = SqliteStore::open(dir.join("ordering.db")).unwrap();
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::redelivered_and_failed_messages_have_their_effect_once(
        &Nats(nats_url()),
        &store,
        shipping,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_consumers_on_one_durable_consumer_have_each_effect_once() {
    let dir = Scratch::new("nats-competing");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::competing_consumers_have_each_effect_once(&Nats(nats_url()), store, shipping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_consumer_takes_over_in_store_order() {
    let dir = Scratch::new("nats-takeover");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::a_second_ordered_consumer_takes_over_in_order(&Nats(nats_url()), store, shipping)
        .await;
}

/// A JetStream context on the test server.
async fn jetstream() -> jetstream::Context {
    jetstream::new(async_nats::connect(nats_url()).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_lands_in_the_dead_letters_with_its_reason_and_the_rest_goes_on() {
    let url = nats_url();
    let dir = Scratch::new("nats-dead-letters");
    let store = SqliteStore::open(dir.join("ordering.db")).unwrap();
    append_numbered(&store, "order-1", 1..=2);
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    let stream = Nats(url.clone()).destination("ordering");
    let consumer = Consumer::new(&url, &stream, "shipping");
    let _stop = shipping.consume(consumer.clone()).await;

    let context = jetstream().await;
    let events = store.read_all_sync(0, 10).unwrap();
    let subject = format!("{stream}.tidings_tests.numbered");
    let publish = |headers: HeaderMap, body: Vec<u8>| {
        let (context, subject) = (context.clone(), subject.clone());
        async move {
            context
                .publish_with_headers(subject, headers, body.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    publish(
        binding::headers(&events[0]).unwrap(),
        events[0].data().into(),
    )
    .await;
    publish(
        binding::headers(&events[1]).unwrap(),
        b"{\"n\": \"not a number\"}".to_vec(),
    )
    .await;
    publish(HeaderMap::new(), b"plain text".to_vec()).await;
    publish(
        binding::headers(&events[1]).unwrap(),
        events[1].data().into(),
    )
    .await;
    assert_eq!(shipping.wait_for(2, WAIT).await, [1, 2]);
    let deliveries = shipping.until_settled(4).await;
    assert_eq!((deliveries.handled, deliveries.dead_lettered), (2, 2));

    let letters = consumer.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0].event.as_deref(), Some("tidings_tests.numbered"));
    assert_eq!(
        letters[0].id.as_deref(),
        Some(events[1].metadata().wire_id().as_ref()),
        "the copy keeps the event's id"
    );
    assert!(
        letters[0].reason.contains("tidings_tests.numbered"),
        "the reason names what failed: {}",
        letters[0].reason
    );
    assert!(
        letters[1].reason.contains("JSON") || letters[1].reason.contains("json"),
        "{}",
        letters[1].reason
    );
    assert_eq!(shipping.effects(), [1, 2], "nothing else had an effect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_handlers_fail_on_every_delivery_lands_in_the_dead_letters() {
    let url = nats_url();
    let dir = Scratch::new("nats-delivery-limit");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    append_numbered(&store, "order-1", 1..=3);
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    shipping.flaky.fail_always(2);
    let stream = Nats(url.clone()).destination("ordering");
    let consumer = Consumer::new(&url, &stream, "shipping").max_deliver(3);
    let _stop = shipping.consume(consumer.clone()).await;
    Relay::new(store.clone(), &url, &stream)
        .publish_pending()
        .await
        .unwrap();

    // Three tries of the second event, then the third goes on.
    let deliveries = shipping.until_settled(2 + 3).await;
    assert_eq!(
        (
            deliveries.handled,
            deliveries.failed,
            deliveries.dead_lettered
        ),
        (2, 3, 1),
        "{deliveries:?}"
    );
    assert_eq!(shipping.effects(), [1, 3]);
    let letters = consumer.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0].reason.starts_with("delivery limit reached")
            && letters[0].reason.contains("failed on purpose"),
        "{}",
        letters[0].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_put_back_once_its_cause_is_fixed_and_has_its_effect_once() {
    let url = nats_url();
    let dir = Scratch::new("nats-replay");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    append_numbered(&store, "order-1", 1..=3);
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    shipping.flaky.fail_always(2);
    let stream = Nats(url.clone()).destination("ordering");
    let consumer = Consumer::new(&url, &stream, "shipping").max_deliver(2);
    let _stop = shipping.consume(consumer.clone()).await;
    let relay = Relay::new(store.clone(), &url, &stream);
    relay.publish_pending().await.unwrap();
    let deliveries = shipping.until_settled(2 + 2).await;
    assert_eq!((deliveries.handled, deliveries.dead_lettered), (2, 1));
    assert_eq!(consumer.dead_letters().await.unwrap().len(), 1);

    // The bug fixed: put back, it has its effect, and the dead letters are empty.
    shipping.flaky.heal(2);
    assert_eq!(consumer.replay_dead_letters().await.unwrap(), 1);
    shipping.until(|deliveries| deliveries.handled >= 3).await;
    assert_eq!(shipping.effects(), [1, 3, 2]);
    assert_eq!(consumer.dead_letters().await.unwrap(), []);
    assert_eq!(consumer.replay_dead_letters().await.unwrap(), 0);

    // Published again without message ids (as after the stream's de-duplication window):
    // the inbox absorbs the repeats.
    Nats(url.clone())
        .publish(&stream, &store.read_all_sync(0, 10).unwrap())
        .await;
    let deliveries = shipping.until(|deliveries| deliveries.repeats >= 3).await;
    assert_eq!(deliveries.handled, 3, "{deliveries:?}");
    assert_eq!(shipping.effects(), [1, 3, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_publishes_again_is_deduplicated_by_the_stream() {
    let url = nats_url();
    let dir = Scratch::new("nats-dedup");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    append_numbered(&store, "order-1", 1..=20);
    let stream = Nats(url.clone()).destination("ordering");
    let relay = Relay::new(store.clone(), &url, &stream);
    relay.publish_pending().await.unwrap();
    // A relay that lost its checkpoint publishes everything again: within the window, the
    // stream keeps each message once.
    tidings::broadcast::Checkpoints::reset(&*store, relay.name(), 0)
        .await
        .unwrap();
    relay.publish_pending().await.unwrap();
    let mut info = jetstream().await.get_stream(&stream).await.unwrap();
    assert_eq!(info.info().await.unwrap().state.messages, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_the_client_s_window_of_acknowledgements_is_published_whole() {
    let url = nats_url();
    let dir = Scratch::new("nats-large-batch");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    // More than async-nats lets await their acknowledgement at once (5,000).
    const EVENTS: u64 = 6_000;
    for first in (1..=EVENTS).step_by(500) {
        let batch: Vec<_> = (first..first + 500)
            .map(|n| tidings::persistence::NewEvent::from_envelope(&Envelope::new(Numbered { n })))
            .collect::<Result<_, _>>()
            .unwrap();
        store
            .append_sync("orders", tidings::persistence::ExpectedVersion::Any, &batch)
            .unwrap();
    }
    let stream = Nats(url.clone()).destination("ordering");
    let relay = Relay::new(store.clone(), &url, &stream).batch(EVENTS as usize);
    let published = tokio::time::timeout(WAIT, relay.publish_pending())
        .await
        .expect("the batch is published within the wait")
        .unwrap();
    assert_eq!(published, EVENTS, "the checkpoint passed every event");
    let mut info = jetstream().await.get_stream(&stream).await.unwrap();
    assert_eq!(info.info().await.unwrap().state.messages, EVENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_structured_event_from_another_producer_has_its_effect() {
    let url = nats_url();
    let dir = Scratch::new("nats-structured");
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    let stream = Nats(url.clone()).destination("storefront");
    let _stop = shipping
        .consume(Consumer::new(&url, &stream, "shipping"))
        .await;
    let context = jetstream().await;
    let subject = format!("{stream}.tidings_tests.numbered");
    // With the binding's content type, and without any header (NATS before 2.2).
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        "application/cloudevents+json; charset=utf-8",
    );
    let json = Envelope::new(Numbered { n: 1 })
        .to_json()
        .unwrap()
        .to_string();
    context
        .publish_with_headers(subject.clone(), headers, json.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let json = Envelope::new(Numbered { n: 2 })
        .to_json()
        .unwrap()
        .to_string();
    context
        .publish(subject, json.into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(shipping.wait_for(2, WAIT).await, [1, 2]);
}

/// Runs `consumer` until it stops on its own, which it must, with an error.
async fn run_to_error(consumer: &Consumer, inbox: &SqliteInbox, bus: &Bus) -> ConsumeError {
    let run = consumer.run_until(inbox, bus, std::future::pending());
    tokio::time::timeout(WAIT, run)
        .await
        .expect("the consumer stops by itself")
        .expect_err("the consumer stops on an error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_retrying_cannot_fix_stops_the_consumer_and_the_relay_naming_the_fix() {
    let url = nats_url();
    let dir = Scratch::new("nats-checks");
    let inbox = SqliteInbox::open(dir.join("shipping.db")).unwrap();
    let stream = Nats(url.clone()).destination("ordering");

    // The handler of `Numbered` is not linked: here, left out.
    let unhandled = Bus::builder()
        .without("broadcast_nats::support::record_effect")
        .build()
        .unwrap();
    let error = run_to_error(
        &Consumer::new(&url, &stream, "shipping"),
        &inbox,
        &unhandled,
    )
    .await;
    assert!(matches!(error, ConsumeError::Unhandled { .. }), "{error}");
    assert!(
        error.to_string().contains("`tidings_tests.numbered`")
            && error.to_string().contains("Consumer::filter"),
        "{error}"
    );
    assert!(error.is_permanent());
    // Filtered to other events, it starts.
    let filtered = Consumer::new(&url, &stream, "shipping-others").filter("others.*");
    let mut status = filtered.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = filtered.run_until(&inbox, &unhandled, async {
        let _ = stopped.await;
    });
    let check = async {
        let running = status.wait_for(|s| s.activity == tidings::broadcast::Activity::Running);
        tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
        stop.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(run, check);
    outcome.unwrap();

    // A durable consumer's name with a dot.
    let bus = Bus::builder()
        .provide(inbox.clone())
        .provide(support::Flaky::default())
        .build()
        .unwrap();
    let error = run_to_error(&Consumer::new(&url, &stream, "ship.ping"), &inbox, &bus).await;
    assert!(matches!(error, ConsumeError::Refused { .. }), "{error}");
    assert!(error.to_string().contains("`ship.ping`"), "{error}");

    // A stream's name with a space: the relay stops too.
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    append_numbered(&store, "order-1", 1..=1);
    let relay = Relay::new(store, &url, "order ing").max_backoff(Duration::from_millis(50));
    let error = tokio::time::timeout(WAIT, relay.run_until(std::future::pending()))
        .await
        .expect("the relay stops by itself")
        .expect_err("the relay stops on an error");
    assert!(matches!(error, RelayError::Refused(_)), "{error}");
    assert!(error.to_string().contains("`order ing`"), "{error}");
}

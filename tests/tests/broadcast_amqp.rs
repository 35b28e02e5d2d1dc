//! The relay and the consumer against a real RabbitMQ (`TIDINGS_TEST_AMQP`; `scripts/test`
//! starts one): store → relay → broker → consumer → handler, each effect once, with the
//! SQLite store and inbox. `broadcast_amqp_postgres.rs` runs the same scenarios on
//! PostgreSQL.

mod support;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::sync::Arc;
use support::{append_numbered, Context, WAIT};
use tidings::broadcast::amqp::binding::{self, REASON_HEADER};
use tidings::broadcast::amqp::Topology;
use tidings::persistence::sqlite::SqliteStore;
use tidings_tests::{amqp_uri, unique, Scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_integration_events_reach_the_other_context_once_in_order() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-e2e");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::relayed_events_have_their_effect_once_in_order(&uri, store, shipping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_or_failed_message_has_its_effect_once() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-redelivery");
    let store = SqliteStore::open(dir.join("ordering.db")).unwrap();
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::redelivered_and_failed_messages_have_their_effect_once(&uri, &store, shipping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_consumers_on_one_queue_have_each_effect_once() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-competing");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::competing_consumers_have_each_effect_once(&uri, store, shipping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_single_active_consumer_takes_over_in_store_order() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-takeover");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::a_second_single_active_consumer_takes_over_in_order(&uri, store, shipping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_lands_in_the_dead_letter_queue_and_the_rest_goes_on() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-dlq");
    let store = SqliteStore::open(dir.join("ordering.db")).unwrap();
    append_numbered(&store, "order-1", 1..=2);
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    let topology = Topology::new(unique("ordering"), unique("shipping"));
    let _stop = shipping.consume(&uri, topology.clone()).await;

    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let events = store.read_all_sync(0, 10).unwrap();
    let publish = |body: Vec<u8>, properties: BasicProperties| {
        let channel = channel.clone();
        let exchange = topology.exchange().to_owned();
        async move {
            channel
                .basic_publish(
                    exchange.as_str().into(),
                    "tidings_tests.numbered".into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    publish(
        events[0].data().into(),
        binding::properties(&events[0]).unwrap(),
    )
    .await;
    publish(
        b"{\"n\": \"not a number\"}".to_vec(),
        binding::properties(&events[1]).unwrap(),
    )
    .await;
    publish(b"plain text".to_vec(), BasicProperties::default()).await;
    publish(
        events[1].data().into(),
        binding::properties(&events[1]).unwrap(),
    )
    .await;
    assert_eq!(shipping.wait_for(2, WAIT).await, [1, 2]);

    channel
        .queue_declare(
            topology.dead_letter_queue().as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut dead = channel
        .basic_consume(
            topology.dead_letter_queue().as_str().into(),
            "inspector".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(WAIT, dead.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let headers = message.properties.headers().clone().unwrap();
        let reason = match &headers.inner()[REASON_HEADER] {
            lapin::types::AMQPValue::LongString(text) => {
                String::from_utf8_lossy(text.as_bytes()).into_owned()
            }
            other => panic!("the reason is text, not {other:?}"),
        };
        reasons.push(reason);
    }
    assert!(
        reasons[0].contains("does not match its type"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("malformed"), "{reasons:?}");
}

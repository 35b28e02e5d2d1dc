//! The relay and the consumer against a real RabbitMQ (`TIDINGS_TEST_AMQP`; `scripts/test`
//! starts one): store → relay → broker → consumer → handler, each effect once, with the
//! SQLite store and inbox. `broadcast_brokers_postgres.rs` runs the same scenarios on
//! PostgreSQL.

mod support;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::sync::Arc;
use support::{append_numbered, Amqp, Context, WAIT};
use tidings::broadcast::amqp::binding::{self, REASON_HEADER};
use tidings::broadcast::amqp::{Consumer, Topology};
use tidings::persistence::sqlite::SqliteStore;
use tidings_tests::{amqp_uri, unique, Scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_integration_events_reach_the_other_context_once_in_order() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-e2e");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::relayed_events_have_their_effect_once_in_order(&Amqp(uri), store, shipping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_or_failed_message_has_its_effect_once() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-redelivery");
    let store = SqliteStore::open(dir.join("ordering.db")).unwrap();
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::redelivered_and_failed_messages_have_their_effect_once(&Amqp(uri), &store, shipping)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_consumers_on_one_queue_have_each_effect_once() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-competing");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::competing_consumers_have_each_effect_once(&Amqp(uri), store, shipping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_single_active_consumer_takes_over_in_store_order() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-takeover");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    support::a_second_ordered_consumer_takes_over_in_order(&Amqp(uri), store, shipping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_lands_in_the_dead_letter_queue_and_the_rest_goes_on() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-dlq");
    let store = SqliteStore::open(dir.join("ordering.db")).unwrap();
    append_numbered(&store, "order-1", 1..=2);
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    let topology = Topology::new(unique("ordering"), unique("shipping"));
    let _stop = shipping
        .consume(Consumer::new(&uri, topology.clone()))
        .await;

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

/// What the relay puts on the wire, read raw from a queue: each body matches its event's JSON
/// Schema in the catalog, and its headers match the AsyncAPI document's headers schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_s_messages_match_the_catalog_s_schemas() {
    use tidings::broadcast::amqp::Relay;
    use tidings::catalog::AsyncApi;

    let uri = amqp_uri();
    let dir = Scratch::new("amqp-schemas");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    append_numbered(&store, "order-1", 1..=3);
    let topology = Topology::new(unique("ordering"), unique("inspected"));
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    topology.declare(&channel).await.unwrap();
    Relay::new(store.clone(), &uri, topology.exchange())
        .publish_pending()
        .await
        .unwrap();

    // Every registered message is in the catalog; the handlers do not matter here.
    let catalog = tidings::Bus::builder()
        .only(tidings::linked!(tidings_tests))
        .build()
        .unwrap()
        .catalog();
    let document =
        catalog.asyncapi(&AsyncApi::new("relay", "1").sends("tests", topology.exchange()));
    let mut deliveries = channel
        .basic_consume(
            topology.queue().into(),
            "inspector".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    for n in 1..=3u64 {
        let message = tokio::time::timeout(WAIT, deliveries.next())
            .await
            .expect("the relay's message arrives")
            .unwrap()
            .unwrap();
        let headers: serde_json::Map<String, serde_json::Value> = message
            .properties
            .headers()
            .clone()
            .unwrap()
            .inner()
            .iter()
            .map(|(name, value)| (name.to_string(), header_json(value)))
            .collect();
        let name = headers["cloudEvents:type"].as_str().unwrap().to_owned();
        let version = headers["cloudEvents:typeversion"].as_u64().unwrap() as u32;
        let body: serde_json::Value = serde_json::from_slice(&message.data).unwrap();
        assert_eq!(body["n"], n, "in store order");

        let schema = catalog
            .schema(&name, version)
            .expect("a schema for what the relay sends");
        let errors: Vec<String> = jsonschema::validator_for(schema)
            .unwrap()
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name} v{version}: {errors:?}\n{body}");

        let key = format!("{name}.v{version}");
        let header_schema = &document["components"]["messages"][&key]["headers"];
        assert!(header_schema.is_object(), "{key} in the AsyncAPI document");
        let errors: Vec<String> = jsonschema::validator_for(header_schema)
            .unwrap()
            .iter_errors(&serde_json::Value::Object(headers.clone()))
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{key}'s headers: {errors:?}\n{headers:?}"
        );
    }
}

/// An AMQP header's value as JSON: text, numbers, booleans, times (seconds).
fn header_json(value: &lapin::types::AMQPValue) -> serde_json::Value {
    use lapin::types::AMQPValue;
    match value {
        AMQPValue::LongString(text) => String::from_utf8_lossy(text.as_bytes()).into(),
        AMQPValue::ShortString(text) => text.as_str().into(),
        AMQPValue::Boolean(b) => (*b).into(),
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => (*n).into(),
        AMQPValue::Timestamp(seconds) => (*seconds).into(),
        other => format!("{other:?}").into(),
    }
}

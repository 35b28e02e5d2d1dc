//! tidings against the other side of its wire as other services build it: the CloudEvents
//! Python SDK (2.2), pika and nats-py (`TIDINGS_TEST_PYTHON`, the virtual environment
//! `scripts/test` makes; `python/interop.py` is the Python side) with a real RabbitMQ
//! (`TIDINGS_TEST_AMQP`) and a real NATS server with JetStream (`TIDINGS_TEST_NATS`).
//!
//! - Every form the SDK publishes (its AMQP binding in binary mode under either prefix, with
//!   `time` as milliseconds or an AMQP timestamp; its RabbitMQ binding's `ce-` headers;
//!   structured mode through both) has its effect once, and none is dead-lettered.
//! - The relay's messages parse with the SDK's binding of the prefix it is set to.
//! - Over JetStream, both forms the SDK makes with its HTTP binding (binary mode's `ce-`
//!   headers and `Content-Type` are the NATS binding's; structured mode) have their effect
//!   once, and the NATS relay's messages parse with that binding.
//! - The feed's pages and its live tail parse with the SDK's JSON format.

mod support;

use chrono::{DateTime, Utc};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use serde_json::Value;
use std::sync::Arc;
use support::{append_numbered, assert_once_in_order, Context, WAIT};
use tidings::broadcast::amqp::binding::AttributePrefix;
use tidings::broadcast::amqp::{Consumer, Relay, Topology};
use tidings::broadcast::http::Feed;
use tidings::persistence::sqlite::{rusqlite, SqliteStore};
use tidings::persistence::StoredEvent;
use tidings::Metadata;
use tidings_tests::nats::nats_url;
use tidings_tests::{amqp_uri, unique, Scratch};

/// Each form `interop.py publish` knows.
const FORMS: [&str; 6] = [
    "amqp-binary",
    "amqp-binary-colon",
    "amqp-binary-timestamp",
    "rabbitmq-binary",
    "amqp-structured",
    "rabbitmq-structured",
];

/// Runs `interop.py` with `args` and returns what it printed; its failure fails the test.
async fn python(args: Vec<String>) -> String {
    let python = std::env::var("TIDINGS_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "TIDINGS_TEST_PYTHON is not set: run the tests through `scripts/test`, which makes \
             the Python environment (the CloudEvents SDK and pika) they use"
        )
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/interop.py");
    let command = {
        let (python, args) = (python.clone(), args.clone());
        move || {
            std::process::Command::new(python)
                .arg(script)
                .args(args)
                .output()
        }
    };
    let output = tokio::task::spawn_blocking(command)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run {python} (TIDINGS_TEST_PYTHON): {e}"));
    assert!(
        output.status.success(),
        "interop.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Declares `topology` (and so binds its queue) before anything is published to it.
async fn declare(uri: &str, topology: &Topology) -> lapin::Channel {
    let connection = Connection::connect(uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    topology.declare(&channel).await.unwrap();
    channel
}

async fn messages_in(channel: &lapin::Channel, queue: &str) -> u32 {
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .unwrap()
        .message_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_the_python_sdk_publishes_has_its_effect_once_and_none_is_dead_lettered() {
    let uri = amqp_uri();
    let dir = Scratch::new("interop-python-forms");
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    let topology = Topology::new(unique("storefront"), unique("shipping"));
    let channel = declare(&uri, &topology).await;
    let _stop = shipping
        .consume(Consumer::new(&uri, topology.clone()))
        .await;
    const EACH: usize = 10;
    for (i, form) in FORMS.iter().enumerate() {
        let args = [
            "publish",
            &uri,
            topology.exchange(),
            "tidings_tests.numbered",
            form,
            "/storefront",
            &(i * EACH + 1).to_string(),
            &EACH.to_string(),
        ];
        python(args.map(str::to_owned).to_vec()).await;
    }
    // Each event went twice; one consumer handles them in queue order, so once the last
    // has had its effect, every repeat before it was absorbed or shows here.
    let count = FORMS.len() * EACH;
    let effects = shipping.wait_for(count, WAIT).await;
    assert_once_in_order(&effects, count as u64);
    assert_eq!(
        messages_in(&channel, &topology.dead_letter_queue()).await,
        0,
        "no event of the SDK was dead-lettered"
    );

    let recorded: Vec<(String, String, String)> = shipping.inbox.with_connection(|conn| {
        let mut statement = conn
            .prepare(
                "SELECT tidings_inbox.source, tidings_inbox.event_id, effects.event_id
                 FROM tidings_inbox JOIN effects ON effects.n = CAST(substr(
                     tidings_inbox.event_id, length(rtrim(tidings_inbox.event_id, '0123456789')) + 1)
                     AS INTEGER)
                 ORDER BY effects.seq",
            )
            .unwrap();
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    });
    assert_eq!(recorded.len(), count, "{recorded:?}");
    for (i, (source, id, uuid)) in recorded.iter().enumerate() {
        let form = FORMS[i / EACH];
        assert_eq!(source, "/storefront");
        assert_eq!(
            id,
            &format!("py-{form}-{}", i + 1),
            "the id as the SDK sent it"
        );
        assert_eq!(uuid, &Metadata::uuid_for(source, id).to_string());
    }
}

fn time_of(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// What the SDK read matches the stored event, to the microsecond (Python's precision).
fn assert_read_as_stored(read: &Value, stored: &StoredEvent, typeversion: Value) {
    assert_eq!(read["id"], stored.metadata().wire_id().as_ref(), "{read}");
    assert_eq!(read["type"], stored.name());
    assert_eq!(read["source"], stored.metadata().source());
    assert_eq!(read["typeversion"], typeversion);
    assert_eq!(
        read["correlationid"],
        stored.metadata().correlation_id().to_string()
    );
    let micros = |time: DateTime<Utc>| time.timestamp_micros();
    assert_eq!(
        micros(time_of(&read["time"])),
        micros(stored.metadata().occurred_on())
    );
    let data: Value = serde_json::from_str(stored.data()).unwrap();
    assert_eq!(read["data"], data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_s_messages_parse_with_the_python_sdk_s_binding_of_its_prefix() {
    let uri = amqp_uri();
    let dir = Scratch::new("interop-python-relay");
    let cases = [
        (AttributePrefix::CloudEventsColon, "amqp", Value::from(1)),
        (
            AttributePrefix::CloudEventsUnderscore,
            "amqp",
            Value::from(1),
        ),
        (AttributePrefix::Ce, "rabbitmq", Value::from("1")),
    ];
    for (i, (prefix, binding, typeversion)) in cases.into_iter().enumerate() {
        let store = Arc::new(SqliteStore::open(dir.join(&format!("ordering-{i}.db"))).unwrap());
        append_numbered(&store, "order-1", 1..=5);
        let topology = Topology::new(unique("ordering"), unique("reader"));
        declare(&uri, &topology).await;
        Relay::new(store.clone(), uri.clone(), topology.exchange())
            .attribute_prefix(prefix)
            .publish_pending()
            .await
            .unwrap();
        let args = ["read-relay", &uri, topology.queue(), "5", binding];
        let read = lines(&python(args.map(str::to_owned).to_vec()).await);
        let stored = store.read_all_sync(0, 10).unwrap();
        assert_eq!(read.len(), 5, "{prefix:?}");
        for (read, stored) in read.iter().zip(&stored) {
            assert_read_as_stored(read, stored, typeversion.clone());
            assert_eq!(read["subject"], "order-1", "{prefix:?}");
        }
    }
}

/// Each form `interop.py nats-publish` knows.
const NATS_FORMS: [&str; 2] = ["nats-binary", "nats-structured"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_the_python_sdk_publishes_to_jetstream_has_its_effect_once_and_none_is_dead_lettered(
) {
    let url = nats_url();
    let dir = Scratch::new("interop-python-nats-forms");
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    let stream = unique("storefront").replace('.', "-");
    let consumer = tidings::broadcast::nats::Consumer::new(&url, &stream, "shipping");
    let _stop = shipping.consume(consumer.clone()).await;
    const EACH: usize = 10;
    for (i, form) in NATS_FORMS.iter().enumerate() {
        let subject = format!("{stream}.tidings_tests.numbered");
        let args = [
            "nats-publish",
            &url,
            &subject,
            form,
            "/storefront",
            &(i * EACH + 1).to_string(),
            &EACH.to_string(),
        ];
        python(args.map(str::to_owned).to_vec()).await;
    }
    // Each event went twice, and the consumer keeps the stream's order: once the last has
    // had its effect, every repeat before it was absorbed.
    let count = NATS_FORMS.len() * EACH;
    let effects = shipping.wait_for(count, WAIT).await;
    assert_once_in_order(&effects, count as u64);
    let deliveries = shipping.until_settled(2 * count as u64).await;
    assert_eq!(
        (
            deliveries.handled,
            deliveries.repeats,
            deliveries.dead_lettered
        ),
        (count as u64, count as u64, 0),
        "{deliveries:?}"
    );
    assert_eq!(consumer.dead_letters().await.unwrap(), []);
    let mut ids: Vec<(String, String)> = shipping.inbox.with_connection(|conn| {
        let mut statement = conn
            .prepare("SELECT source, event_id FROM tidings_inbox")
            .unwrap();
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    });
    ids.sort();
    let mut expected: Vec<(String, String)> = (0..count)
        .map(|i| {
            let id = format!("py-{}-{}", NATS_FORMS[i / EACH], i + 1);
            ("/storefront".to_owned(), id)
        })
        .collect();
    expected.sort();
    assert_eq!(ids, expected, "the sources and ids as the SDK sent them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_relay_s_messages_parse_with_the_python_sdk_s_ce_headers_binding() {
    let url = nats_url();
    let dir = Scratch::new("interop-python-nats-relay");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    append_numbered(&store, "order-1", 1..=5);
    let stream = unique("ordering").replace('.', "-");
    tidings::broadcast::nats::Relay::new(store.clone(), &url, &stream)
        .publish_pending()
        .await
        .unwrap();
    let args = ["nats-read-relay", &url, &stream, "5"];
    let read = lines(&python(args.map(str::to_owned).to_vec()).await);
    let stored = store.read_all_sync(0, 10).unwrap();
    assert_eq!(read.len(), 5);
    for (read, stored) in read.iter().zip(&stored) {
        // Every `ce-` header is text.
        assert_read_as_stored(read, stored, Value::from("1"));
        assert_eq!(read["subject"], "order-1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_s_pages_and_live_tail_parse_with_the_python_sdk() {
    let dir = Scratch::new("interop-python-feed");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    append_numbered(&store, "order-1", 1..=3);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Feed::new(store.clone()).router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let stored = store.read_all_sync(0, 10).unwrap();

    let page = lines(&python(vec!["read-feed".into(), format!("http://{address}/events")]).await);
    let live = python(vec![
        "read-live".into(),
        format!("http://{address}/events/live"),
        "3".into(),
    ])
    .await;
    for read in [page, lines(&live)] {
        assert_eq!(read.len(), 3);
        for (read, stored) in read.iter().zip(&stored) {
            assert_read_as_stored(read, stored, Value::from(1));
            assert_eq!(read["subject"], "order-1");
        }
    }
}

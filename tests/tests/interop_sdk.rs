//! Events made with the Rust CloudEvents SDK (`cloudevents-sdk`) reach a running consumer
//! (`TIDINGS_TEST_AMQP`) in every form the AMQP binding allows, and round-trip: a seeded
//! property test of random events (ids of any text, any source, with or without `time`,
//! typed extensions, data inline or as bytes), each published in a random form, each handled
//! once with the attributes it was sent with, none dead-lettered. The seed is printed;
//! `TIDINGS_TEST_SEED=<seed>` repeats a run (the consumer's test needs RabbitMQ: feature
//! `amqp`). The feed's pages parse with the SDK too.

#![cfg_attr(
    not(feature = "amqp"),
    allow(
        dead_code,
        unused_imports,
        reason = "the consumer's test needs feature `amqp`"
    )
)]

use chrono::{DateTime, SubsecRound, Utc};
use cloudevents::event::{AttributeValue, ExtensionValue};
use cloudevents::{AttributesReader, AttributesWriter, Data, Event, EventBuilder, EventBuilderV10};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tidings::broadcast::amqp::{Consumer, Topology};
use tidings::broadcast::http::Feed;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, NewEvent};
use tidings::{handler, Bus, Envelope};
use tidings_tests::{amqp_uri, unique, Numbered, Scratch};

/// The CloudEvents JSON of each `Numbered` the consumer handled, by `n`.
#[derive(Debug, Default)]
struct Handled(Mutex<BTreeMap<u64, Vec<Value>>>);

#[handler]
fn handled(event: &Envelope<Numbered>, handled: &Handled) {
    let json = event.to_json().unwrap();
    handled
        .0
        .lock()
        .unwrap()
        .entry(event.n)
        .or_default()
        .push(json);
}

/// How an event goes on the wire.
#[derive(Debug, Clone, Copy)]
enum Form {
    Structured,
    Binary(&'static str),
}

/// An event the SDK built, its form, and the time the consumer must read from it.
struct Case {
    event: Event,
    form: Form,
    time: Option<DateTime<Utc>>,
    millis: bool,
}

const TEXT: &[char] = &[
    'a', 'Z', '7', '-', '_', ':', '/', '.', ' ', '%', 'ü', '✓', '🦀', '"', '\\', '=',
];
const SOURCES: [&str; 5] = [
    "/storefront",
    "https://shop.example/orders",
    "urn:shop:eu",
    "//relative/ref",
    "/ü",
];

fn text(rng: &mut fastrand::Rng, max: usize) -> String {
    let len = rng.usize(1..=max);
    (0..len).map(|_| TEXT[rng.usize(..TEXT.len())]).collect()
}

fn case(rng: &mut fastrand::Rng, n: u64) -> Case {
    let id = if rng.u8(..5) == 0 {
        uuid::Uuid::now_v7().to_string()
    } else {
        format!("{}{n}", text(rng, 24))
    };
    let mut builder = EventBuilderV10::new()
        .id(id)
        .ty("tidings_tests.numbered")
        .source(SOURCES[rng.usize(..SOURCES.len())]);
    let form = match rng.u8(..4) {
        0 => Form::Structured,
        1 => Form::Binary("cloudEvents:"),
        2 => Form::Binary("cloudEvents_"),
        _ => Form::Binary("ce-"),
    };
    let time = (rng.u8(..4) != 0).then(|| {
        let nanos = rng.i64(0..4_000_000_000_000_000_000);
        DateTime::from_timestamp_nanos(nanos)
    });
    if let Some(time) = time {
        builder = builder.time(time);
    }
    for _ in 0..rng.usize(..4) {
        let name: String = std::iter::once(char::from(b'a' + rng.u8(..26)))
            .chain(
                (0..rng.usize(..10))
                    .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.usize(..36)])),
            )
            .collect();
        // CloudEvents' own attributes and tidings' are not extensions.
        const TAKEN: [&str; 12] = [
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "datacontenttype",
            "dataschema",
            "subject",
            "data",
            "typeversion",
            "correlationid",
            "causationid",
        ];
        if TAKEN.contains(&name.as_str()) {
            continue;
        }
        builder = match rng.u8(..3) {
            0 => builder.extension(&name, text(rng, 16)),
            1 => builder.extension(&name, rng.bool()),
            _ => builder.extension(&name, rng.i64(..)),
        };
    }
    match rng.u8(..3) {
        0 => builder = builder.extension("typeversion", 1i64),
        1 => builder = builder.extension("typeversion", "1"),
        _ => {}
    }
    let content_type = [
        "application/json",
        "application/json; charset=utf-8",
        "text/json",
    ][rng.usize(..3)];
    let data = json!({"n": n});
    builder = match rng.u8(..3) {
        0 => builder.data(content_type, Data::Binary(data.to_string().into_bytes())),
        1 => builder.data(content_type, data),
        _ => builder.data("application/json", data),
    };
    let mut event = builder.build().unwrap();
    if rng.u8(..4) == 0 {
        // No datacontenttype at all: JSON, as CloudEvents says.
        event.set_datacontenttype(None::<String>);
    }
    Case {
        event,
        form,
        time,
        millis: rng.bool(),
    }
}

/// The message of `case`: properties and body.
fn message(case: &Case) -> (BasicProperties, Vec<u8>) {
    let event = &case.event;
    let Form::Binary(prefix) = case.form else {
        let body = serde_json::to_vec(event).unwrap();
        let properties =
            BasicProperties::default().with_content_type("application/cloudevents+json".into());
        return (properties, body);
    };
    let textual = prefix == "ce-";
    let mut headers = FieldTable::default();
    for (name, value) in event.iter() {
        if name == "datacontenttype" {
            continue;
        }
        let value = match value {
            AttributeValue::Boolean(b) if !textual => AMQPValue::Boolean(*b),
            AttributeValue::Integer(i) if !textual => AMQPValue::LongLongInt(*i),
            AttributeValue::Time(t) if !textual && case.millis => {
                AMQPValue::LongLongInt(t.timestamp_millis())
            }
            AttributeValue::Time(t) if !textual => AMQPValue::Timestamp(t.timestamp() as u64),
            other => AMQPValue::LongString(other.to_string().into()),
        };
        headers.insert(format!("{prefix}{name}").into(), value);
    }
    let mut properties = BasicProperties::default().with_headers(headers);
    if let Some(content_type) = event.datacontenttype() {
        properties = properties.with_content_type(content_type.into());
    }
    let body = match event.data() {
        Some(Data::Binary(bytes)) => bytes.clone(),
        Some(Data::Json(json)) => serde_json::to_vec(json).unwrap(),
        other => panic!("no such data here: {other:?}"),
    };
    (properties, body)
}

/// The time the consumer must read: as sent, less what the header's type cannot hold.
fn expected_time(case: &Case) -> Option<DateTime<Utc>> {
    let time = case.time?;
    Some(match case.form {
        Form::Binary("cloudEvents:" | "cloudEvents_") if case.millis => time.trunc_subsecs(3),
        Form::Binary("cloudEvents:" | "cloudEvents_") => time.trunc_subsecs(0),
        _ => time,
    })
}

fn check(case: &Case, handled: &Value, seed: u64) {
    let event = &case.event;
    let context = format!(
        "seed {seed}, {:?}, sent {event}, handled {handled}",
        case.form
    );
    assert_eq!(handled["id"], event.id(), "{context}");
    assert_eq!(handled["source"], event.source().to_string(), "{context}");
    assert_eq!(handled["typeversion"], 1, "{context}");
    if let Some(time) = expected_time(case) {
        let read = DateTime::parse_from_rfc3339(handled["time"].as_str().unwrap()).unwrap();
        assert_eq!(read, time, "{context}");
    }
    for (name, value) in event.iter_extensions() {
        if name == "typeversion" {
            continue;
        }
        let canonical = match value {
            ExtensionValue::String(s) => s.clone(),
            ExtensionValue::Boolean(b) => b.to_string(),
            ExtensionValue::Integer(i) => i.to_string(),
        };
        assert_eq!(handled[name], canonical, "{name}: {context}");
    }
}

#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_event_the_sdk_can_make_round_trips_through_the_consumer() {
    let seed = tidings_tests::seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let uri = amqp_uri();
    let dir = Scratch::new("interop-sdk");
    let inbox = SqliteInbox::open(dir.join("inbox.db")).unwrap();
    let seen = Arc::new(Handled::default());
    let bus = Bus::builder().provide_arc(seen.clone()).build().unwrap();
    let topology = Topology::new(unique("sdk"), unique("consumer"));
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    topology.declare(&channel).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(uri.clone(), topology.clone());
    let run = tokio::spawn(async move {
        consumer
            .run_until(&inbox, &bus, async {
                let _ = stopped.await;
            })
            .await
            .expect("the consumer stopped on an error");
    });

    const EVENTS: u64 = 300;
    let cases: Vec<Case> = (1..=EVENTS).map(|n| case(&mut rng, n)).collect();
    for case in &cases {
        let (properties, body) = message(case);
        channel
            .basic_publish(
                topology.exchange().into(),
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
    let start = Instant::now();
    while seen.0.lock().unwrap().len() < EVENTS as usize
        && start.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = channel
        .queue_declare(
            topology.dead_letter_queue().as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count();
    assert_eq!(
        dead, 0,
        "seed {seed}: events the SDK made were dead-lettered"
    );
    let handled = std::mem::take(&mut *seen.0.lock().unwrap());
    assert_eq!(handled.len(), EVENTS as usize, "seed {seed}");
    for (n, case) in (1..).zip(&cases) {
        let once = &handled[&n];
        assert_eq!(once.len(), 1, "seed {seed}: event {n} handled {once:?}");
        check(case, &once[0], seed);
    }
    let _ = stop.send(());
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_s_pages_parse_with_the_sdk() {
    let dir = Scratch::new("interop-sdk-feed");
    let store = Arc::new(SqliteStore::open(dir.join("ordering.db")).unwrap());
    let events: Vec<NewEvent> = (1..=3)
        .map(|n| NewEvent::from_envelope(&Envelope::new(Numbered { n })).unwrap())
        .collect();
    store
        .append_sync("order-1", ExpectedVersion::NoStream, &events)
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Feed::new(store.clone()).router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let page: Value = reqwest::get(format!("http://{address}/events"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let read: Vec<Event> = serde_json::from_value(page["events"].clone()).unwrap();
    assert_eq!(read.len(), 3);
    for ((event, sent), n) in read.iter().zip(&events).zip(1..) {
        assert_eq!(event.id(), sent.metadata().id().to_string());
        assert_eq!(event.time(), Some(&sent.metadata().occurred_on()));
        assert_eq!(event.data(), Some(&Data::Json(json!({"n": n}))));
        assert_eq!(event.subject(), Some("order-1"));
    }
}

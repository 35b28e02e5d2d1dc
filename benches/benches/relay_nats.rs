//! The relay to NATS JetStream against a hand-written async-nats publisher doing the same
//! work: the same messages, with acknowledgements.
//!
//! Run (JetStream on `TIDINGS_TEST_NATS`, default `nats://127.0.0.1:4222`; `scripts/test`
//! starts one): `scripts/test --run cargo bench -p tidings-benches --bench relay_nats`
//!
//! 5,000 integration events in a SQLite store (`synchronous = FULL`). `tidings` is
//! `nats::Relay::publish_pending`: connect, declare the stream, take the lease, read the
//! checkpoint, read and filter the events, build the CloudEvents headers, publish each with
//! its id as the message id, await the acknowledgements per batch of 500, advance the
//! checkpoint. `raw` is the hand-written form of the same publishing: connect, declare the
//! same stream, publish the same bodies with the same headers and message ids, await the
//! acknowledgements per batch of 500. Before each round the stream is deleted, so neither
//! side meets the other's message ids in the de-duplication window; each side goes first in
//! turn, and the median of the rounds is reported.

mod relayed;

use relayed::{filled_store, median, BATCH, EVENTS};
use std::time::{Duration, Instant};
use tidings::broadcast::nats::async_nats::jetstream::{self, stream};
use tidings::broadcast::nats::{async_nats, binding, Relay, Stream};
use tidings::broadcast::Checkpoints;
use tidings::persistence::StoredEvent;

fn main() {
    let url =
        std::env::var("TIDINGS_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(7);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(throughput(&url, rounds));
}

async fn throughput(url: &str, rounds: usize) {
    let dir = std::env::temp_dir().join(format!("tidings-bench-relay-nats-{}", std::process::id()));
    let (store, stored) = filled_store(&dir);
    let name = format!("bench-relay-{}", std::process::id());
    let admin = jetstream::new(async_nats::connect(url).await.unwrap_or_else(|error| {
        panic!("no NATS server at {url} ({error}): run the benchmark through scripts/test --run")
    }));
    let relay = Relay::new(store.clone(), url, &name).batch(BATCH);

    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for first in [round % 2 == 0, round % 2 != 0] {
            let _ = admin.delete_stream(&name).await;
            let (side, elapsed) = if first {
                store.reset(relay.name(), 0).await.unwrap();
                let start = Instant::now();
                relay.publish_pending().await.unwrap();
                (&mut ours, start.elapsed())
            } else {
                let start = Instant::now();
                publish_raw(url, &name, &stored).await;
                (&mut raw, start.elapsed())
            };
            let mut published = admin.get_stream(&name).await.unwrap();
            let messages = published.info().await.unwrap().state.messages;
            assert_eq!(messages, EVENTS, "every event in the stream once");
            side.push(EVENTS as f64 / elapsed.as_secs_f64());
        }
    }
    let _ = admin.delete_stream(&name).await;
    let (ours, raw) = (median(ours), median(raw));
    println!(
        "relay throughput to JetStream ({EVENTS} events, batches of {BATCH}, median of {rounds}):"
    );
    println!("  tidings nats::Relay  {ours:>9.0} events/s");
    println!("  raw async-nats       {raw:>9.0} events/s");
    println!("  ratio                {:>9.2}x", ours / raw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The hand-written publisher: the same stream, messages and acknowledgements.
async fn publish_raw(url: &str, name: &str, stored: &[StoredEvent]) {
    let client = async_nats::connect(url).await.unwrap();
    let mut context = jetstream::new(client);
    context.set_timeout(Duration::from_secs(30));
    context
        .get_or_create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![format!("{name}.>")],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..stream::Config::default()
        })
        .await
        .unwrap();
    let subjects = Stream::new(url, name);
    for batch in stored.chunks(BATCH) {
        let mut acks = Vec::with_capacity(batch.len());
        for event in batch {
            let message = jetstream::message::PublishMessage::build()
                .payload(event.data().to_owned().into())
                .headers(binding::headers(event).unwrap())
                .message_id(event.metadata().wire_id());
            let ack = context
                .send_publish(subjects.subject(event.name()), message)
                .await
                .unwrap();
            acks.push(ack);
        }
        for ack in acks {
            ack.await.unwrap();
        }
    }
}

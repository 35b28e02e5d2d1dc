//! The relay against raw lapin publishing the same messages with confirms (the limit), and
//! the latency from an append's commit to the consuming context's handler.
//!
//! Run (RabbitMQ on `TIDINGS_TEST_AMQP`, default `amqp://guest:guest@127.0.0.1:5672/%2f`):
//! `cargo bench -p tidings-benches --bench relay`
//!
//! - throughput: 5,000 integration events in a SQLite store. `tidings` is
//!   `Relay::publish_pending` (lease, checkpoint read, events read and filtered, headers
//!   built, published, confirms awaited per batch of 500, checkpoint advanced); `raw` is one
//!   lapin channel in confirm mode publishing the same bodies with the same properties to
//!   the same kind of exchange, awaiting the confirms per batch of 500. Both to a durable
//!   topic exchange bound to a quorum queue; rounds alternate, the median is reported.
//! - latency: 300 events appended one at a time, 10 ms apart, with a relay (`idle` 5 ms)
//!   and a consumer (SQLite inbox) running; from the append's return to the handler's call.

mod relayed;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueuePurgeOptions};
use lapin::{Connection, ConnectionProperties};
use relayed::{event, filled_store, median, OrderPaid, BATCH, EVENTS};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tidings::broadcast::amqp::{binding, Consumer, Relay, Topology};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::Checkpoints;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, StoredEvent};
use tidings::{handler, Bus};

/// When each order's append committed, and how long until its handler ran.
#[derive(Default)]
struct Clock {
    committed: Mutex<HashMap<u64, Instant>>,
    latencies: Mutex<Vec<Duration>>,
}

#[handler]
fn paid(event: &OrderPaid, clock: &Clock) {
    if let Some(at) = clock.committed.lock().unwrap().get(&event.order_id) {
        clock.latencies.lock().unwrap().push(at.elapsed());
    }
}

const ROUNDS: usize = 5;

fn main() {
    let uri = std::env::var("TIDINGS_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(throughput(&uri));
    runtime.block_on(latency(&uri));
}

async fn throughput(uri: &str) {
    let dir = std::env::temp_dir().join(format!("tidings-bench-relay-{}", std::process::id()));
    let (store, stored) = filled_store(&dir);
    let exchange = format!("bench.relay.{}", std::process::id());
    let topology = Topology::new(&exchange, format!("{exchange}.queue"));
    let connection = Connection::connect(uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    topology.declare(&channel).await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let relay = Relay::new(store.clone(), uri, &exchange).batch(BATCH);

    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Each goes first in turn, so neither always meets a queue just purged.
        for first in [round % 2 == 0, round % 2 != 0] {
            if first {
                store.reset(relay.name(), 0).await.unwrap();
                let start = Instant::now();
                relay.publish_pending().await.unwrap();
                ours.push(EVENTS as f64 / start.elapsed().as_secs_f64());
            } else {
                let start = Instant::now();
                publish_raw(&channel, &exchange, &stored).await;
                raw.push(EVENTS as f64 / start.elapsed().as_secs_f64());
            }
            purge(&channel, &topology).await;
        }
    }
    let (ours, raw) = (median(ours), median(raw));
    println!("relay throughput ({EVENTS} events, batches of {BATCH}, median of {ROUNDS}):");
    println!("  tidings Relay  {ours:>9.0} events/s");
    println!("  raw lapin      {raw:>9.0} events/s");
    println!("  ratio          {:>9.2}x", ours / raw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The limit: the same messages on one channel, confirms awaited per batch.
async fn publish_raw(channel: &lapin::Channel, exchange: &str, stored: &[StoredEvent]) {
    for batch in stored.chunks(BATCH) {
        let mut confirms = Vec::with_capacity(batch.len());
        for event in batch {
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    event.name().into(),
                    BasicPublishOptions::default(),
                    event.data().as_bytes(),
                    binding::properties(event).unwrap(),
                )
                .await
                .unwrap();
            confirms.push(confirm);
        }
        for confirm in confirms {
            assert!(confirm.await.unwrap().is_ack());
        }
    }
}

async fn purge(channel: &lapin::Channel, topology: &Topology) {
    channel
        .queue_purge(topology.queue().into(), QueuePurgeOptions::default())
        .await
        .unwrap();
}

async fn latency(uri: &str) {
    let dir = std::env::temp_dir().join(format!("tidings-bench-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("events.db")).unwrap());
    let inbox = SqliteInbox::open(dir.join("inbox.db")).unwrap();
    let clock = Arc::new(Clock::default());
    let bus = Bus::builder()
        .provide_arc(clock.clone())
        .provide(inbox.clone())
        .build()
        .unwrap();
    let exchange = format!("bench.latency.{}", std::process::id());
    let topology = Topology::new(&exchange, format!("{exchange}.queue"));
    let consumer = Consumer::new(uri, topology);
    let relay = Relay::new(store.clone(), uri, &exchange).idle(Duration::from_millis(5));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let consuming = {
        let stopped = stopped.clone();
        tokio::spawn(async move { consumer.run_until(&inbox, &bus, wait(stopped)).await })
    };
    let relaying = tokio::spawn(async move { relay.run_until(wait(stopped)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;

    const SAMPLES: u64 = 300;
    for n in 1..=SAMPLES {
        store
            .append_sync("orders", ExpectedVersion::Any, &[event(n)])
            .unwrap();
        clock.committed.lock().unwrap().insert(n, Instant::now());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.send(true).unwrap();
    let _ = tokio::join!(consuming, relaying);
    let mut latencies = clock.latencies.lock().unwrap().clone();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "commit to handler ({} of {SAMPLES} events, relay idle 5 ms):",
        latencies.len()
    );
    println!("  p50 {:>8.2?}", at(0.5));
    println!("  p99 {:>8.2?}", at(0.99));
    let _ = std::fs::remove_dir_all(&dir);
}

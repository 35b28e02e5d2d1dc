//! Fault injection against a real RabbitMQ, at the scale of the delivery guarantees the README
//! states: while 10,000 events flow, relay processes (two at a time, competing for the
//! destination's lease) are killed with SIGKILL at random moments at least 50 times, the
//! broker's application is stopped and started twice, and the consuming process (prefetch 50)
//! is killed with SIGKILL three times in the middle of a batch (busy, with more confirmed
//! messages waiting than its prefetch window, so it holds unacknowledged deliveries), then
//! started again. Every event must have its effect exactly once, in store order; and a second queue,
//! read raw (no inbox), shows what the relays published: every event, first arrivals in store
//! order, and repeats only as whole resumed runs, never two relays' publications interleaved.

mod support;

use futures_util::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{append_numbered, assert_once_in_order};
use tidings::broadcast::amqp::{binding, Topology};
use tidings::persistence::sqlite::{rusqlite, SqliteStore};
use tidings_tests::{amqp_uri, unique, Numbered, Scratch};

const EVENTS: u64 = 10_000;
const MIN_RELAY_KILLS: usize = 50;
/// Events the writer appends at a time, and the pause between two bursts.
const BURST: u64 = 100;
const PAUSE: Duration = Duration::from_millis(450);
/// How many messages the consumer may hold unacknowledged.
const PREFETCH: u64 = 50;
/// When the broker restarts, and when the consumer is killed: once the consumer has had this
/// many effects (a consumer kill waits for the broker to count unacknowledged messages).
const BROKER_RESTARTS_AT: [u64; 2] = [2_500, 6_000];
const CONSUMER_KILLS_AT: [u64; 3] = [1_000, 3_500, 6_000];
/// The test gives up (and fails) past this, or when the consumer has had no effect for
/// `STALL` while confirmed messages wait for it.
const DEADLINE: Duration = Duration::from_secs(300);
const STALL: Duration = Duration::from_secs(60);

/// A child process, killed with SIGKILL when dropped (a failing test leaves none behind).
struct Process(Child);

impl Process {
    fn sigkill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_relay(store: &Path, uri: &str, exchange: &str) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_relay"))
            .args([store.to_str().unwrap(), uri, exchange, "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the relay binary starts"),
    )
}

/// A consumer process; with `TIDINGS_CONSUMER_DEBUG=<file>`, its log goes to that file.
fn spawn_consumer(inbox: &Path, uri: &str, topology: &Topology) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_consumer"))
            .args([
                inbox.to_str().unwrap(),
                uri,
                topology.exchange(),
                topology.queue(),
                &PREFETCH.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("TIDINGS_CONSUMER_DEBUG") {
                Some(log) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(log)
                        .unwrap(),
                ),
                None => Stdio::null(),
            })
            .spawn()
            .expect("the consumer binary starts"),
    )
}

/// `rabbitmqctl` with the node settings of the broker on loopback.
fn rabbitmqctl(args: &[&str]) -> std::process::Output {
    Command::new("rabbitmqctl")
        .args(args)
        .env("RABBITMQ_NODENAME", "rabbit@localhost")
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", "5672")
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .expect("rabbitmqctl runs (scripts/test installs it)")
}

fn restart_broker() {
    for command in ["stop_app", "start_app"] {
        let output = rabbitmqctl(&[command]);
        assert!(
            output.status.success(),
            "rabbitmqctl {command} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if command == "stop_app" {
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

/// How many `Numbered` events the relays have published with the broker's confirm: those
/// at or before the relay's checkpoint.
fn confirmed(store: &SqliteStore, exchange: &str) -> u64 {
    store
        .with_connection(|conn| {
            let through =
                tidings::persistence::sqlite::checkpoint(conn, &format!("relay:{exchange}"))
                    .unwrap();
            let count = conn.query_row(
                "SELECT count(*) FROM tidings_events WHERE position <= ?1 AND name = ?2",
                rusqlite::params![through as i64, "tidings_tests.numbered"],
                |row| row.get::<_, i64>(0),
            )?;
            Ok::<_, tidings::persistence::StoreError>(count as u64)
        })
        .unwrap()
}

/// Reads the consumer's database: the numbers whose effect happened (in the order they
/// happened), and how many repeats the inbox absorbed.
struct Effects(rusqlite::Connection);

impl Effects {
    fn open(path: &Path) -> Effects {
        // The consumer's tables, created here first so they can be read before it starts.
        let inbox = tidings::broadcast::sqlite::SqliteInbox::open(path).unwrap();
        inbox
            .with_connection(|conn| conn.execute_batch(tidings_tests::CONSUMER_TABLES))
            .unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        Effects(conn)
    }

    fn effects(&self) -> Vec<u64> {
        let mut statement = self
            .0
            .prepare("SELECT n FROM effects ORDER BY seq")
            .unwrap();
        let rows = statement.query_map([], |row| row.get::<_, i64>(0)).unwrap();
        rows.map(|n| n.unwrap() as u64).collect()
    }

    fn count(&self) -> u64 {
        self.0
            .query_row("SELECT count(*) FROM effects", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    }

    fn repeats(&self) -> u64 {
        self.0
            .query_row("SELECT count(*) FROM repeats", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    }
}

/// Every message in `queue`, in queue order, until none comes for a few seconds.
async fn drain(uri: &str, queue: &str) -> Vec<u64> {
    let connection = Connection::connect(uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut messages = channel
        .basic_consume(
            queue.into(),
            "inspector".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut published = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_secs(3), messages.next()).await
    {
        let message = message.unwrap();
        let event = binding::decode(&message.properties, &message.data).unwrap();
        published.push(event.downcast::<Numbered>().unwrap().payload().n);
    }
    published
}

/// What the relays published, as one queue received it: the number of runs (a run:
/// consecutive numbers), and the messages that skipped ahead of the next event in store order.
/// Repeats come only as runs resumed from a checkpoint; two relays publishing at once would
/// interleave their messages and start a new run at almost every message.
fn runs(published: &[u64]) -> (usize, Vec<(usize, u64)>) {
    let mut highest = 0;
    let mut runs = 0;
    let mut skips = Vec::new();
    let mut previous = None;
    for (index, &n) in published.iter().enumerate() {
        if n > highest + 1 {
            skips.push((index, n));
        }
        highest = highest.max(n);
        if previous.map(|p| p + 1) != Some(n) {
            runs += 1;
        }
        previous = Some(n);
    }
    (runs, skips)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_relays_a_killed_consumer_and_a_broker_restart_lose_and_repeat_no_effect() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-faults");
    let store_path = dir.join("ordering.db");
    let inbox_path = dir.join("shipping.db");
    let store = Arc::new(SqliteStore::open(&store_path).unwrap());
    let shipping = Effects::open(&inbox_path);
    let exchange = unique("ordering");
    let consumed = Topology::new(&exchange, unique("shipping")).single_active_consumer();
    let raw = Topology::new(&exchange, unique("audit"));
    {
        let connection = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        consumed.declare(&channel).await.unwrap();
        raw.declare(&channel).await.unwrap();
        connection.close(200, "declared".into()).await.unwrap();
    }

    // The writer: EVENTS events in bursts, one append each (and an internal event, which the
    // relay passes over, after every tenth).
    let writer = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            for start in (1..=EVENTS).step_by(BURST as usize) {
                append_numbered(&store, "orders", start..=(start + BURST - 1).min(EVENTS));
                std::thread::sleep(PAUSE);
            }
        })
    };

    let mut consumer = spawn_consumer(&inbox_path, &uri, &consumed);
    let mut relays = [
        spawn_relay(&store_path, &uri, &exchange),
        spawn_relay(&store_path, &uri, &exchange),
    ];
    let started = Instant::now();
    let mut progress = (0, Instant::now());
    let mut relay_kills = 0;
    let mut broker_restarts = 0;
    // For each kill of the consumer: the confirmed messages waiting for it, and how many
    // effects had happened.
    let mut consumer_kills: Vec<(u64, u64)> = Vec::new();
    while !writer.is_finished()
        || relay_kills < MIN_RELAY_KILLS
        || consumer_kills.len() < CONSUMER_KILLS_AT.len()
        || broker_restarts < BROKER_RESTARTS_AT.len()
    {
        let effects = shipping.count();
        if effects > progress.0 {
            progress = (effects, Instant::now());
        }
        let waiting = confirmed(&store, &exchange).saturating_sub(effects);
        assert!(
            waiting == 0 || progress.1.elapsed() < STALL,
            "the consumer had no effect for {STALL:?} with {waiting} confirmed messages waiting \
             (after {relay_kills} relay kills, {broker_restarts} broker restarts, consumer \
             kills {consumer_kills:?})"
        );
        // Every event had its effect before the broker and the consumer had all their faults.
        let too_late = effects >= EVENTS
            && (consumer_kills.len() < CONSUMER_KILLS_AT.len()
                || broker_restarts < BROKER_RESTARTS_AT.len());
        assert!(
            started.elapsed() < DEADLINE && !too_late,
            "after {:.0?}: {relay_kills} relay kills, {broker_restarts} broker restarts, \
             consumer kills {consumer_kills:?}, {effects} effects, writer done: {}",
            started.elapsed(),
            writer.is_finished()
        );
        tokio::time::sleep(Duration::from_millis(fastrand::u64(200..1_000))).await;
        let victim = fastrand::usize(0..relays.len());
        relays[victim].sigkill();
        relay_kills += 1;
        relays[victim] = spawn_relay(&store_path, &uri, &exchange);
        if relay_kills % 10 == 0 {
            eprintln!(
                "{:.0?}: {relay_kills} relay kills, {} effects",
                started.elapsed(),
                shipping.count()
            );
        }

        if BROKER_RESTARTS_AT
            .get(broker_restarts)
            .is_some_and(|&at| effects >= at)
        {
            tokio::task::spawn_blocking(restart_broker).await.unwrap();
            broker_restarts += 1;
        }
        if CONSUMER_KILLS_AT
            .get(consumer_kills.len())
            .is_some_and(|&at| effects >= at)
        {
            // Killed mid-batch: busy, with more confirmed messages waiting than its prefetch
            // window, so the broker has a full window out to it, unacknowledged.
            let effects = shipping.count();
            let waiting = confirmed(&store, &exchange).saturating_sub(effects);
            tokio::time::sleep(Duration::from_millis(30)).await;
            let busy = shipping.count() > effects;
            if busy && waiting > PREFETCH {
                consumer.sigkill();
                consumer_kills.push((waiting, shipping.count()));
                consumer = spawn_consumer(&inbox_path, &uri, &consumed);
            }
        }
    }
    writer.await.unwrap();
    let flowing = started.elapsed();

    let deadline = Instant::now() + Duration::from_secs(120);
    while shipping.count() < EVENTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // any repeat still on its way
    for relay in &mut relays {
        relay.sigkill();
    }
    consumer.sigkill();

    let effects = shipping.effects();
    let published = drain(&uri, raw.queue()).await;
    let (runs, skips) = runs(&published);
    let mut distinct = published.clone();
    distinct.sort_unstable();
    distinct.dedup();
    eprintln!(
        "{EVENTS} events in {flowing:.0?} ({:.0?} until every effect): {relay_kills} relay \
         kills, {broker_restarts} broker restart(s), {} consumer kills (messages waiting, \
         effects so far: {consumer_kills:?}); {} effects; the relays published {} messages \
         ({} repeats) in {} runs; the inbox absorbed {} repeated deliveries",
        started.elapsed(),
        consumer_kills.len(),
        effects.len(),
        published.len(),
        published.len() - distinct.len(),
        runs,
        shipping.repeats(),
    );
    assert_once_in_order(&effects, EVENTS);
    assert_eq!(
        distinct,
        (1..=EVENTS).collect::<Vec<_>>(),
        "every event published, nothing else"
    );
    assert_eq!(skips, [], "first arrivals in store order");
    assert!(
        runs <= relay_kills + 2 * broker_restarts + 20,
        "{runs} runs of consecutive events for {relay_kills} relay kills: publications of \
         two relays interleaved"
    );
    assert!(relay_kills >= MIN_RELAY_KILLS);
    assert_eq!(broker_restarts, BROKER_RESTARTS_AT.len());
    assert_eq!(consumer_kills.len(), CONSUMER_KILLS_AT.len());
}

//! Fault injection against a real RabbitMQ: while events flow, relay processes (two at a
//! time, competing for the destination's lease) are killed with SIGKILL at random moments,
//! and the broker's application is stopped and started once. Every event must reach the
//! consuming context with its effect exactly once, in store order.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{append_numbered, assert_once_in_order, Context};
use tidings::broadcast::amqp::Topology;
use tidings::persistence::sqlite::SqliteStore;
use tidings_tests::{amqp_uri, unique, Scratch};

const EVENTS: u64 = 2_400;
const MIN_KILLS: usize = 20;

fn spawn_relay(store: &std::path::Path, uri: &str, exchange: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_relay"))
        .args([store.to_str().unwrap(), uri, exchange, "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the relay binary starts")
}

/// `rabbitmqctl` with the node settings of the broker on loopback.
fn rabbitmqctl(command: &str) {
    let status = Command::new("rabbitmqctl")
        .arg(command)
        .env("RABBITMQ_NODENAME", "rabbit@localhost")
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", "5672")
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("rabbitmqctl runs (scripts/test installs it)");
    assert!(status.success(), "rabbitmqctl {command} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_relays_and_a_broker_restart_lose_and_repeat_no_effect() {
    let uri = amqp_uri();
    let dir = Scratch::new("amqp-faults");
    let store_path = dir.join("ordering.db");
    let store = Arc::new(SqliteStore::open(&store_path).unwrap());
    let shipping = Arc::new(Context::open(&dir.join("shipping.db")));
    let exchange = unique("ordering");
    let topology = Topology::new(&exchange, unique("shipping")).single_active_consumer();
    let _stop = shipping.consume(&uri, topology);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The writer: EVENTS events over about 40 seconds, in bursts.
    let writer = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            for start in (1..=EVENTS).step_by(40) {
                append_numbered(&store, "orders", start..=(start + 39).min(EVENTS));
                std::thread::sleep(Duration::from_millis(650));
            }
        })
    };

    let mut relays = [
        spawn_relay(&store_path, &uri, &exchange),
        spawn_relay(&store_path, &uri, &exchange),
    ];
    let started = Instant::now();
    let mut kills = 0;
    let mut restarted = false;
    while !writer.is_finished() || kills < MIN_KILLS {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..2_500))).await;
        let victim = fastrand::usize(0..relays.len());
        relays[victim].kill().unwrap(); // SIGKILL
        relays[victim].wait().unwrap();
        kills += 1;
        relays[victim] = spawn_relay(&store_path, &uri, &exchange);
        if !restarted && started.elapsed() > Duration::from_secs(15) {
            rabbitmqctl("stop_app");
            tokio::time::sleep(Duration::from_secs(2)).await;
            rabbitmqctl("start_app");
            restarted = true;
        }
    }
    writer.await.unwrap();

    let effects = shipping
        .wait_for(EVENTS as usize, Duration::from_secs(90))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // any repeat still on its way
    for relay in &mut relays {
        relay.kill().unwrap();
        relay.wait().unwrap();
    }
    eprintln!(
        "{kills} relay kills and one broker restart in {:.0?}; {} effects for {EVENTS} events",
        started.elapsed(),
        effects.len()
    );
    assert!(restarted);
    assert_once_in_order(&shipping.effects(), EVENTS);
}

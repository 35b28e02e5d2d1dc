//! The process kill test, written once for every store: 1,000 orders driven through three
//! steps with timeouts (`tidings_tests::killed`) by a runner and two schedulers in processes
//! of their own, one of which is killed with SIGKILL at a random moment, again and again,
//! and started again. Every order ends in the state its choices call for, each command it
//! issues is stored once, each timeout moves it once, each paid order is shipped once (by a
//! scheduled command, sent again when its scheduler was killed after the shipment committed,
//! which a few orders make sure of), and nothing stays scheduled.
//!
//! Every random choice comes from one seed: `TIDINGS_TEST_SEED`, or a random one, printed
//! first (a failing run shows it). Each backend's test binary implements [`Db`] and calls
//! [`run`].

#![allow(dead_code, unreachable_pub, async_fn_in_trait)]

use std::collections::{BTreeMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::time::{Duration, Instant};
use tidings_tests::killed::{incoming, OrderStarted, OrderState, Stage, StockConfirmed};

/// Orders driven through the process.
pub const ORDERS: u32 = 1000;
/// Kills at the least (twice the 30); the orders start in as many chunks, one after
/// each kill, so the work spans the kills.
pub const KILLS: u32 = 60;
/// How long the whole run may take before the test gives up and says what is left.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(180);
/// How long an order whose stock is confirmed would wait for it: far longer than the run,
/// so its stock timeout must be cancelled, never fire.
pub const PATIENT_MS: u64 = 3_600_000;
/// Paid orders whose scheduler kills itself right after their shipment commits, before it
/// removes the `ShipOrder` row: another scheduler must send it again, to no effect.
pub const DIE_AFTER_SHIPPING: usize = 3;

/// The database the nodes share, as the test sees it.
pub trait Db {
    /// Starts a node (`runner` or `scheduler`) on the database.
    fn spawn(&self, role: &str) -> Child;
    /// Appends incoming events (their envelopes' JSON) for the runner, in order.
    async fn add_incoming(&self, envelopes: &[String]);
    /// The incoming events not delivered yet.
    async fn incoming_left(&self) -> i64;
    /// Every instance of the order process: its key, state's JSON, whether it ended, its
    /// version.
    async fn instances(&self) -> Vec<(String, String, bool, i64)>;
    /// The scheduled messages waiting.
    async fn waiting(&self) -> i64;
    /// The name of every stored event, by stream, in order.
    async fn streams(&self) -> BTreeMap<String, Vec<String>>;
}

/// One order and the choices made for it.
struct Order {
    started: OrderStarted,
    confirmable: bool,
}

/// The seed of this run: `TIDINGS_TEST_SEED`, or a random one.
pub fn seed() -> u64 {
    let seed = std::env::var("TIDINGS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("seed {seed} (TIDINGS_TEST_SEED={seed} repeats this run's choices)");
    seed
}

const ROLES: [&str; 3] = ["runner", "scheduler", "scheduler"];

fn kill(node: &mut Child) {
    node.kill().expect("SIGKILL");
    node.wait().expect("the node is reaped");
}

/// Starts the next chunk of orders, if any is left.
async fn feed<D: Db>(db: &D, unfed: &mut std::slice::Chunks<'_, Order>) {
    if let Some(chunk) = unfed.next() {
        let envelopes: Vec<String> = chunk.iter().map(|o| incoming(o.started.clone())).collect();
        db.add_incoming(&envelopes).await;
    }
}

/// Drives the orders through the nodes while killing them, then checks every order.
pub async fn run<D: Db>(db: &D, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let orders: Vec<Order> = (0..ORDERS)
        .map(|order| {
            let confirmable = rng.bool();
            Order {
                started: OrderStarted {
                    order,
                    grace_ms: rng.u64(0..300),
                    stock_ms: if confirmable {
                        PATIENT_MS
                    } else {
                        rng.u64(0..300)
                    },
                    ship_ms: rng.u64(0..300),
                    die_after_shipping: false,
                },
                confirmable,
            }
        })
        .collect();
    let mut orders = orders;
    let mut paid: Vec<usize> = (0..orders.len())
        .filter(|&o| orders[o].confirmable)
        .collect();
    rng.shuffle(&mut paid);
    for &order in paid.iter().take(DIE_AFTER_SHIPPING) {
        orders[order].started.die_after_shipping = true;
    }
    let chunk = ORDERS.div_ceil(KILLS) as usize;
    let mut unfed = orders.chunks(chunk);
    let mut nodes: Vec<Child> = ROLES.iter().map(|role| db.spawn(role)).collect();
    feed(db, &mut unfed).await;
    let mut kills = [0u32; 3];
    // Schedulers that killed themselves after a shipment, and nodes that exited otherwise.
    let (mut died_after_shipping, mut crashed) = (0u32, Vec::new());
    let mut confirmed = HashSet::new();
    let started = Instant::now();
    let mut next_kill = Instant::now() + Duration::from_millis(rng.u64(5..80));
    loop {
        let instances = db.instances().await;
        let mut confirmations = Vec::new();
        for (key, state, _, _) in &instances {
            let state: OrderState = serde_json::from_str(state).expect("the state decodes");
            let order = key.parse::<usize>().expect("keys are order numbers");
            if state.stage == Stage::AwaitingStock
                && orders[order].confirmable
                && confirmed.insert(order)
            {
                confirmations.push(incoming(StockConfirmed {
                    order: order as u32,
                }));
            }
        }
        db.add_incoming(&confirmations).await;
        for (node, role) in nodes.iter_mut().zip(ROLES) {
            if let Some(status) = node.try_wait().expect("the node's status reads") {
                if role == "scheduler" && status.signal() == Some(9) {
                    died_after_shipping += 1;
                } else {
                    eprintln!("seed {seed}: the {role} exited on its own ({status})");
                    crashed.push(format!("the {role} ({status})"));
                }
                *node = db.spawn(role);
            }
        }
        let ended = instances.iter().filter(|(_, _, ended, _)| *ended).count();
        let total: u32 = kills.iter().sum();
        if ended == ORDERS as usize && total >= KILLS && db.waiting().await == 0 {
            break;
        }
        if Instant::now() >= next_kill {
            let victim = rng.usize(0..ROLES.len());
            kill(&mut nodes[victim]);
            nodes[victim] = db.spawn(ROLES[victim]);
            kills[victim] += 1;
            feed(db, &mut unfed).await;
            next_kill = Instant::now() + Duration::from_millis(rng.u64(5..80));
        }
        if started.elapsed() > GIVE_UP_AFTER {
            nodes.iter_mut().for_each(kill);
            panic!(
                "seed {seed}: after {:?} and {total} kills, {ended} of {ORDERS} orders ended, \
                 {} incoming events and {} scheduled messages wait",
                started.elapsed(),
                db.incoming_left().await,
                db.waiting().await
            );
        }
        // Polling the database: the nodes work meanwhile.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    nodes.iter_mut().for_each(kill);
    eprintln!(
        "{ORDERS} orders ended in {:?}; killed the runner {} times and the schedulers {} and {} \
         times; schedulers killed themselves after shipping {died_after_shipping} times",
        started.elapsed(),
        kills[0],
        kills[1],
        kills[2]
    );
    assert!(
        crashed.is_empty(),
        "seed {seed}: nodes exited other than by SIGKILL: {crashed:?}"
    );
    assert!(
        died_after_shipping as usize <= DIE_AFTER_SHIPPING,
        "seed {seed}: {died_after_shipping} schedulers killed themselves after shipping, for \
         {DIE_AFTER_SHIPPING} orders that ask it once each"
    );
    check(db, &orders, seed).await;
}

async fn check<D: Db>(db: &D, orders: &[Order], seed: u64) {
    let instances = db.instances().await;
    assert_eq!(
        instances.len(),
        orders.len(),
        "seed {seed}: one instance per order"
    );
    let streams = db.streams().await;
    let mut repeats = 0;
    for (key, state, ended, version) in instances {
        let order = &orders[key.parse::<usize>().unwrap()];
        let state: OrderState = serde_json::from_str(&state).unwrap();
        let (stage, last, timeouts, confirmations) = if order.confirmable {
            (Stage::Paid, "killed.charge_payment", 0, 1)
        } else {
            (Stage::Cancelled, "killed.cancel_order", 1, 0)
        };
        let what = format!("seed {seed}: order {key} ({state:?})");
        assert!(ended, "{what} ended");
        assert_eq!(state.stage, stage, "{what}");
        assert_eq!(version, 3, "{what} took three steps");
        assert_eq!(state.grace_fired, 1, "{what}: its grace period ended once");
        assert_eq!(
            state.stock_timeouts_fired, timeouts,
            "{what}: its stock timeout fired {timeouts} times"
        );
        assert_eq!(state.confirmations, confirmations, "{what}");
        assert_eq!(
            streams.get(&format!("order-{key}")).map(Vec::as_slice),
            Some(&["killed.confirm_stock".to_owned(), last.to_owned()][..]),
            "{what}: each command stored once"
        );
        let shipment = streams.get(&format!("shipment-{key}"));
        if order.confirmable {
            let shipment = shipment.expect("a paid order is shipped");
            assert_eq!(
                shipment.first().map(String::as_str),
                Some("killed.order_shipped"),
                "{what}: shipped"
            );
            assert!(
                shipment[1..]
                    .iter()
                    .all(|name| name == "killed.shipment_repeated"),
                "{what}: shipped once, then only repeats noted: {shipment:?}"
            );
            repeats += shipment.len() - 1;
            if order.started.die_after_shipping {
                assert!(
                    shipment.len() > 1,
                    "{what}: its scheduler died after shipping it, so its `ShipOrder` was sent \
                     again once its lease was over: {shipment:?}"
                );
            }
        } else {
            assert_eq!(shipment, None, "{what}: a cancelled order is not shipped");
        }
    }
    eprintln!("{repeats} `ShipOrder` commands were sent again, to no effect");
    assert_eq!(
        db.waiting().await,
        0,
        "seed {seed}: nothing stays scheduled"
    );
    assert_eq!(
        db.incoming_left().await,
        0,
        "seed {seed}: every event delivered"
    );
}

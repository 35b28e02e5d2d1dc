//! Fault injection against a real RabbitMQ, with both contexts on SQLite and then both on
//! PostgreSQL, and against a real NATS server with JetStream, both contexts on SQLite, at
//! the scale of the delivery guarantees the README states: while 10,000 events
//! flow, relay processes (two at a time, competing for the destination's lease) are killed with SIGKILL at random moments at least 50 times, the
//! broker is stopped and started twice (RabbitMQ's application; the NATS server process, with
//! SIGTERM), and the consuming process is killed with SIGKILL three times in the middle of a
//! batch (busy, with more confirmed messages waiting than its prefetch window, so it holds
//! unacknowledged deliveries: 50 from RabbitMQ, JetStream's one in flight), then started
//! again. Every event must have its effect exactly once, in store order; and what the relays
//! published, read raw (no inbox: a second queue bound to the exchange, the stream itself),
//! shows every event, first arrivals in store order, and repeats only as whole resumed runs,
//! never two relays' publications interleaved.
//!
//! The first consumer deployed is the consuming context without its handling crate: it
//! refuses to start, naming the event, and the events wait in the queue until the consumer
//! with its handler starts, once the writer has stored every event (so the consumer's faults
//! all come while it works through a backlog). The broker is a node of the test's own
//! (its restarts touch no other test), and every random choice follows one seed, printed.

mod support;

use lapin::options::BasicGetOptions;
use lapin::{Connection, ConnectionProperties};
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{append_numbered_to, assert_once_in_order};
use tidings::broadcast::amqp::{binding, Topology};
use tidings::broadcast::nats;
#[cfg(feature = "postgres")]
use tidings::persistence::postgres::sqlx;
use tidings::persistence::sqlite::{rusqlite, SqliteStore};
use tidings::persistence::EventStore;
use tidings_tests::broker::OwnBroker;
use tidings_tests::nats::OwnNats;
use tidings_tests::{unique, Numbered, Scratch};

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

fn spawn_relay(store: &str, uri: &str, exchange: &str) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_relay"))
            .args([store, uri, exchange, "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the relay binary starts"),
    )
}

/// A consumer process; with `TIDINGS_CONSUMER_DEBUG=<file>`, its log goes to that file.
fn spawn_consumer(program: &str, inbox: &str, uri: &str, side: &(String, String)) -> Process {
    Process(
        consumer_command(program, inbox, uri, side)
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

/// The consumer's command: its side is its destination and group (an exchange and a queue,
/// a stream and a durable consumer).
fn consumer_command(program: &str, inbox: &str, uri: &str, side: &(String, String)) -> Command {
    let mut command = Command::new(program);
    command.args([inbox, uri, &side.0, &side.1, &PREFETCH.to_string()]);
    command
}

/// The consumer deployed without its handling crate: it must refuse to start, naming the
/// event it has no handler for, and take no message.
fn consumer_without_its_handler_refuses_to_start(inbox: &str, uri: &str, side: &(String, String)) {
    let output = consumer_command(env!("CARGO_BIN_EXE_consumer_unlinked"), inbox, uri, side)
        .stdin(Stdio::null())
        .output()
        .expect("the consumer binary starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("tidings_tests.numbered"),
        "the consumer without its handler refused to start, naming the event: {stderr}"
    );
}

/// Where the ordering context's store and the shipping context's inbox live, as the relay
/// and consumer processes name them, and what the test reads there.
trait Sides: Send + Sync + 'static {
    type Store: EventStore + 'static;

    /// The store, which the test's writer appends to.
    fn store(&self) -> Arc<Self::Store>;

    /// The relay process's store argument.
    fn store_arg(&self) -> String;

    /// The consumer process's inbox argument.
    fn inbox_arg(&self) -> String;

    /// The consumer program with its handler.
    fn consumer_program(&self) -> &'static str;

    /// How many `Numbered` events the relays have published with the broker's confirm:
    /// those at or before the relay's checkpoint.
    fn confirmed(&self, exchange: &str) -> impl Future<Output = u64> + Send;

    /// The numbers whose effect happened, in the order they happened.
    fn effects(&self) -> impl Future<Output = Vec<u64>> + Send;

    /// How many effects happened.
    fn count(&self) -> impl Future<Output = u64> + Send;

    /// How many repeated deliveries the inbox absorbed.
    fn repeats(&self) -> impl Future<Output = u64> + Send;
}

/// Both contexts on SQLite, each in a file of its own.
struct OnSqlite {
    store_path: PathBuf,
    inbox_path: PathBuf,
    store: Arc<SqliteStore>,
    shipping: Mutex<rusqlite::Connection>,
    _dir: Scratch,
}

impl OnSqlite {
    fn new() -> OnSqlite {
        let dir = Scratch::new("amqp-faults");
        let store_path = dir.join("ordering.db");
        let inbox_path = dir.join("shipping.db");
        let store = Arc::new(SqliteStore::open(&store_path).unwrap());
        // The consumer's tables, created here first so they can be read before it starts.
        let inbox = tidings::broadcast::sqlite::SqliteInbox::open(&inbox_path).unwrap();
        inbox
            .with_connection(|conn| conn.execute_batch(tidings_tests::CONSUMER_TABLES))
            .unwrap();
        let shipping = rusqlite::Connection::open(&inbox_path).unwrap();
        shipping.busy_timeout(Duration::from_secs(5)).unwrap();
        OnSqlite {
            store_path,
            inbox_path,
            store,
            shipping: Mutex::new(shipping),
            _dir: dir,
        }
    }

    fn count_rows(&self, table: &str) -> u64 {
        let shipping = self.shipping.lock().unwrap();
        shipping
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap() as u64
    }
}

impl Sides for OnSqlite {
    type Store = SqliteStore;

    fn store(&self) -> Arc<SqliteStore> {
        self.store.clone()
    }

    fn store_arg(&self) -> String {
        self.store_path.to_str().unwrap().to_owned()
    }

    fn inbox_arg(&self) -> String {
        self.inbox_path.to_str().unwrap().to_owned()
    }

    fn consumer_program(&self) -> &'static str {
        env!("CARGO_BIN_EXE_consumer")
    }

    async fn confirmed(&self, exchange: &str) -> u64 {
        self.store
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

    async fn effects(&self) -> Vec<u64> {
        let shipping = self.shipping.lock().unwrap();
        let mut statement = shipping
            .prepare("SELECT n FROM effects ORDER BY seq")
            .unwrap();
        let rows = statement.query_map([], |row| row.get::<_, i64>(0)).unwrap();
        rows.map(|n| n.unwrap() as u64).collect()
    }

    async fn count(&self) -> u64 {
        self.count_rows("effects")
    }

    async fn repeats(&self) -> u64 {
        self.count_rows("repeats")
    }
}

/// Both contexts on PostgreSQL, each in a schema of its own on the test server.
#[cfg(feature = "postgres")]
struct OnPostgres {
    store: Arc<tidings::persistence::postgres::PostgresStore>,
    ordering_pool: sqlx::PgPool,
    shipping_pool: sqlx::PgPool,
    ordering: tidings_tests::postgres::PgSchema,
    shipping: tidings_tests::postgres::PgSchema,
}

#[cfg(feature = "postgres")]
impl OnPostgres {
    async fn new() -> OnPostgres {
        use tidings_tests::postgres::PgSchema;
        let (ordering, shipping) = (PgSchema::new(), PgSchema::new());
        let ordering_pool = ordering.pool(4).await;
        let store = tidings::persistence::postgres::PostgresStore::open(ordering_pool.clone())
            .await
            .unwrap();
        // The consumer's tables, created here first so they can be read before it starts.
        let shipping_pool = shipping.pool(2).await;
        tidings::broadcast::postgres::PostgresInbox::open(shipping_pool.clone())
            .await
            .unwrap();
        sqlx::raw_sql(tidings_tests::consumer::CONSUMER_TABLES_POSTGRES)
            .execute(&shipping_pool)
            .await
            .unwrap();
        OnPostgres {
            store: Arc::new(store),
            ordering_pool,
            shipping_pool,
            ordering,
            shipping,
        }
    }

    async fn count_rows(&self, table: &str) -> u64 {
        let sql = format!("SELECT count(*) FROM {table}");
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.shipping_pool)
            .await
            .unwrap() as u64
    }
}

#[cfg(feature = "postgres")]
impl Sides for OnPostgres {
    type Store = tidings::persistence::postgres::PostgresStore;

    fn store(&self) -> Arc<Self::Store> {
        self.store.clone()
    }

    fn store_arg(&self) -> String {
        format!("postgres:{}", self.ordering.name())
    }

    fn inbox_arg(&self) -> String {
        format!("postgres:{}", self.shipping.name())
    }

    fn consumer_program(&self) -> &'static str {
        env!("CARGO_BIN_EXE_consumer_postgres")
    }

    async fn confirmed(&self, exchange: &str) -> u64 {
        let through = tidings::persistence::postgres::checkpoint(
            &self.ordering_pool,
            &format!("relay:{exchange}"),
        )
        .await
        .unwrap();
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM tidings_events WHERE position <= $1 AND name = $2",
        )
        .bind(through as i64)
        .bind("tidings_tests.numbered")
        .fetch_one(&self.ordering_pool)
        .await
        .unwrap() as u64
    }

    async fn effects(&self) -> Vec<u64> {
        let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM effects ORDER BY seq")
            .fetch_all(&self.shipping_pool)
            .await
            .unwrap();
        rows.into_iter().map(|n| n as u64).collect()
    }

    async fn count(&self) -> u64 {
        self.count_rows("effects").await
    }

    async fn repeats(&self) -> u64 {
        self.count_rows("repeats").await
    }
}

/// The broker of a run: a node or server of the test's own, which it restarts.
trait Broker: Send + Sync + 'static {
    /// Starts it.
    fn start() -> Self;

    /// The URI the relays and the consumer connect to.
    fn uri(&self) -> String;

    /// A fresh destination (the relays') and group (the consumer's), as the broker names
    /// them.
    fn names(&self) -> (String, String);

    /// Prepares, before anything is published, what keeps every message for the consumer
    /// and for the raw reading of what the relays published.
    fn declare(&self, side: &(String, String)) -> impl Future<Output = ()> + Send;

    /// Stops and starts it again.
    fn restart(&self);

    /// Whether nothing is on its way to the consumer any more (the relays are dead): its
    /// group has no message waiting or unacknowledged.
    fn settled(&self, side: &(String, String)) -> impl Future<Output = bool> + Send;

    /// The numbers of what the relays published, in the order the broker took them.
    fn published(&self, side: &(String, String)) -> impl Future<Output = Vec<u64>> + Send;
}

impl Broker for OwnBroker {
    fn start() -> OwnBroker {
        OwnBroker::start("faults")
    }

    fn uri(&self) -> String {
        OwnBroker::uri(self)
    }

    fn names(&self) -> (String, String) {
        (unique("ordering"), unique("shipping"))
    }

    async fn declare(&self, side: &(String, String)) {
        let consumed = Topology::new(&side.0, &side.1).single_active_consumer();
        let connection = Connection::connect(&self.uri(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        consumed.declare(&channel).await.unwrap();
        audit(side).declare(&channel).await.unwrap();
        connection.close(200, "declared".into()).await.unwrap();
    }

    fn restart(&self) {
        OwnBroker::restart(self);
    }

    async fn settled(&self, side: &(String, String)) -> bool {
        // The relays' connections closed, and the consumer acknowledged every message.
        self.connections_named("tidings relay:") == 0 && self.messages_in(&side.1) == 0
    }

    async fn published(&self, side: &(String, String)) -> Vec<u64> {
        drain(&self.uri(), audit(side).queue()).await
    }
}

/// The second queue bound to the relays' exchange, read raw.
fn audit(side: &(String, String)) -> Topology {
    Topology::new(&side.0, format!("{}.audit", side.1))
}

impl Broker for OwnNats {
    fn start() -> OwnNats {
        OwnNats::start("faults")
    }

    fn uri(&self) -> String {
        self.url()
    }

    fn names(&self) -> (String, String) {
        let name = |label: &str| unique(label).replace('.', "-");
        (name("ordering"), name("shipping"))
    }

    /// The stream keeps every message (its retention is by limits), so the raw reading is
    /// the stream itself; the relays declare it.
    async fn declare(&self, _side: &(String, String)) {}

    fn restart(&self) {
        OwnNats::restart(self);
    }

    async fn settled(&self, side: &(String, String)) -> bool {
        let client = nats::async_nats::connect(self.url()).await.unwrap();
        let context = nats::async_nats::jetstream::new(client);
        let Ok(mut consumer) = context
            .get_consumer_from_stream::<nats::async_nats::jetstream::consumer::pull::Config, _, _>(
                &side.1, &side.0,
            )
            .await
        else {
            return false;
        };
        let info = consumer.info().await.unwrap();
        info.num_pending == 0 && info.num_ack_pending == 0
    }

    async fn published(&self, side: &(String, String)) -> Vec<u64> {
        let client = nats::async_nats::connect(self.url()).await.unwrap();
        let context = nats::async_nats::jetstream::new(client);
        let mut stream = context.get_stream(&side.0).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut published = Vec::new();
        for sequence in state.first_sequence..=state.last_sequence {
            let message = stream.get_raw_message(sequence).await.unwrap();
            let event = nats::binding::decode(Some(&message.headers), &message.payload).unwrap();
            published.push(event.downcast::<Numbered>().unwrap().payload().n);
        }
        published
    }
}

/// Every message in `queue`, in queue order, taken one at a time until the broker says the
/// queue is empty (call it once nothing more can arrive).
async fn drain(uri: &str, queue: &str) -> Vec<u64> {
    let connection = Connection::connect(uri, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut published = Vec::new();
    let take = BasicGetOptions { no_ack: true };
    while let Some(message) = channel.basic_get(queue.into(), take).await.unwrap() {
        let message = message.delivery;
        let event = binding::decode(&message.properties, &message.data).unwrap();
        published.push(event.downcast::<Numbered>().unwrap().payload().n);
    }
    published
}

/// Waits until `done` holds, failing after `within` with `what`.
async fn until<F: Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut done: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < within, "after {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// One fault-injection run at a time: each starts a broker node of its own and a dozen
/// processes.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_killed_relays_a_killed_consumer_and_a_broker_restart_lose_and_repeat_no_effect()
{
    let _alone = ONE_AT_A_TIME.lock().await;
    faults::<OwnBroker, _>(OnSqlite::new()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_killed_relays_a_killed_consumer_and_a_broker_restart_lose_and_repeat_no_effect(
) {
    let _alone = ONE_AT_A_TIME.lock().await;
    faults::<OwnBroker, _>(OnPostgres::new().await).await;
}

#[cfg(feature = "nats")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_jetstream_killed_relays_a_killed_consumer_and_a_server_restart_lose_and_repeat_no_effect(
) {
    let _alone = ONE_AT_A_TIME.lock().await;
    faults::<OwnNats, _>(OnSqlite::new()).await;
}

async fn faults<B: Broker, S: Sides>(sides: S) {
    let sides = &sides;
    let mut rng = fastrand::Rng::with_seed(tidings_tests::seed());
    let broker = Arc::new(B::start());
    let uri = broker.uri();
    let (store_arg, inbox_arg) = (sides.store_arg(), sides.inbox_arg());
    let consumer_program = sides.consumer_program();
    let consumed = broker.names();
    let exchange = consumed.0.clone();
    broker.declare(&consumed).await;
    consumer_without_its_handler_refuses_to_start(&inbox_arg, &uri, &consumed);

    // The writer: EVENTS events in bursts, one append each (and an internal event, which the
    // relay passes over, after every tenth).
    let writer = {
        let store = sides.store();
        tokio::spawn(async move {
            for start in (1..=EVENTS).step_by(BURST as usize) {
                let burst = start..=(start + BURST - 1).min(EVENTS);
                append_numbered_to(&*store, "orders", burst).await;
                tokio::time::sleep(PAUSE).await;
            }
        })
    };

    // The consumer with its handler is deployed once every event is stored: it then works
    // through a backlog, so each of its faults comes mid-batch.
    let mut consumer: Option<Process> = None;
    let mut relays = [
        spawn_relay(&store_arg, &uri, &exchange),
        spawn_relay(&store_arg, &uri, &exchange),
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
        let effects = sides.count().await;
        if consumer.is_none() && writer.is_finished() {
            assert_eq!(effects, 0, "no effect before the handler was deployed");
            consumer = Some(spawn_consumer(
                consumer_program,
                &inbox_arg,
                &uri,
                &consumed,
            ));
            progress = (0, Instant::now());
        }
        if effects > progress.0 {
            progress = (effects, Instant::now());
        }
        let waiting = sides.confirmed(&exchange).await.saturating_sub(effects);
        assert!(
            consumer.is_none() || waiting == 0 || progress.1.elapsed() < STALL,
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
        // A relay dies at a random moment: that is the fault, not a wait for something.
        tokio::time::sleep(Duration::from_millis(rng.u64(200..1_000))).await;
        let victim = rng.usize(0..relays.len());
        relays[victim].sigkill();
        relay_kills += 1;
        relays[victim] = spawn_relay(&store_arg, &uri, &exchange);
        if relay_kills % 10 == 0 {
            eprintln!(
                "{:.0?}: {relay_kills} relay kills, {} effects",
                started.elapsed(),
                sides.count().await
            );
        }

        if BROKER_RESTARTS_AT
            .get(broker_restarts)
            .is_some_and(|&at| effects >= at)
        {
            let broker = broker.clone();
            tokio::task::spawn_blocking(move || broker.restart())
                .await
                .unwrap();
            broker_restarts += 1;
        }
        let Some(running) = consumer.as_mut() else {
            continue;
        };
        if CONSUMER_KILLS_AT
            .get(consumer_kills.len())
            .is_some_and(|&at| effects >= at)
        {
            // Killed mid-batch: busy (at its next effect), with more confirmed messages
            // waiting than its prefetch window, so the broker has a full window out to it,
            // unacknowledged.
            let effects = sides.count().await;
            let waiting = sides.confirmed(&exchange).await.saturating_sub(effects);
            if waiting > PREFETCH {
                until("the consumer's next effect", STALL, || async move {
                    sides.count().await > effects
                })
                .await;
                running.sigkill();
                consumer_kills.push((waiting, sides.count().await));
                *running = spawn_consumer(consumer_program, &inbox_arg, &uri, &consumed);
            }
        }
    }
    writer.await.unwrap();
    let flowing = started.elapsed();

    until(
        "every event had its effect",
        Duration::from_secs(120),
        || async move { sides.count().await >= EVENTS },
    )
    .await;
    // Nothing more on its way: the relays are gone and the consumer acknowledged every
    // message.
    for relay in &mut relays {
        relay.sigkill();
    }
    let (broker_ref, side) = (&*broker, &consumed);
    until(
        "nothing more on its way to the consumer",
        Duration::from_secs(60),
        || async move { broker_ref.settled(side).await },
    )
    .await;
    if let Some(mut consumer) = consumer {
        consumer.sigkill();
    }

    let effects = sides.effects().await;
    let published = broker.published(&consumed).await;
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
        sides.repeats().await,
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

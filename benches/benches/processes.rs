//! Processes against hand-written handlers, and how late timeouts fire, on SQLite and
//! PostgreSQL.
//!
//! `cargo bench -p tidings-benches --bench processes` runs SQLite's; PostgreSQL's need a
//! server: `scripts/test --run cargo bench -p tidings-benches --bench processes` (or set
//! `TIDINGS_TEST_POSTGRES`).
//!
//! - `process_step_<store>` (criterion): an inbox delivers an event that moves an existing
//!   instance of a process on. `process`: the process's step (its state loaded, `On::on`
//!   called, the state saved with the row's version checked). `by_hand`: a handler of
//!   another event, lent the same transaction, that reads the same kind of row from the same
//!   table, decodes it, changes it, encodes it and writes it back with the same version
//!   check. Both include the inbox's record and the commit; 1,000 instances (and as many
//!   hand-written rows), each created before the measurements, taken in turn. Criterion
//!   measures each alone; then 7 paired rounds of 300 deliveries each, alternating which
//!   contender goes first, give the medians and the median of the rounds' ratios (printed).
//!   SQLite runs with `synchronous = NORMAL`, so the figures show the work rather than the
//!   disk's fsync (which `FULL` adds to both alike).
//! - `timeout delay` (printed): 200 timeouts fall due over two seconds while a scheduler
//!   loop calls `deliver_due` with the current time, and sleeps 10 ms whenever a call finds
//!   nothing due; the delay is from a timeout's due time to its handler's call (p50, p99,
//!   max). The sleep bounds it: a loop that sleeps longer adds up to its sleep.

use chrono::{DateTime, Utc};
use criterion::Criterion;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidings::broadcast::postgres::PostgresInbox;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::Inbox;
use tidings::persistence::postgres::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tidings::persistence::postgres::sqlx::{self, AssertSqlSafe};
use tidings::persistence::postgres::{PostgresStore, PostgresTransaction};
use tidings::persistence::sqlite::rusqlite::{self, Connection, OptionalExtension};
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::StoreError;
use tidings::{handler, AnyEnvelope, BoxError, Bus, DomainEvent, Envelope};

/// A process's state, and the hand-written handler's.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Tally {
    count: u64,
    last: String,
}

impl Tally {
    fn bump(&mut self, note: &str) {
        self.count += 1;
        self.last.clear();
        self.last.push_str(note);
    }
}

/// A process counting the events of its key, on `$store`, with events named after it.
macro_rules! counter {
    ($module:ident, $store:ident, $bumped:literal, $by_hand:literal, $process:literal) => {
        mod $module {
            use super::Tally;
            use tidings::{BoxError, DomainEvent, Envelope, On, Process, Step};

            /// Moves the process's instance `key` on.
            #[derive(DomainEvent, Debug, Clone)]
            #[event(name = $bumped)]
            pub(crate) struct Bumped {
                pub(crate) key: u64,
                pub(crate) note: String,
            }

            /// Moves the hand-written handler's row `key` on.
            #[derive(DomainEvent, Debug, Clone)]
            #[event(name = $by_hand)]
            pub(crate) struct BumpedByHand {
                pub(crate) key: u64,
                pub(crate) note: String,
            }

            #[derive(Process, Default, serde::Serialize, serde::Deserialize)]
            #[serde(transparent)]
            #[process(name = $process, store = $store, start(Bumped))]
            pub(crate) struct Counter(Tally);

            impl On<Bumped> for Counter {
                fn key(event: &Bumped) -> String {
                    event.key.to_string()
                }
                fn on(
                    &mut self,
                    event: &Envelope<Bumped>,
                    _: &mut Step<'_>,
                ) -> Result<(), BoxError> {
                    self.0.bump(&event.note);
                    Ok(())
                }
            }
        }
    };
}

counter!(
    on_sqlite,
    sqlite,
    "bench.sqlite_bumped",
    "bench.sqlite_bumped_by_hand",
    "bench.sqlite_counter"
);
counter!(
    on_postgres,
    postgres,
    "bench.postgres_bumped",
    "bench.postgres_bumped_by_hand",
    "bench.postgres_counter"
);

/// The rows the hand-written handlers keep, in the processes' table.
const BY_HAND: &str = "bench.by_hand";

#[handler]
fn bump_on_sqlite(event: &on_sqlite::BumpedByHand, tx: &SqliteTransaction) -> Result<(), BoxError> {
    let key = event.key.to_string();
    let row: Option<(String, i64)> = tx.with(|conn| {
        conn.prepare_cached(
            "SELECT state, version FROM tidings_processes WHERE process = ?1 AND key = ?2",
        )?
        .query_row([BY_HAND, key.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
    })?;
    let mut tally: Tally = match &row {
        Some((state, _)) => serde_json::from_str(state)?,
        None => Tally::default(),
    };
    tally.bump(&event.note);
    let state = serde_json::to_string(&tally)?;
    let now = Utc::now().timestamp_millis();
    let written = tx.with(|conn| match row {
        None => conn
            .prepare_cached(
                "INSERT INTO tidings_processes (process, key, state, ended, version, updated_on)
                 VALUES (?1, ?2, ?3, 0, 1, ?4)",
            )?
            .execute(rusqlite::params![BY_HAND, key, state, now]),
        Some((_, version)) => conn
            .prepare_cached(
                "UPDATE tidings_processes SET state = ?3, version = version + 1, updated_on = ?4
                 WHERE process = ?1 AND key = ?2 AND version = ?5",
            )?
            .execute(rusqlite::params![BY_HAND, key, state, now, version]),
    })?;
    assert_eq!(written, 1, "the row moved on meanwhile");
    Ok(())
}

#[handler]
async fn bump_on_postgres(
    event: &on_postgres::BumpedByHand,
    tx: &PostgresTransaction,
) -> Result<(), BoxError> {
    let key = event.key.to_string();
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT state, version FROM tidings_processes WHERE process = $1 AND key = $2
         FOR UPDATE",
    )
    .bind(BY_HAND)
    .bind(&key)
    .fetch_optional(&mut *tx.lock()?)
    .await?;
    let mut tally: Tally = match &row {
        Some((state, _)) => serde_json::from_str(state)?,
        None => Tally::default(),
    };
    tally.bump(&event.note);
    let state = serde_json::to_string(&tally)?;
    let sql = match row {
        None => {
            "INSERT INTO tidings_processes (process, key, state, ended, version)
             VALUES ($1, $2, $3, false, 1)"
        }
        Some(_) => {
            "UPDATE tidings_processes SET state = $3, version = version + 1, updated_on = now()
             WHERE process = $1 AND key = $2 AND version = $4"
        }
    };
    let mut query = sqlx::query(sql).bind(BY_HAND).bind(&key).bind(&state);
    if let Some((_, version)) = row {
        query = query.bind(version);
    }
    let written = query
        .execute(&mut *tx.lock()?)
        .await
        .map_err(StoreError::from)?;
    assert_eq!(written.rows_affected(), 1, "the row moved on meanwhile");
    Ok(())
}

// ---- timeouts ----

/// A timeout due at `due_ms` (milliseconds since 1970).
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "bench.timeout_due")]
struct TimeoutDue {
    due_ms: i64,
}

/// How late each timeout's handler ran.
#[derive(Default)]
struct Delays(Mutex<Vec<Duration>>);

#[handler]
fn on_timeout(event: &TimeoutDue, delays: &Delays) {
    let late = Utc::now().timestamp_millis() - event.due_ms;
    delays
        .0
        .lock()
        .unwrap()
        .push(Duration::from_millis(late.max(0) as u64));
}

const TIMEOUTS: usize = 200;
const IDLE: Duration = Duration::from_millis(10);

/// Schedules the timeouts over the next two seconds with `schedule`, runs the scheduler loop
/// with `deliver_due` until every one has fired, and prints the delays.
async fn timeout_delays<S, D>(store: &str, delays: &Delays, mut schedule: S, mut deliver_due: D)
where
    S: AsyncFnMut(DateTime<Utc>, TimeoutDue),
    D: AsyncFnMut(DateTime<Utc>) -> usize,
{
    let start = Utc::now() + chrono::Duration::milliseconds(300);
    for i in 0..TIMEOUTS {
        let due = start + chrono::Duration::milliseconds((i * 2000 / TIMEOUTS) as i64);
        schedule(
            due,
            TimeoutDue {
                due_ms: due.timestamp_millis(),
            },
        )
        .await;
    }
    let mut fired = 0;
    while fired < TIMEOUTS {
        let delivered = deliver_due(Utc::now()).await;
        fired += delivered;
        if delivered == 0 {
            tokio::time::sleep(IDLE).await;
        }
    }
    let mut seen = std::mem::take(&mut *delays.0.lock().unwrap());
    seen.sort();
    let at = |q: f64| seen[((seen.len() - 1) as f64 * q).round() as usize];
    println!(
        "timeout delay {store} ({TIMEOUTS} timeouts, scheduler sleeping {IDLE:?} when idle): \
         p50 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        seen[seen.len() - 1]
    );
}

// ---- a step against the hand-written handler ----

/// Instances (and hand-written rows) the deliveries take in turn.
const KEYS: u64 = 1000;
/// Paired rounds: each runs both contenders, in alternating order.
const ROUNDS: usize = 7;
/// Deliveries of each contender in a round.
const PER_ROUND: u64 = 300;

/// An inbox and the events that reach the process's step and the hand-written handler.
struct Steps<'a, I, P, H> {
    inbox: &'a I,
    bus: &'a Bus,
    process: P,
    by_hand: H,
}

impl<I, P, H> Steps<'_, I, P, H>
where
    I: Inbox,
    P: Fn(u64, String) -> AnyEnvelope,
    H: Fn(u64, String) -> AnyEnvelope,
{
    /// Delivers the `i`th event to the process (or, `by_hand`, to the handler).
    async fn deliver(&self, by_hand: bool, i: u64) {
        let (key, note) = (i % KEYS, format!("note {i}"));
        let event = if by_hand {
            (self.by_hand)(key, note)
        } else {
            (self.process)(key, note)
        };
        self.inbox.deliver("bench", event, self.bus).await.unwrap();
    }
}

/// Measures both contenders on `store`: criterion's groups, then paired rounds whose
/// medians and median ratio are printed (the rounds alternate which goes first, so what
/// changes over time, a table growing or a neighbour's load, weighs on both alike).
fn compare<I, P, H>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    store: &str,
    steps: &Steps<'_, I, P, H>,
) where
    I: Inbox,
    P: Fn(u64, String) -> AnyEnvelope,
    H: Fn(u64, String) -> AnyEnvelope,
{
    runtime.block_on(async {
        for key in 0..KEYS {
            steps.deliver(false, key).await;
            steps.deliver(true, key).await;
        }
    });
    let mut i = KEYS;
    let mut group = c.benchmark_group(format!("process_step_{store}"));
    for (name, by_hand) in [("process", false), ("by_hand", true)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                runtime.block_on(steps.deliver(by_hand, i))
            })
        });
    }
    group.finish();

    let mut samples = Vec::new();
    for round in 0..ROUNDS {
        let mut pair = [Duration::ZERO; 2];
        for by_hand in [round % 2 == 1, round % 2 == 0] {
            let started = std::time::Instant::now();
            runtime.block_on(async {
                for _ in 0..PER_ROUND {
                    i += 1;
                    steps.deliver(by_hand, i).await;
                }
            });
            pair[usize::from(by_hand)] = started.elapsed() / PER_ROUND as u32;
        }
        samples.push(pair);
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "process step {store} ({ROUNDS} paired rounds of {PER_ROUND}): process {:.1} µs, by hand \
         {:.1} µs, process ÷ by hand {:.2} (median of the rounds' ratios)",
        median(samples.iter().map(|p| micros(p[0])).collect()),
        median(samples.iter().map(|p| micros(p[1])).collect()),
        median(
            samples
                .iter()
                .map(|p| micros(p[0]) / micros(p[1]))
                .collect()
        ),
    );
}

fn sqlite(c: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let dir = std::env::temp_dir().join(format!("tidings-bench-processes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.db");
    let store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000",
    )
    .unwrap();
    let inbox = SqliteInbox::from_connection(conn).unwrap();
    let delays = Arc::new(Delays::default());
    let bus = Bus::builder().provide_arc(delays.clone()).build().unwrap();

    let steps = Steps {
        inbox: &inbox,
        bus: &bus,
        process: |key, note| AnyEnvelope::from(Envelope::new(on_sqlite::Bumped { key, note })),
        by_hand: |key, note| {
            AnyEnvelope::from(Envelope::new(on_sqlite::BumpedByHand { key, note }))
        },
    };
    compare(c, runtime, "sqlite", &steps);

    runtime.block_on(timeout_delays(
        "sqlite",
        &delays,
        async |due, event| {
            store
                .unit_of_work(&bus, |unit| unit.transaction().schedule_at(due, event))
                .unwrap();
        },
        async |now| inbox.deliver_due(&bus, now).await.unwrap().delivered,
    ));
    drop((store, inbox));
    let _ = std::fs::remove_dir_all(&dir);
}

fn postgres(c: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let Ok(url) = std::env::var("TIDINGS_TEST_POSTGRES") else {
        eprintln!(
            "processes: TIDINGS_TEST_POSTGRES is not set, so PostgreSQL is not measured; run \
             `scripts/test --run cargo bench -p tidings-benches --bench processes`"
        );
        return;
    };
    let schema = format!("bench_processes_{}", std::process::id());
    let (store, inbox, admin) = runtime.block_on(async {
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        )))
        .execute(&admin)
        .await
        .unwrap();
        let options = url
            .parse::<PgConnectOptions>()
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        let store = PostgresStore::open(pool.clone()).await.unwrap();
        let inbox = PostgresInbox::open(pool).await.unwrap();
        (store, inbox, admin)
    });
    let delays = Arc::new(Delays::default());
    let bus = Bus::builder().provide_arc(delays.clone()).build().unwrap();

    let steps = Steps {
        inbox: &inbox,
        bus: &bus,
        process: |key, note| AnyEnvelope::from(Envelope::new(on_postgres::Bumped { key, note })),
        by_hand: |key, note| {
            AnyEnvelope::from(Envelope::new(on_postgres::BumpedByHand { key, note }))
        },
    };
    compare(c, runtime, "postgres", &steps);

    runtime.block_on(async {
        timeout_delays(
            "postgres",
            &delays,
            async |due, event| {
                store
                    .unit_of_work(&bus, async |unit| {
                        unit.transaction().schedule_at(due, event).await
                    })
                    .await
                    .unwrap();
            },
            async |now| inbox.deliver_due(&bus, now).await.unwrap().delivered,
        )
        .await;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await
            .unwrap();
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default().configure_from_args();
    sqlite(&mut c, &runtime);
    postgres(&mut c, &runtime);
    c.final_summary();
}

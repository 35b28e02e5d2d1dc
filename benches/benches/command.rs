//! The everyday command: `store.execute` (load an aggregate of 10 events inside a unit of work,
//! decide, append one event with the loaded version, commit, phases with no handlers) against
//! the same round trip written by hand from the pieces (`Loaded::load`, the decision, a unit
//! of work that saves it), on SQLite and PostgreSQL; and loading an aggregate that keeps a
//! snapshot every 100 events, at 100 and at 10,000 events.
//!
//! `cargo bench -p tidings-benches --bench command` runs SQLite's; PostgreSQL's need a
//! server: `scripts/test --run cargo bench -p tidings-benches --bench command` (or set
//! `TIDINGS_TEST_POSTGRES`).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use std::convert::Infallible;
use tidings::persistence::postgres::PostgresStore;
use tidings::persistence::sqlite::{rusqlite::Connection, SqliteStore};
use tidings::persistence::{EventStore, ExpectedVersion, Loaded, NewEvent};
use tidings::{Aggregate, AggregateEvent, Bus, DomainEvent, Envelope, Snapshots};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "bench.deposited")]
struct Deposited {
    cents: u64,
}

#[derive(AggregateEvent, Debug, Clone)]
enum AccountEvent {
    Deposited(Deposited),
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Account {
    balance: u64,
}

impl Aggregate for Account {
    type Event = AccountEvent;
    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited(d) = event;
        self.balance += d.cents;
    }
}

/// The same account, keeping a snapshot every 100 events.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Snapshotted {
    balance: u64,
}

impl Aggregate for Snapshotted {
    type Event = AccountEvent;
    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited(d) = event;
        self.balance += d.cents;
    }
    fn snapshots() -> Snapshots<Snapshotted> {
        Snapshots::every(100)
    }
}

fn deposit<A>(_: &A) -> Result<Vec<AccountEvent>, Infallible> {
    Ok(vec![Deposited { cents: 1 }.into()])
}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|_| NewEvent::from_envelope(&Envelope::new(Deposited { cents: 1 })).unwrap())
        .collect()
}

fn sqlite(dir: &std::path::Path, name: &str) -> SqliteStore {
    let conn = Connection::open(dir.join(name)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    SqliteStore::from_connection(conn).unwrap()
}

/// A new stream of 10 events for each round trip (made outside the measurement), so every
/// round trip loads exactly 10 and appends 1.
fn fresh_stream() -> String {
    format!("account-{}", uuid::Uuid::now_v7().simple())
}

fn command_sqlite(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tidings-bench-command-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bus = Bus::builder().build().unwrap();
    let mut group = c.benchmark_group("command_sqlite_10_events");
    for (name, by_hand) in [("execute", false), ("by_hand", true)] {
        let store = sqlite(&dir, &format!("{name}.db"));
        group.bench_function(name, |b| {
            let setup = || {
                let stream = fresh_stream();
                store
                    .append_sync(&stream, ExpectedVersion::NoStream, &events(10))
                    .unwrap();
                stream
            };
            b.iter_batched(
                setup,
                |stream| {
                    if by_hand {
                        let mut account = Loaded::<Account>::load_sync(&store, &stream).unwrap();
                        account.decide(deposit).unwrap();
                        store
                            .unit_of_work(&bus, |unit| {
                                unit.save(&mut account);
                                Ok::<_, Infallible>(())
                            })
                            .unwrap();
                    } else {
                        store.execute(&bus, &stream, deposit::<Account>).unwrap();
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("load_snapshotted_sqlite");
    let store = sqlite(&dir, "snapshots.db");
    for events_in_stream in [100u64, 150, 10_000, 10_050] {
        let stream = format!("big-{events_in_stream}");
        for _ in 0..events_in_stream {
            store
                .execute(&bus, &stream, deposit::<Snapshotted>)
                .unwrap();
        }
        group.bench_with_input(
            BenchmarkId::from_parameter(events_in_stream),
            &stream,
            |b, stream| {
                b.iter(|| {
                    store
                        .unit_of_work(&bus, |unit| unit.load::<Snapshotted>(stream))
                        .unwrap()
                })
            },
        );
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn command_postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("TIDINGS_TEST_POSTGRES") else {
        eprintln!(
            "command_postgres: TIDINGS_TEST_POSTGRES is not set, so PostgreSQL is not measured; \
             run `scripts/test --run cargo bench -p tidings-benches --bench command`"
        );
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let schema = format!("bench_command_{}", std::process::id());
    let store = runtime.block_on(async {
        let admin = tidings::persistence::postgres::sqlx::PgPool::connect(&url)
            .await
            .unwrap();
        tidings::persistence::postgres::sqlx::raw_sql(
            tidings::persistence::postgres::sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            )),
        )
        .execute(&admin)
        .await
        .unwrap();
        let options: tidings::persistence::postgres::sqlx::postgres::PgConnectOptions = url
            .parse::<tidings::persistence::postgres::sqlx::postgres::PgConnectOptions>()
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = tidings::persistence::postgres::sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        PostgresStore::open(pool).await.unwrap()
    });
    let bus = Bus::builder().build().unwrap();
    let mut group = c.benchmark_group("command_postgres_10_events");
    for (name, by_hand) in [("execute", false), ("by_hand", true)] {
        group.bench_function(name, |b| {
            let setup = || {
                let stream = fresh_stream();
                runtime
                    .block_on(store.append(&stream, ExpectedVersion::NoStream, &events(10)))
                    .unwrap();
                stream
            };
            b.iter_batched(
                setup,
                |stream| {
                    runtime.block_on(async {
                        if by_hand {
                            let mut account =
                                Loaded::<Account>::load(&store, &stream).await.unwrap();
                            account.decide(deposit).unwrap();
                            store
                                .unit_of_work(&bus, async |unit| {
                                    unit.save(&mut account);
                                    Ok::<_, Infallible>(())
                                })
                                .await
                                .unwrap();
                        } else {
                            store
                                .execute(&bus, &stream, deposit::<Account>)
                                .await
                                .unwrap();
                        }
                    })
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, command_sqlite, command_postgres);
criterion_main!(benches);

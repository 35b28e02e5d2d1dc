//! The event-sourced round trip against raw statements on the same driver, measured in
//! pairs: load a bank account of K events by replay, decide, append 1 event with the loaded
//! version as the expected one; replay alone; appends of 1 and 100 events; 8 concurrent
//! writers on distinct streams (PostgreSQL). Each round runs every contender once, in a
//! random order (the seed is printed); the report gives the median of the rounds, their range,
//! and the median of the per-round ratios to raw.
//!
//! `scripts/test --run cargo bench -p tidings-benches --bench roundtrip` (PostgreSQL from
//! `TIDINGS_TEST_POSTGRES`; without it only SQLite runs). `ROUNDS` (default 7) and `SEED`
//! change the rounds and their order; `ONLY=sqlite` or `ONLY=postgres` runs one backend.

use std::convert::Infallible;
use std::time::{Duration, Instant};
use tidings::persistence::postgres::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tidings::persistence::postgres::sqlx::{self, AssertSqlSafe, PgPool, Row};
use tidings::persistence::postgres::PostgresStore;
use tidings::persistence::sqlite::{rusqlite, SqliteStore};
use tidings::persistence::{EventStore, ExpectedVersion, NewEvent};
use tidings::{Aggregate, AggregateEvent, Bus, DomainEvent, Envelope};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "bench.account_opened")]
struct Opened {
    owner: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "bench.deposited")]
struct Deposited {
    cents: u64,
    reference: String,
}

#[derive(AggregateEvent, Debug, Clone)]
enum AccountEvent {
    Opened(Opened),
    Deposited(Deposited),
}

#[derive(Default)]
struct Account {
    owner: Option<String>,
    balance: u64,
}

impl Aggregate for Account {
    type Event = AccountEvent;
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened(opened) => self.owner = Some(opened.owner.clone()),
            AccountEvent::Deposited(deposit) => self.balance += deposit.cents,
        }
    }
}

fn deposit(_: &Account) -> Result<Vec<AccountEvent>, Infallible> {
    Ok(vec![Deposited {
        cents: 1,
        reference: "bench".into(),
    }
    .into()])
}

/// What the raw contenders decode a row into: by name, straight from the text.
fn raw_decode(name: &str, data: &str) -> AccountEvent {
    match name {
        "bench.account_opened" => AccountEvent::Opened(serde_json::from_str(data).unwrap()),
        "bench.deposited" => AccountEvent::Deposited(serde_json::from_str(data).unwrap()),
        other => panic!("unknown event {other}"),
    }
}

/// The events of a new account: opened, then `k - 1` deposits.
fn history(k: usize) -> Vec<NewEvent> {
    (0..k)
        .map(|i| {
            if i == 0 {
                NewEvent::from_envelope(&Envelope::new(Opened {
                    owner: "ada".into(),
                }))
            } else {
                NewEvent::from_envelope(&Envelope::new(Deposited {
                    cents: i as u64,
                    reference: format!("ref-{i}"),
                }))
            }
            .unwrap()
        })
        .collect()
}

fn new_deposit() -> NewEvent {
    NewEvent::from_envelope(&Envelope::new(Deposited {
        cents: 1,
        reference: "bench".into(),
    }))
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// The harness: rounds of every contender in a random order.

struct Measured {
    name: String,
    unit: &'static str,
    /// Per round: (tidings, raw), each the time of one operation (or per event).
    samples: Vec<(f64, f64)>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

fn report(rows: &[Measured]) {
    println!(
        "\n| workload | tidings | raw | ratio (median of rounds) | ratio range |\n|---|---:|---:|---:|---:|"
    );
    for row in rows {
        let ours: Vec<f64> = row.samples.iter().map(|s| s.0).collect();
        let raw: Vec<f64> = row.samples.iter().map(|s| s.1).collect();
        let ratios: Vec<f64> = row.samples.iter().map(|s| s.0 / s.1).collect();
        let (o_lo, o_hi) = range(&ours);
        let (r_lo, r_hi) = range(&raw);
        let (q_lo, q_hi) = range(&ratios);
        println!(
            "| {} | {:.1} {} ({:.1}–{:.1}) | {:.1} {} ({:.1}–{:.1}) | {:.2}× | {:.2}–{:.2}× |",
            row.name,
            median(ours),
            row.unit,
            o_lo,
            o_hi,
            median(raw),
            row.unit,
            r_lo,
            r_hi,
            median(ratios),
            q_lo,
            q_hi
        );
    }
}

fn micros(elapsed: Duration, operations: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / operations as f64
}

/// Runs `ours` and `raw` once each, in an order the generator picks, and records the pair.
fn paired(
    rng: &mut fastrand::Rng,
    row: &mut Measured,
    mut ours: impl FnMut() -> f64,
    mut raw: impl FnMut() -> f64,
) {
    let (a, b) = if rng.bool() {
        let a = ours();
        (a, raw())
    } else {
        let b = raw();
        (ours(), b)
    };
    row.samples.push((a, b));
}

// ---------------------------------------------------------------------------------------
// SQLite: a store file and a raw file of the same schema, both WAL with synchronous NORMAL.

const SQLITE_INSERT: &str = "INSERT INTO tidings_events (stream, stream_version, id, name, version,
    occurred_on, correlation_id, causation_id, source, data)
    VALUES (CAST(?1 AS TEXT), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

fn sqlite_insert(conn: &rusqlite::Connection, stream: &str, version: u64, event: &NewEvent) {
    let meta = event.metadata();
    conn.prepare_cached(SQLITE_INSERT)
        .unwrap()
        .execute(rusqlite::params![
            stream,
            version as i64,
            event.metadata().id().as_bytes().as_slice(),
            event.name(),
            event.version(),
            meta.occurred_on().timestamp_nanos_opt().unwrap(),
            meta.correlation_id().as_bytes().as_slice(),
            meta.causation_id().map(|id| id.as_bytes().to_vec()),
            meta.source(),
            event.data(),
        ])
        .unwrap();
}

/// Raw replay: the stream's rows, each decoded by name and applied.
fn sqlite_raw_load(conn: &rusqlite::Connection, stream: &str) -> (Account, u64) {
    let mut statement = conn
        .prepare_cached(
            "SELECT stream_version, name, data FROM tidings_events
             WHERE stream = CAST(?1 AS TEXT) ORDER BY stream_version",
        )
        .unwrap();
    let mut rows = statement.query([stream]).unwrap();
    let (mut account, mut version) = (Account::default(), 0);
    while let Some(row) = rows.next().unwrap() {
        version = row.get::<_, i64>(0).unwrap() as u64;
        let name = row.get_ref(1).unwrap().as_str().unwrap();
        let data = row.get_ref(2).unwrap().as_str().unwrap();
        account.apply(&raw_decode(name, data));
    }
    (account, version)
}

fn sqlite_raw_round_trip(conn: &rusqlite::Connection, stream: &str) {
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (account, version) = sqlite_raw_load(conn, stream);
    let decided = deposit(&account).unwrap();
    for (i, event) in decided.into_iter().enumerate() {
        let AccountEvent::Deposited(d) = event else {
            unreachable!()
        };
        let new = NewEvent::from_envelope(&Envelope::new(d)).unwrap();
        sqlite_insert(conn, stream, version + 1 + i as u64, &new);
    }
    conn.execute_batch("COMMIT").unwrap();
}

fn sqlite(rounds: usize, rng: &mut fastrand::Rng, rows: &mut Vec<Measured>) {
    const STREAMS: usize = 300;
    const OPS: usize = 200;
    let dir = std::env::temp_dir().join(format!("tidings-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(dir.join("store.db")).unwrap();
    store.execute_batch("PRAGMA synchronous = NORMAL").unwrap();
    drop(SqliteStore::open(dir.join("raw.db")).unwrap());
    let raw = rusqlite::Connection::open(dir.join("raw.db")).unwrap();
    raw.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        .unwrap();
    let bus = Bus::builder().build().unwrap();

    let seed_raw = |stream: &str, events: &[NewEvent]| {
        raw.execute_batch("BEGIN IMMEDIATE").unwrap();
        for (i, event) in events.iter().enumerate() {
            sqlite_insert(&raw, stream, 1 + i as u64, event);
        }
        raw.execute_batch("COMMIT").unwrap();
    };
    for k in [10usize, 100] {
        for s in 0..STREAMS {
            let stream = format!("k{k}-{s}");
            store
                .append_sync(&stream, ExpectedVersion::NoStream, &history(k))
                .unwrap();
            seed_raw(&stream, &history(k));
        }
        let mut row = Measured {
            name: format!("SQLite round trip, K = {k}"),
            unit: "µs",
            samples: Vec::new(),
        };
        let mut next = 0;
        for _ in 0..rounds {
            let start = next;
            next += OPS;
            paired(
                rng,
                &mut row,
                || {
                    let t = Instant::now();
                    for i in start..start + OPS {
                        let stream = format!("k{k}-{}", i % STREAMS);
                        store.execute(&bus, &stream, deposit).unwrap();
                    }
                    micros(t.elapsed(), OPS)
                },
                || {
                    let t = Instant::now();
                    for i in start..start + OPS {
                        let stream = format!("k{k}-{}", i % STREAMS);
                        sqlite_raw_round_trip(&raw, &stream);
                    }
                    micros(t.elapsed(), OPS)
                },
            );
        }
        rows.push(row);
    }

    // Replay alone: an account of 1,000 events, loaded in a transaction.
    store
        .append_sync("long", ExpectedVersion::NoStream, &history(1000))
        .unwrap();
    seed_raw("long", &history(1000));
    let mut row = Measured {
        name: "SQLite replay, per event (1,000 events)".into(),
        unit: "µs",
        samples: Vec::new(),
    };
    for _ in 0..rounds {
        paired(
            rng,
            &mut row,
            || {
                let t = Instant::now();
                for _ in 0..10 {
                    let loaded = store
                        .unit_of_work(&bus, |unit| unit.load::<Account>("long"))
                        .unwrap();
                    assert_eq!(loaded.value().version(), 1000);
                }
                micros(t.elapsed(), 10 * 1000)
            },
            || {
                let t = Instant::now();
                for _ in 0..10 {
                    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
                    let (_, version) = sqlite_raw_load(&raw, "long");
                    raw.execute_batch("COMMIT").unwrap();
                    assert_eq!(version, 1000);
                }
                micros(t.elapsed(), 10 * 1000)
            },
        );
    }
    rows.push(row);

    // Appends of 1 and 100 events, each to a new stream.
    for n in [1usize, 100] {
        let mut row = Measured {
            name: format!("SQLite append, {n} a transaction"),
            unit: "µs",
            samples: Vec::new(),
        };
        let batches = if n == 1 { 300 } else { 20 };
        for round in 0..rounds {
            let events: Vec<_> = (0..batches).map(|_| history(n)).collect();
            paired(
                rng,
                &mut row,
                || {
                    let t = Instant::now();
                    for (b, batch) in events.iter().enumerate() {
                        let stream = format!("append-{n}-{round}-{b}");
                        store
                            .append_sync(&stream, ExpectedVersion::NoStream, batch)
                            .unwrap();
                    }
                    micros(t.elapsed(), batches)
                },
                || {
                    let t = Instant::now();
                    for (b, batch) in events.iter().enumerate() {
                        let stream = format!("append-{n}-{round}-{b}");
                        raw.execute_batch("BEGIN IMMEDIATE").unwrap();
                        for (i, event) in batch.iter().enumerate() {
                            sqlite_insert(&raw, &stream, 1 + i as u64, event);
                        }
                        raw.execute_batch("COMMIT").unwrap();
                    }
                    micros(t.elapsed(), batches)
                },
            );
        }
        rows.push(row);
    }
    drop(store);
    drop(raw);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: a schema for the store and one for raw statements, each with a pool of 10.

/// `uuid` and `timestamptz` bound in binary, as the store binds them.
struct PgUuid(uuid::Uuid);

impl sqlx::Type<sqlx::Postgres> for PgUuid {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(2950))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for PgUuid {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        buf.extend_from_slice(self.0.as_bytes());
        Ok(sqlx::encode::IsNull::No)
    }
}

impl sqlx::postgres::PgHasArrayType for PgUuid {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(2951))
    }
}

struct PgTime(i64);

impl sqlx::postgres::PgHasArrayType for PgTime {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(1185))
    }
}

fn pg_time(event: &NewEvent) -> PgTime {
    let epoch = chrono::DateTime::from_timestamp(946_684_800, 0).unwrap();
    PgTime(
        (event.metadata().occurred_on() - epoch)
            .num_microseconds()
            .unwrap(),
    )
}

/// A batch in one statement, as the store's append inserts it (`unnest` of arrays).
async fn pg_insert_batch(tx: &mut sqlx::PgConnection, stream: &str, events: &[NewEvent]) {
    use sqlx::postgres::PgBindIterExt;
    sqlx::query(
        "INSERT INTO tidings_events (position, stream, stream_version, id, name, version,
             occurred_on, correlation_id, causation_id, source, data)
         SELECT nextval('raw_positions'), $1, b.ord, b.id, b.name, b.version, b.occurred_on,
                b.correlation_id, NULL, b.source, b.data::jsonb
         FROM unnest($2, $3, $4, $5, $6, $7, $8)
              WITH ORDINALITY AS b(id, name, version, occurred_on, correlation_id, source,
                                  data, ord)",
    )
    .bind(stream)
    .bind(events.iter().map(|e| PgUuid(e.metadata().id())).bind_iter())
    .bind(events.iter().map(NewEvent::name).bind_iter())
    .bind(events.iter().map(|e| e.version() as i32).bind_iter())
    .bind(events.iter().map(pg_time).bind_iter())
    .bind(
        events
            .iter()
            .map(|e| PgUuid(e.metadata().correlation_id()))
            .bind_iter(),
    )
    .bind(events.iter().map(|e| e.metadata().source()).bind_iter())
    .bind(events.iter().map(NewEvent::data).bind_iter())
    .execute(&mut *tx)
    .await
    .unwrap();
}

impl sqlx::Type<sqlx::Postgres> for PgTime {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(1184))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for PgTime {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(sqlx::encode::IsNull::No)
    }
}

const PG_INSERT: &str = "INSERT INTO tidings_events (position, stream, stream_version, id, name,
        version, occurred_on, correlation_id, causation_id, source, data)
    VALUES (nextval('raw_positions'), $1, $2, $3, $4, $5, $6, $7, NULL, $8, $9::jsonb)";

fn pg_insert<'q>(
    stream: &'q str,
    version: u64,
    event: &'q NewEvent,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(PG_INSERT)
        .bind(stream)
        .bind(version as i64)
        .bind(PgUuid(event.metadata().id()))
        .bind(event.name())
        .bind(event.version() as i32)
        .bind(pg_time(event))
        .bind(PgUuid(event.metadata().correlation_id()))
        .bind(event.metadata().source())
        .bind(event.data())
}

async fn pg_raw_load(conn: &mut sqlx::PgConnection, stream: &str) -> (Account, u64) {
    let rows = sqlx::query(
        "SELECT stream_version, name, data::text FROM tidings_events
         WHERE stream = $1 ORDER BY stream_version",
    )
    .bind(stream)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let (mut account, mut version) = (Account::default(), 0);
    for row in &rows {
        version = row.get::<i64, _>(0) as u64;
        let name: &str = row.get(1);
        let data: &str = row.get(2);
        account.apply(&raw_decode(name, data));
    }
    (account, version)
}

async fn pg_raw_round_trip(pool: &PgPool, stream: &str) {
    let mut tx = pool.begin().await.unwrap();
    let (account, version) = pg_raw_load(&mut tx, stream).await;
    for (i, event) in deposit(&account).unwrap().into_iter().enumerate() {
        let AccountEvent::Deposited(d) = event else {
            unreachable!()
        };
        let new = NewEvent::from_envelope(&Envelope::new(d)).unwrap();
        pg_insert(stream, version + 1 + i as u64, &new)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn pg_pool(url: &str, schema: &str, max: u32) -> PgPool {
    let options: PgConnectOptions = url.parse().unwrap();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    PgPoolOptions::new()
        .max_connections(max)
        .connect_with(options.options([("search_path", schema)]))
        .await
        .unwrap()
}

async fn postgres(url: &str, rounds: usize, rng: &mut fastrand::Rng, rows: &mut Vec<Measured>) {
    const STREAMS: usize = 300;
    const OPS: usize = 150;
    let store = PostgresStore::open(pg_pool(url, "bench_rt_store", 10).await)
        .await
        .unwrap();
    let raw_pool = pg_pool(url, "bench_rt_raw", 10).await;
    drop(PostgresStore::open(raw_pool.clone()).await.unwrap());
    sqlx::raw_sql("CREATE SEQUENCE raw_positions")
        .execute(&raw_pool)
        .await
        .unwrap();
    let bus = Bus::builder().build().unwrap();

    let seed_raw = async |stream: &str, events: &[NewEvent]| {
        let mut tx = raw_pool.begin().await.unwrap();
        for (i, event) in events.iter().enumerate() {
            pg_insert(stream, 1 + i as u64, event)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    };

    for k in [10usize, 100] {
        for s in 0..STREAMS {
            let stream = format!("k{k}-{s}");
            store
                .append(&stream, ExpectedVersion::NoStream, &history(k))
                .await
                .unwrap();
            seed_raw(&stream, &history(k)).await;
        }
        let mut row = Measured {
            name: format!("PostgreSQL round trip, K = {k}"),
            unit: "µs",
            samples: Vec::new(),
        };
        let mut next = 0;
        for _ in 0..rounds {
            let start = next;
            next += OPS;
            let ours_first = rng.bool();
            let mut pair = [0.0; 2];
            for turn in 0..2 {
                let ours = (turn == 0) == ours_first;
                let t = Instant::now();
                for i in start..start + OPS {
                    let stream = format!("k{k}-{}", i % STREAMS);
                    if ours {
                        store.execute(&bus, &stream, deposit).await.unwrap();
                    } else {
                        pg_raw_round_trip(&raw_pool, &stream).await;
                    }
                }
                pair[usize::from(!ours)] = micros(t.elapsed(), OPS);
            }
            row.samples.push((pair[0], pair[1]));
        }
        rows.push(row);
    }

    // Replay alone: an account of 1,000 events, loaded in a transaction.
    store
        .append("long", ExpectedVersion::NoStream, &history(1000))
        .await
        .unwrap();
    seed_raw("long", &history(1000)).await;
    let mut row = Measured {
        name: "PostgreSQL replay, per event (1,000 events)".into(),
        unit: "µs",
        samples: Vec::new(),
    };
    for _ in 0..rounds {
        let ours_first = rng.bool();
        let mut pair = [0.0; 2];
        for turn in 0..2 {
            let ours = (turn == 0) == ours_first;
            let t = Instant::now();
            for _ in 0..10 {
                if ours {
                    let loaded = store
                        .unit_of_work(&bus, async |unit| unit.load::<Account>("long").await)
                        .await
                        .unwrap();
                    assert_eq!(loaded.value().version(), 1000);
                } else {
                    let mut tx = raw_pool.begin().await.unwrap();
                    let (_, version) = pg_raw_load(&mut tx, "long").await;
                    tx.commit().await.unwrap();
                    assert_eq!(version, 1000);
                }
            }
            pair[usize::from(!ours)] = micros(t.elapsed(), 10 * 1000);
        }
        row.samples.push((pair[0], pair[1]));
    }
    rows.push(row);

    // Appends of 1 and 100 events, each to a new stream: one statement each.
    for n in [1usize, 100] {
        let mut row = Measured {
            name: format!("PostgreSQL append, {n} a transaction"),
            unit: "µs",
            samples: Vec::new(),
        };
        let batches = if n == 1 { 300 } else { 20 };
        for round in 0..rounds {
            let events: Vec<_> = (0..batches).map(|_| history(n)).collect();
            let ours_first = rng.bool();
            let mut pair = [0.0; 2];
            for turn in 0..2 {
                let ours = (turn == 0) == ours_first;
                let t = Instant::now();
                for (b, batch) in events.iter().enumerate() {
                    let stream = format!("append-{n}-{round}-{b}");
                    if ours {
                        store
                            .append(&stream, ExpectedVersion::NoStream, batch)
                            .await
                            .unwrap();
                    } else {
                        // One statement, committed by itself, as the store's append is.
                        let mut conn = raw_pool.acquire().await.unwrap();
                        pg_insert_batch(&mut conn, &stream, batch).await;
                    }
                }
                pair[usize::from(!ours)] = micros(t.elapsed(), batches);
            }
            row.samples.push((pair[0], pair[1]));
        }
        rows.push(row);
    }

    // 8 writers at once, each appending 1 event at a time to a stream of its own.
    const WRITERS: usize = 8;
    const EACH: usize = 150;
    let mut row = Measured {
        name: "PostgreSQL 8 writers, distinct streams (µs per event; lower is faster)".into(),
        unit: "µs",
        samples: Vec::new(),
    };
    for round in 0..rounds {
        let ours_first = rng.bool();
        let mut pair = [0.0; 2];
        for turn in 0..2 {
            let ours = (turn == 0) == ours_first;
            let t = Instant::now();
            let tasks: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (store, raw_pool) = (store.clone(), raw_pool.clone());
                    tokio::spawn(async move {
                        let stream = format!("writer-{round}-{w}");
                        for v in 0..EACH as u64 {
                            let event = new_deposit();
                            if ours {
                                let expected = match v {
                                    0 => ExpectedVersion::NoStream,
                                    v => ExpectedVersion::Exact(v),
                                };
                                store.append(&stream, expected, &[event]).await.unwrap();
                            } else {
                                pg_insert(&stream, v + 1, &event)
                                    .execute(&raw_pool)
                                    .await
                                    .unwrap();
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            pair[usize::from(!ours)] = micros(t.elapsed(), WRITERS * EACH);
        }
        row.samples.push((pair[0], pair[1]));
    }
    rows.push(row);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the arguments.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let only = std::env::var("ONLY").unwrap_or_default();
    println!("roundtrip: {rounds} rounds, seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut rows = Vec::new();
    if only.is_empty() || only == "sqlite" {
        sqlite(rounds, &mut rng, &mut rows);
    }
    if only.is_empty() || only == "postgres" {
        match std::env::var("TIDINGS_TEST_POSTGRES") {
            Ok(url) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(postgres(&url, rounds, &mut rng, &mut rows)),
            Err(_) => println!("TIDINGS_TEST_POSTGRES is not set: PostgreSQL skipped"),
        }
    }
    report(&rows);
}

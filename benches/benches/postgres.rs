//! The PostgreSQL event store's append against raw sqlx inserting the same rows into a table
//! of the same shape (the limit), in batches of 1, 100 and 1,000 events.
//!
//! Needs a server: `scripts/test --run cargo bench -p tidings-benches --bench postgres`
//! (or set `TIDINGS_TEST_POSTGRES` to a server's URL).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use tidings::persistence::postgres::sqlx::encode::IsNull;
use tidings::persistence::postgres::sqlx::error::BoxDynError;
use tidings::persistence::postgres::sqlx::postgres::types::Oid;
use tidings::persistence::postgres::sqlx::postgres::{
    PgArgumentBuffer, PgBindIterExt, PgConnectOptions, PgHasArrayType, PgPoolOptions, PgTypeInfo,
};
use tidings::persistence::postgres::sqlx::{self, AssertSqlSafe, Encode, PgPool, Postgres, Type};
use tidings::persistence::postgres::{self as pg, PostgresStore};
use tidings::persistence::{EventStore, ExpectedVersion, NewEvent};
use tidings::{DomainEvent, Envelope};

const ENV: &str = "TIDINGS_TEST_POSTGRES";

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "bench.item_added")]
struct ItemAdded {
    cart: u64,
    sku: String,
    quantity: u32,
}

/// A batch of `n` new events for a stream of its own.
fn batch(n: usize) -> (String, Vec<NewEvent>) {
    let stream = format!("cart-{}", uuid::Uuid::now_v7().simple());
    let events = (0..n)
        .map(|i| {
            let event = ItemAdded {
                cart: 7,
                sku: format!("sku-{i}"),
                quantity: 1 + i as u32 % 5,
            };
            NewEvent::from_envelope(&Envelope::new(event)).unwrap()
        })
        .collect();
    (stream, events)
}

// ---- the raw baseline binds `uuid` and `timestamptz` in binary, as the store does ----

struct Uuid(uuid::Uuid);

impl Type<Postgres> for Uuid {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(2950))
    }
}

impl PgHasArrayType for Uuid {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(2951))
    }
}

impl Encode<'_, Postgres> for Uuid {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

struct Time(i64);

impl Type<Postgres> for Time {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(1184))
    }
}

impl PgHasArrayType for Time {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(1185))
    }
}

impl Encode<'_, Postgres> for Time {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }
}

const RAW_INSERT: &str = "INSERT INTO raw_events (position, stream, stream_version, id, name,
        version, occurred_on, correlation_id, causation_id, source, data)
    SELECT $1 + b.ord, $2, b.ord, b.id, b.name, b.version, b.occurred_on, b.correlation_id,
           b.causation_id, b.source, b.data::jsonb
    FROM unnest($3, $4, $5, $6, $7, $8, $9, $10)
         WITH ORDINALITY AS b(id, name, version, occurred_on, correlation_id, causation_id,
                             source, data, ord)";

/// The same rows as the store's append, in one statement: positions from a counter the
/// caller keeps, no checks.
async fn raw_insert<'c>(
    executor: impl sqlx::Executor<'c, Database = Postgres>,
    last: i64,
    stream: &str,
    events: &[NewEvent],
) {
    let micros = |e: &NewEvent| {
        let since =
            e.metadata().occurred_on() - chrono::DateTime::from_timestamp(946_684_800, 0).unwrap();
        Time(since.num_microseconds().unwrap())
    };
    sqlx::query(RAW_INSERT)
        .bind(last)
        .bind(stream)
        .bind(events.iter().map(|e| Uuid(e.metadata().id())).bind_iter())
        .bind(events.iter().map(NewEvent::name).bind_iter())
        .bind(events.iter().map(|e| e.version() as i32).bind_iter())
        .bind(events.iter().map(micros).bind_iter())
        .bind(
            events
                .iter()
                .map(|e| Uuid(e.metadata().correlation_id()))
                .bind_iter(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.metadata().causation_id().map(Uuid))
                .bind_iter(),
        )
        .bind(events.iter().map(|e| e.metadata().source()).bind_iter())
        .bind(events.iter().map(NewEvent::data).bind_iter())
        .execute(executor)
        .await
        .unwrap();
}

fn append(c: &mut Criterion) {
    let url = std::env::var(ENV).unwrap_or_else(|_| {
        panic!("{ENV} is not set: run `scripts/test --run cargo bench -p tidings-benches --bench postgres`, which starts PostgreSQL, or set {ENV} to a server's URL")
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = format!("tidings_bench_{}", uuid::Uuid::now_v7().simple());
    let options: PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    let (store, pool): (PostgresStore, PgPool) = runtime.block_on(async {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {ENV}=`{url}`: {e}"));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let options = options.options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let store = PostgresStore::open(pool.clone()).await.unwrap();
        sqlx::raw_sql("CREATE TABLE raw_events (LIKE tidings_events INCLUDING ALL)")
            .execute(&pool)
            .await
            .unwrap();
        (store, pool)
    });

    let mut group = c.benchmark_group("postgres_append");
    let mut last = 0i64;
    for n in [1usize, 100, 1_000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("tidings", n), &n, |b, &n| {
            b.iter_batched(
                || batch(n),
                |(stream, events)| {
                    runtime.block_on(async {
                        store
                            .append(&stream, ExpectedVersion::NoStream, &events)
                            .await
                            .unwrap();
                    })
                },
                BatchSize::SmallInput,
            );
        });
        group.bench_with_input(BenchmarkId::new("raw_insert", n), &n, |b, &n| {
            b.iter_batched(
                || batch(n),
                |(stream, events)| {
                    runtime.block_on(async {
                        raw_insert(&pool, last, &stream, &events).await;
                        last += n as i64;
                    })
                },
                BatchSize::SmallInput,
            );
        });
        group.bench_with_input(BenchmarkId::new("tidings_in_tx", n), &n, |b, &n| {
            b.iter_batched(
                || batch(n),
                |(stream, events)| {
                    runtime.block_on(async {
                        let mut tx = pool.begin().await.unwrap();
                        pg::append(&mut tx, &stream, ExpectedVersion::NoStream, &events)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    })
                },
                BatchSize::SmallInput,
            );
        });
        group.bench_with_input(BenchmarkId::new("raw_insert_in_tx", n), &n, |b, &n| {
            b.iter_batched(
                || batch(n),
                |(stream, events)| {
                    runtime.block_on(async {
                        let mut tx = pool.begin().await.unwrap();
                        raw_insert(&mut *tx, last, &stream, &events).await;
                        tx.commit().await.unwrap();
                        last += n as i64;
                    })
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    runtime.block_on(async {
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&pool)
            .await
            .unwrap();
    });
}

criterion_group!(benches, append);
criterion_main!(benches);

//! A unit of work end to end on SQLite, against the same work written by hand.
//!
//! Run: `cargo bench -p tidings-benches --bench unit_of_work`
//!
//! - `tidings`: `SqliteStore::unit_of_work`: the user's row inserted through the transaction,
//!   an aggregate's 3 recorded events appended to its stream (expected version checked), a
//!   `before_commit` handler that reads the transaction from its context, the commit, then an
//!   `after_commit` handler per event.
//! - `by_hand`: `BEGIN IMMEDIATE`, the same row, the same 3 events serialized and inserted
//!   into the same table (the stream version kept by the caller), `COMMIT`, then the same
//!   after-commit function called directly for each event.
//!
//! Both on one connection with `synchronous = NORMAL`, so the figures show the CPU cost
//! rather than the disk's fsync latency (which `FULL` adds to both alike).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use tidings::persistence::sqlite::rusqlite::{params, Connection};
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{ExpectedVersion, NewEvent, StoreError};
use tidings::{handler, Bus, DomainEvent, Envelope, Pending};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "bench.line_added")]
struct LineAdded {
    order_id: u64,
    sku: String,
    quantity: u32,
}

#[handler(phase = before_commit)]
fn check_line(event: &LineAdded, tx: &SqliteTransaction) -> Result<(), StoreError> {
    black_box(tx);
    black_box(event.quantity);
    Ok(())
}

#[handler(phase = after_commit)]
fn notify(event: &LineAdded) {
    after_commit(event);
}

#[inline(never)]
fn after_commit(event: &LineAdded) {
    black_box(event.order_id);
}

fn lines(order_id: u64) -> [LineAdded; 3] {
    ["mug", "teapot", "spoon"].map(|sku| LineAdded {
        order_id,
        sku: sku.into(),
        quantity: 2,
    })
}

fn connection(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn
}

const SCHEMA: &str = "CREATE TABLE orders (id INTEGER PRIMARY KEY, lines INTEGER NOT NULL)";
const INSERT: &str = "INSERT INTO tidings_events (
        stream, stream_version, id, name, version, occurred_on,
        correlation_id, causation_id, source, data
    ) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

fn unit_of_work(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tidings-bench-uow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::from_connection(connection(&dir.join("tidings.db"))).unwrap();
    store.execute_batch(SCHEMA).unwrap();
    let bus = Bus::builder().build().unwrap();
    let by_hand = connection(&dir.join("by_hand.db"));
    // The same table, made by the store's schema.
    drop(SqliteStore::from_connection(connection(&dir.join("by_hand.db"))).unwrap());
    by_hand.execute_batch(SCHEMA).unwrap();

    let mut group = c.benchmark_group("unit_of_work_3_events");
    let mut next = 0u64;
    group.bench_function("tidings", |b| {
        b.iter(|| {
            next += 1;
            let order_id = next;
            let committed = store
                .unit_of_work(&bus, |unit| {
                    unit.transaction().execute(
                        "INSERT INTO orders (id, lines) VALUES (?1, 3)",
                        [order_id as i64],
                    )?;
                    let mut pending = Pending::new();
                    for line in lines(order_id) {
                        pending.record(line);
                    }
                    unit.record(
                        format!("order-{order_id}"),
                        ExpectedVersion::NoStream,
                        &mut pending,
                    );
                    Ok::<_, StoreError>(())
                })
                .unwrap();
            black_box(committed.appended()[0].stream_version)
        })
    });
    let mut next = 0u64;
    group.bench_function("by_hand", |b| {
        b.iter(|| {
            next += 1;
            let order_id = next;
            let stream = format!("order-{order_id}");
            let envelopes = lines(order_id).map(Envelope::new);
            by_hand.execute_batch("BEGIN IMMEDIATE").unwrap();
            by_hand
                .prepare_cached("INSERT INTO orders (id, lines) VALUES (?1, 3)")
                .unwrap()
                .execute([order_id as i64])
                .unwrap();
            {
                let mut insert = by_hand.prepare_cached(INSERT).unwrap();
                for (version, envelope) in envelopes.iter().enumerate() {
                    let event = NewEvent::from_envelope(envelope).unwrap();
                    let meta = event.metadata();
                    insert
                        .execute(params![
                            stream,
                            version as i64 + 1,
                            meta.id().as_bytes(),
                            event.name(),
                            event.version(),
                            meta.occurred_on().timestamp_nanos_opt().unwrap(),
                            meta.correlation_id().as_bytes(),
                            meta.causation_id().as_ref().map(uuid::Uuid::as_bytes),
                            meta.source(),
                            event.data(),
                        ])
                        .unwrap();
                }
            }
            by_hand.execute_batch("COMMIT").unwrap();
            for envelope in &envelopes {
                after_commit(envelope);
            }
            black_box(envelopes.len())
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, unit_of_work);
criterion_main!(benches);

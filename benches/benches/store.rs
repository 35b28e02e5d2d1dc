//! The SQLite event store against raw rusqlite doing the same writes and reads: the limit.
//!
//! Run: `cargo bench -p tidings-benches --bench store`
//!
//! - append: a batch of 1, 100 or 1,000 serialized events per transaction. `tidings` is
//!   `SqliteStore::append_sync` (expected version checked, id retry looked up, positions
//!   reported); `raw` is `BEGIN IMMEDIATE`, one cached `INSERT` per row of the same values into
//!   the same table, `COMMIT`, on a connection with the same pragmas. Both with
//!   `synchronous = FULL` (the store's default) and `NORMAL`.
//!   `tidings_from_envelopes` adds the serialization of typed envelopes (`NewEvent::from_envelope`).
//! - read: 1,000 events after a position in a store of 100,000. `tidings` is
//!   `SqliteStore::read_all_sync` (rows to `StoredEvent`: UUIDs, times and metadata parsed);
//!   `raw` is the same `SELECT` (the store's SQL text) into tuples of owned column values.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tidings::persistence::sqlite::rusqlite::{params, Connection};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, NewEvent};
use tidings::{DomainEvent, Envelope};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "bench.item_picked", version = 2)]
struct ItemPicked {
    order_id: u64,
    sku: String,
    quantity: u32,
}

fn envelopes(n: usize) -> Vec<Envelope<ItemPicked>> {
    (0..n)
        .map(|i| {
            Envelope::new(ItemPicked {
                order_id: 1_000 + i as u64,
                sku: format!("SKU-{:05}", i % 10_000),
                quantity: 1 + (i % 7) as u32,
            })
        })
        .collect()
}

fn batch(n: usize) -> Vec<NewEvent> {
    envelopes(n)
        .iter()
        .map(|e| NewEvent::from_envelope(e).unwrap())
        .collect()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("tidings-bench-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A fresh store file with the schema created, on a connection set up as `open` does,
    /// with `synchronous` as given.
    fn store(&self, name: &str, synchronous: &str) -> (PathBuf, SqliteStore) {
        let path = self.0.join(name);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let store = SqliteStore::from_connection(connection(&path, synchronous)).unwrap();
        (path, store)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A connection set up as `SqliteStore::open` sets its own, with `synchronous` as given.
fn connection(path: &Path, synchronous: &str) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", synchronous)
        .unwrap();
    conn
}

const INSERT: &str = "INSERT INTO tidings_events (
        stream, stream_version, id, name, version, occurred_on,
        correlation_id, causation_id, source, data
    ) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// What a hand-written event table costs: the same rows, the version kept by the caller.
fn raw_append(conn: &Connection, stream: &str, version: &mut i64, events: &[NewEvent]) {
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    {
        let mut insert = conn.prepare_cached(INSERT).unwrap();
        for event in events {
            let meta = event.metadata();
            *version += 1;
            insert
                .execute(params![
                    stream,
                    *version,
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
    conn.execute_batch("COMMIT").unwrap();
}

/// `synchronous = FULL` is the store's default (an fsync per commit); `NORMAL` leaves the
/// fsync to checkpoints, which shows the CPU cost without the disk's latency.
fn append(c: &mut Criterion) {
    for synchronous in ["FULL", "NORMAL"] {
        append_with(c, synchronous);
    }
}

fn append_with(c: &mut Criterion, synchronous: &str) {
    let scratch = Scratch::new();
    let mut group = c.benchmark_group(format!("store_append_{}", synchronous.to_lowercase()));
    for n in [1usize, 100, 1_000] {
        group.throughput(Throughput::Elements(n as u64));
        let (path, store) = scratch.store(&format!("raw-{n}.db"), synchronous);
        drop(store);
        let conn = connection(&path, synchronous);
        let mut version = 0;
        group.bench_with_input(BenchmarkId::new("raw", n), &n, |b, &n| {
            b.iter_batched(
                || batch(n),
                |events| raw_append(&conn, "order-1", &mut version, &events),
                BatchSize::SmallInput,
            );
        });
        let (_, store) = scratch.store(&format!("append-{n}.db"), synchronous);
        group.bench_with_input(BenchmarkId::new("tidings", n), &n, |b, &n| {
            b.iter_batched(
                || batch(n),
                |events| {
                    black_box(store.append_sync("order-1", ExpectedVersion::Any, &events)).unwrap()
                },
                BatchSize::SmallInput,
            );
        });
        if n == 1_000 {
            let (_, store) = scratch.store("append-envelopes.db", synchronous);
            group.bench_with_input(
                BenchmarkId::new("tidings_from_envelopes", n),
                &n,
                |b, &n| {
                    b.iter_batched(
                        || envelopes(n),
                        |envelopes| {
                            let events: Vec<NewEvent> = envelopes
                                .iter()
                                .map(|e| NewEvent::from_envelope(e).unwrap())
                                .collect();
                            black_box(store.append_sync("order-1", ExpectedVersion::Any, &events))
                                .unwrap()
                        },
                        BatchSize::SmallInput,
                    );
                },
            );
        }
    }
    group.finish();
}

type RawRow = (
    i64,
    String,
    i64,
    Vec<u8>,
    String,
    i64,
    i64,
    Vec<u8>,
    Option<Vec<u8>>,
    String,
    String,
);

fn raw_read(conn: &Connection, after: i64, limit: i64) -> Vec<RawRow> {
    let mut select = conn
        .prepare_cached(
            "SELECT position, stream, stream_version, id, name, version, occurred_on, \
             correlation_id, causation_id, source, data \
             FROM tidings_events WHERE position > ?1 ORDER BY position LIMIT CAST(?2 AS INTEGER)",
        )
        .unwrap();
    select
        .query_map(params![after, limit], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
                row.get(10)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn read(c: &mut Criterion) {
    let scratch = Scratch::new();
    let (path, store) = scratch.store("read.db", "FULL");
    for chunk in 0..100 {
        let stream = format!("order-{chunk}");
        store
            .append_sync(&stream, ExpectedVersion::NoStream, &batch(1_000))
            .unwrap();
    }
    let conn = connection(&path, "FULL");
    let mut group = c.benchmark_group("store_read");
    group.throughput(Throughput::Elements(1_000));
    group.bench_function(BenchmarkId::new("tidings", 1_000), |b| {
        b.iter(|| black_box(store.read_all_sync(black_box(50_000), 1_000).unwrap()));
    });
    group.bench_function(BenchmarkId::new("raw", 1_000), |b| {
        b.iter(|| black_box(raw_read(&conn, black_box(50_000), 1_000)));
    });
    group.finish();
}

/// The same comparison in pairs: each round appends one batch with tidings and one with raw
/// SQL, in random order, so both see the same moment of a shared machine (whose other work
/// moves criterion's separate runs by ±30 %). Prints the median time of each and the median
/// of the per-round ratios.
fn paired(_: &mut Criterion) {
    let scratch = Scratch::new();
    for synchronous in ["FULL", "NORMAL"] {
        for (n, rounds) in [(1usize, 3_000), (100, 500), (1_000, 150)] {
            let (_, store) = scratch.store(&format!("paired-{n}.db"), synchronous);
            let (path, raw_store) = scratch.store(&format!("paired-raw-{n}.db"), synchronous);
            drop(raw_store);
            let conn = connection(&path, synchronous);
            let mut version = 0;
            let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let (a, b) = (batch(n), batch(n));
                let time_ours = || {
                    let start = Instant::now();
                    black_box(store.append_sync("order-1", ExpectedVersion::Any, &a)).unwrap();
                    start.elapsed()
                };
                let mut time_raw = || {
                    let start = Instant::now();
                    raw_append(&conn, "order-1", &mut version, &b);
                    start.elapsed()
                };
                let (t, r) = if fastrand::bool() {
                    let t = time_ours();
                    (t, time_raw())
                } else {
                    let r = time_raw();
                    (time_ours(), r)
                };
                ratios.push(t.as_secs_f64() / r.as_secs_f64());
                ours.push(t);
                theirs.push(r);
            }
            let (t, r) = (median(&mut ours), median(&mut theirs));
            ratios.sort_by(f64::total_cmp);
            println!(
                "paired store_append_{}/{n}: tidings {t:?}, raw {r:?}, ratio {:.2} \
                 (median of {rounds} rounds), tidings {:.0} events/s",
                synchronous.to_lowercase(),
                ratios[ratios.len() / 2],
                n as f64 / t.as_secs_f64(),
            );
        }
    }
}

/// Reads in pairs, as [`paired`] appends.
fn paired_read(_: &mut Criterion) {
    let scratch = Scratch::new();
    let (path, store) = scratch.store("paired-read.db", "FULL");
    for chunk in 0..100 {
        let stream = format!("order-{chunk}");
        store
            .append_sync(&stream, ExpectedVersion::NoStream, &batch(1_000))
            .unwrap();
    }
    let conn = connection(&path, "FULL");
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..2_000u64 {
        let after = 1_000 * (round % 90);
        let time_ours = || {
            let start = Instant::now();
            black_box(store.read_all_sync(after, 1_000).unwrap());
            start.elapsed()
        };
        let time_raw = || {
            let start = Instant::now();
            black_box(raw_read(&conn, after as i64, 1_000));
            start.elapsed()
        };
        let (t, r) = if fastrand::bool() {
            let t = time_ours();
            (t, time_raw())
        } else {
            let r = time_raw();
            (time_ours(), r)
        };
        ratios.push(t.as_secs_f64() / r.as_secs_f64());
        ours.push(t);
        theirs.push(r);
    }
    let (t, r) = (median(&mut ours), median(&mut theirs));
    ratios.sort_by(f64::total_cmp);
    println!(
        "paired store_read/1000: tidings {t:?}, raw {r:?}, ratio {:.2} (median of 2000 rounds)",
        ratios[ratios.len() / 2],
    );
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

criterion_group!(benches, append, read, paired, paired_read);
criterion_main!(benches);

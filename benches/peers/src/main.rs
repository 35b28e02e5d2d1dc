//! The round trip of `benches/benches/roundtrip.rs` on cqrs-es (postgres-es, sqlite-es) and
//! esrs (PostgreSQL):
//! load a bank account of K events by replay, decide, append 1 event with the expected
//! version; against raw sqlx 0.8 statements on the same table, in the same run, in pairs of
//! rounds (each side first in turn, by a seeded generator; the seed is printed).
//!
//! `TIDINGS_TEST_POSTGRES=postgres://… cargo run --release` in this folder (`ROUNDS`, `SEED`);
//! without the variable only SQLite runs. Its own crate and lock file: cqrs-es and esrs use sqlx 0.8,
//! which cannot share a build with the rusqlite of the workspace.

use cqrs_es::{Aggregate, CqrsFramework, DomainEvent};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum AccountEvent {
    Opened { owner: String },
    Deposited { cents: u64, reference: String },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            AccountEvent::Opened { .. } => "Opened".into(),
            AccountEvent::Deposited { .. } => "Deposited".into(),
        }
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}
impl std::error::Error for Never {}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    owner: Option<String>,
    balance: u64,
}

struct Deposit;

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = Deposit;
    type Event = AccountEvent;
    type Error = Never;
    type Services = ();

    async fn handle(
        &mut self,
        _: Deposit,
        _: &(),
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Never> {
        sink.write(
            AccountEvent::Deposited {
                cents: 1,
                reference: "bench".into(),
            },
            self,
        )
        .await;
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => self.owner = Some(owner),
            AccountEvent::Deposited { cents, .. } => self.balance += cents,
        }
    }
}

fn history(k: usize) -> Vec<AccountEvent> {
    (0..k)
        .map(|i| match i {
            0 => AccountEvent::Opened {
                owner: "ada".into(),
            },
            i => AccountEvent::Deposited {
                cents: i as u64,
                reference: format!("ref-{i}"),
            },
        })
        .collect()
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

fn report(name: &str, samples: &[(f64, f64)]) {
    let ours: Vec<f64> = samples.iter().map(|s| s.0).collect();
    let raw: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let ratios: Vec<f64> = samples.iter().map(|s| s.0 / s.1).collect();
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    println!(
        "| {name} | {:.1} µs | {:.1} µs | {:.2}× | {lo:.2}–{hi:.2}× |",
        median(ours),
        median(raw),
        median(ratios.clone())
    );
}

/// The rows of one account, as postgres-es and sqlite-es write them.
fn rows(k: usize) -> Vec<(i64, String, String)> {
    history(k)
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            (
                i as i64 + 1,
                e.event_type(),
                serde_json::to_string(&e).unwrap(),
            )
        })
        .collect()
}

macro_rules! round_trips {
    ($db:ty, $pool:expr, $cqrs:expr, $name:expr, $rounds:expr, $rng:expr, $into:literal, $cast:literal) => {{
        const STREAMS: usize = 300;
        const OPS: usize = 150;
        let pool = $pool;
        let cqrs = $cqrs;
        let insert = concat!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ($1, $2, $3, $4, '1', $5",
            $into,
            ", '{}')"
        );
        for k in [10usize, 100] {
            for s in 0..STREAMS {
                for (side, kind) in [("peer", "account"), ("raw", "raw")] {
                    let mut tx = pool.begin().await.unwrap();
                    for (seq, ty, payload) in rows(k) {
                        sqlx::query::<$db>(insert)
                            .bind(kind)
                            .bind(format!("{side}-k{k}-{s}"))
                            .bind(seq)
                            .bind(ty)
                            .bind(payload)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                    }
                    tx.commit().await.unwrap();
                }
            }
            let mut samples = Vec::new();
            let mut next = 0;
            for _ in 0..$rounds {
                let start = next;
                next += OPS;
                let peer_first: bool = $rng.bool();
                let mut pair = [0.0; 2];
                for turn in 0..2 {
                    let peer = (turn == 0) == peer_first;
                    let t = Instant::now();
                    for i in start..start + OPS {
                        let s = i % STREAMS;
                        if peer {
                            cqrs.execute(&format!("peer-k{k}-{s}"), Deposit).await.unwrap();
                        } else {
                            let id = format!("raw-k{k}-{s}");
                            let mut tx = pool.begin().await.unwrap();
                            let found = sqlx::query::<$db>(concat!(
                                "SELECT sequence, payload",
                                $cast,
                                " FROM events WHERE aggregate_type = 'raw' AND aggregate_id = $1 ORDER BY sequence"
                            ))
                            .bind(&id)
                            .fetch_all(&mut *tx)
                            .await
                            .unwrap();
                            let mut account = Account::default();
                            let mut last = 0i64;
                            for row in &found {
                                last = row.get(0);
                                let payload: &str = row.get(1);
                                account.apply(serde_json::from_str(payload).unwrap());
                            }
                            let event = AccountEvent::Deposited {
                                cents: 1,
                                reference: "bench".into(),
                            };
                            sqlx::query::<$db>(insert)
                                .bind("raw")
                                .bind(&id)
                                .bind(last + 1)
                                .bind(event.event_type())
                                .bind(serde_json::to_string(&event).unwrap())
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                            tx.commit().await.unwrap();
                        }
                    }
                    pair[usize::from(!peer)] = t.elapsed().as_secs_f64() * 1e6 / OPS as f64;
                }
                samples.push((pair[0], pair[1]));
            }
            report(&format!("{} round trip, K = {k}", $name), &samples);
        }
    }};
}

/// The same account as an esrs aggregate: its state and events are cqrs-es's, applied the same
/// way.
struct EsrsAccount;

impl esrs::Aggregate for EsrsAccount {
    const NAME: &'static str = "esrs_account";
    type State = Account;
    type Command = Deposit;
    type Event = AccountEvent;
    type Error = Never;

    fn handle_command(_: &Account, _: Deposit) -> Result<Vec<AccountEvent>, Never> {
        Ok(vec![AccountEvent::Deposited {
            cents: 1,
            reference: "bench".into(),
        }])
    }

    fn apply_event(mut state: Account, event: AccountEvent) -> Account {
        cqrs_es::Aggregate::apply(&mut state, event);
        state
    }
}

/// The account `s` of K events, for esrs (`raw` false) or its raw baseline.
fn esrs_id(k: usize, s: usize, raw: bool) -> uuid::Uuid {
    uuid::Uuid::from_u128((u128::from(raw) << 64) | ((k as u128) << 32) | s as u128)
}

/// esrs's round trip (`AggregateManager::load`, then `handle_command`, which persists in a
/// transaction of its own) against raw sqlx statements on esrs's own table: `BEGIN`, the
/// stream's rows decoded and applied, one `INSERT` with the next sequence number, `COMMIT`.
async fn esrs_round_trips(pool: sqlx::PgPool, rounds: usize, rng: &mut fastrand::Rng) {
    use esrs::manager::AggregateManager;
    use esrs::store::postgres::{PgStore, PgStoreBuilder};
    use esrs::AggregateState;
    const STREAMS: usize = 300;
    const OPS: usize = 150;
    const INSERT: &str = "INSERT INTO esrs_account_events (id, aggregate_id, payload, occurred_on, sequence_number, version) VALUES ($1, $2, $3::jsonb, now(), $4, NULL)";
    let store: PgStore<EsrsAccount> = PgStoreBuilder::new(pool.clone()).try_build().await.unwrap();
    let manager = AggregateManager::new(store);
    for k in [10usize, 100] {
        for s in 0..STREAMS {
            for raw in [false, true] {
                let mut tx = pool.begin().await.unwrap();
                for (seq, _, payload) in rows(k) {
                    sqlx::query(INSERT)
                        .bind(uuid::Uuid::new_v4())
                        .bind(esrs_id(k, s, raw))
                        .bind(payload)
                        .bind(seq as i32)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
                tx.commit().await.unwrap();
            }
        }
        let mut samples = Vec::new();
        let mut next = 0;
        for _ in 0..rounds {
            let start = next;
            next += OPS;
            let peer_first: bool = rng.bool();
            let mut pair = [0.0; 2];
            for turn in 0..2 {
                let peer = (turn == 0) == peer_first;
                let t = Instant::now();
                for i in start..start + OPS {
                    let s = i % STREAMS;
                    let id = esrs_id(k, s, !peer);
                    if peer {
                        let state = manager
                            .load(id)
                            .await
                            .unwrap()
                            .unwrap_or_else(|| AggregateState::with_id(id));
                        manager
                            .handle_command(state, Deposit)
                            .await
                            .unwrap()
                            .unwrap();
                    } else {
                        let mut tx = pool.begin().await.unwrap();
                        let found = sqlx::query(
                            "SELECT sequence_number, payload::text FROM esrs_account_events WHERE aggregate_id = $1 ORDER BY sequence_number",
                        )
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await
                        .unwrap();
                        let mut account = Account::default();
                        let mut last = 0i32;
                        for row in &found {
                            last = row.get(0);
                            let payload: &str = row.get(1);
                            cqrs_es::Aggregate::apply(
                                &mut account,
                                serde_json::from_str(payload).unwrap(),
                            );
                        }
                        let event = AccountEvent::Deposited {
                            cents: 1,
                            reference: "bench".into(),
                        };
                        sqlx::query(INSERT)
                            .bind(uuid::Uuid::new_v4())
                            .bind(id)
                            .bind(serde_json::to_string(&event).unwrap())
                            .bind(last + 1)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    }
                }
                pair[usize::from(!peer)] = t.elapsed().as_secs_f64() * 1e6 / OPS as f64;
            }
            samples.push((pair[0], pair[1]));
        }
        report(
            &format!("esrs 0.18 (PostgreSQL) round trip, K = {k}"),
            &samples,
        );
    }
}

/// Eight writers at once on PostgreSQL, each executing 150 commands, every one on an account
/// of its own that does not exist yet (cqrs-es has no append without a load: its load then
/// finds nothing), against eight writers doing the same raw statements (`BEGIN`, the empty
/// read, one `INSERT`, `COMMIT`); the time per event.
async fn cqrs_writers(
    pool: sqlx::PgPool,
    cqrs: std::sync::Arc<postgres_es::PostgresCqrs<Account>>,
    rounds: usize,
    rng: &mut fastrand::Rng,
) {
    const WRITERS: usize = 8;
    const EACH: usize = 150;
    let mut samples = Vec::new();
    for round in 0..rounds {
        let peer_first: bool = rng.bool();
        let mut pair = [0.0; 2];
        for turn in 0..2 {
            let peer = (turn == 0) == peer_first;
            let t = Instant::now();
            let tasks: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (pool, cqrs) = (pool.clone(), cqrs.clone());
                    tokio::spawn(async move {
                        for j in 0..EACH {
                            let id = format!("writer-{round}-{w}-{j}");
                            if peer {
                                cqrs.execute(&id, Deposit).await.unwrap();
                            } else {
                                let mut tx = pool.begin().await.unwrap();
                                let found = sqlx::query(
                                    "SELECT sequence, payload::text FROM events WHERE aggregate_type = 'raw' AND aggregate_id = $1 ORDER BY sequence",
                                )
                                .bind(&id)
                                .fetch_all(&mut *tx)
                                .await
                                .unwrap();
                                assert!(found.is_empty());
                                let event = AccountEvent::Deposited {
                                    cents: 1,
                                    reference: "bench".into(),
                                };
                                sqlx::query(
                                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ('raw', $1, 1, $2, '1', $3::json, '{}')",
                                )
                                .bind(&id)
                                .bind(event.event_type())
                                .bind(serde_json::to_string(&event).unwrap())
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                                tx.commit().await.unwrap();
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            pair[usize::from(!peer)] = t.elapsed().as_secs_f64() * 1e6 / (WRITERS * EACH) as f64;
        }
        samples.push((pair[0], pair[1]));
    }
    report(
        "cqrs-es + postgres-es, 8 writers, a new account each command (µs per event)",
        &samples,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("peers: {rounds} rounds, seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    println!("\n| workload | peer | raw sqlx 0.8 | ratio (median of rounds) | ratio range |\n|---|---:|---:|---:|---:|");

    let dir = std::env::temp_dir().join(format!("tidings-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("peers.db").display());
    let pool = sqlite_es::default_sqlite_pool(&url).await;
    sqlx::raw_sql(include_str!("sqlite.sql"))
        .execute(&pool)
        .await
        .unwrap();
    let cqrs: CqrsFramework<Account, _> = sqlite_es::sqlite_cqrs(pool.clone(), vec![], ());
    round_trips!(
        sqlx::Sqlite,
        pool.clone(),
        cqrs,
        "cqrs-es + sqlite-es (NORMAL)",
        rounds,
        rng,
        "",
        ""
    );
    let _ = std::fs::remove_dir_all(&dir);

    if let Ok(url) = std::env::var("TIDINGS_TEST_POSTGRES") {
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql("DROP SCHEMA IF EXISTS bench_peers CASCADE; CREATE SCHEMA bench_peers;")
            .execute(&admin)
            .await
            .unwrap();
        let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(10)
            .connect_with(options.options([("search_path", "bench_peers")]))
            .await
            .unwrap();
        sqlx::raw_sql(include_str!("postgres.sql"))
            .execute(&pool)
            .await
            .unwrap();
        let cqrs: postgres_es::PostgresCqrs<Account> =
            postgres_es::postgres_cqrs(pool.clone(), vec![], ());
        round_trips!(
            sqlx::Postgres,
            pool.clone(),
            cqrs,
            "cqrs-es + postgres-es",
            rounds,
            rng,
            "::json",
            "::text"
        );
        esrs_round_trips(pool.clone(), rounds, &mut rng).await;
        let cqrs = std::sync::Arc::new(postgres_es::postgres_cqrs(pool.clone(), vec![], ()));
        cqrs_writers(pool.clone(), cqrs, rounds, &mut rng).await;
    } else {
        println!("TIDINGS_TEST_POSTGRES is not set: PostgreSQL skipped");
    }
}

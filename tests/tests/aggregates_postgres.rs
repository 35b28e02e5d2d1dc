//! The everyday command on PostgreSQL (`TIDINGS_TEST_POSTGRES`): `execute` loads, decides and
//! commits in one unit of work; eight writers on one aggregate conflict and every conflict is
//! retried, so no update is lost and no error surfaces while attempts remain; snapshots are
//! written in the same transaction and loading starts from them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tidings::persistence::postgres::{sqlx, PostgresStore, PostgresTransaction};
use tidings::persistence::{Execute, StoreError};
use tidings::{handler, Aggregate, AggregateEvent, Bus, DomainEvent, Snapshots};
use tidings_tests::postgres::PgSchema;

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "aggregates_pg.deposited")]
struct Deposited {
    cents: u64,
}

#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "aggregates_pg.withdrawn")]
struct Withdrawn {
    cents: u64,
}

#[derive(AggregateEvent, Debug, Clone, PartialEq)]
enum AccountEvent {
    Deposited(Deposited),
    Withdrawn(Withdrawn),
}

#[derive(Default, Debug, serde::Serialize, serde::Deserialize)]
struct Account {
    balance: u64,
    movements: u64,
}

impl Aggregate for Account {
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        self.movements += 1;
        match event {
            AccountEvent::Deposited(d) => self.balance += d.cents,
            AccountEvent::Withdrawn(w) => self.balance -= w.cents,
        }
    }

    fn snapshots() -> Snapshots<Account> {
        Snapshots::every(5)
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("the balance is {balance}, less than {cents}")]
struct Overdrawn {
    balance: u64,
    cents: u64,
}

impl Account {
    fn deposit(&self, cents: u64) -> Result<Vec<AccountEvent>, Overdrawn> {
        Ok(vec![Deposited { cents }.into()])
    }

    fn withdraw(&self, cents: u64) -> Result<Vec<AccountEvent>, Overdrawn> {
        if cents > self.balance {
            return Err(Overdrawn {
                balance: self.balance,
                cents,
            });
        }
        Ok(vec![Withdrawn { cents }.into()])
    }
}

/// Writes a ledger line for every deposit through the unit of work's transaction.
#[handler(phase = before_commit)]
async fn ledger(event: &Deposited, tx: &PostgresTransaction) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO ledger (cents) VALUES ($1)")
        .bind(event.cents as i64)
        .execute(&mut *tx.lock()?)
        .await?;
    Ok(())
}

async fn store(pool_size: u32) -> (PostgresStore, PgSchema) {
    let schema = PgSchema::new();
    let store = PostgresStore::open(schema.pool(pool_size).await)
        .await
        .unwrap();
    sqlx::raw_sql("CREATE TABLE ledger (cents bigint NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    (store, schema)
}

async fn ledger_lines(store: &PostgresStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ledger")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn execute_creates_changes_and_refuses() {
    let (store, _schema) = store(2).await;
    let bus = Bus::builder().build().unwrap();
    let done = store
        .execute(&bus, "account-1", |a: &Account| a.deposit(700))
        .await
        .unwrap();
    assert_eq!(
        (done.value().state().balance, done.value().version()),
        (700, 1)
    );
    let done = store
        .execute(&bus, "account-1", |a: &Account| a.withdraw(200))
        .await
        .unwrap();
    assert_eq!(done.value().state().balance, 500);
    let refused = store
        .execute(&bus, "account-1", |a: &Account| a.withdraw(900))
        .await
        .unwrap_err();
    assert_eq!(
        refused.rejected(),
        Some(&Overdrawn {
            balance: 500,
            cents: 900
        })
    );
    assert_eq!(
        ledger_lines(&store).await,
        1,
        "the rule's write committed with the deposit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_on_one_aggregate_lose_no_update() {
    let (store, _schema) = store(10).await;
    let store = Arc::new(store);
    let bus = Bus::builder().build().unwrap();
    store
        .execute(&bus, "account-2", |a: &Account| a.deposit(0))
        .await
        .unwrap();
    let decisions = Arc::new(AtomicU64::new(0));
    const WRITERS: u64 = 8;
    const EACH: u64 = 10;
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (store, bus, decisions) = (store.clone(), bus.clone(), decisions.clone());
        tasks.push(tokio::spawn(async move {
            // Enough attempts that a writer never runs out while the others finish: each
            // attempt that conflicts means another writer committed.
            let options = Execute::default().attempts(1_000);
            for _ in 0..EACH {
                store
                    .execute_with(&bus, "account-2", &options, |a: &Account| {
                        decisions.fetch_add(1, Ordering::Relaxed);
                        a.deposit(1)
                    })
                    .await
                    .expect("every conflict is retried while attempts remain");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let account = store
        .execute(&bus, "account-2", |a: &Account| a.deposit(0))
        .await
        .unwrap()
        .into_value();
    assert_eq!(account.state().balance, WRITERS * EACH, "no lost update");
    assert_eq!(account.version(), WRITERS * EACH + 2);
    assert_eq!(ledger_lines(&store).await as u64, WRITERS * EACH + 2);
    println!(
        "{} decisions for {} commits: the rest were retries after conflicts",
        decisions.load(Ordering::Relaxed),
        WRITERS * EACH
    );
}

#[tokio::test]
async fn snapshots_are_written_in_the_transaction_and_loading_starts_from_them() {
    let (store, _schema) = store(2).await;
    let bus = Bus::builder().build().unwrap();
    for _ in 0..6 {
        store
            .execute(&bus, "account-3", |a: &Account| a.deposit(10))
            .await
            .unwrap();
    }
    let row: (i64, String) =
        sqlx::query_as("SELECT version, data FROM tidings_snapshots WHERE stream = 'account-3'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(row.0, 5, "taken when the stream reached version 5");
    // A state written into the snapshot is what loads, with the events after it applied.
    sqlx::query(
        "UPDATE tidings_snapshots SET data = '{\"balance\":1000,\"movements\":5}' \
         WHERE stream = 'account-3'",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let loaded = store
        .unit_of_work(&bus, async |unit| unit.load::<Account>("account-3").await)
        .await
        .unwrap()
        .into_value();
    assert_eq!((loaded.state().balance, loaded.version()), (1010, 6));
    // A snapshot that no longer decodes is ignored: the aggregate is replayed.
    sqlx::query("UPDATE tidings_snapshots SET data = 'not json at all' WHERE stream = 'account-3'")
        .execute(store.pool())
        .await
        .unwrap();
    let loaded = store
        .unit_of_work(&bus, async |unit| unit.load::<Account>("account-3").await)
        .await
        .unwrap()
        .into_value();
    assert_eq!((loaded.state().balance, loaded.version()), (60, 6));
}

/// Loading decodes each row straight into the aggregate's event; a row that does not decode
/// is read again whole, and the error names it by position, stream and id.
#[tokio::test]
async fn an_event_that_does_not_decode_fails_the_command_naming_it() {
    let (store, _schema) = store(2).await;
    let bus = Bus::builder().build().unwrap();
    for cents in [5, 6] {
        store
            .execute(&bus, "account-9", |a: &Account| a.deposit(cents))
            .await
            .unwrap();
    }
    let (position, id): (i64, String) = sqlx::query_as(
        "UPDATE tidings_events SET data = '{\"cents\": \"six\"}'
         WHERE stream = 'account-9' AND stream_version = 2 RETURNING position, id::text",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let deposit = async || {
        store
            .execute(&bus, "account-9", |a: &Account| a.deposit(7))
            .await
            .unwrap_err()
    };
    let error = deposit().await;
    let tidings::persistence::UnitOfWorkError::Work {
        error: tidings::persistence::CommandError::Load(load),
        ..
    } = &error
    else {
        panic!("expected the load to fail, got {error}")
    };
    let tidings::persistence::LoadError::Decode(decode) = &**load else {
        panic!("expected the load to fail on the event's data, got {load}")
    };
    assert_eq!(
        (
            decode.position,
            decode.stream.as_str(),
            decode.id.to_string()
        ),
        (position as u64, "account-9", id)
    );
    assert!(
        error.to_string().contains(&format!("position {position}")),
        "{error}"
    );

    // A damaged column (a schema version of 0) is named with its row's position.
    sqlx::query(
        "UPDATE tidings_events SET data = '{\"cents\": 6}', version = 0
         WHERE stream = 'account-9' AND stream_version = 2",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let error = deposit().await;
    let tidings::persistence::UnitOfWorkError::Work {
        error: tidings::persistence::CommandError::Load(load),
        ..
    } = &error
    else {
        panic!("expected the load to fail, got {error}")
    };
    let tidings::persistence::LoadError::Store(StoreError::Corrupt {
        position: at,
        reason,
    }) = &**load
    else {
        panic!("expected the load to fail on the damaged column, got {load}")
    };
    assert_eq!(*at, position as u64);
    assert!(reason.contains("version"), "{reason}");
}

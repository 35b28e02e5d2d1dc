//! The unit of work on SQLite: the user's writes and the recorded events commit together;
//! `before_commit` handlers run inside the transaction and can veto it; `after_commit`
//! handlers run after it and cannot undo it; `after_rollback` handlers run when it rolls back.
//! The scenarios every backend runs are in `support/unit_of_work.rs`
//! (`unit_of_work_postgres.rs` runs them on PostgreSQL); what is SQLite's own is here.

#[path = "support/unit_of_work.rs"]
#[macro_use]
mod scenarios;

use futures_util::FutureExt;
use scenarios::{before_commit, Backend, Fixture, OrderPlaced, Refused};
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{Committed, StoreError, UnitOfWorkError};
use tidings::{handler, Bus, Context};

#[handler(phase = before_commit)]
fn reserve_stock(
    event: &OrderPlaced,
    journal: &scenarios::Journal,
    ctx: &Context,
    tx: &SqliteTransaction,
) -> Result<(), Refused> {
    if event.check.starts_with("record") {
        tx.record(
            &scenarios::accepted_stream(event.order),
            scenarios::OrderAccepted { order: event.order },
        );
    }
    before_commit(event, journal, ctx)?;
    tx.execute(
        "INSERT INTO reservations (order_id) VALUES (?1)",
        [event.order as i64],
    )?;
    Ok(())
}

impl Backend for SqliteStore {
    async fn run(
        &self,
        bus: &Bus,
        order: u64,
        check: &str,
        stream: &str,
        fail: bool,
    ) -> Result<Committed<u64>, UnitOfWorkError<StoreError>> {
        self.unit_of_work(bus, |unit| {
            unit.transaction()
                .execute("INSERT INTO orders (id) VALUES (?1)", [order as i64])?;
            scenarios::record(unit, order, check, stream, fail)
        })
    }

    async fn count(&self, table: &str) -> i64 {
        self.with_connection(|c| {
            Ok::<_, StoreError>(
                c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?,
            )
        })
        .unwrap()
    }

    async fn stored(&self) -> usize {
        self.read_all_sync(0, 100).unwrap().len()
    }
}

fn fixture() -> Fixture<SqliteStore> {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY);
             CREATE TABLE reservations (order_id INTEGER PRIMARY KEY);",
        )
        .unwrap();
    Fixture::new(store)
}

fn place(
    f: &Fixture<SqliteStore>,
    order: u64,
    check: &str,
) -> Result<Committed<u64>, UnitOfWorkError<StoreError>> {
    scenarios::Fixture::place(f, order, check)
        .now_or_never()
        .expect("SQLite never waits")
}

fn count(f: &Fixture<SqliteStore>, table: &str) -> i64 {
    f.count(table).now_or_never().expect("SQLite never waits")
}

scenarios!(fixture());

#[test]
fn a_panic_in_the_work_rolls_back_and_leaves_the_store_usable() {
    let f = fixture();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = f.store.unit_of_work(&f.bus, |unit| {
            unit.transaction()
                .execute("INSERT INTO orders (id) VALUES (7)", [])?;
            if unit.is_empty() {
                panic!("a bug in the work");
            }
            Ok::<_, StoreError>(())
        });
    }));
    assert!(panicked.is_err());
    assert_eq!(count(&f, "orders"), 0, "rolled back");
    place(&f, 8, "ok").expect("the next unit of work runs");
    assert_eq!(count(&f, "orders"), 1);
}

#[test]
fn the_store_refuses_its_own_thread_inside_a_unit_of_work_instead_of_waiting_forever() {
    let f = fixture();
    let outcome = f
        .store
        .unit_of_work(&f.bus, |_| f.store.read_all_sync(0, 10).map(|_| ()));
    let error = outcome.unwrap_err();
    let inner = error.work_error().expect("the read failed");
    assert!(matches!(inner, StoreError::InsideUnitOfWork), "{inner}");
    assert!(
        inner.to_string().contains("through the unit of work"),
        "{inner}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_of_work_runs_from_async_code_too() {
    let f = fixture();
    // The SQLite unit of work needs no runtime; inside one it is an ordinary blocking call.
    let committed = tokio::task::block_in_place(|| place(&f, 10, "ok"));
    assert_eq!(*committed.expect("commits inside a runtime").value(), 10);
    assert_eq!(f.store.read_all_sync(0, 10).unwrap().len(), 1);
}

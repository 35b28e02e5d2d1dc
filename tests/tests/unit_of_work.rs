//! The unit of work on SQLite: the user's writes and the recorded events commit together;
//! `before_commit` handlers run inside the transaction and can veto it; `after_commit`
//! handlers run after it and cannot undo it; `after_rollback` handlers run when it rolls back.

use std::sync::{Arc, Mutex};
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{ExpectedVersion, StoreError, UnitOfWorkError};
use tidings::testing::Recorder;
use tidings::{handler, Bus, Context, DomainEvent, Pending};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "uow.order_placed")]
struct OrderPlaced {
    order: u64,
    /// What the `before_commit` handler should do: "ok", "veto" or "panic".
    check: String,
}

#[derive(DomainEvent, Debug)]
#[event(name = "uow.stock_reserved")]
struct StockReserved {
    order: u64,
}

#[derive(Default)]
struct Journal(Mutex<Vec<String>>);

impl Journal {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("order {0} is refused")]
struct Refused(u64);

#[handler(phase = before_commit)]
fn reserve_stock(event: &OrderPlaced, journal: &Journal, ctx: &Context) -> Result<(), Refused> {
    journal.push(format!("before_commit {}", event.order));
    match event.check.as_str() {
        "veto" => return Err(Refused(event.order)),
        "panic" => panic!("the stock service is down"),
        _ => {}
    }
    let tx = ctx
        .get::<SqliteTransaction>()
        .expect("a unit of work gives its transaction");
    tx.execute(
        "INSERT INTO reservations (order_id) VALUES (?1)",
        [event.order as i64],
    )
    .expect("written in the unit of work's transaction");
    ctx.publish(StockReserved { order: event.order });
    Ok(())
}

#[handler(phase = after_commit)]
fn confirm(event: &OrderPlaced, journal: &Journal) -> Result<(), std::io::Error> {
    journal.push(format!("after_commit {}", event.order));
    if event.order == 13 {
        return Err(std::io::Error::other("the mail server is down"));
    }
    Ok(())
}

#[handler(phase = after_rollback)]
fn apologise(event: &OrderPlaced, journal: &Journal) {
    journal.push(format!("after_rollback {}", event.order));
}

#[handler]
fn on_placed_immediately(event: &OrderPlaced, journal: &Journal) {
    journal.push(format!("immediate {}", event.order));
}

#[handler]
fn on_reserved(event: &StockReserved, journal: &Journal) {
    journal.push(format!("reserved {}", event.order));
}

struct Fixture {
    store: SqliteStore,
    bus: Bus,
    journal: Arc<Journal>,
    recorder: Recorder,
}

fn fixture() -> Fixture {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .with_connection(|c| {
            c.execute_batch(
                "CREATE TABLE orders (id INTEGER PRIMARY KEY);
                 CREATE TABLE reservations (order_id INTEGER PRIMARY KEY);",
            )
        })
        .unwrap()
        .unwrap();
    let journal = Arc::new(Journal::default());
    let recorder = Recorder::new();
    let bus = Bus::builder()
        .provide_arc(journal.clone())
        .record(&recorder)
        .build()
        .unwrap();
    Fixture {
        store,
        bus,
        journal,
        recorder,
    }
}

fn place(
    f: &Fixture,
    order: u64,
    check: &str,
) -> Result<tidings::persistence::Committed<u64>, UnitOfWorkError<StoreError>> {
    f.store.unit_of_work(&f.bus, |unit| {
        unit.transaction()
            .execute("INSERT INTO orders (id) VALUES (?1)", [order as i64])?;
        let mut pending = Pending::new();
        pending.record(OrderPlaced {
            order,
            check: check.into(),
        });
        unit.record(
            format!("order-{order}"),
            ExpectedVersion::NoStream,
            &mut pending,
        );
        Ok(order)
    })
}

fn count(f: &Fixture, table: &str) -> i64 {
    f.store
        .with_connection(|c| {
            c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        })
        .unwrap()
        .unwrap()
}

#[test]
fn writes_and_events_commit_together_and_the_phases_run_in_order() {
    let f = fixture();
    let committed = place(&f, 1, "ok").expect("the unit of work commits");
    assert_eq!(*committed.value(), 1);
    assert_eq!(committed.appended()[0].stream_version, 1);
    assert!(committed.after_commit().is_ok());
    assert_eq!(
        f.journal.take(),
        ["before_commit 1", "after_commit 1", "reserved 1"],
        "before_commit inside, after_commit after, then what before_commit published; \
         recording never ran the immediate handler"
    );
    assert_eq!(count(&f, "orders"), 1, "the user's write committed");
    assert_eq!(
        count(&f, "reservations"),
        1,
        "the before_commit handler's write committed"
    );
    let stored = f.store.read_all_sync(0, 10).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].decode_as::<OrderPlaced>().unwrap().order, 1);
    assert_eq!(
        f.recorder.names(),
        ["uow.order_placed", "uow.stock_reserved"],
        "observers see the committed event once"
    );
}

#[test]
fn a_before_commit_failure_rolls_back_everything() {
    let f = fixture();
    let error = place(&f, 2, "veto").unwrap_err();
    let UnitOfWorkError::BeforeCommit {
        failures,
        after_rollback,
    } = &error
    else {
        panic!("expected a before-commit failure: {error}")
    };
    assert!(failures.failed("unit_of_work::reserve_stock"), "{failures}");
    assert!(after_rollback.is_none());
    assert!(error.to_string().contains("order 2 is refused"), "{error}");
    assert_eq!(f.journal.take(), ["before_commit 2", "after_rollback 2"]);
    assert_eq!(count(&f, "orders"), 0, "the user's write rolled back");
    assert!(
        f.store.read_all_sync(0, 10).unwrap().is_empty(),
        "no event stored"
    );
    assert!(f.recorder.is_empty(), "nothing was published");
}

#[test]
fn a_panicking_before_commit_handler_rolls_back_too() {
    let f = fixture();
    let error = place(&f, 3, "panic").unwrap_err();
    assert!(
        error.to_string().contains("the stock service is down"),
        "{error}"
    );
    assert_eq!(count(&f, "orders"), 0);
    assert_eq!(f.journal.take(), ["before_commit 3", "after_rollback 3"]);
}

#[test]
fn a_failing_work_rolls_back_and_runs_after_rollback_handlers_only() {
    let f = fixture();
    let error = f
        .store
        .unit_of_work(&f.bus, |unit| {
            unit.transaction()
                .execute("INSERT INTO orders (id) VALUES (4)", [])?;
            let mut pending = Pending::new();
            pending.record(OrderPlaced {
                order: 4,
                check: "ok".into(),
            });
            unit.record("order-4", ExpectedVersion::NoStream, &mut pending);
            Err::<(), _>(StoreError::Backend("the buyer is blocked".into()))
        })
        .unwrap_err();
    assert!(error.work_error().is_some());
    assert_eq!(f.journal.take(), ["after_rollback 4"]);
    assert_eq!(count(&f, "orders"), 0);
    assert!(f.store.read_all_sync(0, 10).unwrap().is_empty());
}

#[test]
fn an_after_commit_failure_is_reported_and_the_commit_stands() {
    let f = fixture();
    let committed = place(&f, 13, "ok").expect("the commit stands");
    let failures = committed.after_commit().unwrap_err();
    assert!(failures.failed("unit_of_work::confirm"), "{failures}");
    assert_eq!(count(&f, "orders"), 1);
    assert_eq!(f.store.read_all_sync(0, 10).unwrap().len(), 1);
}

#[test]
fn a_conflict_on_a_stream_rolls_back_the_users_writes() {
    let f = fixture();
    place(&f, 5, "ok").unwrap();
    f.journal.take();
    // The same stream again, expected not to exist: the store refuses.
    let error = f
        .store
        .unit_of_work(&f.bus, |unit| {
            unit.transaction()
                .execute("INSERT INTO orders (id) VALUES (6)", [])?;
            let mut pending = Pending::new();
            pending.record(OrderPlaced {
                order: 6,
                check: "ok".into(),
            });
            unit.record("order-5", ExpectedVersion::NoStream, &mut pending);
            Ok::<_, StoreError>(())
        })
        .unwrap_err();
    assert!(
        error.store_error().is_some_and(StoreError::is_conflict),
        "{error}"
    );
    assert_eq!(count(&f, "orders"), 1, "order 6 rolled back");
    assert_eq!(
        count(&f, "reservations"),
        1,
        "the handler's write for order 6 rolled back"
    );
    assert_eq!(f.journal.take(), ["before_commit 6", "after_rollback 6"]);
}

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
    assert!(
        inner
            .to_string()
            .contains("write through the unit of work's transaction"),
        "{inner}"
    );
}

#[test]
fn the_transaction_handle_refuses_statements_after_the_unit_of_work() {
    let f = fixture();
    let mut kept = None;
    f.store
        .unit_of_work(&f.bus, |unit| {
            kept = Some(unit.transaction().clone());
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let error = kept
        .unwrap()
        .execute("INSERT INTO orders (id) VALUES (9)", [])
        .unwrap_err();
    assert!(error.to_string().contains("has ended"), "{error}");
    assert_eq!(count(&f, "orders"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_of_work_runs_from_async_code_too() {
    let f = fixture();
    // The SQLite unit of work needs no runtime; inside one it is an ordinary blocking call.
    let committed = tokio::task::block_in_place(|| place(&f, 10, "ok"));
    assert_eq!(*committed.expect("commits inside a runtime").value(), 10);
    assert_eq!(f.store.read_all_sync(0, 10).unwrap().len(), 1);
}

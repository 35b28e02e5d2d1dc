//! The SQLite store in async code: every async call (the event store's, checkpoints, leases,
//! a unit of work, `execute`, and the inbox's delivery of due scheduled messages) runs on the
//! store's (or the inbox's) own thread, so an executor with one thread goes on with its other
//! tasks while SQLite waits on a busy database.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{Checkpoints, Leases};
use tidings::persistence::sqlite::{rusqlite, SqliteStore};
use tidings::persistence::{EventStore, Execute, ExpectedVersion, NewEvent};
use tidings::{Aggregate, AggregateEvent, Bus, DomainEvent, Envelope};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "sqlite_async.ticked")]
struct Ticked;

#[derive(AggregateEvent, Debug, Clone)]
enum ClockEvent {
    Ticked(Ticked),
}

#[derive(Default)]
struct Clock {
    ticks: u64,
}

impl Aggregate for Clock {
    type Event = ClockEvent;
    fn apply(&mut self, _: &ClockEvent) {
        self.ticks += 1;
    }
}

fn file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tidings-sqlite-async-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Sends `rounds` messages back and forth between two tasks: it finishes only if the runtime
/// runs them.
async fn ping_pong(rounds: usize) {
    let (ping, mut pinged) = tokio::sync::mpsc::channel::<usize>(1);
    let (pong, mut ponged) = tokio::sync::mpsc::channel::<usize>(1);
    let echo = tokio::spawn(async move {
        while let Some(n) = pinged.recv().await {
            pong.send(n).await.unwrap();
        }
    });
    for n in 0..rounds {
        ping.send(n).await.unwrap();
        assert_eq!(ponged.recv().await, Some(n));
    }
    drop(ping);
    echo.await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_runtime_with_one_thread_runs_on_while_a_unit_of_work_waits_on_a_busy_database() {
    let path = file("busy.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let bus = Bus::builder().build().unwrap();
    // Another connection holds the database's write lock.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let entered = Arc::new(AtomicBool::new(false));
    let command = {
        let (store, bus, entered) = (store.clone(), bus.clone(), entered.clone());
        tokio::spawn(async move {
            store
                .execute_async(&bus, "clock", Execute::default(), move |_: &Clock| {
                    entered.store(true, Ordering::SeqCst);
                    Ok::<_, std::convert::Infallible>(vec![Ticked.into()])
                })
                .await
        })
    };
    // The one thread of this runtime runs the command's task and these round trips; had the
    // unit of work waited on it, none would run until SQLite gave up.
    ping_pong(1_000).await;
    assert!(
        !entered.load(Ordering::SeqCst),
        "the unit of work is still waiting for the write lock"
    );
    blocker.execute_batch("COMMIT").unwrap();
    let committed = command
        .await
        .unwrap()
        .expect("it commits once the lock is free");
    assert_eq!(committed.value().state().ticks, 1);
    assert!(entered.load(Ordering::SeqCst));
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_runtime_with_one_thread_runs_on_while_due_messages_wait_on_a_busy_database() {
    let path = file("busy-due.db");
    let store = SqliteStore::open(&path).unwrap();
    let inbox = SqliteInbox::open(&path).unwrap();
    let bus = Arc::new(Bus::builder().build().unwrap());
    let due = chrono::Utc::now();
    store
        .unit_of_work(&*bus, |unit| unit.transaction().schedule_at(due, Ticked))
        .unwrap();
    // Another connection holds the database's write lock.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let delivery = {
        let bus = bus.clone();
        tokio::spawn(async move { inbox.deliver_due(&bus, due).await })
    };
    // Had the delivery waited for the write lock on this runtime's one thread, these round
    // trips would not run until SQLite gave up, and the delivery would fail.
    ping_pong(1_000).await;
    blocker.execute_batch("COMMIT").unwrap();
    let delivered = delivery
        .await
        .unwrap()
        .expect("it delivers once the lock is free");
    assert_eq!((delivered.delivered, delivered.failed), (1, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_calls_answer_as_the_synchronous_ones() {
    let store = SqliteStore::open(file("calls.db")).unwrap();
    let event = NewEvent::from_envelope(&Envelope::new(Ticked)).unwrap();
    let appended = store
        .append("s", ExpectedVersion::NoStream, &[event])
        .await
        .unwrap();
    assert_eq!(appended.stream_version, 1);
    assert_eq!(store.read_stream("s", 0, 10).await.unwrap().len(), 1);
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
    store.advance("projection", 1).await.unwrap();
    assert_eq!(store.checkpoint("projection").await.unwrap(), 1);
    assert!(store
        .acquire("relay", "me", std::time::Duration::from_secs(10))
        .await
        .unwrap());
    assert!(!store
        .acquire("relay", "you", std::time::Duration::from_secs(10))
        .await
        .unwrap());
    store.release("relay", "me").await.unwrap();
    let bus = Bus::builder().build().unwrap();
    let done = store
        .unit_of_work_async(&bus, |unit| unit.load::<Clock>("s"))
        .await
        .unwrap();
    assert_eq!(done.value().state().ticks, 1);
    // The connection comes back once the store's thread is done with it.
    let conn = store.into_connection();
    let count: i64 = conn
        .query_row("SELECT count(*) FROM tidings_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 1);
}

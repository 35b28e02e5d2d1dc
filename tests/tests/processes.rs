//! Scheduled messages and processes on SQLite: a message scheduled in a transaction is stored
//! with it, delivered once when due (by any of several inboxes on the file), cancellable, and
//! kept after its handlers fail; a process moves on the events and timeouts it lists, in the
//! delivery's transaction, and ends.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{Delivered, Inbox};
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::StoreError;
use tidings::{
    handler, AnyEnvelope, BoxError, Bus, Command, DomainEvent, Envelope, On, Process, ScheduleId,
    Step,
};
use tidings_tests::Scratch;

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.schedule_rang")]
struct Rang {
    n: u64,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.schedule_refused")]
struct Refused {
    n: u64,
}

/// Writes each `Rang` through the delivery's transaction: a duplicate fails on the key.
#[handler]
fn ring(event: &Rang, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute("INSERT INTO rung (n) VALUES (?1)", [event.n as i64])?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("refused {0}")]
struct No(u64);

#[derive(Default)]
struct Refusals(Mutex<u32>);

#[handler]
fn refuse(event: &Refused, refusals: &Refusals) -> Result<(), No> {
    let mut count = refusals.0.lock().unwrap();
    *count += 1;
    if *count < 2 {
        return Err(No(event.n));
    }
    Ok(())
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_900_000_000 + seconds, 0).unwrap()
}

struct Db {
    _dir: Scratch,
    store: SqliteStore,
    inbox: SqliteInbox,
    path: std::path::PathBuf,
}

fn db(label: &str) -> Db {
    let dir = Scratch::new(label);
    let path = dir.join("app.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .execute_batch("CREATE TABLE rung (n INTEGER PRIMARY KEY); CREATE TABLE shipped (order_id TEXT PRIMARY KEY); CREATE TABLE charged (order_id TEXT PRIMARY KEY)")
        .unwrap();
    let inbox = SqliteInbox::open(&path).unwrap();
    Db {
        _dir: dir,
        store,
        inbox,
        path,
    }
}

fn bus() -> Bus {
    process_bus().0
}

fn rung(db: &Db) -> Vec<i64> {
    db.inbox.with_connection(|conn| {
        let mut s = conn.prepare("SELECT n FROM rung ORDER BY n").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    })
}

fn waiting(db: &Db) -> i64 {
    db.inbox.with_connection(|conn| {
        conn.query_row("SELECT COUNT(*) FROM tidings_scheduled", [], |r| r.get(0))
            .unwrap()
    })
}

fn schedule(db: &Db, bus: &Bus, due: DateTime<Utc>, n: u64) -> ScheduleId {
    db.store
        .unit_of_work(bus, |unit| unit.transaction().schedule_at(due, Rang { n }))
        .unwrap()
        .into_value()
}

#[tokio::test]
async fn a_message_is_delivered_once_when_due_and_not_before() {
    let db = db("schedule-due");
    let bus = bus();
    schedule(&db, &bus, at(10), 1);
    schedule(&db, &bus, at(20), 2);
    assert_eq!(
        db.inbox.deliver_due(&bus, at(9)).await.unwrap().delivered,
        0
    );
    assert_eq!(rung(&db), Vec::<i64>::new());
    assert_eq!(
        db.inbox.deliver_due(&bus, at(10)).await.unwrap().delivered,
        1
    );
    assert_eq!(rung(&db), [1]);
    let later = db.inbox.deliver_due(&bus, at(60)).await.unwrap();
    assert_eq!((later.delivered, later.failed), (1, 0));
    assert_eq!(rung(&db), [1, 2]);
    assert_eq!(
        db.inbox.deliver_due(&bus, at(60)).await.unwrap().delivered,
        0
    );
    assert_eq!(waiting(&db), 0);
}

#[tokio::test]
async fn a_message_scheduled_by_work_that_rolled_back_is_never_delivered() {
    let db = db("schedule-rollback");
    let bus = bus();
    let failed = db.store.unit_of_work(&bus, |unit| {
        unit.transaction().schedule_at(at(1), Rang { n: 1 })?;
        Err::<(), _>(StoreError::TransactionEnded)
    });
    assert!(failed.is_err());
    assert_eq!(waiting(&db), 0);
    assert_eq!(
        db.inbox.deliver_due(&bus, at(5)).await.unwrap().delivered,
        0
    );
}

#[tokio::test]
async fn a_cancelled_message_is_not_delivered() {
    let db = db("schedule-cancel");
    let bus = bus();
    let id = schedule(&db, &bus, at(10), 1);
    schedule(&db, &bus, at(10), 2);
    let cancel = |id| {
        db.store
            .unit_of_work(&bus, |unit| unit.transaction().cancel_scheduled(id))
            .unwrap()
            .into_value()
    };
    assert!(cancel(id));
    assert!(!cancel(id), "a second cancel finds nothing");
    assert_eq!(
        db.inbox.deliver_due(&bus, at(10)).await.unwrap().delivered,
        1
    );
    assert_eq!(rung(&db), [2]);
}

#[tokio::test]
async fn a_message_whose_handler_fails_stays_and_is_delivered_after_its_backoff() {
    let db = db("schedule-retry");
    let bus = bus();
    db.store
        .unit_of_work(&bus, |unit| {
            unit.transaction().schedule_at(at(10), Refused { n: 3 })
        })
        .unwrap();
    let first = db.inbox.deliver_due(&bus, at(10)).await.unwrap();
    assert_eq!((first.delivered, first.failed), (0, 1));
    let (attempts, error): (i64, String) = db.inbox.with_connection(|conn| {
        conn.query_row(
            "SELECT attempts, last_error FROM tidings_scheduled",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    });
    assert_eq!(attempts, 1);
    assert!(error.contains("refused 3"), "{error}");
    assert_eq!(
        db.inbox.deliver_due(&bus, at(10)).await.unwrap().delivered,
        0,
        "backing off"
    );
    let second = db.inbox.deliver_due(&bus, at(12)).await.unwrap();
    assert_eq!((second.delivered, second.failed), (1, 0));
    assert_eq!(waiting(&db), 0);
}

#[test]
fn several_inboxes_on_one_file_deliver_each_message_once() {
    let db = db("schedule-competing");
    let bus = Arc::new(bus());
    for n in 0..300 {
        schedule(&db, &bus, at(n as i64 % 7), n);
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let inbox = SqliteInbox::open(&db.path).unwrap();
            let bus = bus.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let mut total = 0;
                    loop {
                        let done = inbox.deliver_due(&bus, at(100)).await.unwrap();
                        assert_eq!(done.failed, 0, "a duplicate would fail on the key");
                        total += done.delivered;
                        if done.delivered == 0 {
                            return total;
                        }
                    }
                })
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 300);
    assert_eq!(rung(&db), (0..300).collect::<Vec<i64>>());
}

// A process: an order waits out a grace period, then ships; a cancellation before the end of
// the grace period cancels the timeout and ends it.

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_order_placed")]
struct OrderPlaced {
    order: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_order_cancelled")]
struct OrderCancelled {
    order: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_grace_ended")]
struct GraceEnded {
    order: String,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_order_charged")]
struct OrderCharged {
    order: String,
}

#[derive(Command, Debug)]
#[command(name = "tidings_tests.process_ship")]
struct Ship {
    order: String,
}

#[derive(Default)]
struct Shipments(Mutex<Vec<String>>);

#[handler]
fn ship(command: Ship, shipments: &Shipments) {
    shipments.0.lock().unwrap().push(command.order);
}

#[derive(Process, Default, Debug, serde::Serialize, serde::Deserialize)]
#[process(
    name = "tidings_tests.fulfilment",
    store = sqlite,
    start(OrderPlaced),
    on(OrderCancelled),
    timeouts(GraceEnded)
)]
struct Fulfilment {
    grace: Option<ScheduleId>,
    steps: u32,
}

impl On<OrderPlaced> for Fulfilment {
    fn key(event: &OrderPlaced) -> String {
        event.order.clone()
    }
    fn on(&mut self, event: &Envelope<OrderPlaced>, step: &mut Step<'_>) -> Result<(), BoxError> {
        self.steps += 1;
        let order = event.order.clone();
        self.grace = Some(step.timeout_after(Duration::from_secs(60), GraceEnded { order }));
        Ok(())
    }
}

impl On<OrderCancelled> for Fulfilment {
    fn key(event: &OrderCancelled) -> String {
        event.order.clone()
    }
    fn on(&mut self, _: &Envelope<OrderCancelled>, step: &mut Step<'_>) -> Result<(), BoxError> {
        self.steps += 1;
        if let Some(grace) = self.grace.take() {
            step.cancel(grace);
        }
        step.end();
        Ok(())
    }
}

impl On<GraceEnded> for Fulfilment {
    fn key(event: &GraceEnded) -> String {
        event.order.clone()
    }
    fn on(&mut self, event: &Envelope<GraceEnded>, step: &mut Step<'_>) -> Result<(), BoxError> {
        self.steps += 1;
        step.send(Ship {
            order: event.order.clone(),
        });
        step.record(
            format!("order-{}", event.order),
            OrderCharged {
                order: event.order.clone(),
            },
        );
        step.end();
        Ok(())
    }
}

fn process_bus() -> (Bus, Arc<Shipments>) {
    let shipments = Arc::new(Shipments::default());
    let bus = Bus::builder()
        .provide(Refusals::default())
        .provide_arc(shipments.clone())
        .build()
        .unwrap();
    (bus, shipments)
}

fn instance(db: &Db, key: &str) -> Option<(String, bool, i64)> {
    db.inbox.with_connection(|conn| {
        conn.query_row(
            "SELECT state, ended, version FROM tidings_processes WHERE process = 'tidings_tests.fulfilment' AND key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok()
    })
}

fn incoming<E: DomainEvent>(event: E) -> AnyEnvelope {
    AnyEnvelope::from(Envelope::new(event))
}

#[tokio::test]
async fn a_process_waits_out_its_timeout_then_sends_and_records_and_ends() {
    let db = db("process-timeout");
    let (bus, shipments) = process_bus();
    let placed_json = incoming(OrderPlaced { order: "7".into() })
        .to_json()
        .unwrap()
        .to_string();
    let delivered = db
        .inbox
        .deliver(
            "ordering",
            AnyEnvelope::from_json(&placed_json).unwrap(),
            &bus,
        )
        .await
        .unwrap();
    assert_eq!(delivered, Delivered::Handled);
    let (state, ended, version) = instance(&db, "7").unwrap();
    assert!(!ended);
    assert_eq!(version, 1);
    assert!(state.contains("\"steps\":1"), "{state}");
    assert_eq!(waiting(&db), 1, "the timeout commits with the state");
    assert_eq!(
        db.inbox
            .deliver(
                "ordering",
                AnyEnvelope::from_json(&placed_json).unwrap(),
                &bus
            )
            .await
            .unwrap(),
        Delivered::AlreadyHandled,
        "a redelivery moves nothing"
    );
    assert_eq!(instance(&db, "7").unwrap().2, 1);

    let now = Utc::now();
    assert_eq!(db.inbox.deliver_due(&bus, now).await.unwrap().delivered, 0);
    let later = now + chrono::Duration::seconds(61);
    assert_eq!(
        db.inbox.deliver_due(&bus, later).await.unwrap().delivered,
        1
    );
    let (_, ended, version) = instance(&db, "7").unwrap();
    assert!(ended);
    assert_eq!(version, 2);
    assert_eq!(*shipments.0.lock().unwrap(), ["7"]);
    let outbox = db.store.read_stream_sync("order-7", 0, 10).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].decode_as::<OrderCharged>().unwrap().order, "7");
}

#[tokio::test]
async fn a_cancelled_process_cancels_its_timeout_and_ignores_what_comes_after() {
    let db = db("process-cancel");
    let (bus, shipments) = process_bus();
    db.inbox
        .deliver(
            "ordering",
            incoming(OrderPlaced { order: "8".into() }),
            &bus,
        )
        .await
        .unwrap();
    db.inbox
        .deliver(
            "ordering",
            incoming(OrderCancelled { order: "8".into() }),
            &bus,
        )
        .await
        .unwrap();
    assert_eq!(waiting(&db), 0, "the timeout was cancelled with the step");
    let (_, ended, version) = instance(&db, "8").unwrap();
    assert!(ended);
    assert_eq!(version, 2);
    // An event for the ended instance is ignored (and logged), its state untouched.
    db.inbox
        .deliver(
            "ordering",
            incoming(OrderPlaced { order: "8".into() }),
            &bus,
        )
        .await
        .unwrap();
    assert_eq!(instance(&db, "8").unwrap().2, 2);
    assert!(shipments.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_event_for_an_unknown_instance_is_ignored_as_declared() {
    let db = db("process-unknown");
    let (bus, _) = process_bus();
    let outcome = db
        .inbox
        .deliver(
            "ordering",
            incoming(OrderCancelled { order: "9".into() }),
            &bus,
        )
        .await
        .unwrap();
    assert_eq!(outcome, Delivered::Handled);
    assert!(instance(&db, "9").is_none());
}

#[test]
fn a_process_step_published_without_a_transaction_is_reported_not_dropped() {
    let (bus, _) = process_bus();
    let error = bus
        .publish_sync(OrderPlaced { order: "1".into() })
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("process tidings_tests.fulfilment"), "{text}");
}

#[test]
fn routes_show_each_step_of_the_process_and_its_timeouts() {
    let (bus, _) = process_bus();
    let routes = bus.routes().to_string();
    for line in [
        "process tidings_tests.fulfilment: starts on OrderPlaced",
        "process tidings_tests.fulfilment: continues on OrderCancelled",
        "process tidings_tests.fulfilment: timeout on GraceEnded",
    ] {
        assert!(routes.contains(line), "{line} in\n{routes}");
    }
}

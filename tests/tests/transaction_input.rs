//! The transaction as a typed handler input: a `before_commit` handler (or a handler of an
//! event an inbox delivers) takes `tx: &SqliteTransaction`; `build()` refuses it elsewhere; an
//! event published on the bus without one fails that handler by name; `after_commit`
//! handlers run once the store is free again. And no handler reaches the bus around the
//! lineage: republishing from a handler meets the depth limit.

use std::sync::{Arc, Mutex};
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{ExpectedVersion, StoreError};
use tidings::{handler, Bus, Context, DomainEvent, FailureReason, Pending, Problem};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "lending.book_lent")]
struct BookLent {
    book: u64,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "lending.book_returned")]
struct BookReturned {
    book: u64,
}

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "lending.echo")]
struct Echo {
    n: u64,
}

/// What the handlers saw.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Seen {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[handler(phase = before_commit)]
fn note_loan(event: &BookLent, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute("INSERT INTO loans (book) VALUES (?1)", [event.book as i64])?;
    Ok(())
}

/// Runs after the commit and reads the store it was committed to: the store is free by then.
#[handler(phase = after_commit)]
fn count_after_commit(_: &BookLent, store: &SqliteStore, seen: &Seen) -> Result<(), StoreError> {
    let stored = store.read_all_sync(0, 100)?.len();
    let loans: i64 = store.with_connection(|c| {
        Ok::<_, StoreError>(c.query_row("SELECT count(*) FROM loans", [], |r| r.get(0))?)
    })?;
    seen.push(format!(
        "after_commit sees {stored} event(s), {loans} loan(s)"
    ));
    Ok(())
}

/// Declared `immediate`: lent a transaction only by an inbox delivery.
#[handler]
fn shelve(event: &BookReturned, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute("INSERT INTO loans (book) VALUES (?1)", [event.book as i64])?;
    Ok(())
}

/// Wrongly asks for the transaction after the commit: every bus here leaves it out, but the
/// one that checks `build()` refuses it.
#[handler(phase = after_commit)]
fn misplaced(_: &BookReturned, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute("SELECT 1", [])?;
    Ok(())
}

/// Publishes its own event again: a loop the depth limit turns into an error.
#[handler]
fn echo(event: &Echo, ctx: &Context) {
    ctx.publish(Echo { n: event.n + 1 });
}

fn store() -> Arc<SqliteStore> {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .execute_batch("CREATE TABLE loans (book INTEGER NOT NULL)")
        .unwrap();
    Arc::new(store)
}

fn bus(store: &Arc<SqliteStore>, seen: &Arc<Seen>) -> Bus {
    Bus::builder()
        .provide_arc(store.clone())
        .provide_arc(seen.clone())
        .without("transaction_input::misplaced")
        .build()
        .unwrap()
}

#[test]
fn a_before_commit_handler_writes_through_the_transaction_it_is_lent() {
    let (store, seen) = (store(), Arc::new(Seen::default()));
    let bus = bus(&store, &seen);
    store
        .unit_of_work(&bus, |unit| {
            let mut pending = Pending::new();
            pending.record(BookLent { book: 7 });
            unit.record("book-7", ExpectedVersion::NoStream, &mut pending);
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_eq!(
        seen.take(),
        ["after_commit sees 1 event(s), 1 loan(s)"],
        "the before_commit write committed, and the after_commit handler used the store"
    );
}

#[test]
fn build_refuses_a_handler_that_takes_the_transaction_after_the_commit() {
    let (store, seen) = (store(), Arc::new(Seen::default()));
    let error = Bus::builder()
        .provide_arc(store)
        .provide_arc(seen)
        .build()
        .unwrap_err();
    let refused: Vec<_> = error
        .problems()
        .iter()
        .filter(|p| matches!(p, Problem::NotLent { .. }))
        .collect();
    assert_eq!(refused.len(), 1, "{error}");
    let Problem::NotLent {
        handler, location, ..
    } = refused[0]
    else {
        unreachable!()
    };
    assert_eq!(*handler, "transaction_input::misplaced");
    assert!(
        location.to_string().contains("transaction_input.rs"),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("takes `tx: &tidings::persistence::sqlite::SqliteTransaction`")
            && text.contains("before_commit"),
        "{text}"
    );
}

#[test]
fn a_handler_that_needs_a_transaction_fails_by_name_when_the_event_is_only_published() {
    let (store, seen) = (store(), Arc::new(Seen::default()));
    let bus = bus(&store, &seen);
    let error = bus.publish_sync(BookReturned { book: 3 }).unwrap_err();
    let [failure] = error.failures() else {
        panic!("one failure: {error}")
    };
    assert_eq!(failure.handler(), "transaction_input::shelve");
    assert!(matches!(failure.reason(), FailureReason::NotLent { .. }));
    assert!(
        error.to_string().contains("deliver it through an inbox"),
        "{error}"
    );
}

#[test]
fn republishing_from_a_handler_meets_the_depth_limit() {
    let (store, seen) = (store(), Arc::new(Seen::default()));
    let bus = Bus::builder()
        .provide_arc(store)
        .provide_arc(seen)
        .without("transaction_input::misplaced")
        .max_depth(5)
        .build()
        .unwrap();
    let error = bus.publish_sync(Echo { n: 0 }).unwrap_err();
    assert!(
        error
            .failures()
            .iter()
            .any(|f| matches!(f.reason(), FailureReason::DepthExceeded { limit: 5, .. })),
        "{error}"
    );
}

/// Records another of itself from its `before_commit` handler: a loop of recorded events.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "lending.reminder_sent")]
struct ReminderSent {
    round: u64,
}

#[handler(phase = before_commit)]
fn remind_again(event: &ReminderSent, tx: &SqliteTransaction) {
    tx.record(
        "reminders",
        ReminderSent {
            round: event.round + 1,
        },
    );
}

#[test]
fn before_commit_handlers_recording_events_in_a_loop_roll_back_with_a_typed_error() {
    let (store, seen) = (store(), Arc::new(Seen::default()));
    let bus = bus(&store, &seen);
    let error = store
        .unit_of_work(&bus, |unit| {
            let mut pending = Pending::new();
            pending.record(ReminderSent { round: 0 });
            unit.record("reminders", ExpectedVersion::NoStream, &mut pending);
            Ok::<_, StoreError>(())
        })
        .unwrap_err();
    assert!(
        matches!(
            error,
            tidings::persistence::UnitOfWorkError::RecordLoop { rounds: 32, .. }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("in a loop"), "{error}");
    assert!(
        store.read_all_sync(0, 100).unwrap().is_empty(),
        "nothing was stored"
    );
}

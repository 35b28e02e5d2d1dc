//! The unit of work's behaviour on every backend: the events, the phases' handlers that do
//! not touch the transaction, and the scenarios, written once. Each backend's test binary
//! includes this file, registers its own `before_commit` handler (which writes through its
//! transaction after [`before_commit`]), implements [`Backend`], and expands [`scenarios!`].

#![allow(dead_code, unreachable_pub, async_fn_in_trait)]

use std::sync::{Arc, Mutex};
use tidings::persistence::{Committed, ExpectedVersion, StoreError, UnitOfWork, UnitOfWorkError};
use tidings::testing::Recorder;
use tidings::{handler, Bus, Context, DomainEvent, Pending};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "uow.order_placed")]
pub struct OrderPlaced {
    pub order: u64,
    /// What the `before_commit` handler should do: "ok", "veto" or "panic".
    pub check: String,
}

#[derive(DomainEvent, Debug)]
#[event(name = "uow.stock_reserved")]
pub struct StockReserved {
    pub order: u64,
}

/// What a backend's `before_commit` handler records on the transaction when the order's check
/// starts with "record": an integration event for another stream.
#[derive(DomainEvent, Debug)]
#[event(name = "uow.order_accepted", integration)]
pub struct OrderAccepted {
    pub order: u64,
}

/// The stream [`OrderAccepted`] is recorded on.
pub fn accepted_stream(order: u64) -> String {
    format!("accepted-{order}")
}

#[derive(Default)]
pub struct Journal(Mutex<Vec<String>>);

impl Journal {
    pub fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("order {0} is refused")]
    Order(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What every backend's `before_commit` handler does before it writes the reservation: note
/// the call, veto or panic when the event says so, and publish `StockReserved` (held until
/// the commit).
pub fn before_commit(event: &OrderPlaced, journal: &Journal, ctx: &Context) -> Result<(), Refused> {
    journal.push(format!("before_commit {}", event.order));
    match event.check.as_str() {
        "veto" | "record-veto" => return Err(Refused::Order(event.order)),
        "panic" => panic!("the stock service is down"),
        _ => {}
    }
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

#[handler(phase = before_commit)]
fn check_acceptance(event: &OrderAccepted, journal: &Journal) {
    journal.push(format!("before_commit accepted {}", event.order));
}

#[handler(phase = after_commit)]
fn announce_acceptance(event: &OrderAccepted, journal: &Journal) {
    journal.push(format!("after_commit accepted {}", event.order));
}

#[handler]
fn on_reserved(event: &StockReserved, journal: &Journal) {
    journal.push(format!("reserved {}", event.order));
}

/// The rest of [`Backend::run`]'s work once the order is inserted: records the event, then
/// fails or returns the order.
pub fn record<Tx>(
    unit: &mut UnitOfWork<Tx>,
    order: u64,
    check: &str,
    stream: &str,
    fail: bool,
) -> Result<u64, StoreError> {
    let mut pending = Pending::new();
    pending.record(OrderPlaced {
        order,
        check: check.into(),
    });
    unit.record(stream, ExpectedVersion::NoStream, &mut pending);
    if fail {
        return Err(StoreError::Backend("the buyer is blocked".into()));
    }
    Ok(order)
}

/// A store with the tables `orders (id)` and `reservations (order_id)`.
pub trait Backend {
    /// A unit of work that inserts `order` into `orders` and records `OrderPlaced { order,
    /// check }` on `stream` (expected not to exist); then the work fails when `fail` says so,
    /// and returns `order` otherwise.
    async fn run(
        &self,
        bus: &Bus,
        order: u64,
        check: &str,
        stream: &str,
        fail: bool,
    ) -> Result<Committed<u64>, UnitOfWorkError<StoreError>>;

    /// The number of rows in `table`.
    async fn count(&self, table: &str) -> i64;

    /// The number of events stored.
    async fn stored(&self) -> usize;
}

pub struct Fixture<B> {
    pub store: B,
    pub bus: Bus,
    pub journal: Arc<Journal>,
    pub recorder: Recorder,
}

impl<B: Backend> Fixture<B> {
    pub fn new(store: B) -> Fixture<B> {
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

    pub async fn place(
        &self,
        order: u64,
        check: &str,
    ) -> Result<Committed<u64>, UnitOfWorkError<StoreError>> {
        let stream = format!("order-{order}");
        self.store
            .run(&self.bus, order, check, &stream, false)
            .await
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.store.count(table).await
    }
}

fn failed(failures: &tidings::PublishError, handler: &str) -> bool {
    failures
        .failures()
        .iter()
        .any(|f| f.handler().rsplit("::").next() == Some(handler))
}

pub async fn writes_and_events_commit_together_and_the_phases_run_in_order<B: Backend>(
    f: &Fixture<B>,
) {
    let committed = f.place(1, "ok").await.expect("the unit of work commits");
    assert_eq!(*committed.value(), 1);
    assert_eq!(committed.appended()[0].stream_version, 1);
    assert!(committed.after_commit().is_ok());
    assert_eq!(
        f.journal.take(),
        ["before_commit 1", "after_commit 1", "reserved 1"],
        "before_commit inside, after_commit after, then what before_commit published; \
         recording never ran the immediate handler"
    );
    assert_eq!(f.count("orders").await, 1, "the user's write committed");
    assert_eq!(
        f.count("reservations").await,
        1,
        "the before_commit handler's write committed"
    );
    assert_eq!(f.store.stored().await, 1);
    assert_eq!(
        f.recorder.names(),
        ["uow.order_placed", "uow.stock_reserved"],
        "observers see the committed event once"
    );
}

pub async fn a_before_commit_failure_rolls_back_everything<B: Backend>(f: &Fixture<B>) {
    let error = f.place(2, "veto").await.unwrap_err();
    let UnitOfWorkError::BeforeCommit {
        failures,
        after_rollback,
    } = &error
    else {
        panic!("expected a before-commit failure: {error}")
    };
    assert!(failed(failures, "reserve_stock"), "{failures}");
    assert!(after_rollback.is_none());
    assert!(error.to_string().contains("order 2 is refused"), "{error}");
    assert_eq!(f.journal.take(), ["before_commit 2", "after_rollback 2"]);
    assert_eq!(f.count("orders").await, 0, "the user's write rolled back");
    assert_eq!(f.store.stored().await, 0, "no event stored");
    assert!(f.recorder.is_empty(), "nothing was published");
}

pub async fn a_panicking_before_commit_handler_rolls_back_too<B: Backend>(f: &Fixture<B>) {
    let error = f.place(3, "panic").await.unwrap_err();
    assert!(
        error.to_string().contains("the stock service is down"),
        "{error}"
    );
    assert_eq!(f.count("orders").await, 0);
    assert_eq!(f.journal.take(), ["before_commit 3", "after_rollback 3"]);
}

pub async fn a_failing_work_rolls_back_and_runs_after_rollback_handlers_only<B: Backend>(
    f: &Fixture<B>,
) {
    let error = f
        .store
        .run(&f.bus, 4, "ok", "order-4", true)
        .await
        .unwrap_err();
    assert!(error.work_error().is_some(), "{error}");
    assert_eq!(f.journal.take(), ["after_rollback 4"]);
    assert_eq!(f.count("orders").await, 0);
    assert_eq!(f.store.stored().await, 0);
}

pub async fn an_after_commit_failure_is_reported_and_the_commit_stands<B: Backend>(f: &Fixture<B>) {
    let committed = f.place(13, "ok").await.expect("the commit stands");
    let failures = committed.after_commit().unwrap_err();
    assert!(failed(failures, "confirm"), "{failures}");
    assert_eq!(f.count("orders").await, 1);
    assert_eq!(f.store.stored().await, 1);
}

pub async fn a_conflict_on_a_stream_rolls_back_the_users_writes<B: Backend>(f: &Fixture<B>) {
    f.place(5, "ok").await.unwrap();
    f.journal.take();
    // The same stream again, expected not to exist: the store refuses.
    let error = f
        .store
        .run(&f.bus, 6, "ok", "order-5", false)
        .await
        .unwrap_err();
    assert!(
        error.store_error().is_some_and(StoreError::is_conflict),
        "{error}"
    );
    assert_eq!(f.count("orders").await, 1, "order 6 rolled back");
    assert_eq!(
        f.count("reservations").await,
        1,
        "the handler's write for order 6 rolled back"
    );
    assert_eq!(f.journal.take(), ["before_commit 6", "after_rollback 6"]);
}

pub async fn a_vetoing_rules_typed_error_is_one_call_away<B: Backend>(f: &Fixture<B>) {
    let error = f.place(21, "veto").await.unwrap_err();
    assert!(
        matches!(error.vetoed_by::<Refused>(), Some(Refused::Order(21))),
        "{error}"
    );
    assert!(error.vetoed_by::<std::io::Error>().is_none());
    assert!(!error.is_conflict());
}

pub async fn an_event_recorded_by_a_before_commit_handler_commits_with_the_work<B: Backend>(
    f: &Fixture<B>,
) {
    let committed = f.place(22, "record").await.expect("commits");
    assert_eq!(
        committed.appended().len(),
        2,
        "the work's stream and the recorded one"
    );
    assert_eq!(
        f.store.stored().await,
        2,
        "both events stored in the one transaction"
    );
    assert_eq!(
        f.journal.take(),
        [
            "before_commit 22",
            "before_commit accepted 22",
            "after_commit 22",
            "after_commit accepted 22",
            "reserved 22"
        ],
        "the recorded event's phases run as the work's own"
    );
    let error = f.place(23, "record-veto").await.unwrap_err();
    assert!(error.vetoed_by::<Refused>().is_some(), "{error}");
    assert_eq!(
        f.store.stored().await,
        2,
        "the recorded event rolled back with the rest"
    );
}

/// The scenarios above as tests, each on a fresh fixture from `$fixture` (an async
/// expression).
#[macro_export]
macro_rules! scenarios {
    ($fixture:expr) => {
        $crate::scenarios!(@each $fixture;
            writes_and_events_commit_together_and_the_phases_run_in_order,
            a_before_commit_failure_rolls_back_everything,
            a_panicking_before_commit_handler_rolls_back_too,
            a_failing_work_rolls_back_and_runs_after_rollback_handlers_only,
            an_after_commit_failure_is_reported_and_the_commit_stands,
            a_conflict_on_a_stream_rolls_back_the_users_writes,
            a_vetoing_rules_typed_error_is_one_call_away,
            an_event_recorded_by_a_before_commit_handler_commits_with_the_work
        );
    };
    (@each $fixture:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                scenarios::$name(&$fixture).await;
            }
        )*
    };
}

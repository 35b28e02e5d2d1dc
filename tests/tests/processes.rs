//! Scheduled messages and processes on SQLite: the scenarios every store runs
//! (`support/processes.rs`), with a handler writing through the delivery's
//! `SqliteTransaction`.

#[path = "support/processes.rs"]
#[macro_use]
mod scenarios;

use chrono::{DateTime, Utc};
use scenarios::{
    Backend, Deliverer, Fixture, GraceEnded, OrderCancelled, OrderCharged, OrderPlaced, Rang, Ship,
};
use std::future::Future;
use std::path::PathBuf;
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::broadcast::{Delivered, Inbox};
use tidings::persistence::schedule::DueDelivery;
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::{StoreError, StoredEvent};
use tidings::{handler, AnyEnvelope, Bus, Command, DomainEvent, ScheduleId};
use tidings_tests::Scratch;

fulfilment!(sqlite);

/// Writes each `Rang` through the delivery's transaction: a duplicate fails on the key.
#[handler]
fn ring(event: &Rang, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute("INSERT INTO rung (n) VALUES (?1)", [event.n as i64])?;
    Ok(())
}

struct Db {
    _dir: Scratch,
    store: SqliteStore,
    inbox: SqliteInbox,
    path: PathBuf,
}

impl Deliverer for SqliteInbox {
    async fn deliver_due(&self, bus: &Bus, now: DateTime<Utc>) -> DueDelivery {
        SqliteInbox::deliver_due(self, bus, now).await.unwrap()
    }

    fn run_due_until(
        &self,
        bus: &Bus,
        poll: std::time::Duration,
        stop: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = ()> + Send {
        SqliteInbox::run_due_until(self, bus, poll, stop)
    }
}

impl Backend for Db {
    type Other = SqliteInbox;

    fn inbox(&self) -> &SqliteInbox {
        &self.inbox
    }

    async fn schedule<E: DomainEvent>(&self, bus: &Bus, at: DateTime<Utc>, event: E) -> ScheduleId {
        self.store
            .unit_of_work(bus, |unit| unit.transaction().schedule_at(at, event))
            .unwrap()
            .into_value()
    }

    async fn schedule_then_fail<E: DomainEvent>(
        &self,
        bus: &Bus,
        at: DateTime<Utc>,
        event: E,
    ) -> bool {
        self.store
            .unit_of_work(bus, |unit| {
                unit.transaction().schedule_at(at, event)?;
                Err::<(), _>(StoreError::TransactionEnded)
            })
            .is_err()
    }

    async fn send_at<C: Command>(&self, bus: &Bus, at: DateTime<Utc>, command: C) -> ScheduleId {
        self.store
            .unit_of_work(bus, |unit| unit.transaction().send_at(at, command))
            .unwrap()
            .into_value()
    }

    async fn cancel(&self, bus: &Bus, id: ScheduleId) -> bool {
        self.store
            .unit_of_work(bus, |unit| unit.transaction().cancel_scheduled(id))
            .unwrap()
            .into_value()
    }

    async fn deliver(&self, bus: &Bus, envelope: AnyEnvelope) -> Delivered {
        self.inbox.deliver("ordering", envelope, bus).await.unwrap()
    }

    async fn rung(&self) -> Vec<i64> {
        self.inbox.with_connection(|conn| {
            let mut s = conn.prepare("SELECT n FROM rung ORDER BY n").unwrap();
            s.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        })
    }

    async fn waiting(&self) -> i64 {
        self.inbox.with_connection(|conn| {
            conn.query_row("SELECT COUNT(*) FROM tidings_scheduled", [], |r| r.get(0))
                .unwrap()
        })
    }

    async fn failure(&self) -> (i64, String) {
        self.inbox.with_connection(|conn| {
            conn.query_row(
                "SELECT attempts, last_error FROM tidings_scheduled",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        })
    }

    async fn instance(&self, key: &str) -> Option<(String, bool, i64)> {
        self.inbox.with_connection(|conn| {
            conn.query_row(
                "SELECT state, ended, version FROM tidings_processes
                 WHERE process = 'tidings_tests.fulfilment' AND key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ok()
        })
    }

    async fn stream(&self, stream: &str) -> Vec<StoredEvent> {
        self.store.read_stream_sync(stream, 0, 100).unwrap()
    }

    fn other(&self) -> impl Future<Output = SqliteInbox> + Send + 'static {
        let path = self.path.clone();
        async move { SqliteInbox::open(path).unwrap() }
    }
}

fn fixture() -> Fixture<Db> {
    let dir = Scratch::new("processes");
    let path = dir.join("app.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .execute_batch("CREATE TABLE rung (n INTEGER PRIMARY KEY)")
        .unwrap();
    let inbox = SqliteInbox::open(&path).unwrap();
    Fixture::new(Db {
        _dir: dir,
        store,
        inbox,
        path,
    })
}

scenarios!(fixture());

// A process that schedules a command: an issued invoice is reminded of a week later. Tested
// given/when/then, with no store.

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "tidings_tests.process_invoice_issued")]
pub struct InvoiceIssued {
    pub invoice: u64,
}

#[derive(tidings::Process, Default, Debug, serde::Serialize, serde::Deserialize)]
#[process(name = "tidings_tests.dunning", store = sqlite)]
#[process(start(InvoiceIssued))]
struct Dunning {
    reminder: Option<ScheduleId>,
}

impl tidings::On<InvoiceIssued> for Dunning {
    fn key(event: &InvoiceIssued) -> String {
        event.invoice.to_string()
    }
    fn on(
        &mut self,
        event: &tidings::Envelope<InvoiceIssued>,
        step: &mut tidings::Step<'_>,
    ) -> Result<(), tidings::BoxError> {
        let week = std::time::Duration::from_secs(7 * 24 * 3600);
        self.reminder = Some(step.send_after(week, scenarios::Remind { n: event.invoice }));
        Ok(())
    }
}

#[test]
fn a_process_schedules_a_command_for_later_given_when_then() {
    let now = scenarios::at(0);
    let then = tidings::testing::given_process(Dunning::default())
        .when_at(now, InvoiceIssued { invoice: 12 });
    let scheduled = then.scheduled::<scenarios::Remind>();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].0, now + chrono::Duration::days(7));
    assert_eq!(scheduled[0].1.n, 12);
    assert!(then.state().reminder.is_some());
    assert!(
        !then.has_sent::<scenarios::Remind>(),
        "scheduled, not sent now"
    );
    assert!(then.timeouts::<InvoiceIssued>().is_empty());
}

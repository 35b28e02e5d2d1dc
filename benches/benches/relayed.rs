//! What the relay benchmarks (`relay.rs`, `relay_nats.rs`) share: the integration event they
//! relay, and a store that holds `EVENTS` of them.

use std::path::Path;
use std::sync::Arc;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, NewEvent, StoredEvent};
use tidings::{DomainEvent, Envelope};

#[derive(DomainEvent, Debug, Clone)]
#[event(name = "bench.order_paid", integration)]
pub(crate) struct OrderPaid {
    pub(crate) order_id: u64,
    pub(crate) cents: u64,
    pub(crate) currency: String,
}

/// Events relayed per round.
pub(crate) const EVENTS: u64 = 5_000;
/// Events per batch, for the relay and the hand-written publisher alike.
pub(crate) const BATCH: usize = 500;

/// Order `order_id`'s payment, as the store takes it.
pub(crate) fn event(order_id: u64) -> NewEvent {
    NewEvent::from_envelope(&Envelope::new(OrderPaid {
        order_id,
        cents: 1_000 + order_id % 977,
        currency: "EUR".into(),
    }))
    .unwrap()
}

/// The median of `values`.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A SQLite store in `dir` holding `EVENTS` events, appended 100 at a time, and the events as
/// it stored them.
pub(crate) fn filled_store(dir: &Path) -> (Arc<SqliteStore>, Vec<StoredEvent>) {
    std::fs::create_dir_all(dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("events.db")).unwrap());
    for chunk in (1..=EVENTS).collect::<Vec<_>>().chunks(100) {
        let events: Vec<_> = chunk.iter().map(|&n| event(n)).collect();
        store
            .append_sync("orders", ExpectedVersion::Any, &events)
            .unwrap();
    }
    let stored = store.read_all_sync(0, EVENTS as usize).unwrap();
    (store, stored)
}

//! The ordering service: its own SQLite file holds its orders and its event store, which is
//! the outbox. Paying an order commits the row and `OrderPaid` in one unit of work; the relay
//! publishes what the store holds to RabbitMQ, after the commit, with publisher confirms.

use crate::contract::OrderPaid;
use std::path::Path;
use std::sync::Arc;
use tidings::broadcast::amqp::Relay;
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, StoreError};
use tidings::{handler, Bus, Pending};

/// The exchange ordering publishes its integration events to.
pub(crate) const EXCHANGE: &str = "tidings.examples.ordering";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, amount_cents INTEGER NOT NULL, status TEXT NOT NULL)";

pub(crate) struct Ordering {
    store: Arc<SqliteStore>,
    bus: Bus,
}

impl Ordering {
    /// Opens the service's database (created on first use).
    pub(crate) fn open(path: &Path) -> Result<Ordering, Box<dyn std::error::Error>> {
        let store = SqliteStore::open(path)?;
        store.execute_batch(SCHEMA)?;
        let bus = Bus::builder()
            .without("shipping.record_shipment")
            .require_handler("ordering.payment_committed")
            .build()?;
        Ok(Ordering {
            store: Arc::new(store),
            bus,
        })
    }

    /// Pays `order`: its row and its `OrderPaid` event commit together, or neither does.
    pub(crate) fn pay(
        &self,
        order: &str,
        amount_cents: u64,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let committed = self.store.unit_of_work(&self.bus, |unit| {
            unit.transaction().execute(
                "INSERT INTO orders (id, amount_cents, status) VALUES (?1, ?2, 'paid')",
                (order, amount_cents as i64),
            )?;
            let mut pending = Pending::new();
            pending.record(OrderPaid {
                order: order.to_owned(),
                amount_cents,
            });
            unit.record(
                format!("order-{order}"),
                ExpectedVersion::NoStream,
                &mut pending,
            );
            Ok::<_, StoreError>(())
        });
        let committed = committed.map_err(|error| format!("paying order {order}: {error:?}"))?;
        if let Err(failures) = committed.after_commit() {
            eprintln!("ordering: after the commit, some handlers failed: {failures}");
        }
        Ok(())
    }

    /// The relay of this service's outbox to `uri`.
    pub(crate) fn relay(&self, uri: &str) -> Relay<SqliteStore> {
        Relay::new(self.store.clone(), uri, EXCHANGE)
    }
}

#[handler(name = "ordering.payment_committed", phase = after_commit)]
fn payment_committed(event: &OrderPaid) {
    println!(
        "ordering: order {} paid ({} cents), committed with OrderPaid in the outbox",
        event.order, event.amount_cents
    );
}

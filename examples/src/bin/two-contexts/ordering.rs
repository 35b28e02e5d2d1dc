//! The ordering service: its own SQLite file holds its orders and its event store, which is
//! the outbox. Paying an order is one call (`store.execute`): the `Order` aggregate decides,
//! and `OrderPaid` and the order's row (written by a `before_commit` handler) commit together;
//! the relay publishes what the store holds to RabbitMQ, after the commit, with publisher
//! confirms.

use crate::contract::OrderPaid;
use std::path::Path;
use std::sync::Arc;
use tidings::broadcast::amqp::Relay;
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::StoreError;
use tidings::{handler, Aggregate, AggregateEvent, Bus};

/// The exchange ordering publishes its integration events to.
pub(crate) const EXCHANGE: &str = "tidings.examples.ordering";
/// The JetStream stream ordering's relay publishes to (a stream's name has no dots).
#[cfg(feature = "nats")]
pub(crate) const STREAM: &str = "tidings-examples-ordering";

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
            .require_handler("ordering.record_payment")
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
        let committed = self
            .store
            .execute(&self.bus, &format!("order-{order}"), |o: &Order| {
                o.pay(order, amount_cents)
            })
            .map_err(|error| format!("paying order {order}: {error}"))?;
        if let Err(failures) = committed.after_commit() {
            eprintln!("ordering: after the commit, some handlers failed: {failures}");
        }
        Ok(())
    }

    /// The relay of this service's outbox to `uri`.
    pub(crate) fn relay(&self, uri: &str) -> Relay<SqliteStore> {
        Relay::new(self.store.clone(), uri, EXCHANGE)
    }

    /// The relay of this service's outbox to the JetStream server at `url`.
    #[cfg(feature = "nats")]
    pub(crate) fn relay_nats(&self, url: &str) -> tidings::broadcast::nats::Relay<SqliteStore> {
        tidings::broadcast::nats::Relay::new(self.store.clone(), url, STREAM)
    }
}

/// An order's events.
#[derive(AggregateEvent, Debug, Clone)]
pub(crate) enum OrderEvent {
    Paid(OrderPaid),
}

/// The aggregate: an order is paid once.
#[derive(Default)]
pub(crate) struct Order {
    paid: bool,
}

impl Aggregate for Order {
    type Event = OrderEvent;

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Paid(_) => self.paid = true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the order is paid already")]
pub(crate) struct AlreadyPaid;

impl Order {
    fn pay(&self, order: &str, amount_cents: u64) -> Result<Vec<OrderEvent>, AlreadyPaid> {
        if self.paid {
            return Err(AlreadyPaid);
        }
        Ok(vec![OrderPaid {
            order: order.to_owned(),
            amount_cents,
        }
        .into()])
    }
}

/// Inside the transaction: the service's own table, written with the event.
#[handler(name = "ordering.record_payment", phase = before_commit)]
fn record_payment(event: &OrderPaid, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO orders (id, amount_cents, status) VALUES (?1, ?2, 'paid')",
        (&event.order, event.amount_cents as i64),
    )?;
    Ok(())
}

#[handler(name = "ordering.payment_committed", phase = after_commit)]
fn payment_committed(event: &OrderPaid) {
    println!(
        "ordering: order {} paid ({} cents), committed with OrderPaid in the outbox",
        event.order, event.amount_cents
    );
}

//! The shipping service: its own SQLite file holds its shipments and its inbox. It consumes
//! ordering's integration events from its own queue; the handler records a shipment in the
//! inbox's transaction, so a message delivered twice ships once.

use crate::contract::OrderPaid;
use std::path::Path;
use tidings::broadcast::amqp::{Consumer, Topology};
use tidings::broadcast::sqlite::SqliteInbox;
use tidings::persistence::sqlite::rusqlite::{self, OptionalExtension};
use tidings::persistence::sqlite::SqliteTransaction;
use tidings::persistence::StoreError;
use tidings::{handler, Bus};

/// The queue shipping reads, bound to ordering's exchange.
pub(crate) const QUEUE: &str = "tidings.examples.shipping";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS shipments (
    order_id TEXT PRIMARY KEY, amount_cents INTEGER NOT NULL)";

pub(crate) struct Shipping {
    pub(crate) inbox: SqliteInbox,
    pub(crate) bus: Bus,
}

impl Shipping {
    /// Opens the service's database (created on first use).
    pub(crate) fn open(path: &Path) -> Result<Shipping, Box<dyn std::error::Error>> {
        let inbox = SqliteInbox::open(path)?;
        inbox.with_connection(|conn| conn.execute_batch(SCHEMA))?;
        let bus = Bus::builder()
            .without("ordering.payment_committed")
            .without("ordering.record_payment")
            .require_handler("shipping.record_shipment")
            .build()?;
        Ok(Shipping { inbox, bus })
    }

    /// Where shipping's messages come from: its queue, bound to ordering's `exchange`, one
    /// consumer at a time (in order).
    pub(crate) fn topology(exchange: &str) -> Topology {
        Topology::new(exchange, QUEUE).single_active_consumer()
    }

    /// The consumer of shipping's queue on the broker at `uri`.
    pub(crate) fn consumer(uri: &str, exchange: &str) -> Consumer {
        Consumer::new(uri, Shipping::topology(exchange))
    }

    /// The consumer of ordering's JetStream `stream` on the server at `url`: shipping's
    /// durable consumer, one message in flight (in order).
    #[cfg(feature = "nats")]
    pub(crate) fn consumer_nats(url: &str, stream: &str) -> tidings::broadcast::nats::Consumer {
        tidings::broadcast::nats::Consumer::new(url, stream, "shipping")
    }

    /// The amount shipped for `order`, once its shipment is recorded.
    pub(crate) fn shipment(&self, order: &str) -> rusqlite::Result<Option<u64>> {
        self.inbox.with_connection(|conn| {
            conn.query_row(
                "SELECT amount_cents FROM shipments WHERE order_id = ?1",
                [order],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map(|amount| amount.map(|a| a as u64))
        })
    }
}

/// Lent the inbox's transaction: the shipment and the inbox's record commit together.
#[handler(name = "shipping.record_shipment")]
fn record_shipment(event: &OrderPaid, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO shipments (order_id, amount_cents) VALUES (?1, ?2)",
        (&event.order, event.amount_cents as i64),
    )?;
    println!("shipping: shipment recorded for order {}", event.order);
    Ok(())
}

//! The buyers context: validates or creates the buyer of a started order inside the order's
//! transaction, and tells other services the order is submitted (an integration event
//! recorded in that transaction).

use crate::orders::{OrderId, OrderStarted};
use tidings::persistence::sqlite::rusqlite::OptionalExtension;
use tidings::persistence::sqlite::{SqliteStore, SqliteTransaction};
use tidings::persistence::StoreError;
use tidings::{handler, DomainEvent, Envelope};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Buyer {
    pub(crate) name: String,
    pub(crate) orders: Vec<OrderId>,
}

/// The stream of a buyer's events (the order's own stream holds the order's alone).
pub(crate) fn stream(buyer: &str) -> String {
    format!("buyer-{buyer}")
}

/// The buyers' tables, beside the event log.
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS buyers (id TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS buyer_orders (buyer_id TEXT NOT NULL, order_id INTEGER NOT NULL);
";

/// The buyer `id`, with its orders in the order they were placed.
pub(crate) fn get(store: &SqliteStore, id: &str) -> Result<Option<Buyer>, StoreError> {
    store.with_connection(|conn| {
        let name: Option<String> = conn
            .query_row("SELECT name FROM buyers WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        let Some(name) = name else { return Ok(None) };
        let mut statement =
            conn.prepare("SELECT order_id FROM buyer_orders WHERE buyer_id = ?1 ORDER BY rowid")?;
        let orders = statement
            .query_map([id], |r| Ok(OrderId(r.get::<_, i64>(0)? as u64)))?
            .collect::<Result<_, _>>()?;
        Ok(Some(Buyer { name, orders }))
    })
}

/// How many buyers there are.
pub(crate) fn count(store: &SqliteStore) -> Result<usize, StoreError> {
    store.with_connection(|conn| {
        Ok(conn.query_row("SELECT count(*) FROM buyers", [], |r| r.get::<_, i64>(0))? as usize)
    })
}

/// Integration event: published for other services once the buyer is verified.
#[derive(DomainEvent, Debug, Clone)]
#[event(
    name = "ordering.integration.order_status_changed_to_submitted",
    integration
)]
pub(crate) struct OrderStatusChangedToSubmitted {
    pub(crate) order_id: OrderId,
    pub(crate) buyer_name: String,
}

/// Inside the order's transaction: validates or adds its buyer, and records the integration
/// event on the transaction, so it is stored with the order (the outbox) or not at all.
#[handler(
    name = "buyers.validate_or_add_buyer",
    phase = before_commit,
    emits(OrderStatusChangedToSubmitted)
)]
fn validate_or_add_buyer(
    event: &Envelope<OrderStarted>,
    tx: &SqliteTransaction,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO buyers (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
        (&event.buyer_id, &event.buyer_name),
    )?;
    tx.execute(
        "INSERT INTO buyer_orders (buyer_id, order_id) VALUES (?1, ?2)",
        (&event.buyer_id, event.order_id.0 as i64),
    )?;
    let (name, orders): (String, i64) = tx.with(|conn| {
        conn.query_row(
            "SELECT name, (SELECT count(*) FROM buyer_orders WHERE buyer_id = id)
             FROM buyers WHERE id = ?1",
            [&event.buyer_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })?;
    println!("buyers:    {name} has {orders} order(s)");
    let submitted = OrderStatusChangedToSubmitted {
        order_id: event.order_id,
        buyer_name: name,
    };
    tx.record_envelope(
        &stream(&event.buyer_id),
        Envelope::caused_by(submitted, event.metadata()),
    );
    Ok(())
}

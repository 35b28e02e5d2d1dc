//! The query side: order summaries in a table of the store's own database, kept by a
//! catch-up projection over the event log, and the query they answer.
//!
//! The projection reads the store after its checkpoint and applies each batch in one
//! transaction that also saves the checkpoint: every event has its effect exactly once,
//! whatever stops the program when, and the table can be rebuilt from scratch by replaying
//! the log from position 0.

use crate::buyers::OrderStatusChangedToSubmitted;
use crate::orders::{OrderId, OrderStarted};
use tidings::broadcast::sqlite::{Projection, ProjectionError};
use tidings::persistence::sqlite::rusqlite::{self, OptionalExtension, Transaction};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{StoreError, StoredDecodeError, StoredEvent};
use tidings::{handler, Message, Query};

/// The read model's table.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS order_summaries (
    order_id INTEGER PRIMARY KEY,
    buyer_name TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    status TEXT NOT NULL
)";

/// The projection's name, which is its checkpoint's name.
pub(crate) const NAME: &str = "read_model.order_summaries";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct OrderSummary {
    pub(crate) order_id: OrderId,
    pub(crate) buyer_name: String,
    pub(crate) total_cents: u64,
    pub(crate) status: String,
}

/// Why an event could not be applied to the read model.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    #[error(transparent)]
    Decode(#[from] Box<StoredDecodeError>),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

fn projection() -> Projection {
    Projection::new(NAME).batch(64)
}

/// Applies one stored event to the table, inside the projection's transaction.
fn apply(tx: &Transaction<'_>, event: &StoredEvent) -> Result<(), ApplyError> {
    if event.name() == OrderStarted::NAME {
        let started = event.decode_as::<OrderStarted>().map_err(Box::new)?;
        let started = started.payload();
        tx.execute(
            "INSERT INTO order_summaries (order_id, buyer_name, total_cents, status)
             VALUES (?1, ?2, ?3, 'started')",
            rusqlite::params![
                started.order_id.0 as i64,
                started.buyer_name,
                started.total_cents as i64
            ],
        )?;
    } else if event.name() == OrderStatusChangedToSubmitted::NAME {
        let submitted = event
            .decode_as::<OrderStatusChangedToSubmitted>()
            .map_err(Box::new)?;
        tx.execute(
            "UPDATE order_summaries SET status = 'submitted' WHERE order_id = ?1",
            [submitted.payload().order_id.0 as i64],
        )?;
    }
    Ok(())
}

/// Applies what the log holds past the checkpoint: the checkpoint reached.
pub(crate) fn catch_up(store: &SqliteStore) -> Result<u64, ReadModelError> {
    store.with_connection(|conn| Ok(projection().run(conn, apply)?))
}

/// Empties the table and replays the whole log: the checkpoint reached.
pub(crate) fn rebuild(store: &SqliteStore) -> Result<u64, ReadModelError> {
    let clear = |tx: &Transaction<'_>| {
        tx.execute("DELETE FROM order_summaries", [])?;
        Ok(())
    };
    store.with_connection(|conn| Ok(projection().rebuild(conn, clear, apply)?))
}

/// Every row of the table, in order id order.
pub(crate) fn all(store: &SqliteStore) -> Result<Vec<OrderSummary>, ReadModelError> {
    store.with_connection(|conn| {
        let mut statement = conn.prepare(
            "SELECT order_id, buyer_name, total_cents, status FROM order_summaries
             ORDER BY order_id",
        )?;
        let rows = statement.query_map([], summary)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

fn summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<OrderSummary> {
    Ok(OrderSummary {
        order_id: OrderId(row.get::<_, i64>(0)? as u64),
        buyer_name: row.get(1)?,
        total_cents: row.get::<_, i64>(2)? as u64,
        status: row.get(3)?,
    })
}

/// Why the read model could not be read or brought up to date.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadModelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Projection(#[from] ProjectionError<ApplyError>),
    #[error("reading the read model: {0}")]
    Sql(#[from] rusqlite::Error),
}

#[derive(Query, Debug)]
#[query(name = "ordering.get_order", output = Option<OrderSummary>, error = ReadModelError)]
pub(crate) struct GetOrder {
    pub(crate) order_id: OrderId,
}

/// Answers from the table as the projection left it (eventually consistent with the log).
#[handler(name = "read_model.get_order")]
fn get_order(query: GetOrder, store: &SqliteStore) -> Result<Option<OrderSummary>, ReadModelError> {
    store.with_connection(|conn| {
        let found = conn
            .query_row(
                "SELECT order_id, buyer_name, total_cents, status FROM order_summaries
                 WHERE order_id = ?1",
                [query.order_id.0 as i64],
                summary,
            )
            .optional()?;
        Ok(found)
    })
}

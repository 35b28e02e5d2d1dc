//! The ordering service's event log: every event of the flow, appended to the SQLite store
//! as it was published (same id, same correlation and causation), one stream per order.
//! The read model is built from this log, never from the live events.

use crate::buyers::OrderStatusChangedToSubmitted;
use crate::orders::{OrderId, OrderStarted};
use tidings::persistence::sqlite::SqliteStore;
use tidings::persistence::{ExpectedVersion, NewEvent, StoreError};
use tidings::{handler, Context, DomainEvent, Envelope};

/// The stream an order's events are kept in.
pub(crate) fn stream(order: OrderId) -> String {
    format!("order-{}", order.0)
}

fn append<E: DomainEvent + Clone>(
    store: &SqliteStore,
    order: OrderId,
    event: &E,
    ctx: &Context,
) -> Result<(), StoreError> {
    let envelope = Envelope::from_parts(ctx.metadata().clone(), event.clone());
    let row = NewEvent::from_envelope(&envelope).map_err(|e| StoreError::Backend(Box::new(e)))?;
    store.append_sync(&stream(order), ExpectedVersion::Any, &[row])?;
    Ok(())
}

#[handler(name = "event_log.order_started")]
fn order_started(
    event: &OrderStarted,
    store: &SqliteStore,
    ctx: &Context,
) -> Result<(), StoreError> {
    append(store, event.order_id, event, ctx)
}

#[handler(name = "event_log.order_submitted")]
fn order_submitted(
    event: &OrderStatusChangedToSubmitted,
    store: &SqliteStore,
    ctx: &Context,
) -> Result<(), StoreError> {
    append(store, event.order_id, event, ctx)
}

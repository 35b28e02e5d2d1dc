//! The ordering context: the `Order` aggregate (event-sourced, in the SQLite store) and the
//! command that creates it.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use tidings::persistence::sqlite::SqliteStore;
use tidings::{handler, Aggregate, AggregateEvent, Command, Context, DomainEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct OrderId(pub(crate) u64);

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct OrderLine {
    pub(crate) product: String,
    pub(crate) quantity: u32,
    pub(crate) unit_price_cents: u64,
}

#[derive(Command, Debug)]
#[command(name = "ordering.create_order", output = OrderId, error = CreateOrderError)]
pub(crate) struct CreateOrder {
    pub(crate) buyer_id: String,
    pub(crate) buyer_name: String,
    pub(crate) lines: Vec<OrderLine>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum CreateOrderError {
    #[error("an order needs at least one line")]
    NoLines,
    #[error("the quantity of {0} must be positive")]
    ZeroQuantity(String),
    #[error("order {0} exists already")]
    Exists(u64),
    #[error("the order was not committed: {0}")]
    NotCommitted(String),
}

/// Recorded by the aggregate when an order is created.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "ordering.order_started")]
pub(crate) struct OrderStarted {
    pub(crate) order_id: OrderId,
    pub(crate) buyer_id: String,
    pub(crate) buyer_name: String,
    pub(crate) total_cents: u64,
    #[serde(default)]
    pub(crate) lines: Vec<OrderLine>,
}

/// The order's events: `apply` matches on them, and the compiler checks it misses none.
#[derive(AggregateEvent, Debug, Clone)]
pub(crate) enum OrderEvent {
    Started(OrderStarted),
}

/// The aggregate: it checks its invariants and returns what happened; it dispatches nothing.
#[derive(Debug, Default)]
pub(crate) struct Order {
    lines: Vec<OrderLine>,
    started: bool,
}

impl Aggregate for Order {
    type Event = OrderEvent;

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Started(started) => {
                self.started = true;
                self.lines = started.lines.clone();
            }
        }
    }
}

impl Order {
    pub(crate) fn create(
        &self,
        id: OrderId,
        cmd: &CreateOrder,
    ) -> Result<Vec<OrderEvent>, CreateOrderError> {
        if self.started {
            return Err(CreateOrderError::Exists(id.0));
        }
        if cmd.lines.is_empty() {
            return Err(CreateOrderError::NoLines);
        }
        if let Some(line) = cmd.lines.iter().find(|l| l.quantity == 0) {
            return Err(CreateOrderError::ZeroQuantity(line.product.clone()));
        }
        let total_cents = cmd
            .lines
            .iter()
            .map(|l| u64::from(l.quantity) * l.unit_price_cents)
            .sum();
        Ok(vec![OrderStarted {
            order_id: id,
            buyer_id: cmd.buyer_id.clone(),
            buyer_name: cmd.buyer_name.clone(),
            total_cents,
            lines: cmd.lines.clone(),
        }
        .into()])
    }

    pub(crate) fn line_count(&self) -> usize {
        self.lines.len()
    }
}

/// The stream an order's events are kept in.
pub(crate) fn stream(order: OrderId) -> String {
    format!("order-{}", order.0)
}

/// The next order id.
#[derive(Default)]
pub(crate) struct OrderIds(AtomicU64);

impl OrderIds {
    /// Ids after `n`: the first is `n + 1`.
    pub(crate) fn after(n: u64) -> OrderIds {
        OrderIds(AtomicU64::new(n))
    }

    fn next(&self) -> OrderId {
        OrderId(self.0.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// Creates the order: one call loads it (new), decides, and commits `OrderStarted` with what
/// the `before_commit` handlers write (the buyer) and record (the integration event).
#[handler(name = "ordering.create_order", emits(OrderStarted))]
fn create_order(
    cmd: CreateOrder,
    ids: &OrderIds,
    store: &SqliteStore,
    ctx: &Context,
) -> Result<OrderId, CreateOrderError> {
    let id = ids.next();
    let committed = store.execute(ctx, &stream(id), |order: &Order| order.create(id, &cmd));
    match committed {
        Ok(_) => Ok(id),
        Err(error) => {
            let text = error.to_string();
            Err(error
                .into_rejected()
                .unwrap_or(CreateOrderError::NotCommitted(text)))
        }
    }
}

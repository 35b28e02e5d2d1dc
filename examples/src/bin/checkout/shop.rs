//! The shop's orders: an event-sourced aggregate whose decision records `OrderPlaced`, and the
//! handlers of its phases.

use tidings::persistence::sqlite::SqliteTransaction;
use tidings::persistence::StoreError;
use tidings::{handler, Aggregate, AggregateEvent, DomainEvent};

/// The shop's own tables, beside the event store's.
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, buyer TEXT NOT NULL, total_cents INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS reservations (order_id INTEGER NOT NULL, product TEXT NOT NULL, quantity INTEGER NOT NULL);
";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct OrderLine {
    pub(crate) product: String,
    pub(crate) quantity: u32,
    pub(crate) unit_price_cents: u64,
}

/// Recorded when an order is placed; stored, and dispatched to the phases' handlers.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "shop.order_placed")]
pub(crate) struct OrderPlaced {
    pub(crate) order_id: u64,
    pub(crate) buyer: String,
    pub(crate) total_cents: u64,
    pub(crate) lines: Vec<OrderLine>,
}

/// The order's events: `apply` matches on them, and the compiler checks it misses none.
#[derive(AggregateEvent, Debug, Clone)]
pub(crate) enum OrderEvent {
    Placed(OrderPlaced),
}

/// The aggregate: its state is what its events say; its decisions return new events.
#[derive(Default)]
pub(crate) struct Order {
    placed: bool,
}

impl Aggregate for Order {
    type Event = OrderEvent;

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Placed(_) => self.placed = true,
        }
    }
}

/// Why an order cannot be placed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlaceError {
    #[error("the order is placed already")]
    AlreadyPlaced,
    #[error("an order needs at least one line")]
    Empty,
}

impl Order {
    pub(crate) fn place(
        &self,
        id: u64,
        buyer: &str,
        lines: &[OrderLine],
    ) -> Result<Vec<OrderEvent>, PlaceError> {
        if self.placed {
            return Err(PlaceError::AlreadyPlaced);
        }
        if lines.is_empty() {
            return Err(PlaceError::Empty);
        }
        let total_cents = lines
            .iter()
            .map(|l| u64::from(l.quantity) * l.unit_price_cents)
            .sum();
        Ok(vec![OrderPlaced {
            order_id: id,
            buyer: buyer.into(),
            total_cents,
            lines: lines.to_vec(),
        }
        .into()])
    }
}

/// Inside the transaction: the shop's own table of orders, written with the event.
#[handler(name = "shop.record_order", phase = before_commit)]
fn record_order(event: &OrderPlaced, tx: &SqliteTransaction) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO orders (id, buyer, total_cents) VALUES (?1, ?2, ?3)",
        (
            event.order_id as i64,
            &event.buyer,
            event.total_cents as i64,
        ),
    )?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReserveError {
    #[error("`{0}` is out of stock")]
    OutOfStock(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Inside the transaction: reserves the stock, or vetoes the whole unit of work.
#[handler(name = "shop.reserve_stock", phase = before_commit)]
fn reserve_stock(event: &OrderPlaced, tx: &SqliteTransaction) -> Result<(), ReserveError> {
    for line in &event.lines {
        if line.product == "anvil" {
            return Err(ReserveError::OutOfStock(line.product.clone()));
        }
        tx.execute(
            "INSERT INTO reservations (order_id, product, quantity) VALUES (?1, ?2, ?3)",
            (event.order_id as i64, &line.product, line.quantity),
        )?;
    }
    println!(
        "  before commit: reserved stock for order {}",
        event.order_id
    );
    Ok(())
}

/// After the commit: the order is durable, so the buyer may hear of it.
#[handler(name = "shop.send_confirmation", phase = after_commit)]
fn send_confirmation(event: &OrderPlaced) {
    println!(
        "  after commit: confirmation mailed to {} for order {} ({} cents)",
        event.buyer, event.order_id, event.total_cents
    );
}

/// After a rollback: nothing was stored, so the buyer hears that instead.
#[handler(name = "shop.release_hold", phase = after_rollback)]
fn release_hold(event: &OrderPlaced) {
    println!(
        "  after rollback: order {} was not placed; the card hold is released",
        event.order_id
    );
}

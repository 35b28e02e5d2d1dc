//! The shop's orders: an aggregate that records `OrderPlaced`, and the handlers of its phases.

use tidings::persistence::sqlite::SqliteTransaction;
use tidings::persistence::StoreError;
use tidings::{handler, DomainEvent, Pending};

/// The shop's own tables, beside the event store's.
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, buyer TEXT NOT NULL, total_cents INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS reservations (order_id INTEGER NOT NULL, product TEXT NOT NULL, quantity INTEGER NOT NULL);
";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

/// The aggregate: it records what happened and dispatches nothing.
pub(crate) struct Order {
    buyer: String,
    total_cents: u64,
    pending: Pending,
}

impl Order {
    pub(crate) fn place(id: u64, buyer: &str, lines: Vec<OrderLine>) -> Order {
        let total_cents = lines
            .iter()
            .map(|l| u64::from(l.quantity) * l.unit_price_cents)
            .sum();
        let mut pending = Pending::new();
        pending.record(OrderPlaced {
            order_id: id,
            buyer: buyer.into(),
            total_cents,
            lines,
        });
        Order {
            buyer: buyer.into(),
            total_cents,
            pending,
        }
    }

    pub(crate) fn buyer(&self) -> &str {
        &self.buyer
    }

    pub(crate) fn total_cents(&self) -> u64 {
        self.total_cents
    }

    pub(crate) fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
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

//! The ordering context: the `Order` aggregate and the command that creates it.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tidings::{handler, Command, Context, DomainEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct OrderId(pub(crate) u64);

#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

/// Recorded by the aggregate when an order is created.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "ordering.order_started")]
pub(crate) struct OrderStarted {
    pub(crate) order_id: OrderId,
    pub(crate) buyer_id: String,
    pub(crate) buyer_name: String,
    pub(crate) total_cents: u64,
}

/// The aggregate: it checks its invariants and records what happened; it dispatches nothing.
#[derive(Debug)]
pub(crate) struct Order {
    id: OrderId,
    lines: Vec<OrderLine>,
    recorded: Vec<OrderStarted>,
}

impl Order {
    pub(crate) fn create(id: OrderId, cmd: CreateOrder) -> Result<Order, CreateOrderError> {
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
        let started = OrderStarted {
            order_id: id,
            buyer_id: cmd.buyer_id,
            buyer_name: cmd.buyer_name,
            total_cents,
        };
        Ok(Order {
            id,
            lines: cmd.lines,
            recorded: vec![started],
        })
    }

    pub(crate) fn take_recorded(&mut self) -> Vec<OrderStarted> {
        std::mem::take(&mut self.recorded)
    }

    pub(crate) fn line_count(&self) -> usize {
        self.lines.len()
    }
}

/// The order repository.
#[derive(Default)]
pub(crate) struct Orders {
    next: AtomicU64,
    saved: Mutex<HashMap<OrderId, Order>>,
}

impl Orders {
    fn next_id(&self) -> OrderId {
        OrderId(self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }

    async fn save(&self, order: Order) {
        // Stands for the round trip to a database.
        tokio::task::yield_now().await;
        self.saved.lock().unwrap().insert(order.id, order);
    }

    pub(crate) fn line_count(&self, id: OrderId) -> Option<usize> {
        self.saved.lock().unwrap().get(&id).map(Order::line_count)
    }
}

#[handler(name = "ordering.create_order", emits(OrderStarted))]
async fn create_order(
    cmd: CreateOrder,
    orders: &Orders,
    ctx: &Context,
) -> Result<OrderId, CreateOrderError> {
    let mut order = Order::create(orders.next_id(), cmd)?;
    let id = order.id;
    let recorded = order.take_recorded();
    orders.save(order).await;
    for event in recorded {
        ctx.publish(event);
    }
    Ok(id)
}

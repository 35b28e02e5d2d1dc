//! The orders context: it finalizes orders and tells the world, through an event.

use tidings::{Bus, DomainEvent, PublishError};

/// Our internal contract with the other contexts: what a finalized order looks like.
#[derive(DomainEvent, Debug, Clone)]
#[event(name = "orders.order_finalized")]
pub(crate) struct OrderFinalized {
    pub(crate) order_id: u64,
    pub(crate) buyer: String,
    pub(crate) items: Vec<Item>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct Item {
    /// `None` for lines that are not products, such as shipping.
    pub(crate) product_id: Option<u64>,
    pub(crate) quantity: u32,
    pub(crate) unit_price_cents: u64,
}

/// The entity stays private to the orders context; only the event leaves it.
pub(crate) struct Order {
    id: u64,
    buyer: String,
    lines: Vec<Item>,
}

impl Order {
    pub(crate) fn new(id: u64, buyer: &str) -> Order {
        Order {
            id,
            buyer: buyer.to_owned(),
            lines: Vec::new(),
        }
    }

    pub(crate) fn line(
        mut self,
        product_id: Option<u64>,
        quantity: u32,
        unit_price_cents: u64,
    ) -> Order {
        self.lines.push(Item {
            product_id,
            quantity,
            unit_price_cents,
        });
        self
    }
}

/// Finalizes the order and publishes the fact; the inventory and loyalty contexts react.
pub(crate) fn finalize(bus: &Bus, order: Order) -> Result<(), PublishError> {
    println!(
        "orders:    finalizing order {} for {}",
        order.id, order.buyer
    );
    bus.publish_sync(OrderFinalized {
        order_id: order.id,
        buyer: order.buyer,
        items: order.lines,
    })
}

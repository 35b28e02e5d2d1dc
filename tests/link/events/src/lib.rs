//! The ordering context's published language: its events and the commands other contexts
//! may send it. It has no handlers.

use tidings::{Command, DomainEvent};

/// An order was placed.
#[derive(DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "link.order_placed")]
pub struct OrderPlaced {
    /// The order.
    pub order_id: u64,
}

/// Asks the billing context to charge an order.
#[derive(Command, Debug)]
#[command(name = "link.charge_order", output = u64)]
pub struct ChargeOrder {
    /// The order to charge.
    pub order_id: u64,
}

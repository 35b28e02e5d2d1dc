//! The published language between the two services: the one event that leaves ordering, in
//! its wire form (name `ordering.order_paid`, version 1, fields `order` and `amount_cents`).
//!
//! Deployed as two programs, each service would declare this type itself, with the same name
//! and version: they share the wire form, not code. In this one program the registry holds
//! one type per name and version, so both modules use this declaration.

/// An order was paid: ordering commits it with the order's row, the relay publishes it.
#[derive(tidings::DomainEvent, Debug, Clone, PartialEq)]
#[event(name = "ordering.order_paid", integration)]
pub(crate) struct OrderPaid {
    pub(crate) order: String,
    pub(crate) amount_cents: u64,
}

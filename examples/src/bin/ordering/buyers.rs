//! The buyers context: validates or creates the buyer of a started order, then tells other
//! services the order is submitted (an integration event).

use crate::orders::{OrderId, OrderStarted};
use std::collections::HashMap;
use std::sync::Mutex;
use tidings::{handler, Context, DomainEvent};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Buyer {
    pub(crate) name: String,
    pub(crate) orders: Vec<OrderId>,
}

/// The buyer repository.
#[derive(Default)]
pub(crate) struct Buyers(Mutex<HashMap<String, Buyer>>);

impl Buyers {
    pub(crate) fn get(&self, id: &str) -> Option<Buyer> {
        self.0.lock().unwrap().get(id).cloned()
    }

    pub(crate) fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
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

#[handler(
    name = "buyers.validate_or_add_buyer",
    emits(OrderStatusChangedToSubmitted)
)]
fn validate_or_add_buyer(event: &OrderStarted, buyers: &Buyers, ctx: &Context) {
    let mut all = buyers.0.lock().unwrap();
    let buyer = all.entry(event.buyer_id.clone()).or_insert_with(|| Buyer {
        name: event.buyer_name.clone(),
        orders: Vec::new(),
    });
    buyer.orders.push(event.order_id);
    println!(
        "buyers:    {} has {} order(s)",
        buyer.name,
        buyer.orders.len()
    );
    ctx.publish(OrderStatusChangedToSubmitted {
        order_id: event.order_id,
        buyer_name: buyer.name.clone(),
    });
}

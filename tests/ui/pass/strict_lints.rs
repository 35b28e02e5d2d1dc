//! Generated code is clean under strict lints.
#![deny(
    warnings,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unused_qualifications,
    unused_results,
    rust_2018_idioms,
    non_snake_case,
    non_camel_case_types,
    dead_code
)]

use tidings::{handler, Bus, Command, Context, DomainEvent};

/// An order started.
#[derive(DomainEvent, Debug)]
#[event(name = "strict.order_started")]
pub struct OrderStarted {
    /// The order.
    pub order_id: u64,
}

/// Place an order.
#[derive(Command, Debug)]
#[command(name = "strict.place_order", output = u64)]
pub struct PlaceOrder {
    /// The buyer.
    pub buyer: String,
}

#[handler]
fn on_started(event: &OrderStarted, ctx: &Context) {
    let _ = (event.order_id, ctx.metadata().id());
}

#[handler]
fn place_order(cmd: PlaceOrder, ctx: &Context) -> u64 {
    ctx.publish(OrderStarted { order_id: cmd.buyer.len() as u64 });
    1
}

fn main() {
    let bus = Bus::builder().build().expect("the wiring is complete");
    let placed = bus.send_sync(PlaceOrder { buyer: "ada".into() });
    assert_eq!(placed.expect("the handler and its follow-up succeed"), 1);
}

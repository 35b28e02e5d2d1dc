use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler(emits("ordering.order_started"))]
fn on_started(_: &OrderStarted) {}

fn main() {}

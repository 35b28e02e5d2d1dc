use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
fn on_started(_: &(OrderStarted, u8)) {}

fn main() {}

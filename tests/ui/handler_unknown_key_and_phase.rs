use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler(label = "x", phase = later)]
fn on_started(_: &OrderStarted) {}

fn main() {}

use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler(name = "a.b", name = "a.c")]
fn on_started(_: &OrderStarted) {}

fn main() {}

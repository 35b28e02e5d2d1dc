use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler(name = "send the\twelcome mail\n")]
fn on_started(_: &OrderStarted) {}

fn main() {}

use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
#[handler(name = "ordering.on_started")]
fn on_started(_: &OrderStarted) {}

fn main() {}

use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
extern "C" fn on_started(_: &OrderStarted) {}

fn main() {}

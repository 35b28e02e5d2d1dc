use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
fn count(event: &OrderStarted) -> u64 {
    event.order_id
}

fn main() {}

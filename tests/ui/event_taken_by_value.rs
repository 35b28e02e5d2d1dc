use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler]
fn on_started(event: OrderStarted) {
    let _ = event.order_id;
}

fn main() {}

use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler(label = "x")]
fn on_started(event: &OrderStarted) {
    let _ = event;
}

fn main() {}

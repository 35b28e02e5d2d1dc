use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

use tidings::Envelope;

#[handler]
fn on_started(event: Envelope<OrderStarted>) {
    let _ = event;
}

fn main() {}

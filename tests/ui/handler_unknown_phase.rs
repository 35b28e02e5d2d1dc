use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler(phase = later)]
fn on_started(event: &OrderStarted) {
    let _ = event;
}

fn main() {}

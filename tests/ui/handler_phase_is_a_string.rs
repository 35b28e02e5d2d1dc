use tidings::{handler, DomainEvent};

#[derive(DomainEvent)]
struct OrderStarted {
    order_id: u64,
}

#[handler(phase = "after_commit")]
fn on_started(_: &OrderStarted) {}

fn main() {}

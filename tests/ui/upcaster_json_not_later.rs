use tidings::{upcaster, DomainEvent};

#[derive(DomainEvent)]
#[event(name = "ui.order_started", version = 1)]
struct OrderStartedV1 {
    id: u64,
}

#[derive(DomainEvent)]
#[event(name = "ui.order_started", version = 2)]
struct OrderStarted {
    id: u64,
}

#[upcaster(name = "ui.order_started", from = 2, to = 2)]
fn order_started_v2(data: serde_json::Value) -> serde_json::Value {
    data
}

fn unused(_: OrderStartedV1, _: OrderStarted) {}

fn main() {}

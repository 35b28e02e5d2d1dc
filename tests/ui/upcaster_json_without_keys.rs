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

#[upcaster]
fn order_started_v0(data: serde_json::Value) -> serde_json::Value {
    data
}

fn unused(_: OrderStartedV1, _: OrderStarted) {}

fn main() {}

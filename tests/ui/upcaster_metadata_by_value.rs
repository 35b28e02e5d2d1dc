use tidings::{upcaster, DomainEvent, Metadata};

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
fn order_started_v1(old: OrderStartedV1, meta: Metadata, extra: u64) -> OrderStarted {
    let _ = meta;
    OrderStarted { id: old.id + extra }
}

fn main() {}

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
fn upcast<E: DomainEvent>(old: E) -> OrderStarted {
    let _ = old;
    OrderStarted { id: 1 }
}

fn main() {}

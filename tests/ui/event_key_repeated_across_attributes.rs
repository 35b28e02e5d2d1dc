use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(name = "ordering.order_started", version = 2)]
#[event(name = "ordering.started")]
struct OrderStarted {
    order_id: u64,
}

fn main() {}

use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(name = "ordering.order_started\n")]
struct OrderStarted {
    order_id: u64,
}

fn main() {}

use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event = "ordering.order_started"]
struct OrderStarted {
    order_id: u64,
}

fn main() {}

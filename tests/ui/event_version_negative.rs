use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(version = -1)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}

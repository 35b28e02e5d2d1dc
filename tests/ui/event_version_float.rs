use tidings::DomainEvent;

#[derive(DomainEvent)]
#[event(version = 1.5)]
struct OrderStarted {
    order_id: u64,
}

fn main() {}
